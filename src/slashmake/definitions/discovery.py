"""Finding a project's definition files where the agents keep them, and loading each on its own.

Where (first wins on a name clash, with a warning naming both files):

    origin    commands                                   droids
    project   workflow/commands/**.md                    droids/**.md
    .factory  .factory/commands/**.md, and its #! files   .factory/droids/*.md (top level, as Droid)
    .claude   .claude/commands/**.md                     .claude/agents/**.md
    skill     .factory/skills/<name>/SKILL.md, .claude/skills/<name>/SKILL.md
    plugin    <plugin>/commands, skills (as /<plugin>:<name>)   <plugin>/agents (as <plugin>:<name>)

Plugins are folders with ``.claude-plugin/plugin.json``, listed under ``plugins:`` in
config/config.yaml. A file that cannot be read is recorded in :class:`Definitions` (``errors``,
``broken``) and loading goes on: one bad file never disables the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slashmake.definitions.checks import load_command, load_droid, load_script_command
from slashmake.definitions.files import decode
from slashmake.definitions.model import Command, Definitions, Droid, name_slug
from slashmake.definitions.sealed import sealed_bytes
from slashmake.errors import DefinitionError, Source, Span

COMMAND_DIRS = (("workflow/commands", "project"), (".factory/commands", ".factory"), (".claude/commands", ".claude"))
DROID_DIRS = (("droids", "project", True), (".factory/droids", ".factory", False), (".claude/agents", ".claude", True))
SKILL_DIRS = (".factory/skills", ".claude/skills")


def _generated(path: Path) -> bool:
    """An entry point `slashmake agents install` wrote (sealed, unedited) runs a flow: not a definition."""
    try:
        if path.stat().st_size > 65536:  # entry points are small; a big file is the user's
            return False
        return sealed_bytes(path.read_bytes())
    except OSError:
        return False


@dataclass(frozen=True)
class Found:
    """A definition file to load: its path, the name it defines, and where it came from."""

    path: Path
    name: str
    origin: str
    prefix: str = ""  # droids of a plugin: ``<plugin>:``
    executable: bool = False  # a Droid executable command (``#!``), not Markdown


def _commands_in(base: Path, origin: str, namespace: str = "") -> Iterator[Found]:
    for path in sorted(base.rglob("*.md")) if base.is_dir() else []:
        rel = path.relative_to(base).with_suffix("")
        parts = [*rel.parts[:-1], _command_name(rel.name)]
        yield Found(path, namespace + "/".join(parts), origin)


def _executables_in(base: Path) -> Iterator[Found]:
    """Droid's executable commands: files without ``.md`` whose first line is a ``#!`` line."""
    for path in sorted(base.rglob("*")) if base.is_dir() else []:
        if path.suffix == ".md" or not path.is_file() or _generated(path):
            continue
        with path.open("rb") as fh:
            if fh.read(2) != b"#!":
                continue
        rel = path.relative_to(base)
        parts = [*rel.parts[:-1], _command_name(rel.name.rsplit(".", 1)[0] if "." in rel.name else rel.name)]
        yield Found(path, "/".join(parts), ".factory", executable=True)


def _command_name(stem: str) -> str:
    """A file's command name: as written when it is one already, else slugged the way Droid does."""
    return stem if stem and all(c.isalnum() or c in "-_." for c in stem) else name_slug(stem)


def _skills_in(base: Path, namespace: str = "") -> Iterator[Found]:
    for path in sorted(base.glob("*/SKILL.md")) if base.is_dir() else []:
        yield Found(path, namespace + _command_name(path.parent.name), "skill" if not namespace else "plugin")


# Notes kept beside agent files (a folder's README, a changelog) are documentation, not agents.
_NOTES = re.compile(r"(readme|changelog|contributing|license|notes?)(\..*)?\.md", re.I)


def _droids_in(base: Path, origin: str, recursive: bool, prefix: str = "") -> Iterator[Found]:
    if not base.is_dir():
        return
    for path in sorted(base.rglob("*.md") if recursive else base.glob("*.md")):
        if not _NOTES.fullmatch(path.name):
            yield Found(path, prefix + name_slug(path.stem), origin, prefix)


def not_an_agent(droid: Droid) -> str:
    """Why an agent file is not an agent ('' when it is one).

    Claude Code requires ``name`` and ``description`` in a sub-agent's frontmatter, and Droid
    validates each definition: a Markdown file without them (a note, a reference page) is neither
    agent's sub-agent, so it is not a droid here either, and never one with every tool.
    """
    if not droid.meta:
        return "it has no frontmatter"
    if not isinstance(droid.meta.get("name"), str) or not droid.meta["name"].strip():
        return "its frontmatter has no 'name'"
    return ""


def _plugin(root: Path, folder: Path, defs: Definitions) -> tuple[list[Found], list[Found]]:
    """A plugin's commands and skills, and its agents, as Claude Code names them."""
    manifest = folder / ".claude-plugin" / "plugin.json"
    rel = _rel(manifest, root)
    if not manifest.is_file():
        defs.errors.append(DefinitionError(f"plugin folder {_rel(folder, root)} has no .claude-plugin/plugin.json"))
        return [], []
    try:
        text = decode(manifest.read_bytes(), rel)
        data = json.loads(text)
    except DefinitionError as e:
        defs.errors.append(e)
        return [], []
    except json.JSONDecodeError as e:
        defs.errors.append(DefinitionError(f"invalid JSON: {e.msg}", Span(Source(rel, text), e.pos, e.pos + 1)))
        defs.bad_files.append(manifest)
        return [], []
    if not isinstance(data, dict):
        defs.errors.append(DefinitionError("plugin.json must hold an object", Span(Source(rel, text), 0, 1)))
        return [], []
    name = str(data.get("name") or folder.name)
    ns = name + "/"
    commands: list[Found] = []
    for sub in _paths(folder, data.get("commands"), "commands"):
        if sub.is_file():
            commands.append(Found(sub, ns + _command_name(sub.stem), "plugin"))
        else:
            commands += [Found(f.path, f.name, "plugin") for f in _commands_in(sub, "plugin", ns)]
    for sub in _paths(folder, data.get("skills"), "skills"):
        commands += _skills_in(sub, ns)
    droids: list[Found] = []
    for sub in _paths(folder, data.get("agents"), "agents"):
        if sub.is_file():
            droids.append(Found(sub, f"{name}:{name_slug(sub.stem)}", "plugin", f"{name}:"))
        else:
            droids += _droids_in(sub, "plugin", True, f"{name}:")
    return commands, droids


def _paths(folder: Path, value: Any, default: str) -> list[Path]:
    """A manifest's component paths: its own (a string or a list) in addition to the default folder."""
    extra = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] if isinstance(
        value, list) else []
    return [folder / default, *(folder / v for v in extra if (folder / v).resolve() != (folder / default).resolve())]


def load(root: Path, plugins: Iterable[str] = ()) -> Definitions:
    """Read every command and droid under ``root`` (and the listed plugin folders), each on its own."""
    defs = Definitions(root)
    commands: list[Found] = [f for rel, origin in COMMAND_DIRS for f in _commands_in(root / rel, origin)]
    commands += _executables_in(root / ".factory/commands")
    commands += [f for rel in SKILL_DIRS for f in _skills_in(root / rel)]
    droids: list[Found] = [f for rel, origin, rec in DROID_DIRS for f in _droids_in(root / rel, origin, rec)]
    for plugin in plugins:
        pc, pd = _plugin(root, (root / plugin), defs)
        commands += pc
        droids += pd
    unknown: dict[str, list[str]] = {}
    claims: dict[str, Path] = {}
    for found in droids:
        try:
            droid = load_droid(found.path, root, defs.warnings, unknown, found.origin, found.prefix)
        except DefinitionError as e:
            _bad(defs, found, e, defs.broken_droids, claims, "droid")
            continue
        why = not_an_agent(droid)
        if why:
            defs.warnings.append(f"{_rel(found.path, root)}: not an agent, skipped: {why} (Claude Code and Droid "
                                 "need a sub-agent's name and description there)")
            continue
        if not droid.meta.get("description"):
            defs.warnings.append(f"{_rel(found.path, root)}: agent '{droid.name}' has no 'description' "
                                 "(Claude Code requires one)")
        if _clash(defs, f"droid:{droid.name}", found.path, claims, "droid " + droid.name):
            continue
        defs.droids[droid.name] = droid
    names = set(defs.droids) | set(defs.broken_droids)
    resources = {d.name: set(d.resources) for d in defs.droids.values()}
    for found in commands:
        if _generated(found.path):
            continue
        if _clash(defs, found.name, found.path, claims, "command /" + found.name.replace("/", ":")):
            continue
        try:
            cmd = load_script_command(found.path, found.name, root) if found.executable else \
                load_command(found.path, found.name, root, defs.warnings, names, resources, unknown, found.origin)
        except DefinitionError as e:
            _bad(defs, found, e, defs.broken, claims, "command")
            continue
        defs.commands[found.name] = cmd
    for tool, files in sorted(unknown.items()):
        shown = ", ".join(sorted(set(files))[:3]) + (" ..." if len(set(files)) > 3 else "")
        defs.warnings.append(f"unknown tool '{tool}' (in {shown}): kept as written; neither Claude Code nor "
                             "Droid documents it")
    return defs


def _clash(defs: Definitions, key: str, path: Path, claims: dict[str, Path], what: str) -> bool:
    """Whether ``key`` is already defined (a warning naming both files and the winner)."""
    if key not in claims:
        claims[key] = path
        return False
    winner = _rel(claims[key], defs.root)
    defs.warnings.append(f"{_rel(path, defs.root)}: {what} is also defined in {winner}; {winner} wins")
    return True


def _bad(defs: Definitions, found: Found, error: DefinitionError, table: dict[str, DefinitionError],
         claims: dict[str, Path], kind: str) -> None:
    defs.errors.append(error)
    defs.bad_files.append(found.path)
    key = found.name if kind == "command" else f"droid:{found.name}"
    if claims.setdefault(key, found.path) == found.path:  # it holds the name: using the name fails
        table[found.name] = error


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


__all__ = ["COMMAND_DIRS", "DROID_DIRS", "SKILL_DIRS", "Command", "Droid", "load"]
