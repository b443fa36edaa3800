"""The rules that steer a flow rather than run a command: a gate's checkpoint, a join of branches, the target.

A mixin of :class:`slashmake.compiler.rules.Compiler`, which supplies the producers' expressions,
paths and logs; these rules run ``python -m slashmake.runtime``.
"""

from __future__ import annotations

from typing import Any

from slashmake.compiler.resolve import Resolved
from slashmake.compiler.smk import Bracketed, Commented, Expr, Prefixed, call, literal, py, rule_text
from slashmake.compiler.steps import (
    Const,
    GateStep,
    JoinStep,
    MetricSource,
    MetricVar,
    Producer,
    Step,
    is_try,
)


class ControlRules:
    """Gate, join and target rules; the compiler that mixes this in provides the methods declared here."""

    r: Resolved
    conda: Any

    def path(self, step: Step, name: str) -> str:
        raise NotImplementedError

    def log(self, step: Step) -> str:
        raise NotImplementedError

    def comment(self, step: Step) -> str:
        raise NotImplementedError

    def input_value(self, prod: Producer | list[Producer]) -> Expr:
        raise NotImplementedError

    def exprs(self, prods: list[Producer], wrap: str) -> Expr:
        raise NotImplementedError

    def after(self, step: Step, inputs: dict[str, Expr], read: list[Producer]) -> dict[str, Expr | Commented]:
        raise NotImplementedError

    def gate(self, step: GateStep) -> str:
        inputs: dict[str, Expr] = {}
        read: list[Producer] = []
        params: dict[str, str] = {"op": py(step.op or "truthy")}
        args = "--op {params.op:q}"
        m = step.metric
        if isinstance(m, MetricSource):
            inputs["metrics"] = self.input_value(m.producer)
            read.append(m.producer)
            params["key"] = py(m.key)
            args += " --metrics {input.metrics:q} --key {params.key:q}"
        elif isinstance(m, MetricVar):
            inputs["metrics"] = self.input_value(m.source)
            read.append(m.source)
            params["key"] = py(m.key)
            args += " --metrics {input.metrics:q} --key {params.key:q}"
        elif isinstance(m, Const):
            params["value"] = py(m.value)
            args += " --value {params.value:q}"
        t = step.threshold
        if isinstance(t, Const):
            params["threshold"] = py(t.value)
            args += " --threshold {params.threshold:q}"
        elif isinstance(t, MetricVar):
            inputs["threshold"] = self.input_value(t.source)
            read.append(t.source)
            params["threshold_key"] = py(t.key)
            args += " --threshold-file {input.threshold:q} --threshold-key {params.threshold_key:q}"
        all_inputs: dict[str, Expr | Commented] = {**inputs, **self.after(step, inputs, read)}
        shell = "python -m slashmake.runtime gate " + args + " --out {output:q} > {log:q} 2>&1"
        decision = call("report", py(self.path(step, "decision")), Prefixed("category=", py("gates")),
                        Prefixed("labels=", literal({"gate": step.key})))
        sections: list[tuple[str, Any]] = [("input", all_inputs), ("output", {"decision": decision}),
                                           ("log", [self.log(step)]), ("params", params),
                                           ("localrule", "True"), ("conda", self.conda), ("shell", py(shell))]
        return rule_text("checkpoint", step.rule, self.comment(step), sections)

    def join(self, step: JoinStep) -> str:
        assert step.decider is not None
        decider = step.decider
        opts = tuple(Prefixed(f"{py(b)}: ", self.lazy_list(ps)) for b, ps in step.branches.items())
        decision_ref = f"rules.{decider.rule}.output.{'status' if is_try(decider) else 'decision'}"
        inputs = {"decision": decision_ref,
                  "chosen": Prefixed("lambda w: ", call("choose", f"checkpoints.{decider.rule}", Bracketed("{", opts, "}")))}
        shell = "python -m slashmake.runtime join --decision {input.decision:q} --out {output:q} {input.chosen:q}" \
                " > {log:q} 2>&1"
        sections: list[tuple[str, Any]] = [("input", inputs), ("output", {"join": py(self.path(step, "join"))}),
                                           ("log", [self.log(step)]), ("localrule", "True"), ("conda", self.conda),
                                           ("shell", py(shell))]
        return rule_text("rule", step.rule, f"joins the branches of {decider.label}", sections)

    def lazy_list(self, prods: list[Producer]) -> Expr:
        return self.exprs(prods, "lambda:") if prods else "[]"

    def target(self, name: str, index_path: str, index_file: str) -> str:
        """The flow's target rule: writes the readable index from the flow's data file."""
        inputs = {"final": self.input_value(self.r.final)} if self.r.final else {}
        inputs["index"] = py(index_file)
        shell = "python -m slashmake.runtime index --index {input.index:q} --out {output:q} {input:q} > {log:q} 2>&1"
        log = py(index_path.replace("results/", "logs/", 1).replace("index.json", "index.log"))
        sections: list[tuple[str, Any]] = [("input", inputs), ("output", [py(index_path)]), ("log", [log]),
                                           ("localrule", "True"), ("conda", self.conda), ("shell", py(shell))]
        return rule_text("rule", name, f"target: snakemake -c2 {name}", sections)

