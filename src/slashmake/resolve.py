"""Resolve a parsed chain against the definitions into a graph of steps.

Walking the tree left to right with a scope (:class:`Env`) of what is available so far — files
by output name, metrics by key, variables — each stage becomes one or more :class:`Step` objects.
A step's key hashes everything that determines its result (command file, parameters, upstream
keys), so the same step reached from two flows is one step with one folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from .definitions import Command, Definitions, Droid, Metrics, slug
from .errors import CompileError, ResolveError, Span, closest
from .nodes import Arg, Assign, Call, Flow, Gate, Option, Parallel, Stage, Sweep, Try, Value, Var
from .parser import is_number, parse
from .tools import missing_tools

# What an agent step's metrics hold when its command declares none (the runtime writes it).
AGENT_METRICS = Metrics("metrics.json", ("answered",), None, {})
RESERVED_OPTIONS = {"retries", "backoff", "parallel", "parameters", "timeout"}
_KEY_NUM = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*?)-([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)")


# -- producers: where a file an input needs comes from ------------------------------------------
@dataclass(frozen=True)
class Ref:
    """The output ``name`` of ``step``; for a sweep, the files of the ``variants`` this consumer needs."""

    step: Step
    name: str
    variants: tuple[str, ...] | None = None

    def ident(self) -> str:
        # A sweep's key leaves its variants out (so changing one value reruns only that variant);
        # what reads the sweep depends on exactly which variants it gathers.
        extra = f"[{','.join(self.variants)}]" if self.variants is not None else ""
        return f"{self.step.key}:{self.name}{extra}"


@dataclass(frozen=True)
class Choice:
    """A file that depends on the branch a gate (or try) took: branch -> producer."""

    decider: Step
    options: tuple[tuple[str, Producer], ...]

    def ident(self) -> str:
        return f"choice({self.decider.key}:" + ",".join(f"{b}={p.ident()}" for b, p in self.options) + ")"


@dataclass(frozen=True)
class Many:
    """The same output name from several parallel branches, all needed."""

    parts: tuple[Producer, ...]

    def ident(self) -> str:
        return "many(" + ",".join(p.ident() for p in self.parts) + ")"


Producer = Ref | Choice | Many


@dataclass(frozen=True)
class Const:
    """A variable bound to a literal."""

    value: str


@dataclass(frozen=True)
class MetricVar:
    """A variable bound to one key of a step's metrics file, read when the consumer runs."""

    source: Producer
    key: str


Binding = Const | MetricVar


@dataclass(frozen=True)
class MetricSource:
    """A metric key available on the path: which file holds it, under which declared key."""

    producer: Producer
    key: str
    spec: Metrics


# -- steps ---------------------------------------------------------------------------------------
@dataclass(eq=False)
class Step:
    """One rule of the compiled workflow."""

    kind: str  # call | agent | gate | join
    label: str  # what a reader sees: the command, gate or join
    span: Span | None = None
    origin: str = ""
    command: Command | None = None
    droid: Droid | None = None
    params: dict[str, Any] = field(default_factory=dict)
    var_params: dict[str, MetricVar] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    inputs: dict[str, Producer] = field(default_factory=dict)
    after: list[Producer] = field(default_factory=list)
    variants: dict[str, dict[str, Any]] | None = None
    parallel: int | None = None
    retries: int = 0
    backoff: float = 0.0
    is_try: bool = False
    try_label: str | None = None
    # gate
    metric: MetricSource | Binding | None = None
    op: str | None = None
    threshold: Binding | None = None
    # join
    decider: Step | None = None
    branches: dict[str, list[Producer]] = field(default_factory=dict)
    key: str = ""

    @property
    def folder(self) -> str:
        return f"results/steps/{self.key}"

    @property
    def rule(self) -> str:
        return re.sub(r"\W", "_", self.key)

    @property
    def outputs(self) -> dict[str, str]:
        """Output name -> file name inside the step folder."""
        if self.kind == "gate":
            return {"decision": "decision.json"}
        if self.kind == "join":
            return {"join": "join.json"}
        assert self.command is not None
        if self.kind == "agent":
            return {"prompt": "prompt.md", "response": "response.md", "metrics": "metrics.json"}
        outs = dict(self.command.outputs) or {"done": ".done"}
        return outs

    def marker(self) -> Ref:
        """The file that says this step is done, for ordering what follows."""
        if self.kind == "gate":
            return Ref(self, "decision")
        if self.kind == "join":
            return Ref(self, "join")
        if self.is_try:
            return Ref(self, "status")
        outs = self.outputs
        return Ref(self, "metrics" if "metrics" in outs else next(iter(outs)))


@dataclass
class Env:
    """What is available at a point of the chain."""

    outputs: dict[str, Producer] = field(default_factory=dict)
    metrics: dict[str, MetricSource] = field(default_factory=dict)  # normalised key -> source
    last: list[Producer] = field(default_factory=list)
    last_step: Step | None = None
    seen: frozenset[str] = frozenset()
    vars: dict[str, Binding] = field(default_factory=dict)

    def copy(self) -> Env:
        return replace(self, outputs=dict(self.outputs), metrics=dict(self.metrics), last=list(self.last),
                       vars=dict(self.vars))


@dataclass
class Resolved:
    """A resolved flow: its steps in order, the producers the target needs, and the files it used."""

    name: str
    chain: str
    steps: list[Step]
    final: list[Producer]
    sources: set[str]
    warnings: list[str]


def _norm(name: str) -> str:
    return name.replace("-", "_")


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


class Resolver:
    """Turns a :class:`Flow` into :class:`Step` objects, one scope at a time."""

    def __init__(self, defs: Definitions, overrides: dict[str, str] | None = None,
                 param_overrides: dict[str, Any] | None = None, agent_config: dict[str, Any] | None = None) -> None:
        self.defs = defs
        self.overrides = dict(overrides or {})
        self.param_overrides = dict(param_overrides or {})
        self.agent_config = agent_config or {}
        self.steps: list[Step] = []
        self.by_key: dict[str, Step] = {}
        self.sources: set[str] = set()
        self.warnings: list[str] = []
        self.macro_stack: list[str] = []

    # -- entry ---------------------------------------------------------------------------------
    def resolve(self, flow: Flow, name: str, chain: str) -> Resolved:
        env = Env(vars={k: Const(v) for k, v in self.overrides.items()})
        env = self.flow(flow, env)
        return Resolved(name, chain, self.steps, env.last, self.sources, self.warnings)

    def flow(self, flow: Flow, env: Env) -> Env:
        stages = list(flow.stages)
        i = 0
        while i < len(stages):
            stage = stages[i]
            nxt = stages[i + 1] if i + 1 < len(stages) else None
            if isinstance(stage, Call) and isinstance(nxt, Gate) and _is_success_gate(nxt):
                # `/step → /if:success → A → /else → B` means: try the step; A on success, B on failure.
                env = self.try_(Try(stage, "failure", nxt.orelse, nxt.then, span=nxt.span), env)
                i += 2
                continue
            env = self.stage(stage, env)
            i += 1
        return env

    def stage(self, stage: Stage, env: Env) -> Env:
        if isinstance(stage, Call):
            return self.call(stage, env)
        if isinstance(stage, Sweep):
            return self.sweep(stage.call, [(a,) for a in stage.values], env, stage.span)
        if isinstance(stage, Parallel):
            return self.parallel(stage, env)
        if isinstance(stage, Gate):
            return self.gate(stage, env)
        if isinstance(stage, Try):
            return self.try_(stage, env)
        return self.assign(stage, env)

    # -- names -----------------------------------------------------------------------------------
    def lookup(self, call: Call) -> tuple[Command, Droid | None, tuple[Arg, ...], int, float]:
        """Find the command a call means, its droid, its remaining args, and retry settings."""
        args = call.args
        droid: Droid | None = None
        if call.droid is not None:
            droid = self.droid(call.droid, call.span)
            name = call.name
        else:
            name = call.name
            first = args[0].value if args and args[0].key is None and isinstance(args[0].value, str) else None
            if name not in self.defs.commands or first is not None and f"{name}/{first}" in self.defs.commands:
                if first is not None and f"{name}/{first}" in self.defs.commands:
                    name, args = f"{name}/{first}", args[1:]
                elif first is not None and name in self.defs.droids:
                    droid, name, args = self.defs.droids[name], first, args[1:]
        retries, backoff = 0, 0.0
        if name not in self.defs.commands and name.endswith("-with-retry") and name[: -len("-with-retry")] in self.defs.commands:
            name = name[: -len("-with-retry")]
            rest = []
            for a in args:
                if a.key == "backoff" and isinstance(a.value, str) and is_number(a.value):
                    backoff = float(a.value)
                elif a.key is None and isinstance(a.value, str) and a.value.isdigit() and not retries:
                    retries = int(a.value)
                else:
                    rest.append(a)
            args = tuple(rest)
        if name not in self.defs.commands:
            self.defs.command(name)  # a command whose file is bad: that file's error, with its position
            known = [c.replace("/", ":") for c in self.defs.commands]
            raise ResolveError(f"unknown command /{name.replace('/', ':')}{closest(name.replace('/', ':'), known)}",
                               call.span)
        cmd = self.defs.commands[name]
        if droid is None and cmd.droid:
            droid = self.defs.droid(cmd.droid)
        return cmd, droid, args, retries, backoff

    def droid(self, name: str, span: Span | None) -> Droid:
        if name not in self.defs.droids:
            self.defs.droid(name)  # a droid whose file is bad: that file's error
            raise ResolveError(f"unknown droid '{name}'{closest(name, list(self.defs.droids))}", span)
        return self.defs.droids[name]

    def check_tools(self, cmd: Command, droid: Droid | None, span: Span | None) -> None:
        if droid is None or droid.tools is None or cmd.allowed_tools is None:
            return
        lacking = missing_tools(droid.tools, cmd.allowed_tools)
        if lacking:
            raise CompileError(
                f"droid {droid.name} ({droid.path.name}) lacks {', '.join(sorted(lacking))}, which "
                f"{cmd.display} ({cmd.path.name}) needs in its allowed-tools", span)

    # -- calls -----------------------------------------------------------------------------------
    def call(self, call: Call, env: Env, origin: str = "") -> Env:
        cmd, droid, args, retries, backoff = self.lookup(call)
        if cmd.kind == "flow":
            return self.macro(cmd, call, args, env)
        opts = {o.key: o for o in call.options}
        if "parameters" in opts:
            grid = self.grid(cmd, opts["parameters"])
            return self.sweep(replace(call, options=tuple(o for o in call.options if o.key != "parameters")),
                              grid, env, call.span)
        env = self.pull_needs(cmd, env, call.span)
        step = self.make_step(cmd, droid, call, args, env, origin)
        step.retries = retries or self.int_option(opts, "retries", cmd.retries)
        step.backoff = backoff or self.float_option(opts, "backoff", cmd.backoff)
        return self.add(step, env)

    def int_option(self, opts: dict[str, Option], key: str, default: int) -> int:
        o = opts.get(key)
        if o is None:
            return default
        if not isinstance(o.value, str) or not o.value.isdigit():
            raise ResolveError(f"--{key} takes a whole number", o.span)
        return int(o.value)

    def float_option(self, opts: dict[str, Option], key: str, default: float) -> float:
        o = opts.get(key)
        if o is None:
            return default
        if not isinstance(o.value, str) or not is_number(o.value):
            raise ResolveError(f"--{key} takes a number of seconds", o.span)
        return float(o.value)

    def make_step(self, cmd: Command, droid: Droid | None, call: Call, args: tuple[Arg, ...], env: Env,
                  origin: str) -> Step:
        self.check_tools(cmd, droid, call.span)
        kind = "agent" if cmd.kind == "agent" else "call"
        step = Step(kind, cmd.display, span=call.span, origin=origin, command=cmd, droid=droid)
        step.params = {k: self.param_overrides.get(f"{cmd.name}.{k}", self.param_overrides.get(k, v))
                       for k, v in cmd.params.items()}
        for a in args:
            self.bind_arg(step, a, env)
        for o in call.options:
            if o.key in RESERVED_OPTIONS:
                continue
            key = _norm(o.key)
            if key not in {_norm(p) for p in cmd.params}:
                raise ResolveError(f"{cmd.display} has no parameter --{o.key} (its parameters: "
                                   f"{', '.join(cmd.params) or 'none'}){closest(key, list(cmd.params))}", o.span)
            self.set_param(step, key, True if o.value is None else o.value, env, o.span)
        step.inputs = self.inputs_for(cmd, env, call.span)
        step.after = list(env.last)
        self.sources.add(cmd.path.as_posix())
        if droid is not None:
            self.sources.add(droid.path.as_posix())
        return step

    def bind_arg(self, step: Step, arg: Arg, env: Env) -> None:
        assert step.command is not None
        declared = {_norm(p): p for p in step.command.params}
        if arg.key is not None and _norm(arg.key) in declared:
            self.set_param(step, _norm(arg.key), arg.value, env, arg.span)
            return
        if isinstance(arg.value, str) and arg.key is None:
            m = _KEY_NUM.fullmatch(arg.value)
            if m and _norm(m.group(1)) in declared:
                self.set_param(step, _norm(m.group(1)), m.group(2), env, arg.span)
                return
        if isinstance(arg.value, Var) and arg.value.name == "ARGUMENTS":
            binding = env.vars.get("ARGUMENTS")
            if isinstance(binding, Const) and binding.value:
                step.args.extend(json.loads(binding.value))
            return
        value = self.value(arg.value, env, arg.span)
        if isinstance(value, MetricVar):
            raise ResolveError("a variable bound to a metric can only set a parameter (name=$var)", arg.span)
        step.args.append(f"{arg.key}={value}" if arg.key else value)

    def set_param(self, step: Step, key: str, raw: Value | bool, env: Env, span: Span | None) -> None:
        assert step.command is not None
        name = next(p for p in step.command.params if _norm(p) == key)
        if isinstance(raw, bool):
            step.params[name] = raw
            return
        value = self.value(raw, env, span)
        if isinstance(value, MetricVar):
            step.var_params[name] = value
            step.params.pop(name, None)
        else:
            step.params[name] = coerce(value, step.command.params[name], name, span)

    def value(self, value: Value, env: Env, span: Span | None) -> str | MetricVar:
        if isinstance(value, str):
            return value
        binding = env.vars.get(value.name)
        if binding is None:
            raise ResolveError(f"variable ${value.name} is not set (bind it with ${value.name}=... earlier in the "
                               f"chain, or --set {value.name}=...){closest(value.name, list(env.vars))}", span)
        return binding.value if isinstance(binding, Const) else binding

    def inputs_for(self, cmd: Command, env: Env, span: Span | None) -> dict[str, Producer]:
        found: dict[str, Producer] = {}
        for local, upstream in cmd.inputs.items():
            prod = env.outputs.get(upstream)
            if prod is None and local in cmd.optional_inputs:
                continue
            if prod is None:
                raise CompileError(
                    f"{cmd.display} reads '{upstream}', which no earlier stage makes"
                    f"{closest(upstream, list(env.outputs))}", span,
                    hint=f"add a stage that outputs '{upstream}' before it, or list that command in its needs")
            found[local] = prod
        return found

    def pull_needs(self, cmd: Command, env: Env, span: Span | None) -> Env:
        """Put the command's missing prerequisites ahead of it, as Make builds prerequisites."""
        for need in cmd.needs:
            if need in env.seen:
                continue
            if need not in self.defs.commands:
                self.defs.command(need)
                raise ResolveError(f"{cmd.display} needs /{need}, which is not defined", span)
            env = self.call(Call(need.split("/")[0], tuple(Arg(p) for p in need.split("/")[1:]), span=span), env,
                            origin=f"pulled in: {cmd.display} needs it")
        return env

    def add(self, step: Step, env: Env) -> Env:
        """Key the step, register it (once), and return the scope after it."""
        variants = tuple(step.variants) if step.variants is not None else None
        step = self.register(step)
        env = env.copy()

        def ref(name: str) -> Ref:
            return Ref(step, name, variants)

        if step.kind in ("call", "agent"):
            assert step.command is not None
            for name in step.outputs:
                env.outputs[name] = ref(name)
            spec = step.command.metrics or (AGENT_METRICS if step.kind == "agent" else None)
            if spec is not None:
                for k in spec.keys:
                    env.metrics[_norm(k)] = MetricSource(ref("metrics"), k, spec)
                for alias, target in spec.aliases.items():
                    env.metrics[_norm(alias)] = MetricSource(ref("metrics"), target, spec)
            env.seen = env.seen | {step.command.name}
        env.last = [ref(step.marker().name) if variants else step.marker()]
        env.last_step = step
        return env

    def register(self, step: Step) -> Step:
        step.key = f"{slug(step.label.lstrip('/'))}-{_hash(self.identity(step))}"
        if step.key in self.by_key:
            known = self.by_key[step.key]
            if known.variants is not None and step.variants is not None:
                known.variants.update(step.variants)  # the rule serves every variant any consumer asks for
            return known
        self.by_key[step.key] = step
        self.steps.append(step)
        return step

    def identity(self, step: Step) -> dict[str, Any]:
        """Everything that determines a step's result, for its key."""
        ident: dict[str, Any] = {"kind": step.kind, "label": step.label}
        if step.command is not None:
            ident.update(command=step.command.digest, params=step.params, args=step.args,
                         vars={k: [v.source.ident(), v.key] for k, v in step.var_params.items()},
                         sweep=step.variants is not None, try_=step.is_try, retries=step.retries,
                         backoff=step.backoff)
        if step.droid is not None:
            ident["droid"] = step.droid.digest
        if step.kind == "agent":
            ident["agent"] = self.agent_config
        ident["inputs"] = {k: p.ident() for k, p in step.inputs.items()}
        ident["after"] = [p.ident() for p in step.after]
        if step.kind == "gate":
            ident["gate"] = [_binding_ident(step.metric), step.op, _binding_ident(step.threshold)]
        if step.kind == "join":
            ident["join"] = [step.decider.key if step.decider else "",
                             {b: [p.ident() for p in ps] for b, ps in step.branches.items()}]
        return ident

    # -- sweeps ----------------------------------------------------------------------------------
    def grid(self, cmd: Command, opt: Option) -> list[tuple[Arg, ...]]:
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

    def sweep(self, call: Call, variants: list[tuple[Arg, ...]], env: Env, span: Span | None) -> Env:
        cmd, droid, args, retries, backoff = self.lookup(call)
        if cmd.kind != "shell":
            raise CompileError(f"a sweep needs a command that runs a program; {cmd.display} is a {cmd.kind} command",
                               span)
        env = self.pull_needs(cmd, env, span)
        step = self.make_step(cmd, droid, call, args, env, "")
        table: dict[str, dict[str, Any]] = {}
        for vargs in variants:
            probe = Step("call", step.label, command=cmd)
            for a in vargs:
                self.bind_arg(probe, a, env)
            if probe.args or probe.var_params:
                raise ResolveError(f"sweep value '{vargs[0].value}' does not set a parameter of {cmd.display} "
                                   f"(its parameters: {', '.join(cmd.params) or 'none'})", vargs[0].span)
            name = slug("_".join(f"{k}-{v}" for k, v in probe.params.items()) or "default")
            table[name] = {k: v for k, v in probe.params.items()}
        if len(table) < len(variants):
            raise ResolveError("two sweep values give the same variant", span)
        step.variants = table
        opts = {o.key: o for o in call.options}
        step.parallel = self.int_option(opts, "parallel", 0) or None
        step.retries = retries or self.int_option(opts, "retries", cmd.retries)
        step.backoff = backoff or self.float_option(opts, "backoff", cmd.backoff)
        out = self.add(step, env)
        out.last_step = step
        return out

    def parallel(self, par: Parallel, env: Env) -> Env:
        calls = [b.stages[0] for b in par.branches if len(b.stages) == 1 and isinstance(b.stages[0], Call)]
        if len(calls) == len(par.branches) > 1 and len({(c.name, c.droid) for c in calls}) == 1:
            first = calls[0]
            try:
                cmd, _, rest, _, _ = self.lookup(first)
            except ResolveError:
                cmd = None
            if cmd is not None and cmd.kind == "shell" and all(not c.options for c in calls):
                prefix = len(first.args) - len(rest)
                return self.sweep(replace(first, args=first.args[:prefix]),
                                  [c.args[prefix:] for c in calls], env, par.span)
        ends: list[Env] = [self.flow(b, env) for b in par.branches]
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

    # -- gates, tries, variables ---------------------------------------------------------------
    def gate(self, gate: Gate, env: Env) -> Env:
        if env.last_step is not None and env.last_step.variants is not None:
            raise CompileError("a gate cannot follow a sweep directly: which variant would it read?", gate.span,
                               hint="add an aggregate step first, e.g. → /results:aggregate → /if:best-acc>0.9")
        step = Step("gate", f"gate-{slug(str(gate.metric if isinstance(gate.metric, str) else gate.metric.name))}",
                    span=gate.span)
        step.metric = self.metric_of(gate, env)
        step.op = gate.op
        if gate.threshold is not None:
            t = self.value(gate.threshold, env, gate.span)
            step.threshold = t if isinstance(t, MetricVar) else Const(t)
        step.after = list(env.last)
        step = self.register(step)
        return self.branches(step, env, {"then": gate.then, "else": gate.orelse})

    def metric_of(self, gate: Gate, env: Env) -> MetricSource | Binding:
        if isinstance(gate.metric, Var):
            binding = self.value(gate.metric, env, gate.span)
            return binding if isinstance(binding, MetricVar) else Const(binding)
        source = env.metrics.get(_norm(gate.metric))
        if source is None:
            known = sorted({m.key for m in env.metrics.values()})
            raise CompileError(f"no earlier stage declares the metric '{gate.metric}'{closest(_norm(gate.metric), known)}",
                               gate.span, hint=f"metrics available here: {', '.join(known) or 'none'}")
        return source

    def try_(self, node: Try, env: Env) -> Env:
        cmd, droid, args, retries, backoff = self.lookup(node.call)
        if cmd.kind == "flow":
            raise CompileError(f"/try needs a single step; {cmd.display} is a macro", node.call.span)
        env = self.pull_needs(cmd, env, node.call.span)
        step = self.make_step(cmd, droid, node.call, args, env, "")
        opts = {o.key: o for o in node.call.options}
        step.retries = retries or self.int_option(opts, "retries", cmd.retries)
        step.backoff = backoff or self.float_option(opts, "backoff", cmd.backoff)
        step.is_try = True
        step.try_label = node.label
        before = env
        after_ok = self.add(step, env)
        step = after_ok.last_step  # type: ignore[assignment]
        assert step is not None
        failed = before.copy()
        failed.last = [step.marker()]
        failed.last_step = step
        return self.branches(step, failed, {"catch": node.catch, "else": node.orelse}, ok_env=after_ok)

    def branches(self, decider: Step, env: Env, flows: dict[str, Flow | None], ok_env: Env | None = None) -> Env:
        """Resolve each branch from the decision and join them: what follows sees the branch taken."""
        base = env.copy()
        base.last = [decider.marker()]
        base.last_step = decider
        ends: dict[str, Env] = {}
        for branch, flow in flows.items():
            start = ok_env.copy() if (ok_env is not None and branch == "else") else base.copy()
            if ok_env is not None and branch == "else":
                start.last, start.last_step = [decider.marker()], decider
            ends[branch] = self.flow(flow, start) if flow is not None and flow.stages else start
        join = Step("join", "join-" + slug(decider.label.lstrip("/")).removeprefix("gate-"), span=decider.span)
        join.decider = decider
        join.branches = {b: e.last for b, e in ends.items()}
        join = self.register(join)
        out = base.copy()
        out.last, out.last_step = [join.marker()], join
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

    def assign(self, node: Assign, env: Env) -> Env:
        env = env.copy()
        if node.name in self.overrides:
            env.vars[node.name] = Const(self.overrides[node.name])
            return env
        if node.kind == "const":
            env.vars[node.name] = Const(node.value)
            return env
        step = env.last_step
        if step is None or step.kind not in ("call", "agent") or step.command is None:
            raise CompileError(f"${node.name}={node.value} needs a step right before it whose metrics it reads",
                               node.span)
        spec = step.command.metrics
        if spec is None:
            raise CompileError(f"{step.label} declares no metrics for ${node.name} to read", node.span)
        key = spec.primary if node.kind == "result" else spec.lookup(node.value)
        if key is None:
            raise CompileError(f"{step.label} has no metric '{node.value}'{closest(node.value, list(spec.keys))}",
                               node.span)
        env.vars[node.name] = MetricVar(Ref(step, "metrics"), key)
        return env

    # -- macros ----------------------------------------------------------------------------------
    def macro(self, cmd: Command, call: Call, args: tuple[Arg, ...], env: Env) -> Env:
        if cmd.name in self.macro_stack:
            cycle = " → ".join("/" + n for n in [*self.macro_stack, cmd.name])
            raise CompileError(f"macro cycle: {cycle}", call.span)
        assert cmd.flow is not None
        self.sources.add(cmd.path.as_posix())
        flow = parse(cmd.flow, str(cmd.path.relative_to(self.defs.root)) if cmd.path.is_relative_to(self.defs.root)
                     else str(cmd.path), cmd.flow_pos[0], cmd.flow_pos[1])
        scope = env.copy()
        positional: list[str] = []
        declared = {_norm(p): p for p in cmd.params}
        for k, v in cmd.params.items():
            scope.vars[k] = Const(_fmt(v))
        extra: list[Arg] = []
        for a in args:
            m = _KEY_NUM.fullmatch(a.value) if isinstance(a.value, str) and a.key is None else None
            key = _norm(a.key) if a.key else (_norm(m.group(1)) if m else None)
            if key in declared:
                val = self.value(a.value if a.key else m.group(2), env, a.span)  # type: ignore[union-attr]
                scope.vars[declared[key]] = val if isinstance(val, MetricVar) else Const(val)
            else:
                extra.append(a)
                if isinstance(a.value, str):
                    positional.append(a.value)
        scope.vars["ARGUMENTS"] = Const(json.dumps(positional))
        if len(flow.stages) == 1 and isinstance(flow.stages[0], Call) and (extra or call.options):
            inner = flow.stages[0]  # a one-line alias: pass the arguments and options through
            flow = Flow((replace(inner, args=inner.args + tuple(extra), options=inner.options + call.options),))
        self.macro_stack.append(cmd.name)
        try:
            out = self.flow(flow, scope)
        finally:
            self.macro_stack.pop()
        out.vars = {k: v for k, v in out.vars.items() if k in env.vars}
        return out


def _is_success_gate(gate: Gate) -> bool:
    return gate.metric == "success" and (gate.op is None or (gate.op == "==" and gate.threshold == "true"))


def _binding_ident(b: MetricSource | Binding | None) -> Any:
    if b is None:
        return None
    if isinstance(b, Const):
        return ["const", b.value]
    if isinstance(b, MetricVar):
        return ["var", b.source.ident(), b.key]
    return ["metric", b.producer.ident(), b.key]


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def coerce(value: str, default: Any, name: str, span: Span | None) -> Any:
    """Give an argument the type of the parameter's default (``60`` → 60 where epochs is an int)."""
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            float(value)
            return value if is_number(value) else float(value)
    except ValueError:
        raise ResolveError(f"parameter {name} takes a {type(default).__name__}, not '{value}'", span) from None
    return value


def resolve(flow: Flow, defs: Definitions, name: str, chain: str, **kw: Any) -> Resolved:
    """Resolve ``flow`` (parsed from ``chain``) against ``defs``."""
    return Resolver(defs, **kw).resolve(flow, name, chain)
