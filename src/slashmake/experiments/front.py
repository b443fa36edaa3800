"""A report's front page: the run's answer first, through Snakemake's own report mechanisms.

``slashmake run --report FILE`` writes three files before it asks Snakemake for the report:

- ``.slashmake/report/front.rst``: the workflow description, which the Snakefile's ``report:``
  directive names (config ``slashmake_front``). Snakemake renders it on the report's landing page:
  the chain and run id, each gate's decision with its value and threshold, the deployed version,
  the headline metrics beside the baselines with 95% intervals, the comparison with the previous
  run of the same chain, the cost, the git commit, and the comparison plots (embedded);
- ``.slashmake/report/landing.yaml``: the landing page's metadata (``--report-metadata``, Snakemake
  9.11+); its presence makes the report open on that page rather than on the rule graph. It holds
  numbers only: Snakemake 9.27 renders metadata strings as docutils parts, not as text;
- ``.slashmake/report/style.css`` (``--report-stylesheet``): the content pane starts at the top, so
  a front page taller than the window keeps its title in reach.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from slashmake.compiler.resolve import Resolved
from slashmake.compiler.steps import GateStep
from slashmake.errors import FlowError
from slashmake.experiments import compare as experiments
from slashmake.experiments import plots
from slashmake.experiments.ledger import METRIC
from slashmake.experiments.ledger_cache import load
from slashmake.experiments.stats import paired_bootstrap

FOLDER = Path(".slashmake/report")
BASELINES = {"baseline_acc": "best baseline (chosen by cross-validation)", "lr_acc": "logistic regression",
             "rule_acc": "one-feature rule", "majority_acc": "majority class"}
NONE = "n/a"  # a lone "-" in a table cell would be read as an empty bullet list


def esc(text: Any) -> str:
    """Text safe inside reStructuredText inline content."""
    return re.sub(r"([\\`*_|<>\[\]])", r"\\\1", str(text))


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A reStructuredText list-table."""
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        out.append(f"   * - {esc(row[0])}")
        out += [f"     - {esc(c)}" for c in row[1:]]
    return [*out, ""]


def fmt(value: Any) -> str:
    """A value as a table cell shows it: floats to four places, a missing one as n/a."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return NONE if value is None else str(value)


def gates(root: Path, resolved: Resolved) -> list[list[Any]]:
    """Each gate: its condition, the value it read, and the branch it took (or that it did not run)."""
    rows = []
    for step in resolved.steps:
        if not isinstance(step, GateStep):
            continue
        try:
            d = json.loads((root / step.folder / "decision.json").read_text())
        except (OSError, ValueError):
            rows.append([step.label, NONE, NONE, "not reached (on a branch not taken)"])
            continue
        rows.append([step.label, f"{d.get('metric')} {d.get('op')} {d.get('threshold')}", fmt(d.get("value")),
                     f"{d.get('branch')} ({'passed' if d.get('branch') == 'then' else 'failed'})"])
    return rows


def image(path: Path) -> list[str]:
    """An embedded picture (a data URI, so the report stays one self-contained file)."""
    data = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    # docutils refuses lines over 10,000 characters; an image URI's lines are joined without spaces
    return [".. image::", *(f"   {data[i:i + 76]}" for i in range(0, len(data), 76)), "   :width: 640px", ""]


def headline(root: Path, ev: dict[str, Any]) -> list[list[Any]]:
    """The evaluation's metrics beside the baselines, with 95% intervals where they can be had."""
    rows = []
    acc = ev.get(METRIC + "accuracy")
    if acc is not None and not pd.isna(acc):
        interval = NONE
        pred = ev.get("predictions")
        if isinstance(pred, str) and (root / pred).exists():
            correct = pd.read_csv(root / pred)["correct"].to_numpy(dtype=float)
            b = paired_bootstrap(np.zeros_like(correct), correct)  # against 0: the interval of accuracy itself
            interval = f"[{b.lo:.4f}, {b.hi:.4f}] (bootstrap over {b.n} test windows)"
        rows.append(["accuracy (model)", fmt(acc), interval])
    for name in BASELINES:
        v = ev.get(METRIC + name)
        if v is not None and not pd.isna(v):
            rows.append([f"accuracy: {BASELINES[name]}", fmt(v), NONE])
    lift = ev.get(METRIC + "acc_lift")
    if lift is not None and not pd.isna(lift):
        rows.append(["lift over the best baseline", fmt(lift),
                     f"[{fmt(ev.get(METRIC + 'acc_lift_lo'))}, {fmt(ev.get(METRIC + 'acc_lift_hi'))}] (paired bootstrap)"])
    for name in ("f1_macro", "ece", "brier"):
        v = ev.get(METRIC + name)
        if v is not None and not pd.isna(v):
            rows.append([name, fmt(v), NONE])
    return rows


def previous(root: Path, book: Any, run_id: str, chain: str) -> list[str]:
    """The comparison with the previous run of the same chain that has results."""
    listed = experiments.runs(book, chain)
    ids = [r.run for r in listed]
    runs = [r for r in listed[:ids.index(run_id) if run_id in ids else len(listed)] if r.status != "up to date"]
    if not runs:
        return ["This is the first recorded run of this chain.", ""]
    try:
        diff = experiments.compare_runs(root, book, runs[-1].run, run_id)
    except FlowError as e:
        return [f"No comparison with the previous run: {esc(e.message)}", ""]
    out = [f"Against run ``{diff.a}`` (A; this run is B).", ""]
    if diff.params:
        out += table(["parameter", "A", "B"], [[k, fmt(a), fmt(b)] for k, (a, b) in sorted(diff.params.items())])
    else:
        out += ["No parameter differs.", ""]
    rows = []
    for s in diff.steps:
        for m in s.metrics:
            if m.metric == "accuracy" or (m.diff and m.metric in ("val_accuracy", "f1_macro")):
                paired = (f"[{m.paired.lo:+.4f}, {m.paired.hi:+.4f}], p = {m.paired.p:.3g}" if m.paired
                          else (m.note or NONE))
                rows.append([s.step, m.metric, fmt(m.a), fmt(m.b), fmt(m.diff), paired])
    if rows:
        out += table(["step", "metric", "A", "B", "B - A", "95% paired interval"], rows)
    curves = plots.curves(diff.curves, root, f"{diff.a[:15]}-vs-{diff.b[:15]}")
    out += image(curves[0]) if curves else []
    return out


def page(root: Path, resolved: Resolved, run_id: str) -> tuple[str, dict[str, float]]:
    """The front page's reStructuredText and the landing page's (numeric) metadata."""
    book = load(root, warn=None, missing_ok=True)
    steps = book.steps[book.steps["run"] == run_id] if not book.steps.empty else book.steps
    run = book.runs[book.runs["run"] == run_id].to_dict("records") if not book.runs.empty else []
    info = run[-1] if run else {}
    chain = str(info.get("chain") or resolved.chain)
    lines = [f"Run {esc(run_id)}", "=" * (len(run_id) + 8), "",
             f"**Chain**: ``{chain}``", "",
             f"**Status**: {esc(info.get('status', '-'))}; **git commit**: ``{info.get('commit') or 'none'}``"
             + (" (with uncommitted changes)" if info.get("dirty") else ""), "",
             f"**Cost**: agents ${fmt(info.get('agent_usd') or 0.0)}, pods ${fmt(info.get('pod_usd') or 0.0)}; "
             f"**duration** {fmt(info.get('duration_s'))} s", ""]
    meta: dict[str, float] = {}
    answer: list[str] = []
    gate_rows = gates(root, resolved)
    answer += [f"{g[0]} {g[3].split(' ')[-1].strip('()')} ({g[2]} vs {g[1]})" for g in gate_rows if g[2] != NONE]
    lines += ["Gates", "-----", ""]
    lines += table(["gate", "condition", "value", "decision"], gate_rows) if gate_rows else ["No gates.", ""]
    deployed = [r for r in steps.to_dict("records") if isinstance(r.get(METRIC + "version"), str)]
    lines += ["Deployment", "----------", ""]
    if deployed:
        d = deployed[-1]
        version = d[METRIC + "version"]
        model = d.get("param.model_name") or ""
        lines += [f"**Deployed version**: {esc(version)} of {esc(model)}"
                  + ("" if d.get(METRIC + "new_version", True) else " (the same weights as before: no new version)"), ""]
        answer.append(f"deployed {version}")
        if (m := re.search(r"\d+", version)) is not None:
            meta["deployed version"] = int(m.group())
    else:
        lines += ["**Deployed version**: none: nothing was deployed by this run.", ""]
        answer.append("nothing deployed")
    evals = [r for r in steps.to_dict("records") if r.get(METRIC + "accuracy") is not None
             and not pd.isna(r.get(METRIC + "accuracy")) and r.get("predictions")]
    lines += ["Headline metrics", "----------------", ""]
    if evals:
        ev = evals[-1]
        lines += [f"From ``{ev['step']}`` on the test set.", ""]
        lines += table(["metric", "value", "95% interval"], headline(root, ev))
        meta["accuracy"] = round(float(ev[METRIC + "accuracy"]), 4)
        answer.insert(0, f"accuracy {fmt(ev[METRIC + 'accuracy'])}")
    else:
        lines += ["No evaluation in this run.", ""]
    sweeps = steps[steps["variant"].notna()] if not steps.empty else steps
    for name in dict.fromkeys(sweeps["step"]) if not sweeps.empty else []:
        t = experiments.compare(book, name, (f"run=={run_id}",))
        drawn = [p for p in plots.draw(t, root, name) if p.suffix == ".png"]
        lines += [f"Sweep: {esc(name)}", "-" * (len(name) + 7), ""]
        lines += table([*t.varying, "n", *[f"{m} mean ± sd [95%]" for m in t.metrics]],
                       [[*(fmt(g.params[v]) for v in t.varying), max(s.n for s in g.metrics.values()),
                         *(g.metrics[m].text() for m in t.metrics)] for g in t.groups])
        for p in drawn:
            lines += image(p)
    lines += ["Against the previous run", "------------------------", ""]
    lines += previous(root, book, run_id, chain)
    lines[lines.index("Gates"):lines.index("Gates")] = ["**Answer**: " + esc("; ".join(answer) or "no metrics"), ""]
    meta["cost (USD)"] = round(float(info.get("agent_usd") or 0.0) + float(info.get("pod_usd") or 0.0), 4)
    return "\n".join(lines) + "\n", meta


# Snakemake 9.27 centres its content pane vertically, which hides the top of a page taller than the
# window; its documented stylesheet option (--report-stylesheet) lets it start at the top instead.
STYLE = ".h-screen.overflow-auto.items-center { align-items: flex-start; }\n"


def write(root: Path, resolved: Resolved, run_id: str) -> tuple[Path, Path, Path]:
    """Write the front page, the landing metadata and the stylesheet for ``run_id``; their paths."""
    text, meta = page(root, resolved, run_id)
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    front = folder / "front.rst"
    # Snakemake renders the description through Jinja first: keep the page's text out of its way.
    front.write_text("{% raw %}\n" + text + "\n{% endraw %}\n")
    landing = folder / "landing.yaml"
    landing.write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True))
    style = folder / "style.css"
    style.write_text(STYLE)
    return front, landing, style
