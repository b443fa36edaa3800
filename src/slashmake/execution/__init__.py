"""Running compiled flows: Snakemake's argv and process, and what a run left behind.

``options`` turns run options into Snakemake arguments, ``runner`` runs Snakemake (in slashmake's
process, or through ``snakemake_main`` in one of its own; ``slurm_plugin`` keeps the SLURM plugin's
start-up costs off runs that do not use it), ``noop`` is the "nothing to be done"
fast path, ``outcomes`` reads gate decisions and failures back from a run,
``snakefile`` holds the helpers the workflow's ``rules/common.smk`` calls.

May import: every stage below it (``compiler`` and what it may import).
"""
