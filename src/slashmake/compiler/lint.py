"""What ``slashmake lint`` and ``slashmake list`` print: every bad file at once, and the catalogue."""

from __future__ import annotations

from collections.abc import Callable

from slashmake.agents.install import unsafe_names
from slashmake.compiler.agent_rules import missing_references, one_based_arguments
from slashmake.compiler.layout import runnable_problems
from slashmake.compiler.project import Project
from slashmake.compiler.resolve import needs_cycles
from slashmake.definitions.model import Command, Definitions
from slashmake.definitions.tools import describe, missing_tools
from slashmake.errors import FlowError, Source, Span

ORIGINS = ("project", ".factory", ".claude", "skill", "plugin")


def lint_project(project: Project, echo: Callable[..., None]) -> int:
    """Print every bad definition file, every macro that fails, the warnings and the droid table.

    Returns the number of errors (0: clean). A macro that fails only because it uses a bad file is
    not counted twice: the file's error is already listed.
    """
    defs = project.defs
    problems = 0
    for cmd in defs.commands.values():
        if cmd.kind == "agent":
            found = missing_references(project.root, cmd) + one_based_arguments(project.root, cmd)
            defs.warnings.extend(w for w in found if w not in defs.warnings)
    errors, notes = runnable_problems(project.root)
    for e in errors:  # a project that cannot run is not ok, however good its files
        echo(f"error: {e.render()}", err=True)
        problems += 1
    defs.warnings.extend(n for n in notes if n not in defs.warnings)
    for e in defs.errors:
        echo(f"error: {e.render()}", err=True)
        problems += 1
    for bad in unsafe_names(defs):  # it would reach a shell through an entry point: refused there too
        text = bad.text or " "
        span = Span(Source(_rel(project, bad), text), 0, max(1, len(text.split("\n")[0])))
        echo("error: " + FlowError(f"command name {bad.display!r} cannot be an entry point: a name is letters, "
                                   "digits and _ . - : / @ + (no quotes, spaces, $ or other shell syntax)",
                                   span).render(), err=True)
        problems += 1
    for cycle in needs_cycles(defs):
        echo(f"error: {cycle.render()}", err=True)
        problems += 1
    shown = {id(e) for e in defs.errors}
    for name in project.macros():
        try:
            project.resolve_chain(f"/{name.replace('/', ':')}", name)
        except FlowError as e:
            if id(e) not in shown:
                echo(f"error: {e.render()}", err=True)
                problems += 1
    for w in defs.warnings:
        echo(f"warning: {w}", err=True)
    rows = []
    for droid in sorted(defs.droids.values(), key=lambda d: d.name):
        runnable = [c.display for c in sorted(defs.commands.values(), key=lambda c: c.name)
                    if c.kind != "flow" and (c.allowed_tools is None or droid.tools is None
                                             or not missing_tools(droid.tools, c.allowed_tools))]
        rows.append((droid.name, describe(droid.tools), f"{len(runnable)}: " + " ".join(runnable)))
    if rows:
        w0 = max(len(r[0]) for r in rows + [("droid", "", "")])
        w1 = max(len(r[1]) for r in rows + [("", "tools", "")])
        echo(f"{'droid'.ljust(w0)}  {'tools'.ljust(w1)}  commands it may run")
        for a, b, c in rows:
            echo(f"{a.ljust(w0)}  {b.ljust(w1)}  {c}")
    status = "ok" if not problems else "errors"
    n_macros = sum(c.kind == "flow" for c in defs.commands.values())  # one-line aliases count too
    echo(f"{status}: {len(defs.commands)} commands ({n_macros} macros), {len(defs.droids)} droids, "
         f"{len(defs.warnings)} warnings, {len(defs.errors)} bad files")
    return problems


def _rel(project: Project, command: Command) -> str:
    path = command.path
    return path.relative_to(project.root).as_posix() if path.is_relative_to(project.root) else str(path)


def _short(text: str, width: int = 80) -> str:
    """A description on one line (literal ``\\n`` and ``<example>`` blocks of agent files cut)."""
    one = " ".join(text.replace("\\n", " ").split())
    cut = one.find("<example>")
    if cut > 0:
        one = one[:cut].rstrip()
    return one if len(one) <= width else one[: width - 1] + "…"


def _call(c: Command) -> str:
    return c.display + (f" {c.argument_hint}" if c.argument_hint else "")


def list_lines(defs: Definitions) -> list[str]:
    """The catalogue: macros, commands, agent commands and droids, each with its origin."""
    lines: list[str] = []
    groups = (("flow", "macros:"), ("shell", "commands:"), ("agent", "agent commands:"))
    for kind, title in groups:
        cmds = [c for c in sorted(defs.commands.values(), key=lambda c: c.name) if c.kind == kind]
        if not cmds:
            continue
        lines.append(title)
        width = max(len(_call(c)) for c in cmds)
        for c in cmds:
            lines.append(f"  {c.origin:9} {_call(c).ljust(width)}  {_short(c.description)}")
    if defs.droids:
        lines.append("droids:")
        width = max(len(d.name) for d in defs.droids.values())
        for d in sorted(defs.droids.values(), key=lambda d: d.name):
            own = d.name.rpartition(":")[2]  # a plugin's droids carry its namespace
            shown = f" ({d.display_name})" if d.display_name and d.display_name != own else ""
            lines.append(f"  {d.origin:9} {d.name.ljust(width)}  {_short(d.description)}{shown}")
    return lines
