"""The compiler: a chain's tree → steps → Snakemake rules.

``desugar`` expands aliases, macros and sugar; ``bind`` binds commands, parameters and variables;
``graph`` wires each step's inputs; ``resolve`` runs the three and returns the ``steps``;
``names`` gives rules readable names; ``rules`` (with ``agent_rules`` and ``smk``) writes the
Snakefile text; ``project`` ties one project's definitions, config and compiled flows together;
``lint`` checks every definition, ``dot`` draws the step graph.

May import: ``slashmake.errors``, ``slashmake.runtime``, ``slashmake.language``,
``slashmake.definitions``, ``slashmake.agents``.
"""
