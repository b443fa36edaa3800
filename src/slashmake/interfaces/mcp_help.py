"""What the MCP server tells an agent: tool descriptions from the project's own commands, compact rows,
and a failed run's decisive line first.

An agent reads the tool descriptions before its first call: they teach the chain grammar in a few
lines, with examples that name commands this project has (not the demo's /ml-pipeline-full).
"""

from __future__ import annotations

import re
import time
from typing import Any

from slashmake.api import Project

# Ledger keys an agent does not need to pick a model or see a trend (ids, paths, long text).
_NOISE = {"session_id", "run_id", "agent_session_id", "unix_time", "argv", "cwd", "host", "pid"}
# In order of preference: a step that failed and why (the runtime names it), Snakemake's rule error,
# any error line.
_DECISIVE = (re.compile(r"^\S.* failed: "), re.compile(r"^Error in rule "), re.compile(r"^(Error: |error: |.*\bError\b)"))


def grammar(project: Project | None) -> str:
    """The chain grammar in a few lines, its examples built from the project's own commands."""
    names: list[str] = []
    macros: list[str] = []
    metric = ""
    if project is not None:
        for cmd in sorted(project.defs.commands.values(), key=lambda x: x.name):
            (macros if cmd.kind == "flow" else names).append(cmd.display)
            if not metric and cmd.metrics and cmd.metrics.keys:
                metric = cmd.metrics.keys[0]
    a, b, c = (names + ["/prepare", "/train", "/report"])[:3]
    lines = [
        f"A chain is slash commands joined by →: `{a} → {b}` ({b} runs after {a} and may read its outputs).",
        f"Arguments follow a command: `{a} some text --option value`; quotes keep spaces: `{a} \"a b\"`.",
        f"Gates: `{b} → /if:{metric or 'accuracy'}>0.9 → {c} → /else → {a} → /end`; "
        f"sweeps: `{b} parallel[x-1 | x-2]`; variables: `$t=0.9 → /if:{metric or 'accuracy'}>$t`.",
    ]
    if macros:
        lines.append(f"Macros (whole flows) run by name: {', '.join(macros[:4])}.")
    return " ".join(lines)


def compact_rows(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` ledger rows, each with its step, time (ISO) and short values only."""
    out = []
    for row in rows[-limit:] if limit > 0 else rows:
        slim: dict[str, Any] = {}
        for key, value in row.items():
            if key in _NOISE or isinstance(value, (dict, list)) or (isinstance(value, str) and len(value) > 80):
                continue
            if key in ("time", "t") and isinstance(value, (int, float)):
                value = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(value))
            slim[key] = round(value, 6) if isinstance(value, float) else value
        out.append(slim)
    return out


def decisive_first(output: str) -> str:
    """A failed run's output with its decisive line (the error that says why) moved to the top."""
    lines = [line for line in output.splitlines() if line.strip()]
    decisive = next((line for pattern in _DECISIVE for line in lines if pattern.match(line.strip())), None)
    if decisive is None:
        return output
    return "\n".join([decisive.strip(), *lines])
