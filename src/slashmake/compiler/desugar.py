"""Stage 1 of resolving: syntax rewrites, tree to tree.

Every shorthand of the language becomes the construct it abbreviates here, before anything is
looked up in a scope, so the later stages see only the core constructs:

- ``/step → /if:success → A → /else → B`` is ``/try:step`` with ``A`` on success and ``B`` on failure;
- ``/cmd-with-retry 3 backoff=60`` is ``/cmd`` with retry settings;
- ``/cmd --parameters a:1,2;b:x,y`` and ``parallel[/cmd a | /cmd b]`` are sweeps;
- a macro call is its flow text, parsed (a one-line alias passes its arguments and options on).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from slashmake.definitions import Command
from slashmake.errors import ResolveError
from slashmake.language.nodes import Arg, Call, Flow, Gate, Option, Parallel, Stage, Try
from slashmake.language.parser import is_number, parse

RETRY_SUFFIX = "-with-retry"
# `sigma-0.12` sets the parameter sigma: a name, a dash, a number.
_KEY_NUM = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*?)-([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)")


def key_number(value: str) -> tuple[str, str] | None:
    """``sigma-0.12`` → ``("sigma", "0.12")``; None when the word is not name-dash-number."""
    m = _KEY_NUM.fullmatch(value)
    return (m.group(1), m.group(2)) if m else None


def is_success_gate(gate: Gate) -> bool:
    """``/if:success`` (or ``success==true``): a test of whether the step before it worked."""
    return gate.metric == "success" and (gate.op is None or (gate.op == "==" and gate.threshold == "true"))


def stages(flow: Flow) -> list[Stage]:
    """The flow's stages with ``/step → /if:success → …`` rewritten as a ``/try`` (one level deep)."""
    out: list[Stage] = []
    items = list(flow.stages)
    i = 0
    while i < len(items):
        stage = items[i]
        nxt = items[i + 1] if i + 1 < len(items) else None
        if isinstance(stage, Call) and isinstance(nxt, Gate) and is_success_gate(nxt):
            # try the step; the gate's `then` runs on success (the try's else), its `else` on failure
            out.append(Try(stage, "failure", nxt.orelse, nxt.then, span=nxt.span))
            i += 2
            continue
        out.append(stage)
        i += 1
    return out


@dataclass(frozen=True)
class Retry:
    """Retry settings written into a command's name (``/train-with-retry 3 backoff=60``)."""

    retries: int = 0
    backoff: float = 0.0


def strip_retry(name: str, args: tuple[Arg, ...], known: Callable[[str], bool]) -> tuple[str, tuple[Arg, ...], Retry]:
    """``name-with-retry N backoff=S`` → ``name`` with N retries and S seconds between them.

    Only when ``name`` itself is not a command and the name without the suffix is.
    """
    if known(name) or not name.endswith(RETRY_SUFFIX) or not known(name[: -len(RETRY_SUFFIX)]):
        return name, args, Retry()
    retries, backoff = 0, 0.0
    rest = []
    for a in args:
        if a.key == "backoff" and isinstance(a.value, str) and is_number(a.value):
            backoff = float(a.value)
        elif a.key is None and isinstance(a.value, str) and a.value.isdigit() and not retries:
            retries = int(a.value)
        else:
            rest.append(a)
    return name[: -len(RETRY_SUFFIX)], tuple(rest), Retry(retries, backoff)


def grid(opt: Option) -> list[tuple[Arg, ...]]:
    """``--parameters a:1,2;b:x,y`` → one argument tuple per combination (a sweep's variants)."""
    if not isinstance(opt.value, str) or ":" not in opt.value:
        raise ResolveError("--parameters takes key:v1,v2;key2:v3,... (a grid)", opt.span)
    axes: list[list[Arg]] = []
    for part in opt.value.split(";"):
        key, _, values = part.partition(":")
        if not key or not values:
            raise ResolveError(f"bad grid axis '{part}': write key:v1,v2", opt.span)
        axes.append([Arg(v, key=key.strip(), span=opt.span) for v in values.split(",")])
    combos: list[tuple[Arg, ...]] = [()]
    for axis in axes:
        combos = [c + (a,) for c in combos for a in axis]
    return combos


def parallel_as_sweep(par: Parallel, args_after_lookup: Callable[[Call], tuple[Arg, ...] | None]
                      ) -> tuple[Call, list[tuple[Arg, ...]]] | None:
    """``parallel[/cmd a | /cmd b]`` (one program, only its arguments differ) → the call and its variants.

    ``args_after_lookup`` gives the arguments left once a call's name is found (``/ml:train a`` may
    name ``/ml/train``), or None when the call is not a program; what was consumed is the shared prefix.
    """
    calls = [b.stages[0] for b in par.branches if len(b.stages) == 1 and isinstance(b.stages[0], Call)]
    if not (len(calls) == len(par.branches) > 1 and len({(c.name, c.droid) for c in calls}) == 1):
        return None
    first = calls[0]
    rest = args_after_lookup(first)
    if rest is None or any(c.options for c in calls):
        return None
    prefix = len(first.args) - len(rest)
    return replace(first, args=first.args[:prefix]), [c.args[prefix:] for c in calls]


def macro_flow(cmd: Command, source_name: str) -> Flow:
    """A macro's flow text, parsed (positions point into its command file)."""
    assert cmd.flow is not None
    return parse(cmd.flow, source_name, cmd.flow_pos[0], cmd.flow_pos[1])


def pass_through(flow: Flow, extra: list[Arg], call: Call) -> Flow:
    """A one-line alias (a macro whose flow is one call) gets the call's extra arguments and options."""
    if len(flow.stages) == 1 and isinstance(flow.stages[0], Call) and (extra or call.options):
        inner = flow.stages[0]
        return Flow((replace(inner, args=inner.args + tuple(extra), options=inner.options + call.options),))
    return flow
