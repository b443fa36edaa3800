"""The run record: after each run, one ledger row per step that reports metrics, and one for the run.

A step's row (``kind: step``) holds what a later comparison needs to tell two results apart: the run
id, the chain and the step's label, every effective parameter of the step and of the steps upstream
of it that shaped its inputs (after config overrides, ``--set`` and sweep values), the git commit and
a dirty flag, a digest of the files it read, its metrics, its duration (Snakemake's own job
metadata), its cost (agent $ from its metrics, pod $ from ``cost.pod_usd_per_hour``), the executor
and the host. A step whose result an earlier run made is recorded too, flagged ``reused``, so every
run's record is complete; readers count each result once. Rows are written by the process that
drove the run, after Snakemake returns, through the one locked append (:mod:`slashmake.runtime.ledger`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slashmake.compiler.resolve import Resolved
from slashmake.compiler.steps import (
    AgentStep,
    Choice,
    CommandStep,
    GateStep,
    Many,
    MetricSource,
    Producer,
    Ref,
    Step,
    variants_of,
)
from slashmake.errors import RunError
from slashmake.execution import pods
from slashmake.runtime import as_param, read_metric
from slashmake.runtime.ledger import SCHEMA, append

LEDGER = Path("results/ledger.jsonl")
# Files an evaluation may leave beside its metrics for comparisons (per-example predictions, curves).
PREDICTIONS = ("predictions.csv",)
CURVES = ("curve.json",)


@dataclass(frozen=True)
class RunInfo:
    """What is the same for every row of one run."""

    run_id: str
    chain: str
    target: str
    executor: str
    started: float
    pod_usd_per_hour: float = 0.0
    host: str = field(default_factory=socket.gethostname)
    # The pod ledger (.slashmake/pods.json, or --runpod-ledger) a runpod run's pods are priced from.
    pods_ledger: str | None = None


def git_state(root: Path) -> dict[str, Any]:
    """The project's git commit and whether tracked files differ from it (None outside a repository)."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        """One git command in the project, its output captured."""
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,  # noqa: S603,S607
                              timeout=30, check=False)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def metadata(root: Path, output: str) -> dict[str, Any]:
    """Snakemake's metadata record of an output file ({} when there is none).

    The record's name is the urlsafe base64 of the path, cut into '@'-prefixed folders where it is
    longer than a file name may be (as snakemake/persistence/file.py writes it).
    """
    base = root / ".snakemake" / "metadata"
    max_len = 255
    try:
        max_len = os.pathconf(base, "PC_NAME_MAX") or 255
    except OSError:
        pass
    b64 = urlsafe_b64encode(output.encode()).decode()
    parts = [b64[i:i + max_len - 1] for i in range(0, len(b64), max_len - 1)]
    path = base.joinpath(*["@" + s for s in parts[:-1]], parts[-1])
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


class Digests:
    """sha256 of files, each read once per run (a model shared by ten steps is hashed once)."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, int, int], str] = {}

    def file(self, path: Path) -> str | None:
        """The sha256 of a file (None when it is missing), read once per size and modification time."""
        try:
            st = path.stat()
        except OSError:
            return None
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in self.cache:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            self.cache[key] = h.hexdigest()
        return self.cache[key]

    def files(self, root: Path, rels: list[str]) -> str | None:
        """One digest over the named files' paths and contents (None when there are none)."""
        parts = [f"{rel}\0{d}" for rel in sorted(set(rels)) if (d := self.file(root / rel)) is not None]
        return "sha256:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32] if parts else None


def taken_branch(root: Path, decider: Step) -> str | None:
    """The branch a gate or try took, read from its decision or status file."""
    for name in ("decision.json", "status.json"):
        try:
            data = json.loads((root / decider.folder / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "branch" in data:
            return str(data["branch"])
    return None


def refs(root: Path, prod: Producer) -> Iterator[Ref]:
    """The producers' files that a run actually read: a choice contributes the branch taken only."""
    if isinstance(prod, Ref):
        yield prod
    elif isinstance(prod, Many):
        for p in prod.parts:
            yield from refs(root, p)
    elif isinstance(prod, Choice):
        taken = taken_branch(root, prod.decider)
        for branch, p in prod.options:
            if branch == taken:
                yield from refs(root, p)


def ref_files(ref: Ref) -> list[str]:
    """The files (relative to the project) a reference names."""
    name = ref.step.outputs.get(ref.name, ref.name)
    variants = ref.variants if ref.variants is not None else (
        tuple(v) if (v := variants_of(ref.step)) is not None else None)
    if variants is None:
        return [f"{ref.step.folder}/{name}"]
    return [f"{ref.step.folder}/{v}/{name}" for v in variants]


def upstream(root: Path, step: Step) -> list[CommandStep]:
    """The command steps whose files shaped ``step``'s inputs, nearest first, each once."""
    seen: dict[int, CommandStep] = {}
    todo: list[Step] = [step]
    while todo:
        current = todo.pop(0)
        prods = list(current.inputs.values()) if isinstance(current, CommandStep) else []
        prods += list(current.after)
        if isinstance(current, CommandStep):
            prods += [v.source for v in current.var_params.values()]
        for prod in prods:
            for ref in refs(root, prod):
                up = ref.step
                if up is step or id(up) in seen:
                    continue
                if isinstance(up, CommandStep):
                    seen[id(up)] = up
                todo.append(up)
    return list(seen.values())


def effective_params(root: Path, step: CommandStep, variant: str | None) -> dict[str, Any]:
    """The step's own parameters as its job got them: constants, metric-bound values, the variant's values."""
    defaults = step.cmd.params
    params = {k: typed(v, defaults.get(k)) for k, v in step.params.items() if k != "arguments"}
    for name, var in step.var_params.items():
        for ref in refs(root, var.source):
            try:
                params[name] = read_metric(str(root / ref_files(ref)[0]), var.key)
            except (OSError, ValueError, KeyError):
                params[name] = None
    if variant is not None and step.variants is not None:
        for k, v in step.variants.get(variant, {}).items():
            params[k] = typed(v, defaults.get(k))
    if step.args:
        params["arguments"] = " ".join(step.args)
    return params


def typed(value: Any, default: Any) -> Any:
    """A sweep value typed like the parameter's default (``"0.10"`` is 0.1 where the default is a float)."""
    if default is None or not isinstance(value, str):
        return value
    try:
        out = as_param(value, default)
    except ValueError:
        return value
    # as_param keeps a decimal's text ("0.10") for the shell; a record compares numbers
    return float(out) if isinstance(default, float) and isinstance(out, str) else out


def upstream_params(root: Path, step: CommandStep) -> dict[str, Any]:
    """``label.param`` for each parameter of each upstream step (a sweep's swept values left out)."""
    out: dict[str, Any] = {}
    for up in reversed(upstream(root, step)):  # nearest last, so it wins a name both share
        swept = {k for values in (up.variants or {}).values() for k in values}
        name = up.label.lstrip("/")
        for k, v in effective_params(root, up, None).items():
            if k not in swept:
                out[f"{name}.{k}"] = v
    return out


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None when it is missing or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def step_rows(root: Path, resolved: Resolved, info: RunInfo, git: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of every command step (and sweep variant) whose metrics file is there after the run."""
    digests = Digests()
    rows: list[dict[str, Any]] = []
    for step in resolved.steps:
        if not isinstance(step, CommandStep) or step.metrics_spec is None:
            continue
        variants = variants_of(step)
        inputs = [f for prod in step.inputs.values() for ref in refs(root, prod) for f in ref_files(ref)]
        shared = upstream_params(root, step)
        for variant in (list(variants) if variants is not None else [None]):
            folder = f"{step.folder}/{variant}" if variant else step.folder
            metrics_rel = f"{folder}/metrics.json"
            metrics = read_json(root / metrics_rel)
            if metrics is None:
                continue
            meta = metadata(root, metrics_rel)
            start, end = meta.get("starttime"), meta.get("endtime")
            finished = end if isinstance(end, (int, float)) else (root / metrics_rel).stat().st_mtime
            duration = float(end - start) if isinstance(start, (int, float)) and isinstance(end, (int, float)) else None
            # an agent step's metrics file names what its run cost agent_cost_usd (its ledger row: cost_usd)
            agent_usd = metrics.get("agent_cost_usd", metrics.get("cost_usd")) if isinstance(step, AgentStep) else None
            pod_usd = (duration / 3600 * info.pod_usd_per_hour
                       if info.executor == "runpod" and duration is not None else 0.0)
            spec = step.metrics_spec
            rows.append({
                "kind": "step", "run": info.run_id, "chain": info.chain, "target": info.target,
                "step": step.label.lstrip("/"), "rule": step.rule, "key": step.key, "variant": variant,
                "params": effective_params(root, step, variant), "upstream": shared,
                "git": git, "data_digest": digests.files(root, inputs), "inputs": sorted(set(inputs)),
                "metrics": metrics, "primary": spec.primary,
                "duration_s": duration, "finished": finished,
                "cost": {"agent_usd": float(agent_usd) if isinstance(agent_usd, (int, float)) else 0.0,
                         "pod_usd": round(pod_usd, 6)},
                "executor": info.executor, "host": info.host,
                "reused": finished < info.started - 1,  # made by an earlier run, read back by this one
                "predictions": next((f"{folder}/{n}" for n in PREDICTIONS if (root / folder / n).exists()), None),
                "curve": next((f"{folder}/{n}" for n in CURVES if (root / folder / n).exists()), None),
            })
    return rows


def headline(rows: list[dict[str, Any]], prefer: tuple[str, ...] = ()) -> dict[str, Any]:
    """The run's headline: the metric its first gate decided on, else the last numeric primary metric.

    For a sweep, the mean over its variants (``n`` says how many). A flag (``deployed``) is no headline.
    """
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    gated = [(row, key) for key in prefer for row in rows if number(row["metrics"].get(key))]
    primary = [(row, row["primary"]) for row in reversed(rows)
               if row.get("primary") and number(row["metrics"].get(row["primary"]))]
    for row, key in (gated or primary)[:1]:
        if not row.get("variant"):
            return {"step": row["step"], "metric": key, "value": row["metrics"][key]}
        same = [r["metrics"][key] for r in rows if r["key"] == row["key"] and number(r["metrics"].get(key))]
        return {"step": row["step"], "metric": f"{key} (mean of {len(same)})", "value": sum(same) / len(same),
                "n": len(same)}
    return {}


def gate_keys(resolved: Resolved | None) -> tuple[str, ...]:
    """The metrics the flow's gates read, first gate first (what the flow is judged on)."""
    if resolved is None:
        return ()
    return tuple(dict.fromkeys(s.metric.key for s in resolved.steps
                               if isinstance(s, GateStep) and isinstance(s.metric, MetricSource)))


def record(root: Path, resolved: Resolved | None, info: RunInfo, status: str,
           ledger: Path = LEDGER) -> dict[str, Any]:
    """Append the run's step rows and its run row to the ledger; the run row.

    ``status`` is ``ok``, ``failed`` or ``up to date`` (answered by the no-op stamp, so no step rows).
    """
    git = git_state(root)
    rows = step_rows(root, resolved, info, git) if resolved is not None else []
    for row in rows:
        rest = {k: v for k, v in row.items() if k not in ("step", "metrics")}
        append(root / ledger, row["step"], row["metrics"], schema=SCHEMA, **rest)
    ran = [r for r in rows if not r["reused"]]
    pod_usd = sum(r["cost"]["pod_usd"] for r in ran)
    if info.executor == "runpod":  # the pods this run started, priced by the time they ran
        try:
            spent, count = pods.run_cost(root, info.run_id, info.pods_ledger)
        except (OSError, ValueError, RunError):  # an unreadable pod ledger costs the figure, not the record
            spent, count = 0.0, 0
        pod_usd = spent if count else pod_usd
    cost = {"agent_usd": round(sum(r["cost"]["agent_usd"] for r in ran), 6), "pod_usd": round(pod_usd, 6)}
    done = {"kind": "run", "run": info.run_id, "chain": info.chain, "target": info.target, "status": status,
            "started": info.started, "duration_s": round(time.time() - info.started, 3),
            "executor": info.executor, "host": info.host, "git": git, "cost": cost,
            "headline": headline(rows, gate_keys(resolved)), "n_steps": len(rows), "n_ran": len(ran)}
    return append(root / ledger, "run", {}, schema=SCHEMA, **done)
