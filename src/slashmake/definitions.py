"""Command and droid definitions: Markdown files with YAML frontmatter, read and validated.

A command lives in ``workflow/commands/``, ``.factory/commands/`` or ``.claude/commands/``
(sub-folders are namespaces: ``results/aggregate.md`` is ``/results:aggregate``); a droid in
``droids/``, ``.factory/droids/`` or ``.claude/agents/``. Everything slashmake needs sits under
one ``slashmake:`` key, which Droid and Claude Code ignore.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ResolveError, Source, Span
from .tools import ToolsError, normalize_tools

COMMAND_DIRS = ("workflow/commands", ".factory/commands", ".claude/commands")
DROID_DIRS = ("droids", ".factory/droids", ".claude/agents")

# Keys the agent tools themselves read; anything else at the top level earns a warning.
COMMAND_TOP_KEYS = {"description", "argument-hint", "allowed-tools", "model", "disable-model-invocation", "slashmake"}
DROID_TOP_KEYS = {"name", "description", "model", "reasoningEffort", "tools", "color", "permissionMode",
                  "skills", "hooks", "mcpServers", "disallowedTools", "version", "location", "maxTurns",
                  "memory", "background", "isolation", "slashmake"}

# slashmake key -> accepted Python types (checked before use, so a wrong type names file and key).
COMMAND_KEYS: dict[str, tuple[type, ...]] = {
    "droid": (str,), "params": (dict,), "needs": (list,), "input": (list, dict), "output": (dict,),
    "metrics": (dict,), "shell": (str,), "script": (str,), "flow": (str,), "threads": (int,),
    "resources": (dict,), "retries": (int,), "backoff": (int, float), "timeout": (int, float),
    "variant": (str,),
}
METRICS_KEYS: dict[str, tuple[type, ...]] = {"file": (str,), "keys": (list,), "primary": (str,), "aliases": (dict,)}
DROID_KEYS: dict[str, tuple[type, ...]] = {"resources": (dict,)}
_DROID_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(text: str) -> str:
    """A file- and rule-friendly form of a name (``results/aggregate`` → ``results-aggregate``)."""
    return _SLUG.sub("-", text.replace("/", "-")).strip("-") or "x"


@dataclass(frozen=True)
class Metrics:
    """What a step's metrics JSON holds: its keys, the primary one, and aliases (``acc``)."""

    file: str
    keys: tuple[str, ...]
    primary: str | None
    aliases: dict[str, str]

    def lookup(self, name: str) -> str | None:
        """The declared key a gate's metric name means (``-`` and ``_`` are the same)."""
        norm = name.replace("-", "_")
        for k in self.keys:
            if k.replace("-", "_") == norm:
                return k
        target = {a.replace("-", "_"): v for a, v in self.aliases.items()}.get(norm)
        return target


@dataclass(frozen=True)
class Command:
    """One slash command, read from its file."""

    name: str  # "results/aggregate" for /results:aggregate
    path: Path
    text: str
    description: str
    body: str
    allowed_tools: frozenset[str] | None
    raw_tools: Any
    droid: str | None
    params: dict[str, Any]
    needs: tuple[str, ...]
    inputs: dict[str, str]  # local name -> upstream output name
    optional_inputs: frozenset[str]  # declared with a trailing `?`: left empty when nothing makes them
    outputs: dict[str, str]  # name -> file name in the step folder
    metrics: Metrics | None
    shell: str | None
    script: str | None
    flow: str | None
    flow_pos: tuple[int, int]  # (line offset, column) of the flow text in the file
    threads: int
    resources: dict[str, Any]
    retries: int
    backoff: float
    timeout: float | None
    digest: str

    @property
    def kind(self) -> str:
        """``flow`` (a macro), ``shell`` (a program), or ``agent`` (the body is a prompt)."""
        if self.flow is not None:
            return "flow"
        return "shell" if (self.shell or self.script) else "agent"

    @property
    def display(self) -> str:
        """The name as a chain writes it: ``/results:aggregate``."""
        return "/" + self.name.replace("/", ":")


@dataclass(frozen=True)
class Droid:
    """An agent role: who runs a step, with which tools."""

    name: str
    path: Path
    text: str
    description: str
    body: str
    tools: frozenset[str] | None  # None: every tool
    raw_tools: Any
    model: str | None
    resources: dict[str, Any]
    digest: str


@dataclass
class Definitions:
    """Every command and droid of a project, with the warnings their loading raised."""

    root: Path
    commands: dict[str, Command] = field(default_factory=dict)
    droids: dict[str, Droid] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def files(self) -> list[Path]:
        """Every definition file, sorted."""
        return sorted({c.path for c in self.commands.values()} | {d.path for d in self.droids.values()})


# -- reading --------------------------------------------------------------------------------------
def load(root: Path) -> Definitions:
    """Read every command and droid under ``root``; raise ResolveError on the first bad file."""
    defs = Definitions(root)
    for rel in COMMAND_DIRS:
        base = root / rel
        for path in sorted(base.rglob("*.md")) if base.is_dir() else []:
            name = path.relative_to(base).with_suffix("").as_posix()
            if name in defs.commands:
                defs.warnings.append(f"{_rel(path, root)}: command {name} is also defined in "
                                     f"{_rel(defs.commands[name].path, root)}; that one wins")
                continue
            defs.commands[name] = load_command(path, name, root, defs.warnings)
    for rel in DROID_DIRS:
        base = root / rel
        for path in sorted(base.glob("*.md")) if base.is_dir() else []:
            droid = load_droid(path, root, defs.warnings)
            if droid.name not in defs.droids:
                defs.droids[droid.name] = droid
    return defs


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class _Front:
    """A file's frontmatter: the parsed mapping plus where each key sits, for error positions."""

    def __init__(self, path: Path, root: Path) -> None:
        self.text = path.read_text(encoding="utf-8")
        self.name = _rel(path, root)
        self.source = Source(self.name, self.text)
        lines = self.text.split("\n")
        if not lines or lines[0].strip() != "---":
            raise ResolveError(f"no YAML frontmatter in {path.name} (the file must start with a '---' line)",
                               Span(self.source, 0, max(1, len(lines[0]) if lines else 1)))
        try:
            end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
        except StopIteration:
            raise ResolveError("frontmatter is not closed by a '---' line", Span(self.source, 0, 3)) from None
        self.yaml_text = "\n".join(lines[1:end])
        self.offset = len(lines[0]) + 1  # character offset of the YAML inside the file
        self.body = "\n".join(lines[end + 1 :]).strip("\n")
        try:
            self.node = yaml.compose(self.yaml_text)
            data = yaml.safe_load(self.yaml_text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            pos = self.offset + (mark.index if mark else 0)
            raise ResolveError(f"invalid YAML: {getattr(e, 'problem', e)}", Span(self.source, pos, pos + 1)) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ResolveError("frontmatter must be a mapping of keys", Span(self.source, self.offset, self.offset + 1))
        self.data: dict[str, Any] = data

    def span(self, *keys: str, value: bool = False) -> Span:
        """Where ``keys`` (a path into the mapping) sits in the file; the value's span if asked."""
        node: Any = self.node
        found: Any = None
        for key in keys:
            if not isinstance(node, yaml.MappingNode):
                break
            for k, v in node.value:
                if k.value == key:
                    found, node = (v if value else k), v
                    break
            else:
                break
        if found is None:
            return Span(self.source, self.offset, self.offset + 3)
        return Span(self.source, self.offset + found.start_mark.index, self.offset + found.end_mark.index)

    def error(self, message: str, *keys: str) -> ResolveError:
        return ResolveError(message, self.span(*keys))


def _check_types(front: _Front, mapping: dict[str, Any], spec: dict[str, tuple[type, ...]],
                 path: tuple[str, ...], warnings: list[str]) -> None:
    for key, value in mapping.items():
        if key not in spec:
            line, col = front.span(*path, key).position()
            warnings.append(f"{front.name}:{line}:{col}: unknown key '{'.'.join((*path, key))}' (ignored)")
            continue
        types = spec[key]
        if value is None or (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            names = {"dict": "a mapping", "str": "a string", "int": "an integer", "float": "a number", "list": "a list"}
            want = " or ".join(names.get(t.__name__, t.__name__) for t in types)
            raise front.error(f"'{'.'.join((*path, key))}' must be {want}, not {type(value).__name__}", *path, key)


def load_command(path: Path, name: str, root: Path, warnings: list[str]) -> Command:
    """Read and validate one command file."""
    front = _Front(path, root)
    data = front.data
    for key in data:
        if key not in COMMAND_TOP_KEYS:
            line, col = front.span(key).position()
            warnings.append(f"{front.name}:{line}:{col}: unknown key '{key}' (kept for the agent, ignored here)")
    sm = data.get("slashmake") or {}
    if not isinstance(sm, dict):
        raise front.error("'slashmake' must be a mapping", "slashmake")
    _check_types(front, sm, COMMAND_KEYS, ("slashmake",), warnings)
    for key in ("description", "argument-hint"):
        if key in data and not isinstance(data[key], str):
            raise front.error(f"'{key}' must be a string", key)
    tools = _tools(front, data["allowed-tools"], "allowed-tools", warnings) if "allowed-tools" in data else None
    metrics = _metrics(front, sm.get("metrics"), warnings)
    outputs = {str(k): str(v) for k, v in (sm.get("output") or {}).items()}
    if metrics is not None:
        outputs.setdefault("metrics", metrics.file)
    for k in outputs:
        if not _IDENT.fullmatch(k):
            raise front.error(f"output name '{k}' must be an identifier", "slashmake", "output")
    raw_in = sm.get("input") or []
    pairs = [(str(x), str(x)) for x in raw_in] if isinstance(raw_in, list) else \
        [(str(k), str(v)) for k, v in raw_in.items()]
    optional = frozenset(k.rstrip("?") for k, v in pairs if k.endswith("?") or v.endswith("?"))
    inputs = {k.rstrip("?"): v.rstrip("?") for k, v in pairs}
    flow = sm.get("flow")
    flow_pos = (0, 0)
    if flow is not None:
        span = front.span("slashmake", "flow", value=True)
        line, col = span.position()
        quoted = front.text[span.start : span.start + 1] in ("'", '"')  # the flow starts after the quote
        flow_pos = (line - 1, col - 1 + quoted)
    return Command(
        name=name, path=path, text=front.text, description=str(data.get("description", "")), body=front.body,
        allowed_tools=tools, raw_tools=data.get("allowed-tools"), droid=sm.get("droid"),
        params=dict(sm.get("params") or {}), needs=tuple(str(n) for n in sm.get("needs") or ()),
        inputs=inputs, optional_inputs=optional, outputs=outputs, metrics=metrics, shell=sm.get("shell"), script=sm.get("script"),
        flow=flow, flow_pos=flow_pos, threads=int(sm.get("threads", 1)), resources=dict(sm.get("resources") or {}),
        retries=int(sm.get("retries", 0)), backoff=float(sm.get("backoff", 0)), timeout=sm.get("timeout"),
        digest=hashlib.sha256(front.text.encode()).hexdigest(),
    )


def _tools(front: _Front, value: Any, key: str, warnings: list[str]) -> frozenset[str]:
    try:
        tools, tool_warnings = normalize_tools(value)
    except ToolsError as e:
        raise front.error(f"'{key}': {e}", key) from None
    warnings.extend(f"{front.name}: {w}" for w in tool_warnings)
    return tools


def _metrics(front: _Front, raw: Any, warnings: list[str]) -> Metrics | None:
    if raw is None:
        return None
    _check_types(front, raw, METRICS_KEYS, ("slashmake", "metrics"), warnings)
    keys = tuple(str(k) for k in raw.get("keys") or ())
    primary = raw.get("primary") or (keys[0] if keys else None)
    aliases = {str(k): str(v) for k, v in (raw.get("aliases") or {}).items()}
    return Metrics(str(raw.get("file", "metrics.json")), keys, primary, aliases)


def load_droid(path: Path, root: Path, warnings: list[str]) -> Droid:
    """Read and validate one droid (Factory) or subagent (Claude Code) file."""
    front = _Front(path, root)
    data = front.data
    for key in data:
        if key not in DROID_TOP_KEYS:
            line, col = front.span(key).position()
            warnings.append(f"{front.name}:{line}:{col}: unknown key '{key}' (ignored)")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _DROID_NAME.fullmatch(name):
        raise front.error("'name' must be lowercase letters, digits, '-' or '_'", "name")
    for key in ("description", "model", "reasoningEffort"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise front.error(f"'{key}' must be a string", key)
    tools: frozenset[str] | None = None
    if data.get("tools") is not None:
        tools = _tools(front, data["tools"], "tools", warnings)
    sm = data.get("slashmake") or {}
    if not isinstance(sm, dict):
        raise front.error("'slashmake' must be a mapping", "slashmake")
    _check_types(front, sm, DROID_KEYS, ("slashmake",), warnings)
    return Droid(
        name=name, path=path, text=front.text, description=str(data.get("description", "")), body=front.body,
        tools=tools, raw_tools=data.get("tools"), model=data.get("model"), resources=dict(sm.get("resources") or {}),
        digest=hashlib.sha256(front.text.encode()).hexdigest(),
    )
