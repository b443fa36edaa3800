"""Tool permissions: Factory droid tool IDs, categories and Claude Code tool names.

A pure module (stdlib only): the definitions loader uses it at compile time (a droid that lacks
a tool a command needs) and ``slashmake.agents.step`` at run time (the allowed tools, in the form the
agent program takes them).

Everything is normalised to Factory tool IDs:

    category    Factory IDs
    read-only   Read, LS, Grep, Glob
    edit        Create, Edit, ApplyPatch
    execute     Execute
    web         WebSearch, FetchUrl
    mcp         mcp            (a marker: MCP tools; Claude's ``mcp__server__tool`` names are kept)

    agents      Task           (Claude Code: Agent, or its older name Task)
    skills      Skill
    todos       TodoWrite

Claude Code names map onto them: Bash, BashOutput and KillShell -> Execute (``Bash(git add:*)``
too), Write -> Create, Edit/MultiEdit/NotebookEdit -> Edit, NotebookRead -> Read, WebFetch ->
FetchUrl, Agent/Task -> Task, TodoRead/TodoWrite -> TodoWrite; Read, Glob, Grep, LS, WebSearch and
Skill are the same. Claude Code's tools with no Factory counterpart (AskUserQuestion, ExitPlanMode,
LSP, SlashCommand...) are known and kept for ``claude``, left out for ``droid``. A list may be
written with commas or spaces (``Read Grep Bash(git diff *)``). Unknown names are kept, with a
warning (:func:`unknown_names` lets a caller warn once per name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from slashmake.errors import ToolsError

__all__ = [
    "ALL_TOOL_IDS",
    "CATEGORIES",
    "KNOWN_IDS",
    "PROGRAM_FORMATS",
    "ToolsError",
    "describe",
    "missing_tools",
    "normalize_tools",
    "to_program_form",
    "unknown_names",
]


MCP = "mcp"

CATEGORIES: dict[str, tuple[str, ...]] = {
    "read-only": ("Read", "LS", "Grep", "Glob"),
    "edit": ("Create", "Edit", "ApplyPatch"),
    "execute": ("Execute",),
    "web": ("WebSearch", "FetchUrl"),
    "mcp": (MCP,),
}

# Factory IDs slashmake knows beyond the categories (TodoWrite is given to every droid by Factory).
# AskUser: Droid's question to the user (Claude Code's AskUserQuestion).
_OTHER_FACTORY_IDS = frozenset({"TodoWrite", "Task", "Skill", "AskUser"})
KNOWN_IDS: frozenset[str] = frozenset(
    {tool for ids in CATEGORIES.values() for tool in ids} | _OTHER_FACTORY_IDS
)

# Claude Code tools with no Factory counterpart: known, passed to `claude`, not to `droid`.
CLAUDE_ONLY: frozenset[str] = frozenset({
    "AskUserQuestion", "ExitPlanMode", "EnterPlanMode", "LSP", "SlashCommand", "Artifact",
    "ListMcpResourcesTool", "ReadMcpResourceTool", "TaskOutput", "TaskStop",
    # Claude Code's task-list tools and its workflow tool, as Anthropic's own plugins name them
    "TaskCreate", "TaskGet", "TaskList", "TaskUpdate", "Workflow",
})

# "tools" omitted: the droid may use every tool.
ALL_TOOL_IDS: frozenset[str] = KNOWN_IDS

# Claude Code tool name -> Factory ID
_CLAUDE_TO_FACTORY: dict[str, str] = {
    "Bash": "Execute",
    "Write": "Create",
    "Edit": "Edit",
    "MultiEdit": "Edit",
    "NotebookEdit": "Edit",
    "Read": "Read",
    "Glob": "Glob",
    "Grep": "Grep",
    "LS": "LS",
    "WebFetch": "FetchUrl",
    "WebSearch": "WebSearch",
    "TodoWrite": "TodoWrite",
    "TodoRead": "TodoWrite",
    "BashOutput": "Execute",
    "KillShell": "Execute",
    "KillBash": "Execute",
    "NotebookRead": "Read",
    "Agent": "Task",
    "Task": "Task",
    "Skill": "Skill",
    "AskUser": "AskUser",
}

# Factory ID -> Claude Code tool names (for ``--allowedTools``)
_FACTORY_TO_CLAUDE: dict[str, tuple[str, ...]] = {
    "Read": ("Read",),
    "LS": ("LS",),
    "Grep": ("Grep",),
    "Glob": ("Glob",),
    "Create": ("Write",),
    "Edit": ("Edit", "MultiEdit"),
    "ApplyPatch": ("Edit",),
    "Execute": ("Bash",),
    "WebSearch": ("WebSearch",),
    "FetchUrl": ("WebFetch",),
    "TodoWrite": ("TodoWrite",),
    "Task": ("Task",),  # Claude Code's older name for Agent, which it still accepts
    "Skill": ("Skill",),
    "AskUser": ("AskUserQuestion",),
}

PROGRAM_FORMATS = ("claude", "droid", "none")

_CASEFOLD: dict[str, str] = {}
for _name in KNOWN_IDS:
    _CASEFOLD[_name.lower()] = _name
for _name, _fid in _CLAUDE_TO_FACTORY.items():
    _CASEFOLD.setdefault(_name.lower(), _fid)

_SPEC_RE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*\((.*)\)\s*$", re.DOTALL)


def _split_commas(text: str) -> list[str]:
    """Split ``"Bash(git add:*, git commit:*), Read"`` (or ``"Read Bash(git diff *)"``) at top-level
    commas and spaces: Claude Code's skills write their lists with spaces."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if (ch == "," or ch.isspace()) and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _entries(value: object) -> list[str] | None:
    """The raw entries of a tools value; None when the value means "all tools"."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip() in ("*", "all"):
            return None
        return _split_commas(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        out: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise ToolsError(f"a tool must be a string, got {item!r} ({type(item).__name__})")
            out.extend(_split_commas(item))
        return out
    raise ToolsError(
        f"tools must be a list, a comma-separated string or a category, got {type(value).__name__}"
    )


def _one(entry: str) -> tuple[frozenset[str], str | None]:
    """One entry -> (Factory IDs, warning or None)."""
    name = entry.strip()
    m = _SPEC_RE.match(name)
    if m:  # Claude permission rule: Bash(git add:*), Read(./src/**), WebFetch(domain:x)
        name = m.group(1)
    # Exact spellings first: Factory IDs are capitalised (Edit), categories lowercase (edit).
    if name in KNOWN_IDS - {MCP}:
        return frozenset({name}), None
    if name in _CLAUDE_TO_FACTORY:
        return frozenset({_CLAUDE_TO_FACTORY[name]}), None
    if name in CLAUDE_ONLY:
        return frozenset({name}), None
    key = name.lower().replace("_", "-")
    if name == name.lower() and key in CATEGORIES:
        return frozenset(CATEGORIES[key]), None
    if key in ("readonly", "read-only"):
        return frozenset(CATEGORIES["read-only"]), None
    if name.startswith("mcp__"):
        return frozenset({name}), None
    known = _CASEFOLD.get(name.lower())
    if known is not None:
        return frozenset({known}), None
    if key in CATEGORIES:  # "Web", "Read-Only"
        return frozenset(CATEGORIES[key]), None
    return frozenset({name}), (
        f"unknown tool {entry!r}: kept as is (known: {', '.join(sorted(KNOWN_IDS - {MCP}))}; "
        f"categories: {', '.join(CATEGORIES)})"
    )


def normalize_tools(value: object) -> tuple[frozenset[str], list[str]]:
    """Read a droid's ``tools`` or a command's ``allowed-tools`` value.

    ``value`` may be None (omitted: every tool), a category (``read-only``), a list of Factory IDs,
    categories or Claude Code names, or a comma-separated string of them. Returns the Factory IDs
    and a list of warnings (unknown tools are kept). None and ``"*"`` give ``ALL_TOOL_IDS``; ``[]``
    gives no tools. Raises ToolsError for a value of the wrong type.
    """
    entries = _entries(value)
    if entries is None:
        return ALL_TOOL_IDS, []
    ids: set[str] = set()
    warnings: list[str] = []
    for entry in entries:
        found, warning = _one(entry)
        ids |= found
        if warning:
            warnings.append(warning)
    return frozenset(ids), warnings


def unknown_names(ids: Iterable[str]) -> set[str]:
    """The names in ``ids`` that neither agent documents (kept as written; worth one warning)."""
    return {t for t in ids if t not in KNOWN_IDS and t not in CLAUDE_ONLY and not t.startswith("mcp__")}


def _as_ids(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, (set, frozenset)):
        return normalize_tools(sorted(value))[0]
    return normalize_tools(value)[0]


def missing_tools(droid_ids: object, command_allowed_tools: object) -> set[str]:
    """The Factory IDs a command needs that a droid lacks (empty: the droid can run it).

    ``droid_ids``: the droid's IDs from ``normalize_tools`` (or its raw ``tools`` value); None means
    the droid's ``tools`` was omitted, so it has every tool. ``command_allowed_tools``: the command's
    raw ``allowed-tools`` value or its IDs; None means the command needs no particular tool.
    A droid with the ``mcp`` category has every ``mcp__...`` tool.
    """
    if droid_ids is None or command_allowed_tools is None:
        return set()
    have = _as_ids(droid_ids) or frozenset()
    if have == ALL_TOOL_IDS:
        return set()  # tools omitted, "*" or "all": every tool, unknown ones included
    need = _as_ids(command_allowed_tools) or frozenset()
    missing = set()
    for tool in need:
        if tool in have:
            continue
        if tool.startswith("mcp__") and MCP in have:
            continue
        missing.add(tool)
    return missing


def _claude_names(ids: Iterable[str], raw: object = None) -> list[str]:
    names: list[str] = []
    # Claude permission rules from the command file (Bash(git add:*)) are kept as written: they
    # are narrower than the whole tool.
    specs: dict[str, list[str]] = {}
    if raw is not None:
        try:
            entries = _entries(raw) or []
        except ToolsError:
            entries = []
        for entry in entries:
            m = _SPEC_RE.match(entry)
            if m and m.group(1) in _CLAUDE_TO_FACTORY:
                specs.setdefault(_CLAUDE_TO_FACTORY[m.group(1)], []).append(entry.strip())
    for tool in sorted(set(ids)):
        if tool in specs:
            candidates: tuple[str, ...] = tuple(specs[tool])
        elif tool == MCP:
            continue  # Claude has no "all MCP tools" name; MCP tools follow the program's config
        else:
            candidates = _FACTORY_TO_CLAUDE.get(tool, (tool,))
        for name in candidates:
            if name not in names:
                names.append(name)
    return sorted(names)


def to_program_form(ids: Iterable[str] | None, fmt: str, raw: object = None) -> list[str]:
    """The argv words that give an agent program its allowed tools.

    ``fmt``: ``claude`` -> ``["--allowedTools", "Bash,Read"]``; ``droid`` (``droid exec``) ->
    ``["--enabled-tools", "Execute,Read"]``; ``none`` -> ``[]``. ``ids`` None (no restriction)
    gives ``[]``, the program's own default. ``raw``: the command's ``allowed-tools`` as written,
    so that Claude permission rules such as ``Bash(git add:*)`` reach ``claude`` unchanged.
    """
    if fmt not in PROGRAM_FORMATS:
        raise ValueError(f"unknown tools format {fmt!r} (choose one of {', '.join(PROGRAM_FORMATS)})")
    if fmt == "none" or ids is None:
        return []
    id_list = sorted(set(ids))
    if fmt == "claude":
        names = _claude_names(id_list, raw)
        return ["--allowedTools", ",".join(names)] if names else []
    names = [t for t in id_list if t != MCP and not t.startswith("mcp__") and t not in CLAUDE_ONLY]
    return ["--enabled-tools", ",".join(names)] if names else []


def describe(ids: Iterable[str] | None) -> str:
    """A short human form: ``read-only + Execute``; ``all tools`` for None."""
    if ids is None:
        return "all tools"
    rest = set(ids)
    parts: list[str] = []
    for cat, members in CATEGORIES.items():
        if set(members) <= rest:
            parts.append(cat)
            rest -= set(members)
    parts.extend(sorted(rest))
    return " + ".join(parts) if parts else "no tools"
