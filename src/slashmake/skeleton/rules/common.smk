# Hand-written helpers the compiled flows use. Imports stay light: this runs at every start.
from slashmake.execution.snakefile import (
    agent_environment,
    branch,
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

# One id per run for the agents' cost ledger, and agent.max_cost_usd, for the agent steps
# (slashmake run sets a fresh id; a plain `snakemake` gets one here, and its local jobs inherit it).
agent_environment(config)


def bang_fingerprint(command_file, arguments):
    """What a command's `!` commands print now: a params value, so a change reruns its step."""
    from slashmake.agents.prompt import bang_fingerprint as fingerprint

    return fingerprint(command_file, arguments)
