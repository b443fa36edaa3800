"""Front ends: the ``slashmake`` command line and the MCP server.

Each formats what :mod:`slashmake.api` returns, for a terminal or as structured tool results.

May import: ``slashmake.api`` and ``slashmake.errors``. ``cli_agents`` is the CLI's ``agents`` and
``mcp`` commands; the MCP server never imports the CLI.
"""
