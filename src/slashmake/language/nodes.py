"""The flow language's syntax tree: frozen dataclasses, each carrying its source span.

Spans take no part in equality, so a tree printed and parsed again compares equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slashmake.errors import Span


def _span() -> Span | None:
    return field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Var:
    """A use of a flow variable: ``$name``."""

    name: str
    span: Span | None = _span()


Value = str | Var


@dataclass(frozen=True)
class Arg:
    """One argument of a call: positional (``sigma-0.10``) or keyed (``backoff=300``)."""

    value: Value
    key: str | None = None
    span: Span | None = _span()


@dataclass(frozen=True)
class Option:
    """``--key value`` or a bare ``--flag`` (value None means true)."""

    key: str
    value: Value | None = None
    span: Span | None = _span()


@dataclass(frozen=True)
class Call:
    """``/name args... --options``; ``droid`` is set for ``droid:command`` written without a slash."""

    name: str
    args: tuple[Arg, ...] = ()
    options: tuple[Option, ...] = ()
    droid: str | None = None
    fallback: bool = False
    span: Span | None = _span()


@dataclass(frozen=True)
class Sweep:
    """``/cmd parallel[a | b | c]``: one command over several argument values."""

    call: Call
    values: tuple[Arg, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Parallel:
    """``parallel[flow | flow]``: independent sub-flows, all needed by what follows."""

    branches: tuple[Flow, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Gate:
    """``/if:metric op threshold`` with its branches; ``op`` None tests the metric's truth."""

    metric: Value
    op: str | None
    threshold: Value | None
    then: Flow
    orelse: Flow | None = None
    span: Span | None = _span()


@dataclass(frozen=True)
class Try:
    """``/try:C`` with an optional ``/catch:label`` branch (on failure) and ``/else`` (on success)."""

    call: Call
    label: str | None
    catch: Flow | None
    orelse: Flow | None = None
    span: Span | None = _span()


@dataclass(frozen=True)
class Assign:
    """``$name=value``: ``kind`` is ``const`` (a literal), ``result`` or ``metric``."""

    name: str
    kind: str
    value: str
    span: Span | None = _span()


Stage = Call | Sweep | Parallel | Gate | Try | Assign


@dataclass(frozen=True)
class Flow:
    """Stages joined by arrows."""

    stages: tuple[Stage, ...]
    span: Span | None = _span()
