"""``python -m slashmake.execution.snakemake_main ARGS``: Snakemake's own command line, without the SLURM
plugin's start-up costs on runs that do not use it (:func:`slurm_plugin.lighten`).

The runs whose output slashmake reads (``explain``, ``graph``) start Snakemake in a process of
their own; the others run it in slashmake's (:func:`runner.in_process`).
"""

from slashmake.execution import slurm_plugin

if __name__ == "__main__":
    slurm_plugin.lighten()
    from snakemake.cli import main

    main()
