"""What the resolver produces: steps (one rule each) and the producers that link them.

A step kind is a small class — :class:`CallStep` (a program), :class:`AgentStep` (a prompt for an
agent), :class:`GateStep` (a decision) and :class:`JoinStep` (where a decision's branches meet) —
and code that treats kinds differently dispatches on the class, not on a string. Each class says
which files it writes (:attr:`Step.outputs`), which of them marks it done (:meth:`Step.marker`),
and what determines its result (:meth:`Step.identity`, hashed into its key).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from slashmake.definitions import Command, Droid, Metrics
from slashmake.errors import Span

# What an agent step's metrics hold when its command declares none (the runtime writes it).
AGENT_METRICS = Metrics("metrics.json", ("answered",), None, {})


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


# -- bindings: what a variable or a gate's operand stands for -----------------------------------
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


def binding_ident(b: MetricSource | Binding | None) -> Any:
    """A gate operand's part of the gate's identity."""
    if b is None:
        return None
    if isinstance(b, Const):
        return ["const", b.value]
    if isinstance(b, MetricVar):
        return ["var", b.source.ident(), b.key]
    return ["metric", b.producer.ident(), b.key]


# -- steps ---------------------------------------------------------------------------------------
@dataclass(eq=False)
class Step:
    """One rule of the compiled workflow; the subclasses are the step kinds."""

    kind: ClassVar[str]  # the kind's name in the step key's hash and the flow index (data, not dispatch)

    label: str  # what a reader sees: the command, gate or join
    span: Span | None = None
    origin: str = ""
    after: list[Producer] = field(default_factory=list)  # what runs before it with no file passed on
    key: str = ""  # what determines its result, hashed: its folder's name
    rule: str = ""  # its rule's name, given by names.RuleNames once the flow is resolved

    @property
    def folder(self) -> str:
        return f"results/steps/{self.key}"

    @property
    def outputs(self) -> dict[str, str]:
        """Output name -> file name inside the step folder."""
        raise NotImplementedError

    def marker(self) -> Ref:
        """The file that says this step is done, for ordering what follows."""
        return Ref(self, next(iter(self.outputs)))

    def identity(self, agent_config: dict[str, Any]) -> dict[str, Any]:
        """Everything that determines the step's result, hashed into its key."""
        return {"kind": self.kind, "label": self.label, "inputs": {}, "after": [p.ident() for p in self.after]}


@dataclass(eq=False)
class CommandStep(Step):
    """A step that runs a command file: a program (:class:`CallStep`) or an agent (:class:`AgentStep`)."""

    command: Command | None = None
    droid: Droid | None = None
    params: dict[str, Any] = field(default_factory=dict)
    var_params: dict[str, MetricVar] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    inputs: dict[str, Producer] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] | None = None  # a sweep: variant name -> its parameters
    parallel: int | None = None
    retries: int = 0
    backoff: float = 0.0
    is_try: bool = False  # a /try: failure is a branch, not an error
    try_label: str | None = None

    @property
    def cmd(self) -> Command:
        assert self.command is not None
        return self.command

    @property
    def metrics_spec(self) -> Metrics | None:
        """What the step's metrics file holds, if it has one."""
        return self.cmd.metrics

    def marker(self) -> Ref:
        if self.is_try:
            return Ref(self, "status")
        outs = self.outputs
        return Ref(self, "metrics" if "metrics" in outs else next(iter(outs)))

    def identity(self, agent_config: dict[str, Any]) -> dict[str, Any]:
        ident = super().identity(agent_config)
        ident.update(command=self.cmd.digest, params=self.params, args=self.args,
                     vars={k: [v.source.ident(), v.key] for k, v in self.var_params.items()},
                     sweep=self.variants is not None, try_=self.is_try, retries=self.retries, backoff=self.backoff,
                     inputs={k: p.ident() for k, p in self.inputs.items()})
        if self.droid is not None:
            ident["droid"] = self.droid.digest
        return ident


@dataclass(eq=False)
class CallStep(CommandStep):
    """Runs the command's program (``shell:`` or ``script:``)."""

    kind: ClassVar[str] = "call"

    @property
    def outputs(self) -> dict[str, str]:
        return dict(self.cmd.outputs) or {"done": ".done"}

    def identity(self, agent_config: dict[str, Any]) -> dict[str, Any]:
        # A program's result depends on the rule its frontmatter shapes, not on the prose around it:
        # editing the Markdown body or the description reruns nothing (an agent's body is its prompt).
        ident = super().identity(agent_config)
        ident["command"] = rule_digest(self.cmd)
        if self.droid is not None:
            ident["droid"] = sorted(self.droid.resources.items())  # a droid's prose is no part of a program
        return ident


def rule_digest(cmd: Command) -> str:
    """A hash of what in a command file shapes its rule: program, parameters, files, resources, limits."""
    metrics = cmd.metrics
    shape = {"shell": cmd.shell, "script": cmd.script, "params": cmd.params, "inputs": cmd.inputs,
             "optional": sorted(cmd.optional_inputs), "outputs": cmd.outputs, "needs": list(cmd.needs),
             "metrics": None if metrics is None else [metrics.file, list(metrics.keys), metrics.primary,
                                                      sorted(metrics.aliases.items())],
             "threads": cmd.threads, "resources": cmd.resources, "timeout": cmd.timeout, "droid": cmd.droid}
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(eq=False)
class AgentStep(CommandStep):
    """Hands the command's prompt to an agent program; the runtime writes its three files."""

    kind: ClassVar[str] = "agent"

    @property
    def outputs(self) -> dict[str, str]:
        return {"prompt": "prompt.md", "response": "response.md", "metrics": "metrics.json"}

    @property
    def metrics_spec(self) -> Metrics | None:
        return self.cmd.metrics or AGENT_METRICS

    def identity(self, agent_config: dict[str, Any]) -> dict[str, Any]:
        # the budget decides whether a step may start, not what it answers
        return {**super().identity(agent_config),
                "agent": {k: v for k, v in agent_config.items() if k != "max_cost_usd"}}


@dataclass(eq=False)
class GateStep(Step):
    """``/if``: compares a metric (or a variable) with a threshold and writes the branch taken."""

    kind: ClassVar[str] = "gate"

    metric: MetricSource | Binding | None = None
    op: str | None = None
    threshold: Binding | None = None

    @property
    def outputs(self) -> dict[str, str]:
        return {"decision": "decision.json"}

    def identity(self, agent_config: dict[str, Any]) -> dict[str, Any]:
        return {**super().identity(agent_config),
                "gate": [binding_ident(self.metric), self.op, binding_ident(self.threshold)]}


@dataclass(eq=False)
class JoinStep(Step):
    """Where a decision's branches meet: it waits for the files of the branch taken."""

    kind: ClassVar[str] = "join"

    decider: Step | None = None
    branches: dict[str, list[Producer]] = field(default_factory=dict)

    @property
    def outputs(self) -> dict[str, str]:
        return {"join": "join.json"}

    def identity(self, agent_config: dict[str, Any]) -> dict[str, Any]:
        return {**super().identity(agent_config),
                "join": [self.decider.key if self.decider else "",
                         {b: [p.ident() for p in ps] for b, ps in self.branches.items()}]}


def cacheable(step: Step) -> bool:
    """Whether the step may come from the shared cache (slashmake.cache), as the config allows.

    A program that declares its outputs, unless its command says ``cache: false`` (a deploy, a
    notification: what it does beside its files must happen); an agent step only when its command
    says ``cache: true`` (an answer should be fresh). Never a /try (its outputs are published by
    its status), a gate or a join (cheap, and deciding is what they are for).
    """
    if not isinstance(step, CommandStep) or step.is_try:
        return False
    if step.cmd.cache is not None:
        return step.cmd.cache and bool(step.cmd.outputs or isinstance(step, AgentStep))
    return isinstance(step, CallStep) and bool(step.cmd.outputs)


def variants_of(step: Step) -> dict[str, dict[str, Any]] | None:
    """A sweep step's variants; None for any other step."""
    return step.variants if isinstance(step, CommandStep) else None


def is_try(step: Step) -> bool:
    """Whether the step is a /try (a failure is a branch)."""
    return isinstance(step, CommandStep) and step.is_try


def sure_refs(prods: list[Producer]) -> list[Ref]:
    """The steps' files among ``prods`` that are read whatever branch is taken."""
    out: list[Ref] = []
    for p in prods:
        if isinstance(p, Ref):
            out.append(p)
        elif isinstance(p, Many):
            out += sure_refs(list(p.parts))
    return out


def has_choice(prod: Producer) -> bool:
    """Whether the files of ``prod`` depend on a branch a gate or try takes."""
    if isinstance(prod, Choice):
        return True
    if isinstance(prod, Many):
        return any(has_choice(p) for p in prod.parts)
    return False
