# Hand-written helpers the compiled flows use. Imports stay light: this runs at every start.
from slashmake.snakefile import choose, compiled_flows, flat, metric, prepare, q, register_variants, variant

# Checks config against config/schema.yaml (cached until either changes) and rebuilds stale flows.
prepare(workflow.basedir, config)
