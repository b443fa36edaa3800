"""`slashmake agents install|uninstall` and `slashmake mcp`: slashmake from inside Droid and Claude Code."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from slashmake import api


def _project() -> api.Project:
    return api.open_project(click.get_current_context().obj)


def install_into(directory: Path) -> None:
    """Install the entry points into a project (what `init` offers)."""
    _agents_report(api.install_agents(api.open_project(directory)), "wrote")


def register(main: click.Group) -> None:
    """Add `agents` and `mcp` to the `slashmake` command (its errors are reported by ``main``, once)."""

    @click.group()
    def agents() -> None:
        """Entry points for Droid and Claude Code: typing /<flow> in them runs the build."""

    @agents.command("install")
    @click.option("--check", is_flag=True, help="Change nothing; list what is stale and exit 1 if anything is.")
    def agents_install(check: bool) -> None:
        """Write .factory/commands/<name>, .claude/skills/<name>/SKILL.md, .mcp.json and .factory/mcp.json."""
        report = api.install_agents(_project(), check=check)
        if check:
            for w in report.warnings:
                click.echo(f"warning: {w}", err=True)
            for rel in report.stale:
                click.echo(f"stale: {rel}")
            if report.stale:
                click.echo("run `slashmake agents install` to update them", err=True)
                sys.exit(1)
            click.echo("entry points are up to date")
            return
        _agents_report(report, "wrote")

    @agents.command("uninstall")
    def agents_uninstall() -> None:
        """Remove the entry points and MCP entries `agents install` wrote (and nothing else)."""
        _agents_report(api.uninstall_agents(_project()), "removed")

    @click.command("mcp")
    def mcp_cmd() -> None:
        """Serve this project's flows as MCP tools over stdio (for Claude Code, Droid, any MCP client)."""
        from slashmake.interfaces.mcp import serve

        serve(click.get_current_context().obj)

    main.add_command(agents)
    main.add_command(mcp_cmd)


def _agents_report(report: api.install.Report, verb: str) -> None:
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    for why in report.skipped:
        click.echo(f"skipped {why}")
    for rel in report.written:
        click.echo(f"wrote {rel}")
    for rel in report.removed:
        click.echo(f"removed {rel}")
    if not report.written and not report.removed:
        click.echo("entry points are up to date" if verb == "wrote" else "nothing to remove")
