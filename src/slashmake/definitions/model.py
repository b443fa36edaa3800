"""What a definition file becomes: a :class:`Command`, a :class:`Droid`, and the project's
:class:`Definitions` (with the files that could not be read, kept apart so the rest still works)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slashmake.errors import DefinitionError, Span

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


_NAME_SLUG = re.compile(r"[^a-z0-9_-]+")


def slug(text: str) -> str:
    """A file- and rule-friendly form of a name (``results/aggregate`` → ``results-aggregate``)."""
    return _SLUG.sub("-", text.replace("/", "-")).strip("-") or "x"


def name_slug(text: str) -> str:
    """How a display name is called: ``E2E Verifier`` → ``e2e-verifier`` (as Factory slugs names)."""
    return _NAME_SLUG.sub("-", text.strip().lower()).strip("-") or "x"


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
    origin: str = "project"  # project, .claude, .factory, skill, plugin
    label: str = ""  # the name as its author wrote it (a skill's or a file's own spelling)
    argument_hint: str = ""
    model: str | None = None
    cache: bool | None = None  # `cache:` in the slashmake key; None: the step kind decides
    meta: dict[str, Any] = field(default_factory=dict, compare=False)  # every frontmatter key as read
    spans: dict[str, Span] = field(default_factory=dict, compare=False, repr=False)

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

    def record(self) -> dict[str, Any]:
        """What an agent runtime needs, JSON-ready: the raw body and every key as read (leniently)."""
        return {"name": self.name, "display": self.display, "path": str(self.path), "origin": self.origin,
                "description": self.description, "argument_hint": self.argument_hint, "model": self.model,
                "allowed_tools": sorted(self.allowed_tools) if self.allowed_tools is not None else None,
                "raw_tools": json_ready(self.raw_tools), "droid": self.droid, "body": self.body,
                "meta": json_ready(self.meta)}


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
    origin: str = "project"
    display_name: str = ""  # ``name:`` as written (``E2E Verifier``); ``name`` is its slug
    reasoning_effort: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


    def record(self) -> dict[str, Any]:
        """What an agent runtime needs, JSON-ready (see :meth:`Command.record`)."""
        return {"name": self.name, "display_name": self.display_name, "path": str(self.path), "origin": self.origin,
                "description": self.description, "model": self.model, "reasoning_effort": self.reasoning_effort,
                "tools": sorted(self.tools) if self.tools is not None else None,
                "raw_tools": json_ready(self.raw_tools), "body": self.body, "meta": json_ready(self.meta)}


def json_ready(value: Any) -> Any:
    """A frontmatter value as JSON can hold it (YAML dates and other scalars become text)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_ready(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@dataclass
class Definitions:
    """Every command and droid of a project, with the warnings their loading raised.

    A file that cannot be read never stops the others: its error sits in ``errors`` (and under the
    command or droid name it would have defined, in ``broken``/``broken_droids``), so only a chain
    that uses it fails.
    """

    root: Path
    commands: dict[str, Command] = field(default_factory=dict)
    droids: dict[str, Droid] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[DefinitionError] = field(default_factory=list)
    broken: dict[str, DefinitionError] = field(default_factory=dict)
    broken_droids: dict[str, DefinitionError] = field(default_factory=dict)
    bad_files: list[Path] = field(default_factory=list)

    def files(self) -> list[Path]:
        """Every definition file, sorted (the bad ones too: fixing one must recompile)."""
        return sorted({c.path for c in self.commands.values()} | {d.path for d in self.droids.values()}
                      | set(self.bad_files))

    def command(self, name: str) -> Command | None:
        """The command ``name``; raises its file's error when that file is bad."""
        if name in self.broken and name not in self.commands:
            raise self.broken[name]
        return self.commands.get(name)

    def droid(self, name: str) -> Droid | None:
        """The droid ``name``; raises its file's error when that file is bad."""
        if name in self.broken_droids and name not in self.droids:
            raise self.broken_droids[name]
        return self.droids.get(name)


