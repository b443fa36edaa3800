"""Entry points that let Droid and Claude Code run the project's flows through slashmake.

`slashmake agents install` writes, for every command and macro, the file each agent runs natively
when a user types ``/name``:

- Droid: an executable custom command ``.factory/commands/<name>`` (a ``#!/bin/sh`` script; Droid
  registers any file whose first line is a shebang and passes the typed arguments to it).
- Claude Code: a skill ``.claude/skills/<name>/SKILL.md`` whose body injects the output of
  ``slashmake run`` with a ````` ```! ````` block and asks the model only to summarise it;
  ``allowed-tools`` allows that one program and nothing else.

Each calls a slashmake that exists: the project's own ``.venv/bin/slashmake`` when it has one,
otherwise the absolute path of the slashmake running ``install`` (``--check`` reports a dead one).
Names are shell-quoted and the typed arguments reach slashmake as data: the Droid script passes
its argv; the skill puts ``$ARGUMENTS`` inside a quoted here-document that slashmake reads as the
chain on stdin, so quotes, apostrophes and ``$`` arrive as typed.

Every generated file is sealed (:mod:`slashmake.definitions.sealed`): only an unedited file with
the marker line in its place is ours, rewritten or removed; any other file is the user's and is
left alone with a warning. Entry-point folders that lead out of the project (symlinks) are
refused. The MCP configuration each agent reads (``.mcp.json``, ``.factory/mcp.json``) gets one
``slashmake`` server entry, merged in place.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slashmake.agents.entry_text import SLASHMAKE, claude_skill, droid_script, safe_chain, slashmake_program
from slashmake.definitions import Command, Definitions
from slashmake.definitions.sealed import MARKER, is_sealed

__all__ = ["MARKER", "SLASHMAKE", "claude_skill", "droid_script", "install", "planned", "uninstall"]

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
    skipped: list[str] = field(default_factory=list)


def entry_name(command_name: str) -> str:
    """The slash name an agent shows: lowercase, ``-`` for anything else (``results/aggregate`` → ``results-aggregate``)."""
    return _NAME.sub("-", command_name.lower()).strip("-") or "x"


def gets_entry_point(command: Command) -> bool:
    """Whether a command gets entry points: slashmake's own commands and any program command.

    The agents' own prompt commands (.claude/, .factory/, skills, plugins) and Droid's executable
    commands already are commands in those agents: an entry point would shadow them.
    """
    return command.origin == "project" or (command.kind != "agent" and not command.text.startswith("#!"))


def unsafe_names(defs: Definitions) -> list[Command]:
    """Commands that would get an entry point but whose name cannot be one shell word or file name."""
    return [c for c in sorted(defs.commands.values(), key=lambda c: c.name)
            if gets_entry_point(c) and not safe_chain(c.display)]


def planned(defs: Definitions, warnings: list[str] | None = None, exe: str = SLASHMAKE,
            skipped: list[str] | None = None) -> list[Entry]:
    """Every entry point the project's commands and macros call for, and the ad-hoc one.

    Two commands whose names an agent would spell the same (``a/b`` and ``a-b``) get one entry
    point, the first's, and a warning; a command named ``slashmake`` keeps its name and the
    ad-hoc entry point goes. ``skipped`` gets one line per command left out, and why.
    """
    entries: list[Entry] = []
    own = []
    for c in sorted(defs.commands.values(), key=lambda c: c.name):
        if gets_entry_point(c):
            own.append(c)
        elif skipped is not None:
            skipped.append(f"{c.display}: already a command of the agents themselves ({c.origin} {c.kind} "
                           f"command), so an entry point would hide it")
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
        if command is not None and not safe_chain(command.display):
            if skipped is not None:
                skipped.append(f"{command.display!r}: its name cannot be a shell word or file name "
                               f"(`slashmake lint` shows where)")
            continue
        seen[name] = command
        chain = command.display if command is not None else None
        desc = command.description if command is not None else "Run a slashmake chain"
        hint = _front_value(command, "argument-hint") if command is not None else ""
        entries.append(Entry(f"{DROID_DIR}/{name}", droid_script(name, chain, desc, exe), True, chain or "<chain>"))
        entries.append(Entry(f"{SKILLS_DIR}/{name}/SKILL.md", claude_skill(name, chain, desc, hint, exe), False,
                             chain or "<chain>"))
    return entries


def mcp_entry(path: str, exe: str = SLASHMAKE) -> dict[str, Any]:
    """The server entry for one agent's MCP file (Droid's names its transport)."""
    entry: dict[str, Any] = {"command": exe, "args": ["mcp"]}
    return {"type": "stdio", **entry} if path.startswith(".factory/") else entry


def install(root: Path, defs: Definitions, check: bool = False) -> Report:
    """Write (or, with ``check``, only compare) every entry point and MCP entry; remove stale ones."""
    report = Report()
    root = root.resolve()
    exe = slashmake_program(root)
    wanted = planned(defs, report.warnings, exe, report.skipped)
    names = {e.path for e in wanted}
    folders = _usable_folders(root, report)
    for entry in wanted:
        path = root / entry.path
        if not any(entry.path.startswith(f + "/") for f in folders):
            continue
        if entry.path.startswith(SKILLS_DIR) and _shadows_claude_command(root, entry, report):
            continue
        if (path.exists() or path.is_symlink()) and not _ours(root, path):
            report.warnings.append(f"{entry.path} exists and was not written by slashmake: skipped "
                                   f"(/{Path(entry.path).parent.name if entry.path.endswith('SKILL.md') else path.name}"
                                   f" in that agent does not run {entry.chain} through slashmake; an edited entry point is yours too)")
            continue
        if entry.path.startswith(DROID_DIR):
            _droid_clash(root, entry, report)
            _dead_program(root, path, report)
        if path.exists() and path.read_text(encoding="utf-8") == entry.text and _mode_ok(path, entry):
            continue
        report.stale.append(entry.path)
        if not check:
            _write(path, entry.text, entry.executable)
            report.written.append(entry.path)
    for path in _generated(root, folders):
        rel = path.relative_to(root).as_posix()
        if rel not in names:
            report.stale.append(rel)
            if not check:
                _remove(root, path)
                report.removed.append(rel)
    for rel in MCP_FILES:
        _merge_mcp(root, rel, report, check, exe)
    return report


def uninstall(root: Path) -> Report:
    """Remove every file slashmake wrote and its MCP entries; nothing else, and nothing outside ``root``."""
    report = Report()
    root = root.resolve()
    for path in _generated(root, _usable_folders(root, report)):
        _remove(root, path)
        report.removed.append(path.relative_to(root).as_posix())
    for rel in MCP_FILES:
        path = root / rel
        if not _inside(root, path):
            continue
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
def _front_value(command: Command, key: str) -> str:
    m = re.search(rf"^{re.escape(key)}:\s*(.+)$", command.text.split("\n---", 1)[0], re.M)
    return m.group(1).strip().strip("\"'") if m else ""


def _inside(root: Path, path: Path) -> bool:
    """Whether ``path``, after symlinks, is inside ``root`` (itself resolved)."""
    return path.resolve().is_relative_to(root)


def _usable_folders(root: Path, report: Report) -> list[str]:
    """The entry-point folders that stay inside the project; one that leads out (a symlink) is refused."""
    usable = []
    for rel in (DROID_DIR, SKILLS_DIR):
        if _inside(root, root / rel):
            usable.append(rel)
        else:
            report.warnings.append(f"{rel} leads outside the project (to {(root / rel).resolve()}): refused, "
                                   f"nothing there was read, written or removed")
    return usable


def _ours(root: Path, path: Path) -> bool:
    """A file slashmake wrote: inside the project, not a link, and sealed with its own content."""
    if path.is_symlink() or not _inside(root, path.parent) or not path.is_file():
        return False
    try:
        if path.stat().st_size > 65536:
            return False
        return is_sealed(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False


def _mode_ok(path: Path, entry: Entry) -> bool:
    return not entry.executable or os.access(path, os.X_OK)


def _generated(root: Path, folders: list[str]) -> list[Path]:
    """Files slashmake wrote, found by their seal (so a clone knows them too), in the usable folders."""
    found = []
    droid = root / DROID_DIR
    if DROID_DIR in folders and droid.is_dir():
        found += [p for p in sorted(droid.iterdir()) if p.suffix == "" and _ours(root, p)]
    skills = root / SKILLS_DIR
    if SKILLS_DIR in folders and skills.is_dir():
        found += [p for p in sorted(skills.glob("*/SKILL.md")) if _ours(root, p)]
    return found


def _shadows_claude_command(root: Path, entry: Entry, report: Report) -> bool:
    """Claude Code gives a skill precedence over a ``.claude/commands`` file of the same name: never hide one."""
    name = Path(entry.path).parent.name
    folder = root / ".claude/commands"
    mine = sorted(p for p in folder.rglob("*.md") if entry_name(p.stem) == name) if folder.is_dir() else []
    if mine:
        rel = mine[0].relative_to(root).as_posix()
        report.warnings.append(f"{entry.path} not written: Claude Code would run it instead of your {rel} "
                               f"(a skill wins over a command of the same name); /{name} in Claude Code stays yours")
    return bool(mine)


def _dead_program(root: Path, path: Path, report: Report) -> None:
    """Name an installed Droid script whose slashmake is gone (moved, uninstalled)."""
    if not path.is_file():
        return
    m = re.search(r"^exe=(.*)$", path.read_text(encoding="utf-8", errors="replace"), re.M)
    if not m:
        return
    words = shlex.split(m.group(1).replace('"$root/', f'"{root}/'))
    if words and not os.access(words[0], os.X_OK):
        report.warnings.append(f"{path.relative_to(root).as_posix()} calls {words[0]}, which is gone "
                               f"(moved or uninstalled)")


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


def _merge_mcp(root: Path, rel: str, report: Report, check: bool, exe: str) -> None:
    path = root / rel
    if not _inside(root, path):
        report.warnings.append(f"{rel} leads outside the project: left alone")
        return
    data = _read_json(path, report)
    if data is None:
        return
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
        report.warnings.append(f"{rel}: 'mcpServers' is not a mapping: left alone")
        return
    servers = data.setdefault("mcpServers", {})
    want = mcp_entry(rel, exe)
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
