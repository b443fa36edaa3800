"""Stage 3 of resolving: the step graph — scopes, step identity, and where branches meet.

A :class:`Scope` is what is available at one point of a chain: files by output name, metrics by
key, variables, and the step(s) just before. :class:`Graph` registers each step under a key that
hashes everything determining its result (so the same step reached from two flows is one step with
one folder), and computes the scope after a step, after parallel branches, and after a decision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from slashmake.compiler.steps import Binding, Choice, CommandStep, Many, MetricSource, Producer, Ref, Step
from slashmake.definitions import slug


def norm(name: str) -> str:
    """Names compare with ``-`` and ``_`` alike (``best-acc`` is ``best_acc``)."""
    return name.replace("-", "_")


@dataclass
class Scope:
    """What is available at a point of the chain."""

    outputs: dict[str, Producer] = field(default_factory=dict)
    metrics: dict[str, MetricSource] = field(default_factory=dict)  # normalised key -> source
    last: list[Producer] = field(default_factory=list)
    last_step: Step | None = None
    seen: frozenset[str] = frozenset()  # commands already on the path (a need they meet is met)
    vars: dict[str, Binding] = field(default_factory=dict)

    def copy(self) -> Scope:
        return replace(self, outputs=dict(self.outputs), metrics=dict(self.metrics), last=list(self.last),
                       vars=dict(self.vars))


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


class Graph:
    """The steps of a flow in the order first reached, each registered once under its key."""

    def __init__(self, agent_config: dict[str, Any] | None = None) -> None:
        self.agent_config = agent_config or {}
        self.steps: list[Step] = []
        self.by_key: dict[str, Step] = {}

    def register(self, step: Step) -> Step:
        """Key the step; return the step already registered under that key, if any."""
        step.key = f"{slug(step.label.lstrip('/'))}-{_hash(step.identity(self.agent_config))}"
        known = self.by_key.get(step.key)
        if known is not None:
            if isinstance(known, CommandStep) and isinstance(step, CommandStep) and \
                    known.variants is not None and step.variants is not None:
                known.variants.update(step.variants)  # the rule serves every variant any consumer asks for
            return known
        self.by_key[step.key] = step
        self.steps.append(step)
        return step

    def add(self, step: CommandStep, env: Scope) -> Scope:
        """Register a command step (once) and return the scope after it: its outputs and metrics."""
        variants = tuple(step.variants) if step.variants is not None else None
        done = self.register(step)
        assert isinstance(done, CommandStep)
        env = env.copy()

        def ref(name: str) -> Ref:
            return Ref(done, name, variants)

        for name in done.outputs:
            env.outputs[name] = ref(name)
        spec = done.metrics_spec
        if spec is not None:
            for k in spec.keys:
                env.metrics[norm(k)] = MetricSource(ref("metrics"), k, spec)
            for alias, target in spec.aliases.items():
                env.metrics[norm(alias)] = MetricSource(ref("metrics"), target, spec)
        env.seen = env.seen | {done.cmd.name}
        env.last = [ref(done.marker().name) if variants else done.marker()]
        env.last_step = done
        return env


def after_parallel(env: Scope, ends: list[Scope]) -> Scope:
    """The scope after ``parallel[...]``: every branch's files, all needed by what follows."""
    out = env.copy()
    out.last = [p for e in ends for p in e.last]
    for e in ends:
        out.seen = out.seen | e.seen
        out.metrics.update({k: v for k, v in e.metrics.items() if k not in env.metrics or env.metrics[k] != v})
    names = {n for e in ends for n in e.outputs}
    for n in sorted(names):
        prods = [e.outputs[n] for e in ends if n in e.outputs and e.outputs[n] != env.outputs.get(n)]
        if prods:
            out.outputs[n] = prods[0] if len(prods) == 1 else Many(tuple(prods))
    out.last_step = None
    return out


def after_decision(decider: Step, base: Scope, ends: dict[str, Scope]) -> Scope:
    """The scope after a decision's branches meet: a name every branch has, from the branch taken."""
    out = base.copy()
    out.seen = frozenset().union(*(e.seen for e in ends.values()))
    for attr in ("outputs", "metrics"):
        merged: dict[str, Any] = {}
        tables = {b: getattr(e, attr) for b, e in ends.items()}
        for name in sorted(set().union(*tables.values())):
            if not all(name in t for t in tables.values()):
                continue
            vals = {b: t[name] for b, t in tables.items()}
            first = next(iter(vals.values()))
            if all(v == first for v in vals.values()):
                merged[name] = first
            elif attr == "outputs":
                merged[name] = Choice(decider, tuple(vals.items()))
            else:
                merged[name] = MetricSource(Choice(decider, tuple((b, v.producer) for b, v in vals.items())),
                                            first.key, first.spec)
        setattr(out, attr, merged)
    return out
