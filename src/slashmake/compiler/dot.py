"""The flow as written, as a Graphviz picture: what ``slashmake graph`` draws.

Each step is a box labelled as the chain wrote it (``/ml-train`` and the parameters the chain set,
one box per variant of a sweep), each gate a diamond with its test and both branches, each join
a dot. Solid edges carry files (labelled with the input's name), dashed ones only order. A step's
fill says its state: done, will run (Snakemake's dry run plans it), failed (a log but no outputs),
waiting (on a branch not decided yet), or not taken (on the branch a decided gate or try did not
take). Once a gate or try has decided, the branch it took is drawn bold and the other one grey.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from slashmake.compiler.resolve import Resolved
from slashmake.compiler.steps import (
    Choice,
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

BRANCHES = ("then", "else", "catch")
STATE_FILL = {"done": "#c8e6c9", "will run": "#fff3c4", "failed": "#f8c4c4", "waiting": "#eeeeee",
              "not taken": "#fafafa"}


@dataclass(frozen=True)
class Edge:
    """``src`` → ``dst``; ``label`` names the input (or the branch), ``data`` False for ordering only."""

    src: str
    dst: str
    label: str = ""
    data: bool = True


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _refs(prod: Producer) -> list[Ref]:
    """Every step file ``prod`` may stand for (a branch's choice: each branch's)."""
    if isinstance(prod, Ref):
        return [prod]
    if isinstance(prod, Choice):
        return [r for _, p in prod.options for r in _refs(p)]
    return [r for p in prod.parts for r in _refs(p)]


def decision(root: Path, step: Step) -> str | None:
    """The branch a gate or a try took, once it decided."""
    for name in ("decision.json", "status.json"):
        path = root / step.folder / name
        if path.exists():
            try:
                return str(json.loads(path.read_text()).get("branch"))
            except (OSError, ValueError):
                return None
    return None


def state(root: Path, step: Step, planned: set[str]) -> str:
    """done, failed (its last run left a log but not its outputs), will run, or waiting."""
    marker = step.marker().name
    file = "status.json" if marker == "status" else step.outputs.get(marker, f"{marker}.json")
    variants = step.variants if isinstance(step, CommandStep) else None
    if variants is not None:
        done = all((root / step.folder / v / file).exists() for v in variants)
        logs = [root / "logs/steps" / step.key / f"{v}.log" for v in variants]
    else:
        done = (root / step.folder / file).exists()
        logs = [root / "logs/steps" / f"{step.key}.log"]
    if done and step.rule not in planned:
        return "done"
    if not done and any(p.exists() for p in logs):
        return "failed"
    return "will run" if step.rule in planned else "waiting"


def label(step: Step) -> str:
    """What the chain wrote: the command and the parameters it set (not the defaults)."""
    if isinstance(step, GateStep):
        metric = step.metric
        name = metric.key if isinstance(metric, (MetricSource, MetricVar)) else \
            (metric.value if isinstance(metric, Const) else "?")
        threshold = step.threshold.value if isinstance(step.threshold, Const) else \
            (f"${step.threshold.key}" if isinstance(step.threshold, MetricVar) else "")
        return f"{name} {step.op} {threshold}" if step.op else f"{name}?"
    if isinstance(step, JoinStep):
        return ""
    assert isinstance(step, CommandStep)
    set_here = [f"{k}={v}" for k, v in step.params.items() if step.cmd.params.get(k) != v
                and not (step.variants and any(k in vv for vv in step.variants.values()))]
    set_here += [f"{k}=${v.key}" for k, v in step.var_params.items()] + step.args
    prefix = f"{step.droid.name}:" if step.droid is not None and step.cmd.droid != step.droid.name else ""
    kind = "/try:" if step.is_try else ""
    return "\n".join([f"{kind}{prefix}{step.label}", *set_here])


def flow_dot(resolved: Resolved, root: Path, planned: set[str]) -> str:
    """The DOT text of a resolved flow, each step in its state (``planned``: rules a dry run would run)."""
    nodes: list[str] = []
    ids = {s.key: f"s{i}" for i, s in enumerate(resolved.steps)}
    taken = {s.key: decision(root, s) for s in resolved.steps if isinstance(s, GateStep)
             or (isinstance(s, CommandStep) and s.is_try)}
    skipped = not_taken(resolved, taken)
    for step in resolved.steps:
        nid, st = ids[step.key], state(root, step, planned)
        if st == "waiting" and step.key in skipped:
            st = "not taken"
        attrs = f"fillcolor={_q(STATE_FILL[st])}, tooltip={_q(f'{step.key}: {st}')}"
        if isinstance(step, GateStep):
            nodes.append(f"  {nid} [shape=diamond, style=filled, label={_q(label(step))}, {attrs}];")
        elif isinstance(step, JoinStep):
            nodes.append(f"  {nid} [shape=point, width=0.12, {attrs}];")
        elif isinstance(step, CommandStep) and step.variants:
            nodes.append(f"  subgraph cluster_{nid} {{ label={_q(label(step))}; style=rounded;")
            for i, (name, values) in enumerate(step.variants.items()):
                text = ", ".join(f"{k}={v}" for k, v in values.items()) or name
                nodes.append(f"    {nid}_{i} [shape=box, style=\"rounded,filled\", label={_q(text)}, {attrs}];")
            nodes.append("  }")
        else:
            text = f"{label(step)}\n({st})"
            nodes.append(f"  {nid} [shape=box, style=\"rounded,filled\", label={_q(text)}, {attrs}];")
    edges = _edges(resolved)
    lines = ["digraph flow {", "  rankdir=TB; graph [fontname=Helvetica]; node [fontname=Helvetica, fontsize=11]; "
             "edge [fontname=Helvetica, fontsize=9];", *nodes]
    by_key = {s.key: s for s in resolved.steps}
    for e in _merged(edges):
        for src in _ends(by_key[e.src], ids[e.src]):
            for dst in _ends(by_key[e.dst], ids[e.dst]):
                style = [] if e.data or e.label in BRANCHES else ["style=dashed"]
                if e.label:
                    style.append(f"label={_q(e.label)}")
                decided = taken.get(e.src)
                if decided is not None and e.label in BRANCHES:
                    style += ["penwidth=2.5", "color=\"#2e7d32\""] if e.label == decided else \
                        ["color=\"#bbbbbb\"", "fontcolor=\"#999999\""]
                lines.append(f"  {src} -> {dst}" + (f" [{', '.join(style)}]" if style else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def not_taken(resolved: Resolved, taken: dict[str, str | None]) -> set[str]:
    """The steps on a branch that its gate or try, having decided, did not take."""
    preds: dict[str, set[str]] = {}
    for e in _edges(resolved):
        preds.setdefault(e.dst, set()).add(e.src)
    out: set[str] = set()
    for join in resolved.steps:
        if not isinstance(join, JoinStep) or join.decider is None or taken.get(join.decider.key) is None:
            continue
        decider = join.decider.key
        for branch, last in join.branches.items():
            if branch == taken[decider]:
                continue
            todo = [r.step.key for p in last for r in _refs(p) if r.step.key != decider]
            while todo:  # back from the branch's last steps to the decider: every step between
                key = todo.pop()
                if key not in out and key != decider:
                    out.add(key)
                    todo += preds.get(key, set())
    return out


def _merged(edges: list[Edge]) -> list[Edge]:
    """One edge per pair of steps and kind: the names of the files it carries joined."""
    by_pair: dict[tuple[str, str, bool], list[str]] = {}
    for e in edges:
        names = by_pair.setdefault((e.src, e.dst, e.data), [])
        if e.label and e.label not in names:
            names.append(e.label)
    return [Edge(src, dst, ", ".join(names), data) for (src, dst, data), names in by_pair.items()]


def _ends(step: Step, nid: str) -> list[str]:
    """The node ids an edge to or from ``step`` attaches to (each variant of a sweep)."""
    if isinstance(step, CommandStep) and step.variants:
        return [f"{nid}_{i}" for i in range(len(step.variants))]
    return [nid]


def _edges(resolved: Resolved) -> list[Edge]:
    """Data edges from inputs, ordering edges from ``after``, and each decision's branches by name."""
    branch_of: dict[tuple[str, str], str] = {}  # (decider, first step of a branch) -> branch
    edges: list[Edge] = []
    preds: dict[str, set[str]] = {}
    for step in resolved.steps:
        ins: list[tuple[str, Producer, bool]] = []
        if isinstance(step, CommandStep):
            ins += [(k, p, True) for k, p in step.inputs.items()]
            ins += [(f"${v.key}", v.source, True) for v in step.var_params.values()]
        if isinstance(step, GateStep):
            for operand in (step.metric, step.threshold):
                if isinstance(operand, MetricSource):
                    ins.append(("metrics", operand.producer, True))
                elif isinstance(operand, MetricVar):
                    ins.append(("metrics", operand.source, True))
        ins += [("", p, False) for p in step.after]
        seen: set[str] = set()
        for name, prod, data in ins:
            for ref in _refs(prod):
                if ref.step.key == step.key or (ref.step.key in seen and not data):
                    continue
                seen.add(ref.step.key)
                preds.setdefault(step.key, set()).add(ref.step.key)
                edges.append(Edge(ref.step.key, step.key, name, data))
    for join in resolved.steps:
        if not isinstance(join, JoinStep) or join.decider is None:
            continue
        decider = join.decider.key
        for branch, last in join.branches.items():
            for ref in (r for p in last for r in _refs(p)):
                edges.append(Edge(ref.step.key, join.key, branch if ref.step.key == decider else "", False))
                for first in _firsts(ref.step.key, decider, preds):
                    branch_of[(decider, first)] = branch
    out = []
    for e in edges:
        b = branch_of.get((e.src, e.dst))
        out.append(Edge(e.src, e.dst, b, False) if b and not e.data else e)
    return list(dict.fromkeys(out))


def _firsts(last: str, decider: str, preds: dict[str, set[str]]) -> set[str]:
    """The steps right after ``decider`` on the path that ends at ``last``."""
    firsts, todo, seen = set(), [last], set()
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        if decider in preds.get(key, set()):
            firsts.add(key)
        todo += [p for p in preds.get(key, set()) if p != decider]
    return firsts
