"""Entry points that let Droid and Claude Code run the project's flows through slashmake.

`slashmake agents install` writes, for every command and macro, the file each agent runs natively
when a user types ``/name``:

- Droid: an executable custom command ``.factory/commands/<name>`` (a ``#!/bin/sh`` script; Droid
  registers any file whose first line is a shebang and passes the typed arguments to it).
- Claude Code: a skill ``.claude/skills/<name>/SKILL.md`` whose body injects the output of
  ``slashmake run`` with ``!`…` `` and asks the model only to summarise it; ``allowed-tools`` allows
  that one program and nothing else.

slashmake's own loader never reads them back as definitions (it skips files carrying ``MARKER``,
and reads only ``*.md`` in ``.factory/commands/``), so an entry point cannot shadow the command
it runs. Every generated file carries ``MARKER``: only such files are rewritten or removed; any other file
at the same place is the user's and is left alone with a warning. The MCP configuration each agent
reads (``.mcp.json``, ``.factory/mcp.json``) gets one ``slashmake`` server entry, merged in place.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slashmake.definitions import Command, Definitions

MARKER = "slashmake-entry-point"
SLASHMAKE = ".venv/bin/slashmake"  # the project's own slashmake, relative to its root
DROID_DIR = ".factory/commands"
SKILLS_DIR = ".claude/skills"
ADHOC = "slashmake"  # `/slashmake /a → /b` runs an ad-hoc chain
MCP_FILES = (".mcp.json", ".factory/mcp.json")  # Claude Code's project file; Droid's project file
SERVER = "slashmake"
_NAME = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Entry:
    """One generated file: where it goes, what it holds, whether it is executable."""

    path: str  # relative to the project root
    text: str
    executable: bool
    chain: str  # what it runs, for messages


@dataclass
class Report:
    """What install/check/uninstall did or would do."""

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def entry_name(command_name: str) -> str:
    """The slash name an agent shows: lowercase, ``-`` for anything else (``results/aggregate`` → ``results-aggregate``)."""
    return _NAME.sub("-", command_name.lower()).strip("-") or "x"


def droid_script(name: str, chain: str | None, description: str) -> str:
    """A Droid executable command running ``chain`` (or, without one, the typed chain).

    The typed arguments arrive as argv; ``"$*"`` joins them into one word, so they reach
    slashmake as part of the chain and never as shell text.
    """
    what = f"slashmake run {chain} [ARGUMENTS]" if chain else "slashmake run <chain>"
    typed = f'"{chain}${{1:+ $*}}"' if chain else '"$*"'
    return f"""#!/bin/sh
# {MARKER}: written by `slashmake agents install`; edits are overwritten (remove this line to keep them).
# description: {_one_line(description)} ({what})
# Runs the build through the project's own slashmake: cached steps do not run again.
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
exe="$root/{SLASHMAKE}"
if [ ! -x "$exe" ]; then
    exe=$(command -v slashmake) || {{ echo "slashmake: no $root/{SLASHMAKE}; run 'make' or 'pip install -e .' in $root" >&2; exit 127; }}
fi
exec "$exe" -C "$root" run -- {typed}
"""


def claude_skill(name: str, chain: str | None, description: str, hint: str) -> str:
    """A Claude Code skill whose one ``!`…` `` line runs the build; the model only summarises."""
    arg = f"{chain} $ARGUMENTS" if chain else "$ARGUMENTS"
    what = f"runs `slashmake run {chain}`" if chain else "runs a slashmake chain: /slashmake /a → /b"
    front = {
        "name": name,
        "description": f"{_one_line(description)} ({what})".strip(),
        "argument-hint": hint or ("<chain>" if chain is None else ""),
        "disable-model-invocation": True,
        "allowed-tools": f"Bash({SLASHMAKE} run:*)",
        MARKER: "written by `slashmake agents install`; edits are overwritten (remove this key to keep them)",
    }
    lines = ["---", *(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in front.items() if v != ""), "---"]
    return "\n".join([
        *lines,
        f"Output of `slashmake run {chain or '<chain>'}` (slashmake ran the steps; finished steps were not rerun):",
        "",
        # Single quotes: the chain's `→`, `|`, `>` and `$` reach slashmake as written.
        f"!`{SLASHMAKE} run -- '{arg}' 2>&1`",
        "",
        "Summarise the output above for the user: which steps ran and which were already up to date, "
        "the results table (metrics and gate decisions), and any error with its location. "
        "Do not run the steps or the chain yourself and do not rerun the command.",
        "",
    ])


def planned(defs: Definitions, warnings: list[str] | None = None) -> list[Entry]:
    """Every entry point the project's commands and macros call for, and the ad-hoc one.

    Two commands whose names an agent would spell the same (``a/b`` and ``a-b``) get one entry
    point, the first's, and a warning; a command named ``slashmake`` keeps its name and the
    ad-hoc entry point goes.
    """
    entries: list[Entry] = []
    # The agents' own prompt commands (.claude/, .factory/, skills, plugins) and Droid's executable
    # commands already are commands in those agents: an entry point would shadow them.
    own = [c for c in defs.commands.values()
           if c.origin == "project" or (c.kind != "agent" and not c.text.startswith("#!"))]
    commands: list[tuple[str, Command | None]] = [
        (entry_name(c.name), c) for c in sorted(own, key=lambda c: (entry_name(c.name), c.name))]
    seen: dict[str, Command | None] = {}
    if ADHOC not in {n for n, _ in commands}:
        commands.append((ADHOC, None))
    for name, command in commands:
        if name in seen:
            first = seen[name]
            if warnings is not None and first is not None and command is not None:
                warnings.append(f"{command.display} and {first.display} are both /{name} in the agents: "
                                f"only {first.display} gets an entry point")
            continue
        seen[name] = command
        chain = command.display if command is not None else None
        desc = command.description if command is not None else "Run a slashmake chain"
        hint = ""
        if command is not None:
            hint = _front_value(command, "argument-hint")
        entries.append(Entry(f"{DROID_DIR}/{name}", droid_script(name, chain, desc), True, chain or "<chain>"))
        entries.append(Entry(f"{SKILLS_DIR}/{name}/SKILL.md", claude_skill(name, chain, desc, hint), False,
                             chain or "<chain>"))
    return entries


def mcp_entry(path: str) -> dict[str, Any]:
    """The server entry for one agent's MCP file (Droid's names its transport)."""
    entry: dict[str, Any] = {"command": SLASHMAKE, "args": ["mcp"]}
    return {"type": "stdio", **entry} if path.startswith(".factory/") else entry


def install(root: Path, defs: Definitions, check: bool = False) -> Report:
    """Write (or, with ``check``, only compare) every entry point and MCP entry; remove stale ones."""
    report = Report()
    wanted = planned(defs, report.warnings)
    names = {e.path for e in wanted}
    for entry in wanted:
        path = root / entry.path
        if path.exists() and not _ours(path):
            report.warnings.append(f"{entry.path} exists and was not written by slashmake: skipped "
                                   f"(/{Path(entry.path).parent.name if entry.path.endswith('SKILL.md') else path.name}"
                                   f" in that agent does not run {entry.chain} through slashmake)")
            continue
        if entry.path.startswith(DROID_DIR):
            _droid_clash(root, entry, report)
        if path.exists() and path.read_text(encoding="utf-8") == entry.text and _mode_ok(path, entry):
            continue
        report.stale.append(entry.path)
        if not check:
            _write(path, entry.text, entry.executable)
            report.written.append(entry.path)
    for path in _generated(root):
        rel = path.relative_to(root).as_posix()
        if rel not in names:
            report.stale.append(rel)
            if not check:
                _remove(root, path)
                report.removed.append(rel)
    for rel in MCP_FILES:
        _merge_mcp(root, rel, report, check)
    return report


def uninstall(root: Path) -> Report:
    """Remove every file slashmake wrote and its MCP entries; nothing else."""
    report = Report()
    for path in _generated(root):
        _remove(root, path)
        report.removed.append(path.relative_to(root).as_posix())
    for rel in MCP_FILES:
        path = root / rel
        data = _read_json(path, report)
        servers = data.get("mcpServers") if isinstance(data, dict) else None
        if isinstance(servers, dict) and SERVER in servers and _our_server(servers[SERVER]):
            del servers[SERVER]
            if data == {"mcpServers": {}}:
                path.unlink()
            else:
                _write(path, json.dumps(data, indent=2) + "\n", False)
            report.removed.append(f"{rel} (server '{SERVER}')")
    return report


# -- helpers --------------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _front_value(command: Command, key: str) -> str:
    m = re.search(rf"^{re.escape(key)}:\s*(.+)$", command.text.split("\n---", 1)[0], re.M)
    return m.group(1).strip().strip("\"'") if m else ""


def _ours(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return False
    return MARKER in head


def _mode_ok(path: Path, entry: Entry) -> bool:
    return not entry.executable or os.access(path, os.X_OK)


def _generated(root: Path) -> list[Path]:
    """Files slashmake wrote, found by their marker (so a clone knows them too)."""
    found = []
    droid = root / DROID_DIR
    if droid.is_dir():
        found += [p for p in sorted(droid.iterdir()) if p.is_file() and p.suffix == "" and _ours(p)]
    skills = root / SKILLS_DIR
    if skills.is_dir():
        found += [p for p in sorted(skills.glob("*/SKILL.md")) if _ours(p)]
    return found


def _droid_clash(root: Path, entry: Entry, report: Report) -> None:
    """Droid slugs file names: a definition ``<name>.md`` in its folder is a second ``/<name>``."""
    name = Path(entry.path).name
    folder = root / DROID_DIR
    for other in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        if entry_name(other.stem) == name:
            report.warnings.append(f"{DROID_DIR}/{other.name} is also /{name} in Droid, which would read it as a "
                                   f"prompt: move it to workflow/commands/ so /{name} runs the build")


def _write(path: Path, text: str, executable: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    if executable:
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, path)


def _remove(root: Path, path: Path) -> None:
    path.unlink()
    parent = path.parent
    if parent.parent == root / SKILLS_DIR and not any(parent.iterdir()):
        parent.rmdir()


def _read_json(path: Path, report: Report) -> Any:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError as e:
        rel = path.name if path.parent.name != ".factory" else f".factory/{path.name}"
        report.warnings.append(f"{rel}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}): left alone")
        return None


def _our_server(entry: Any) -> bool:
    """A server entry slashmake wrote: it starts some slashmake with `mcp`."""
    return (isinstance(entry, dict) and str(entry.get("command", "")).endswith("slashmake")
            and "mcp" in (entry.get("args") or []))


def _merge_mcp(root: Path, rel: str, report: Report, check: bool) -> None:
    path = root / rel
    data = _read_json(path, report)
    if data is None:
        return
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
        report.warnings.append(f"{rel}: 'mcpServers' is not a mapping: left alone")
        return
    servers = data.setdefault("mcpServers", {})
    want = mcp_entry(rel)
    if SERVER in servers and not _our_server(servers[SERVER]):
        report.warnings.append(f"{rel}: a server named '{SERVER}' is already configured and does not run "
                               f"slashmake: skipped")
        return
    if servers.get(SERVER) == want:
        return
    servers[SERVER] = want
    report.stale.append(f"{rel} (server '{SERVER}')")
    if not check:
        _write(path, json.dumps(data, indent=2) + "\n", False)
        report.written.append(f"{rel} (server '{SERVER}')")
