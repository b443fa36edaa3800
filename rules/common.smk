# Hand-written helpers the compiled flows use. Imports stay light: this runs at every start.
import sys
from pathlib import Path

from slashmake.snakefile import choose, flat, metric, prepare, q, register_variants, sweep_group, variant

# Checks config against config/schema.yaml (cached until either changes) and rebuilds stale flows.
prepare(workflow.basedir, config)

# The interpreter that runs slashmake's own helpers in rules (gates, joins, retries, agents).
PYTHON = sys.executable
