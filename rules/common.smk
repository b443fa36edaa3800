# Hand-written helpers the compiled flows use. Imports stay light: this runs at every start.
import sys
from pathlib import Path

from snakemake.utils import validate

from slashmake.snakefile import choose, flat, metric, prepare, q, register_variants, sweep_group, variant

validate(config, str(Path(workflow.basedir, "config/schema.yaml")))
prepare(workflow.basedir)

# The interpreter that runs slashmake's own helpers in rules (gates, joins, retries, agents).
PYTHON = sys.executable
