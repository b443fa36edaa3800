"""``python -m slashmake.execution.snakemake_main ARGS``: Snakemake's own command line, with the SLURM
plugin's report (and pandas) imported only if a report is made (:func:`runner.defer_slurm_report`).

The runs whose output slashmake reads (``explain``, ``graph``) start Snakemake in a process of
their own; the others run it in slashmake's (:func:`runner.in_process`).
"""

from slashmake.execution.runner import defer_slurm_report

if __name__ == "__main__":
    defer_slurm_report()
    from snakemake.cli import main

    main()
