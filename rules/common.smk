# Hand-written helpers the compiled flows use. Imports stay light: this runs at every start.
import os
import time

from slashmake.snakefile import (
    choose,
    compiled_flows,
    flat,
    metric,
    prepare,
    q,
    register_variants,
    variant,
)

# Checks config against config/schema.yaml (cached until either changes) and rebuilds stale flows.
prepare(workflow.basedir, config)

# One id per run: agent steps add their cost under it, for agent.max_cost_usd (slashmake run sets
# a fresh one; a plain `snakemake` gets one here, and its local jobs inherit it).
os.environ.setdefault(
    "SLASHMAKE_RUN_ID", f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
)


def bang_fingerprint(command_file, arguments):
    """What a command's `!` commands print now: a params value, so a change reruns its step."""
    from slashmake.agent_prompt import bang_fingerprint as fingerprint

    return fingerprint(command_file, arguments)
