"""Compile a resolved flow into Snakemake rules.

The text is deterministic and laid out like the Snakemake workflow template: each rule's keys in
a fixed order (input, output, log, params, threads, resources, shell), files under ``results/``
and ``logs/``. Every placeholder of a command's shell template gets ``:q``, so an argument from a
chain reaches its program as one argv element and never as shell text.
"""

from __future__ import annotations

import re
from typing import Any

import slashmake
from slashmake.compiler.agent_rules import agent_shell
from slashmake.compiler.control_rules import ControlRules
from slashmake.compiler.resolve import Resolved
from slashmake.compiler.smk import (
    CONDA_ENV,
    ENV_FILE,
    Bracketed,
    Commented,
    Expr,
    Prefixed,
    call,
    flat,
    layout,
    literal,
    param_value,
    py,
    quote_template,
    rule_text,
)
from slashmake.compiler.steps import (
    AgentStep,
    Choice,
    CommandStep,
    GateStep,
    JoinStep,
    Many,
    Producer,
    Ref,
    Step,
    has_choice,
    is_try,
    sure_refs,
    variants_of,
)
from slashmake.definitions import Definitions
from slashmake.errors import CompileError

REPORT_SUFFIXES = {"png", "svg", "html", "pdf"}
_ATTR_PLACEHOLDER = re.compile(r"\{(input|output|params)\.([A-Za-z_]\w*)")


class Compiler(ControlRules):
    """Writes the rules of one resolved flow."""

    def __init__(self, resolved: Resolved, defs: Definitions, skip: dict[str, str] | None = None,
                 agent: dict[str, Any] | None = None) -> None:
        self.r = resolved
        self.defs = defs
        self.skip = skip or {}
        self.agent = agent or {}
        # each rule's software environment: the project's environment file, when it has one
        self.conda = py(CONDA_ENV) if (defs.root / ENV_FILE).exists() else None
        self.consts: dict[str, Expr] = {}  # statements before the rules (sweep tables, caps)
        self.functions: list[str] = []  # functions before the rules (named branches)
        self.choices: dict[int, tuple[str, Choice]] = {}  # id of a choice -> the function naming it

    # -- paths -----------------------------------------------------------------------------------
    def path(self, step: Step, name: str) -> str:
        file = step.outputs[name] if name in step.outputs else f"{name}.json"
        if is_try(step) and name == "status":
            file = "status.json"
        if variants_of(step) is not None:
            return f"{step.folder}/{{variant}}/{file}"
        return f"{step.folder}/{file}"

    def register_variants(self, step: CommandStep) -> None:
        """Declare this flow's variants of a sweep (merged with other flows' at parse time)."""
        assert step.variants is not None
        self.consts[f"VARIANTS_{step.rule}"] = call("register_variants", py(step.rule), literal(step.variants))

    def variant_param(self, step: CommandStep, key: str) -> str:
        self.register_variants(step)
        return f"lambda w: q(variant({py(step.rule)}, w.variant, {py(key)}))"

    def expr(self, prod: Producer) -> Expr:
        """A Python expression giving the file(s) of ``prod``; ``w`` is the wildcards."""
        if isinstance(prod, Ref):
            return self.ref(prod)
        if isinstance(prod, Many):
            return call("flat", *(self.expr(p) for p in prod.parts))
        return call("choose", f"checkpoints.{prod.decider.rule}", self.options(prod))

    def options(self, prod: Choice) -> Bracketed:
        return Bracketed("{", tuple(Prefixed(f"{py(b)}: ", self.lazy(p)) for b, p in prod.options), "}")

    def named_choice(self, prod: Choice) -> str:
        """A branch that depends on an earlier decision, as a function defined once before the rules.

        Gates in sequence or nested hand each branch's files on as a choice inside a choice; written
        inline, the expression would nest one level per gate (300 gates: past Python's parser and
        Snakemake's). Named, each level refers to the one before by name; ``choose`` walks them in a
        loop, so neither compiling nor evaluating recurses with the depth."""
        known = self.choices.get(id(prod))
        if known is not None:
            return known[0]
        name = f"{prod.decider.rule}_branch_{sum(c.decider is prod.decider for _, c in self.choices.values()) + 1}"
        self.choices[id(prod)] = (name, prod)  # the Choice is kept so that its id stays unique
        body = layout(call("branch", f"checkpoints.{prod.decider.rule}", self.options(prod)), 4, "return ")
        self.functions.append("\n".join([f"def {name}():", f'    """The files from the branch {prod.decider.rule} took."""',
                                          *body]))
        return name

    def ref(self, prod: Ref) -> Expr:
        """``rules.<name>.output.<key>``; for a sweep, the variants this consumer gathers."""
        step = prod.step
        if (is_try(step) and prod.name != "status") or not prod.name.isidentifier():
            path: Expr = py(self.path(step, prod.name))  # a /try publishes its files itself, not as outputs
        else:
            path = f"rules.{step.rule}.output.{prod.name}"
        variants = variants_of(step)
        if variants is not None:
            assert isinstance(step, CommandStep)
            self.register_variants(step)
            names = prod.variants if prod.variants is not None else tuple(variants)
            return call("expand", path, Prefixed("variant=", literal(list(names))))
        return path

    def lazy(self, prod: Producer) -> Expr:
        return self.named_choice(prod) if isinstance(prod, Choice) else self.expr(prod)

    def exprs(self, prods: list[Producer], wrap: str) -> Expr:
        """The files of several producers as one expression, behind ``wrap`` when a branch decides them."""
        text = self.expr(prods[0]) if len(prods) == 1 else call("flat", *(self.expr(p) for p in prods))
        return Prefixed(f"{wrap} ", text) if any(has_choice(p) for p in prods) else text

    def input_value(self, prod: Producer | list[Producer]) -> Expr:
        return self.exprs(prod if isinstance(prod, list) else [prod], "lambda w:")

    # -- rules -----------------------------------------------------------------------------------
    def compile(self, target: str, index_path: str, header: list[str], index_file: str) -> str:
        blocks: list[str] = []
        for step in self.r.steps:
            if step.rule in self.skip:
                blocks.append(f"\n# {step.rule}: the same step as in rules/compiled/{self.skip[step.rule]}, computed once\n")
                continue
            blocks.append(self.rule(step))
        blocks.append(self.target(target, index_path, index_file))
        consts = "\n".join("\n".join(layout(self.consts[k], 0)) for k in sorted(self.consts))
        head = "\n".join(f"# {line}" for line in header)
        functions = "\n\n" + "\n\n\n".join(self.functions) + "\n" if self.functions else ""
        return head + "\n" + ("\n" + consts + "\n" if consts else "") + functions + "".join(blocks)

    def rule(self, step: Step) -> str:
        if isinstance(step, GateStep):
            return self.gate(step)
        if isinstance(step, JoinStep):
            return self.join(step)
        assert isinstance(step, CommandStep)
        return self.call(step)

    def comment(self, step: Step) -> str:
        where = ""
        if step.span is not None:
            line, col = step.span.position()
            where = f" at {step.span.source.name}:{line}:{col}"
        src = f" ({step.cmd.path.relative_to(self.defs.root).as_posix()})" if isinstance(step, CommandStep) and \
            step.cmd.path.is_relative_to(self.defs.root) else ""
        origin = f"; {step.origin}" if step.origin else ""
        return f"{step.label}{src}{where}{origin}"

    def log(self, step: Step) -> str:
        return py(f"logs/steps/{step.key}/{{variant}}.log" if variants_of(step) is not None else f"logs/steps/{step.key}.log")

    def after(self, step: Step, inputs: dict[str, Expr], read: list[Producer]) -> dict[str, Expr | Commented]:
        """An ordering-only input: the stage before, unless the step reads a file of it."""
        reads = {r.step.key for r in sure_refs(read)}
        have = {flat(v) for v in inputs.values()}
        after = [p for p in step.after if not (isinstance(p, Ref) and p.step.key in reads)
                 and flat(self.input_value(p)) not in have]
        if not after:
            return {}
        labels = ", ".join(dict.fromkeys(r.step.label for r in sure_refs(after))) or "the stage before"
        return {"after": Commented(f"ordering only: runs after {labels}, reads none of its files",
                                   self.input_value(after))}

    def call(self, step: CommandStep) -> str:
        cmd = step.command
        assert cmd is not None
        inputs: dict[str, Expr | Commented] = {k: self.input_value(p) for k, p in step.inputs.items()}
        inputs.update({f"var_{k}": self.input_value(v.source) for k, v in step.var_params.items()})
        read = [*step.inputs.values(), *(v.source for v in step.var_params.values())]
        inputs.update(self.after(step, inputs, read))  # type: ignore[arg-type]
        outs: dict[str, Expr] = {"status": py(f"{step.folder}/status.json")} if step.is_try else \
            {k: self.report_output(step, k) for k in step.outputs}
        params = self.params(step)
        resources = self.resources(step)
        if isinstance(step, AgentStep):
            refs: dict[str, str] = {}  # the files its prompt names with @
            shell = agent_shell(self.defs.root, self.agent, step, params, refs)
            inputs.update(refs)
        else:
            shell = self.shell_text(step, params)
        kind = "checkpoint" if step.is_try else "rule"
        sections: list[tuple[str, Any]] = [("input", inputs), ("output", outs), ("log", [self.log(step)]),
                                           ("params", params), ("threads", cmd.threads if cmd.threads > 1 else None),
                                           ("resources", resources),
                                           # a sweep's variants travel together on remote executors
                                           ("group", f'"sweep_{step.rule}" if config.get("slashmake_group_sweeps") else None'
                                            if step.variants is not None else None),
                                           ("conda", self.conda), ("shell", py(shell))]
        return rule_text(kind, step.rule, self.comment(step), sections)

    def report_output(self, step: CommandStep, name: str) -> Expr:
        """An output path, wrapped in report() when it belongs in Snakemake's HTML report."""
        path = self.path(step, name)
        if path.rsplit(".", 1)[-1] in REPORT_SUFFIXES or name == "metrics":
            category = "metrics" if name == "metrics" else step.label.lstrip("/")
            return call("report", py(path), Prefixed("category=", py(category)),
                        Prefixed("labels=", literal({"step": step.key, "file": name})))
        return py(path)

    def params(self, step: CommandStep) -> dict[str, str]:
        params: dict[str, str] = {}
        for k, v in step.params.items():
            key = re.sub(r"\W", "_", k)
            if step.variants is not None and any(k in vv for vv in step.variants.values()):
                params[key] = self.variant_param(step, k)
            else:
                params[key] = param_value(v)
        if step.variants is not None:
            for k in sorted({k for vv in step.variants.values() for k in vv} - set(step.params)):
                params[re.sub(r"\W", "_", k)] = self.variant_param(step, k)
        for k, v in step.var_params.items():
            # typed by the parameter's default when the job runs: the rule a constant follows (bind.coerce)
            where = ""
            if step.span is not None:
                line, col = step.span.position()
                where = f"{step.span.source.name}:{line}:{col}"
            params[re.sub(r"\W", "_", k)] = (f"lambda w, input: q(metric(input.var_{k}, {py(v.key)}, "
                                              f"{step.cmd.params[k]!r}, {py(k)}, {py(where)}))")
        cmd = step.command
        assert cmd is not None
        if isinstance(step, AgentStep) or "{params.arguments" in self.template(step):
            params["arguments"] = param_value(step.args) if step.args else '""'
        elif step.args:
            raise CompileError(f"{cmd.display} takes no positional arguments (got {' '.join(step.args)}); "
                               f"its parameters: {', '.join(cmd.params) or 'none'}", step.span)

        if step.is_try:
            for name, file in step.outputs.items():
                params[f"out_{name}"] = py(f"{step.folder}/.staging/{file}")
        return params

    def resources(self, step: CommandStep) -> dict[str, str]:
        assert step.command is not None
        res: dict[str, Any] = {}
        if step.droid is not None:
            res.update(step.droid.resources)
        res.update(step.command.resources)
        out: dict[str, str] = {}
        for k, v in sorted(res.items()):
            key = {"gpus": "gpu"}.get(k, k)  # the name the SLURM plugin reads
            if key == "gpu" and not v:
                continue
            out[re.sub(r"\W", "_", key)] = py(v)
        if isinstance(step, AgentStep):
            out["agents"] = "1"
        if step.parallel:
            out[f"sweep_{step.rule}"] = "1"
            self.consts[f"CAP_{step.rule}"] = (f'workflow.register_resource("sweep_{step.rule}", {step.parallel})'
                                               f"  # --parallel {step.parallel}")
        return out

    @staticmethod
    def template(step: CommandStep) -> str:
        """The command's shell template (a ``script:`` runs with the positional arguments)."""
        assert step.command is not None
        return step.command.shell or f"python {step.command.script} {{params.arguments}}"

    def shell_text(self, step: CommandStep, params: dict[str, str]) -> str:
        cmd = step.command
        assert cmd is not None
        template = self.template(step)
        for name in {m.group(2) for m in _ATTR_PLACEHOLDER.finditer(template) if m.group(1) == "params"}:
            if name not in params:
                raise CompileError(f"{cmd.path.name}: shell uses {{params.{name}}}, which is not a declared parameter",
                                   step.span)
        for name in cmd.optional_inputs - set(step.inputs):
            template = re.sub(r"\{input\." + name + r"(:[^}]*)?\}", "''", template)  # an empty argument
        for m in _ATTR_PLACEHOLDER.finditer(template):
            if m.group(1) == "input" and m.group(2) not in step.inputs:
                raise CompileError(f"{cmd.path.name}: shell uses {{input.{m.group(2)}}}, which is not in its 'input' list",
                                   step.span)
            if m.group(1) == "output" and m.group(2) not in step.outputs:
                raise CompileError(f"{cmd.path.name}: shell uses {{output.{m.group(2)}}}, which is not in its 'output'",
                                   step.span)
        body = quote_template(template)
        if step.is_try:
            body = re.sub(r"\{output\.(\w+):q\}", r"{params.out_\1:q}", body)
        elif "done" in step.outputs and not cmd.outputs:
            body = f"{body} && touch {{output.done:q}}"
        if step.is_try or step.retries:
            return self.attempt(step, body)
        return f"( {body} ) > {{log:q}} 2>&1"

    def attempt(self, step: CommandStep, body: str) -> str:
        parts = ["python -m slashmake.runtime attempt", f"--retries {step.retries}", f"--backoff {step.backoff:g}",
                 "--log {log:q}"]
        if step.is_try:
            parts += ["--status {output.status:q}", f"--stage {step.folder}/.staging", f"--publish {step.folder}",
                      f"--label {step.try_label or 'failure'}"]
        # The body is shell text (`a && b`, pipes): each attempt runs it whole, as a bash function
        # (Snakemake's shell is bash), not as words that the outer shell would split at `&&`.
        return "_slashmake_body() {{ " + body + " ; }}; export -f _slashmake_body; " + " ".join(parts) + \
            " -- bash -c _slashmake_body"


def index_data(resolved: Resolved) -> dict[str, Any]:
    """A flow's index: its chain and, per step, its key, label, kind, folder and outputs."""
    return {"flow": resolved.name, "chain": resolved.chain,
            "steps": [{"key": s.key, "label": s.label, "kind": s.kind, "folder": s.folder,
                       "origin": s.origin, "outputs": sorted(s.outputs) if not isinstance(s, JoinStep) else []}
                      for s in resolved.steps]}


def header_lines(name: str, chain: str, sources: list[str], digest: str) -> list[str]:
    """The comment block that starts a compiled flow: what it came from, and the sources' hash."""
    return [f"Generated by slashmake {slashmake.__version__} from the flow below; do not edit.",
            "It is rebuilt when a definition it came from changes.",
            f"flow: {name}",
            f"chain: {' '.join(chain.split())}",
            "sources: " + " ".join(sources),
            f"sources-hash: {digest}"]


def compile_text(resolved: Resolved, defs: Definitions, target: str, index_path: str, header: list[str],
                 skip: dict[str, str] | None = None, agent: dict[str, Any] | None = None,
                 index_file: str = "") -> str:
    """The Snakemake text of one resolved flow; ``index_file`` holds its ``index_data`` (JSON)."""
    return Compiler(resolved, defs, skip, agent).compile(target, index_path, header, index_file)
