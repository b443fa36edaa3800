"""slashmake: compile agent slash-command chains into reproducible Snakemake workflows."""

__version__ = "0.1.0"
