"""Resolve a parsed chain against the definitions into a graph of steps.

The resolver is a pipeline of three stages, each in its own module:

1. :mod:`.desugar` — syntax rewrites, tree to tree (``/if:success`` after a step is a ``/try``,
   ``-with-retry``, grids and same-command ``parallel[...]`` are sweeps, a macro is its flow);
2. :mod:`.bind` — names: which command and droid a call means, its arguments, options, variables
   and inputs;
3. :mod:`.graph` — the step graph: scopes, step identity (one key per distinct step), parallel
   branches and decisions meeting again.

:class:`Resolver` walks the tree left to right and hands each node to the method that
:data:`Resolver.STAGES` names for its type. **To add a language construct**: add its node to
:mod:`.nodes` (and the parser), and either rewrite it into existing nodes in :mod:`.desugar`, or add
a method here that turns it into steps (a new kind of step is a class in :mod:`.steps`, with a rule
writer in :mod:`.compile`) and register the method in ``STAGES``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from slashmake.compiler import desugar
from slashmake.compiler.bind import Binder
from slashmake.compiler.graph import Graph, Scope, after_decision, after_parallel, norm
from slashmake.compiler.steps import (
    Binding,
    CallStep,
    CommandStep,
    Const,
    GateStep,
    JoinStep,
    MetricSource,
    MetricVar,
    Producer,
    Ref,
    Step,
)
from slashmake.definitions import Command, Definitions, slug
from slashmake.errors import CompileError, ResolveError, Span, closest
from slashmake.language.deep import deep
from slashmake.language.nodes import Arg, Assign, Call, Flow, Gate, Parallel, Stage, Sweep, Try, Var
from slashmake.language.parser import fmt_arg


@dataclass
class Resolved:
    """A resolved flow: its steps in order, the producers the target needs, and the files it used."""

    name: str
    chain: str
    steps: list[Step]
    final: list[Producer]
    sources: set[str]
    warnings: list[str]


class Resolver(Binder):
    """Turns a :class:`Flow` into steps, one scope at a time."""

    # node type -> the method that resolves it: the one place a construct is wired in
    STAGES: ClassVar[dict[type, Callable[[Resolver, Any, Scope], Scope]]] = {}

    def __init__(self, defs: Definitions, overrides: dict[str, str] | None = None,
                 param_overrides: dict[str, Any] | None = None, agent_config: dict[str, Any] | None = None) -> None:
        super().__init__(defs, overrides, param_overrides)
        self.graph = Graph(agent_config)
        self.warnings: list[str] = []
        self.macro_stack: list[str] = []
        self.needs_stack: list[str] = []  # commands whose needs are being pulled in, outermost first

    # -- entry ---------------------------------------------------------------------------------
    def resolve(self, flow: Flow, name: str, chain: str) -> Resolved:
        env = Scope(vars={k: Const(v) for k, v in self.overrides.items()})
        env = self.flow(flow, env)
        for unused in sorted(set(self.overrides) - self.used_vars):
            self.warnings.append(f"--set {unused}=...: the flow has no ${unused}, so it changes nothing"
                                 f"{closest(unused, sorted(self.used_vars))}")
        return Resolved(name, chain, self.graph.steps, env.last, self.sources, self.warnings)

    def flow(self, flow: Flow, env: Scope) -> Scope:
        for stage in desugar.stages(flow):
            env = self.stage(stage, env)
        return env

    def stage(self, stage: Stage, env: Scope) -> Scope:
        return self.STAGES[type(stage)](self, stage, env)

    # -- calls -----------------------------------------------------------------------------------
    def call(self, call: Call, env: Scope, origin: str = "") -> Scope:
        cmd, droid, args, retry = self.lookup(call)
        if cmd.kind == "flow":
            return self.macro(cmd, call, args, env)
        opts = {o.key: o for o in call.options}
        if "parameters" in opts:
            grid = desugar.grid(opts["parameters"])
            return self.sweep_call(replace(call, options=tuple(o for o in call.options if o.key != "parameters")),
                                   grid, env, call.span)
        env = self.pull_needs(cmd, env, call.span)
        step = self.make_step(cmd, droid, call, args, env, origin)
        self.set_retries(step, call, retry)
        return self.graph.add(step, env)

    def pull_needs(self, cmd: Command, env: Scope, span: Span | None) -> Scope:
        """Put the command's missing prerequisites ahead of it, as Make builds prerequisites."""
        if cmd.name in self.needs_stack:  # a needs b needs ... a: no order can satisfy it
            path = [*self.needs_stack[self.needs_stack.index(cmd.name):], cmd.name]
            files = ", ".join(dict.fromkeys(self.defs.commands[n].path.name for n in path))
            raise CompileError(f"needs cycle: {' → '.join('/' + n.replace('/', ':') for n in path)} ({files})", span)
        self.needs_stack.append(cmd.name)
        try:
            for need in cmd.needs:
                if need in env.seen:
                    continue
                if need not in self.defs.commands:
                    self.defs.command(need)
                    raise ResolveError(f"{cmd.display} needs /{need}, which is not defined", span)
                env = self.call(Call(need.split("/")[0], tuple(Arg(p) for p in need.split("/")[1:]), span=span),
                                env, origin=f"pulled in: {cmd.display} needs it")
        finally:
            self.needs_stack.pop()
        return env

    # -- sweeps ----------------------------------------------------------------------------------
    def sweep(self, node: Sweep, env: Scope) -> Scope:
        return self.sweep_call(node.call, [(a,) for a in node.values], env, node.span)

    def sweep_call(self, call: Call, variants: list[tuple[Arg, ...]], env: Scope, span: Span | None) -> Scope:
        """One step that runs ``call`` once per variant (a rule with a ``{variant}`` wildcard)."""
        cmd, droid, args, retry = self.lookup(call)
        if cmd.kind != "shell":
            raise CompileError(f"a sweep needs a command that runs a program; {cmd.display} is a {cmd.kind} command",
                               span)
        env = self.pull_needs(cmd, env, span)
        step = self.make_step(cmd, droid, call, args, env, "")
        table: dict[str, dict[str, Any]] = {}
        given: dict[str, tuple[Arg, ...]] = {}
        for vargs in variants:
            probe = CallStep(step.label, command=cmd)
            for a in vargs:
                self.bind_arg(probe, a, env)
            if probe.args or probe.var_params:
                raise ResolveError(f"sweep value '{vargs[0].value}' does not set a parameter of {cmd.display} "
                                   f"(its parameters: {', '.join(cmd.params) or 'none'})", vargs[0].span)
            name = variant_name(probe.params)
            if name in table:
                same = " ".join(fmt_arg(a) for a in given[name])
                raise ResolveError(f"duplicate sweep value {' '.join(fmt_arg(a) for a in vargs)}: it gives the "
                                   f"same parameters as {same}", vargs[-1].span)
            table[name], given[name] = dict(probe.params), vargs
        step.variants = table
        step.parallel = self.int_option({o.key: o for o in call.options}, "parallel", 0) or None
        self.set_retries(step, call, retry)
        out = self.graph.add(step, env)
        out.last_step = step
        return out

    def parallel(self, par: Parallel, env: Scope) -> Scope:
        # `parallel[/pretrain:a | /pretrain:b]` through a one-line alias is still one rule over {variant}.
        seen = Parallel(tuple(Flow((self.through_alias(b.stages[0]),), b.span)
                              if len(b.stages) == 1 and isinstance(b.stages[0], Call) else b
                              for b in par.branches), par.span)
        as_sweep = desugar.parallel_as_sweep(seen, self._program_args)
        if as_sweep is not None:
            return self.sweep_call(as_sweep[0], as_sweep[1], env, par.span)
        return after_parallel(env, [self.flow(b, env) for b in par.branches])

    def through_alias(self, call: Call) -> Call:
        """A call of a one-line alias (``/pretrain`` is ``flow: /pretrain-bilstm``) as a call of its target.

        Only a pure alias qualifies: no parameters of its own, one call with no variables, so the
        arguments and options pass on unchanged, exactly as :meth:`macro` would pass them.
        """
        for _ in range(len(self.defs.commands)):  # a chain of aliases, never a cycle
            try:
                cmd, _, args, _ = self.lookup(call)
            except ResolveError:
                return call
            if cmd.kind != "flow" or cmd.params or cmd.name in self.macro_stack:
                return call
            flow = desugar.macro_flow(cmd, cmd.path.name)
            inner = flow.stages[0] if len(flow.stages) == 1 else None
            if not isinstance(inner, Call) or any(not isinstance(a.value, str) for a in inner.args):
                return call
            self.sources.add(cmd.path.as_posix())
            call = replace(inner, args=inner.args + args, options=inner.options + call.options, span=call.span)
        return call

    def _program_args(self, call: Call) -> tuple[Arg, ...] | None:
        """The arguments left after the call's name, when it names a program; else None."""
        try:
            cmd, _, rest, _ = self.lookup(call)
        except ResolveError:
            return None
        return rest if cmd.kind == "shell" else None

    # -- gates, tries, variables ---------------------------------------------------------------
    def gate(self, gate: Gate, env: Scope) -> Scope:
        if isinstance(env.last_step, CommandStep) and env.last_step.variants is not None:
            raise CompileError("a gate cannot follow a sweep directly: which variant would it read?", gate.span,
                               hint="add an aggregate step first, e.g. → /results:aggregate → /if:best-acc>0.9")
        step = GateStep(f"gate-{slug(str(gate.metric if isinstance(gate.metric, str) else gate.metric.name))}",
                        span=gate.span)
        step.metric = self.metric_of(gate, env)
        step.op = gate.op
        if gate.threshold is not None:
            t = self.value(gate.threshold, env, gate.span)
            step.threshold = t if isinstance(t, MetricVar) else Const(t)
        step.after = list(env.last)
        decider = self.graph.register(step)
        return self.branches(decider, env, {"then": gate.then, "else": gate.orelse})

    def metric_of(self, gate: Gate, env: Scope) -> MetricSource | Binding:
        if isinstance(gate.metric, Var):
            binding = self.value(gate.metric, env, gate.span)
            return binding if isinstance(binding, MetricVar) else Const(binding)
        source = env.metrics.get(norm(gate.metric))
        if source is None:
            known = sorted({m.key for m in env.metrics.values()})
            raise CompileError(f"no earlier stage declares the metric '{gate.metric}'{closest(norm(gate.metric), known)}",
                               gate.span, hint=f"metrics available here: {', '.join(known) or 'none'}")
        return source

    def try_(self, node: Try, env: Scope) -> Scope:
        cmd, droid, args, retry = self.lookup(node.call)
        if cmd.kind == "flow":
            raise CompileError(f"/try needs a single step; {cmd.display} is a macro", node.call.span)
        env = self.pull_needs(cmd, env, node.call.span)
        step = self.make_step(cmd, droid, node.call, args, env, "")
        self.set_retries(step, node.call, retry)
        step.is_try = True
        step.try_label = node.label
        before = env
        after_ok = self.graph.add(step, env)
        decider = after_ok.last_step
        assert decider is not None
        failed = before.copy()
        failed.last = [decider.marker()]
        failed.last_step = decider
        return self.branches(decider, failed, {"catch": node.catch, "else": node.orelse}, ok_env=after_ok)

    def branches(self, decider: Step, env: Scope, flows: dict[str, Flow | None], ok_env: Scope | None = None) -> Scope:
        """Resolve each branch from the decision and join them: what follows sees the branch taken."""
        base = env.copy()
        base.last = [decider.marker()]
        base.last_step = decider
        ends: dict[str, Scope] = {}
        for branch, flow in flows.items():
            start = ok_env.copy() if (ok_env is not None and branch == "else") else base.copy()
            if ok_env is not None and branch == "else":
                start.last, start.last_step = [decider.marker()], decider
            ends[branch] = self.flow(flow, start) if flow is not None and flow.stages else start
        join = JoinStep("join-" + slug(decider.label.lstrip("/")).removeprefix("gate-"), span=decider.span)
        join.decider = decider
        join.branches = {b: e.last for b, e in ends.items()}
        joined = self.graph.register(join)
        out = after_decision(decider, base, ends)
        out.last, out.last_step = [joined.marker()], joined
        return out

    def assign(self, node: Assign, env: Scope) -> Scope:
        env = env.copy()
        self.used_vars.add(node.name)
        if node.name in self.overrides:
            env.vars[node.name] = Const(self.overrides[node.name])
            return env
        if node.kind == "const":
            env.vars[node.name] = Const(node.value)
            return env
        step = env.last_step
        if not isinstance(step, CommandStep):
            raise CompileError(f"${node.name}={node.value} needs a step right before it whose metrics it reads",
                               node.span)
        spec = step.cmd.metrics
        if spec is None:
            raise CompileError(f"{step.label} declares no metrics for ${node.name} to read", node.span)
        key = spec.primary if node.kind == "result" else spec.lookup(node.value)
        if key is None:
            raise CompileError(f"{step.label} has no metric '{node.value}'{closest(node.value, list(spec.keys))}",
                               node.span)
        env.vars[node.name] = MetricVar(Ref(step, "metrics"), key)
        return env

    # -- macros ----------------------------------------------------------------------------------
    def macro(self, cmd: Command, call: Call, args: tuple[Arg, ...], env: Scope) -> Scope:
        if cmd.name in self.macro_stack:
            cycle = " → ".join("/" + n for n in [*self.macro_stack, cmd.name])
            raise CompileError(f"macro cycle: {cycle}", call.span)
        self.sources.add(cmd.path.as_posix())
        source = str(cmd.path.relative_to(self.defs.root)) if cmd.path.is_relative_to(self.defs.root) \
            else str(cmd.path)
        flow = desugar.macro_flow(cmd, source)
        scope, extra = self.macro_scope(cmd, args, env)
        if not (len(flow.stages) == 1 and isinstance(flow.stages[0], Call)):  # an alias passes all through
            self.macro_options(cmd, call, extra, scope, env)
        flow = desugar.pass_through(flow, extra, call)
        self.macro_stack.append(cmd.name)
        try:
            out = self.flow(flow, scope)
        finally:
            self.macro_stack.pop()
        out.vars = {k: v for k, v in out.vars.items() if k in env.vars}
        return out


Resolver.STAGES.update({
    Call: Resolver.call,
    Sweep: Resolver.sweep,
    Parallel: Resolver.parallel,
    Gate: Resolver.gate,
    Try: Resolver.try_,
    Assign: Resolver.assign,
})


def needs_cycles(defs: Definitions) -> list[CompileError]:
    """Every ``needs:`` cycle among the definitions (a command needing itself is one), once each,
    positioned on the ``needs`` of its first command: what ``lint`` reports before any chain meets it."""
    found: list[CompileError] = []
    seen_cycles: set[frozenset[str]] = set()
    for start in sorted(defs.commands):
        stack: list[tuple[str, list[str]]] = [(start, [start])]  # iterative: no recursion limit
        while stack:
            name, path = stack.pop()
            for need in defs.commands[name].needs:
                if need == start:
                    cycle = [*path, need]
                    if frozenset(path) not in seen_cycles:
                        seen_cycles.add(frozenset(path))
                        cmd = defs.commands[start]
                        found.append(CompileError(f"needs cycle: {' → '.join('/' + n.replace('/', ':') for n in cycle)}",
                                                  cmd.spans.get("needs")))
                elif need in defs.commands and need not in path and need > start:
                    stack.append((need, [*path, need]))  # a cycle is found from its smallest name only
    return found


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9.+-]+")


def variant_name(params: dict[str, Any]) -> str:
    """A sweep variant's folder name: readable, and never the same for two different parameter sets.

    ``lr-0.1_seed-3`` when that text spells the parameters back unambiguously — keys without ``-``,
    values without ``_`` (so each item is the key up to its first ``-`` and the value up to the next
    ``_``); otherwise the readable slug, ``~`` (which a plain name never holds) and a hash of the exact
    values, so ``lr="p q"`` and ``lr="p-q"`` never share a folder.
    """
    if not params:
        return "default"
    text = "_".join(f"{k}-{_fmt_value(v)}" for k, v in params.items())
    if all(_PLAIN_KEY.fullmatch(k) and _PLAIN_VALUE.fullmatch(_fmt_value(v)) for k, v in params.items()):
        return text
    exact = json.dumps([[k, v] for k, v in params.items()], sort_keys=True, default=str)
    return f"{slug(text)[:60]}~{hashlib.sha256(exact.encode()).hexdigest()[:8]}"


def _fmt_value(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def resolve(flow: Flow, defs: Definitions, name: str, chain: str, **kw: Any) -> Resolved:
    """Resolve ``flow`` (parsed from ``chain``) against ``defs``."""
    return deep(lambda: Resolver(defs, **kw).resolve(flow, name, chain))  # nesting may run 1,000 deep
