"""The ledger as pandas frames: one row per step result (``steps``) and one per run (``runs``).

Every schema reads. Rows of schema 2 are the run record (:mod:`slashmake.execution.record`); older
rows (an evaluation's ``{time, step, metrics, model}``, an agent step's cost row) become step rows
with what they have. A row a job appended for a result its run also recorded in full is dropped,
so each result counts once. Parameters become ``param.NAME`` columns (an upstream step's
``param.LABEL.NAME``), metrics ``metric.NAME`` columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from slashmake.errors import RunError

LEDGER = Path("results/ledger.jsonl")
PARAM = "param."
METRIC = "metric."
# The fields of a step row that are not parameters or metrics, in the order tables show them.
FIELDS = ("line", "time", "unix_time", "run", "chain", "step", "rule", "key", "variant", "primary", "reused",
          "duration_s", "agent_usd", "pod_usd", "executor", "host", "commit", "dirty", "data_digest",
          "predictions", "curve", "schema", "kind")


@dataclass(frozen=True)
class Ledger:
    """A ledger read: its step results, its runs, and the warnings reading it gave."""

    steps: pd.DataFrame
    runs: pd.DataFrame
    warnings: tuple[str, ...]

    def params(self) -> list[str]:
        """The parameter names the step rows carry (``sigma``, ``ml-train.steps``)."""
        return [c[len(PARAM):] for c in self.steps.columns if c.startswith(PARAM)]

    def metrics(self) -> list[str]:
        """The metric names the step rows carry."""
        return [c[len(METRIC):] for c in self.steps.columns if c.startswith(METRIC)]


def parse_lines(path: Path, warn: Callable[[str], None] | None = None) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """The ledger's rows with their line numbers, and a warning for each line skipped."""
    rows: list[tuple[int, dict[str, Any]]] = []
    warnings: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                row, why = None, f"not JSON ({e.msg})"
            else:
                why = "not a JSON object"
            if not isinstance(row, dict):
                message = f"{path.name}:{number}: skipped a malformed ledger line: {why}"
                warnings.append(message)
                if warn is not None:
                    warn(message)
                continue
            rows.append((number, row))
    return rows, warnings


def scalar(value: Any) -> Any:
    """A value a table cell can hold and a group key can compare: lists and objects as JSON text."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _dict(row: dict[str, Any], name: str) -> dict[str, Any]:
    value = row.get(name)
    return value if isinstance(value, dict) else {}


def step_record(number: int, row: dict[str, Any]) -> dict[str, Any]:
    """One step row, flat: its fields, ``param.*`` and ``metric.*``."""
    metrics = row.get("metrics")
    if not isinstance(metrics, dict):  # the oldest rows kept metrics at the top level
        metrics = {k: v for k, v in row.items() if isinstance(v, (int, float)) and k not in ("unix_time", "schema")}
    cost = _dict(row, "cost")
    git = _dict(row, "git")
    flat: dict[str, Any] = {
        "line": number, "time": row.get("time"), "unix_time": row.get("unix_time"), "run": row.get("run") or "",
        "chain": row.get("chain"), "step": str(row.get("step", "")).lstrip("/"), "rule": row.get("rule"),
        "key": row.get("key"), "variant": row.get("variant"), "primary": row.get("primary"),
        "reused": bool(row.get("reused", False)), "duration_s": row.get("duration_s"),
        "agent_usd": cost.get("agent_usd", metrics.get("cost_usd") if row.get("kind") == "agent" else None),
        "pod_usd": cost.get("pod_usd"), "executor": row.get("executor"), "host": row.get("host"),
        "commit": git.get("commit"), "dirty": git.get("dirty"), "data_digest": row.get("data_digest"),
        "predictions": row.get("predictions"), "curve": row.get("curve"),
        "schema": row.get("schema", 1), "kind": row.get("kind") or "evaluation",
    }
    for source in ("params", "upstream"):
        values = row.get(source)
        if isinstance(values, dict):
            for k, v in values.items():
                flat[PARAM + k] = scalar(v)
    for k, v in metrics.items():
        flat[METRIC + k] = scalar(v)
    return flat


def run_record(number: int, row: dict[str, Any]) -> dict[str, Any]:
    """One run row, flat."""
    cost, git, head = _dict(row, "cost"), _dict(row, "git"), _dict(row, "headline")
    return {
        "line": number, "run": row.get("run") or "", "time": row.get("time"), "unix_time": row.get("unix_time"),
        "chain": row.get("chain"), "target": row.get("target"), "status": row.get("status"),
        "duration_s": row.get("duration_s"), "executor": row.get("executor"), "host": row.get("host"),
        "commit": git.get("commit"), "dirty": git.get("dirty"), "agent_usd": cost.get("agent_usd"),
        "pod_usd": cost.get("pod_usd"), "headline_step": head.get("step"), "headline_metric": head.get("metric"),
        "headline": head.get("value"), "n_steps": row.get("n_steps"), "n_ran": row.get("n_ran"),
    }


def load(root: Path, ledger: Path = LEDGER, warn: Callable[[str], None] | None = None,
         missing_ok: bool = False) -> Ledger:
    """Read ``root/ledger``; a missing ledger is a RunError (or empty with ``missing_ok``)."""
    path = root / ledger
    if not path.exists():
        if missing_ok:
            return Ledger(pd.DataFrame(columns=list(FIELDS)), pd.DataFrame(columns=["run", "status"]), ())
        raise RunError(f"no experiment ledger at {ledger} yet: run a flow that evaluates a model")
    rows, warnings = parse_lines(path, warn)
    agent_runs = {str(r.get("run")) for _, r in rows if r.get("schema") == 2}
    drop = superseded_fast(rows, agent_runs)
    steps = [step_record(n, r) for n, r in rows if r.get("kind") != "run" and n not in drop]
    runs = [run_record(n, r) for n, r in rows if r.get("kind") == "run"]
    step_frame = pd.DataFrame.from_records(steps) if steps else pd.DataFrame(columns=list(FIELDS))
    run_frame = pd.DataFrame.from_records(runs) if runs else pd.DataFrame(columns=["run", "status"])
    return Ledger(step_frame, run_frame, tuple(warnings))


def superseded_fast(rows: list[tuple[int, dict[str, Any]]], recorded_runs: set[str]) -> set[int]:
    """Lines of rows superseded by the run record: each result counts once.

    A row a job appended (schema 1) for a result its run recorded later in full (same step, same
    metrics) is dropped, and so is an agent step's cost row of a run that has a record."""
    recorded: dict[tuple[str, str], int] = {}
    for number, row in rows:
        if row.get("schema") == 2 and row.get("kind") == "step" and not row.get("reused"):
            recorded[(str(row.get("step")), json.dumps(row.get("metrics"), sort_keys=True))] = number
    out: set[int] = set()
    for number, row in rows:
        if row.get("schema") is not None:
            continue
        if row.get("kind") == "agent":  # its run's step row carries the cost
            if row.get("run") and str(row.get("run")) in recorded_runs:
                out.add(number)
            continue
        key = (str(row.get("step", "")).lstrip("/"), json.dumps(row.get("metrics"), sort_keys=True))
        later = recorded.get(key)
        if later is not None and later > number:
            out.add(number)
    return out


def flat_rows(root: Path, ledger: Path = LEDGER, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """``slashmake results``: every result once, oldest first, its metrics at the top level of the row.

    A run's reuse of an earlier result and the run rows are left out; a malformed line is skipped
    with a warning naming its line number.
    """
    path = root / ledger
    if not path.exists():
        raise RunError(f"no experiment ledger at {ledger} yet: run a flow that evaluates a model")
    rows, _ = parse_lines(path, warn)
    drop = superseded_fast(rows, {str(r.get("run")) for _, r in rows if r.get("schema") == 2})
    out = []
    for number, row in rows:
        if number in drop or row.get("kind") == "run" or row.get("reused"):
            continue
        row = dict(row)
        nested = row.pop("metrics", None)  # rows keep their metrics flat or under "metrics"
        out.append({**(nested if isinstance(nested, dict) else {}), **row})
    return out
