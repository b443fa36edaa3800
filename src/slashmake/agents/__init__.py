"""Agent steps: a command with no ``shell`` runs an agent program on a rendered prompt.

``prompt`` renders the prompt as Claude Code and Droid do, ``program`` builds the agent's argv from
a preset or template, ``output`` parses what it printed, ``results`` records metrics and the ledger
row, ``step`` is the job-side entry (``python -m slashmake.agents.step``), ``install`` writes the
entry points (skills, Droid commands, MCP config) into a project.

May import: ``slashmake.errors``, ``slashmake.runtime``, ``slashmake.definitions``.
"""
