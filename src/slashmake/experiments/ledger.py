"""The ledger as pandas frames: one row per step result (``steps``) and one per run (``runs``).

Every schema reads. Rows of schema 2 are the run record (:mod:`slashmake.execution.record`); older
rows (an evaluation's ``{time, step, metrics, model}``, an agent step's cost row) become step rows
with what they have. A row a job appended for a result its run also recorded in full is dropped,
so each result counts once. Parameters become ``param.NAME`` columns (an upstream step's
``param.LABEL.NAME``), metrics ``metric.NAME`` columns.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd

try:  # orjson parses a ledger line 3 to 5 times faster than the standard library
    from orjson import loads
except ImportError:  # pragma: no cover - orjson is a dependency; json reads the same rows
    from json import loads  # type: ignore[assignment]

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


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off for a while (then as it was).

    A ledger read makes millions of small dicts and lists that hold no cycles, and every few hundred
    of them set off a collection pass over the others: a third of a large read went to the collector.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse_lines(path: Path, warn: Callable[[str], None] | None = None,
                only: tuple[str, ...] = ()) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """The ledger's rows with their line numbers, and a warning for each line skipped.

    With ``only``, a line that contains none of those texts is not parsed (``compare --step train``
    reads the train rows of a large ledger, and every malformed line is still reported).
    """
    with open(path, "rb") as fh:
        data = fh.read()
    return parse_bytes(data, path.name, 1, warn, only)


def parse_bytes(data: bytes, name: str, first: int = 1, warn: Callable[[str], None] | None = None,
                only: tuple[str, ...] = ()) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """:func:`parse_lines` of part of a ledger ``name``, whose first line is line number ``first``."""
    rows: list[tuple[int, dict[str, Any]]] = []
    warnings: list[str] = []
    wanted = [t.encode() for t in only]
    for number, line in enumerate(data.split(b"\n"), first):
        # The append writes `{...}` and a newline: such a line that names none of the wanted texts is
        # skipped unparsed; any other line (torn, hand-edited, spaced) is parsed, and reported if bad.
        if wanted and line[:1] == b"{" and line[-1:] == b"}" and not any(t in line for t in wanted):
            continue
        try:
            row = loads(line)
        except ValueError as e:
            if not line.strip():
                continue
            row, why = None, f"not JSON ({str(e).split(':')[0]})"
        else:
            why = "not a JSON object"
        if not isinstance(row, dict):
            message = f"{name}:{number}: skipped a malformed ledger line: {why}"
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


TOP = ("time", "unix_time", "run", "chain", "step", "rule", "key", "variant", "primary", "reused", "duration_s",
       "executor", "host", "data_digest", "predictions", "curve", "schema", "kind")


def legacy_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """The metrics of a row: under ``metrics``, or (the oldest rows) its numbers at the top level."""
    metrics = row.get("metrics")
    if isinstance(metrics, dict):
        return metrics
    return {k: v for k, v in row.items() if isinstance(v, (int, float)) and k not in ("unix_time", "schema")}


def nested(dicts: list[dict[str, Any]], name: str, prefix: str) -> pd.DataFrame:
    """One nested object of every row (``params``...) as columns named ``prefix + key``.

    pandas builds the frame from the list of dicts in compiled code; lists and objects inside become
    JSON text, so a cell can be a group key.
    """
    values = [d[name] if isinstance(d.get(name), dict) else {} for d in dicts]
    # The columns in order of first appearance, as pandas finds them, but in one C-level pass
    # (pandas' own gathers each row's keys through a generator: a fifth of a 100,000-row build).
    keys = list(dict.fromkeys(chain.from_iterable(values)))
    frame = pd.DataFrame.from_records(values, columns=keys) if keys else pd.DataFrame(index=range(len(dicts)))
    for col in [c for c in frame.columns if frame[c].dtype == object]:  # lists and objects (not text)
        if frame[col].map(lambda v: isinstance(v, (list, dict))).any():
            frame[col] = frame[col].map(lambda v: scalar(v) if isinstance(v, (list, dict)) else v)
    return frame.add_prefix(prefix)


@dataclass(frozen=True)
class Parts:
    """The step rows' frames before they are joined: the top-level fields and each nested object."""

    base: pd.DataFrame  # TOP's fields, in that order, after "line"
    cost: pd.DataFrame
    git: pd.DataFrame
    metrics: pd.DataFrame  # metric.NAME
    params: pd.DataFrame  # param.NAME
    upstream: pd.DataFrame  # param.LABEL.NAME


def step_frame(rows: list[tuple[int, dict[str, Any]]], known_params: Collection[str] = ()) -> pd.DataFrame:
    """The step rows as one flat frame: the fields, ``param.*`` (own, then upstream) and ``metric.*``.

    An upstream value named like a parameter of these rows, or like one of ``known_params`` (those
    of the rows before them, when a cache appends these), is left out: the own parameter wins.
    """
    if not rows:
        return pd.DataFrame(columns=list(FIELDS))
    dicts = [r if isinstance(r.get("metrics"), dict) else {**r, "metrics": legacy_metrics(r)} for _, r in rows]
    base = pd.DataFrame.from_records(dicts, columns=list(TOP))
    base.insert(0, "line", [n for n, _ in rows])
    parts = Parts(base, nested(dicts, "cost", ""), nested(dicts, "git", ""), nested(dicts, "metrics", METRIC),
                  nested(dicts, "params", PARAM), nested(dicts, "upstream", PARAM))
    return join_parts(parts, known_params)


def join_parts(parts: Parts, known_params: Collection[str] = ()) -> pd.DataFrame:
    """The one flat frame of :func:`step_frame`, from its parts (however they were read)."""
    base, cost, git, metrics = parts.base, parts.cost, parts.git, parts.metrics
    base["run"] = base["run"].fillna("").astype(str)
    base["step"] = base["step"].fillna("").astype(str).str.lstrip("/")
    base["reused"] = base["reused"].fillna(False).astype(bool)
    base["schema"] = base["schema"].fillna(1)
    base["kind"] = base["kind"].fillna("evaluation")
    base["agent_usd"] = cost["agent_usd"] if "agent_usd" in cost else None
    if METRIC + "cost_usd" in metrics:  # an agent step's own row: its cost is a metric
        agent = (base["kind"] == "agent") & base["agent_usd"].isna()
        base.loc[agent, "agent_usd"] = metrics.loc[agent, METRIC + "cost_usd"]
    base["pod_usd"] = cost["pod_usd"] if "pod_usd" in cost else None
    base["commit"] = git["commit"] if "commit" in git else None
    base["dirty"] = git["dirty"] if "dirty" in git else None
    own = {*parts.params.columns, *(PARAM + k for k in known_params)}
    upstream = parts.upstream[[c for c in parts.upstream.columns if c not in own]]
    return pd.concat([base, parts.params, upstream, metrics], axis=1)


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


def param_keys(rows: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """The names the rows' ``params`` objects hold, in order of appearance."""
    objects = [params for _, row in rows if isinstance(params := row.get("params"), dict)]
    return list(dict.fromkeys(chain.from_iterable(objects)))


def run_frame(rows: list[tuple[int, dict[str, Any]]]) -> pd.DataFrame:
    """The run rows (``kind: run``) as one flat frame, one :func:`run_record` each."""
    runs = [run_record(n, r) for n, r in rows if r.get("kind") == "run"]
    return pd.DataFrame.from_records(runs) if runs else pd.DataFrame(columns=["run", "status"])


def only_step(step: str | None) -> tuple[str, ...]:
    """The texts a line must hold to be parsed for ``--step``: the step's name as a JSON string,
    however the line is spaced (the rows are then filtered exactly)."""
    return (json.dumps(step.lstrip("/")),) if step else ()


def absent(ledger: Path, missing_ok: bool) -> Ledger:
    """A ledger not written yet: empty with ``missing_ok``, else a RunError."""
    if missing_ok:
        return Ledger(pd.DataFrame(columns=list(FIELDS)), pd.DataFrame(columns=["run", "status"]), ())
    raise RunError(f"no experiment ledger at {ledger} yet: run a flow that evaluates a model")


def load(root: Path, ledger: Path = LEDGER, warn: Callable[[str], None] | None = None,
         missing_ok: bool = False, step: str | None = None) -> Ledger:
    """Read all of ``root/ledger``; a missing ledger is a RunError (or empty with ``missing_ok``).

    With ``step``, only lines naming it are parsed (the run rows are then left out). The commands
    read through :func:`slashmake.experiments.ledger_cache.load`, which gives the same frames.
    """
    path = root / ledger
    if not path.exists():
        return absent(ledger, missing_ok)
    with paused_gc():
        rows, warnings = parse_lines(path, warn, only_step(step))
        return Ledger(step_frame(result_rows(rows)), run_frame(rows), tuple(warnings))


def result_rows(rows: list[tuple[int, dict[str, Any]]],
                known_runs: Collection[str] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The rows that count as results: no run rows, none superseded (:func:`superseded_fast`)."""
    drop = superseded_fast(rows, known_runs)
    return [(n, r) for n, r in rows if n not in drop and r.get("kind") != "run"]


def legacy_key(row: dict[str, Any]) -> tuple[str, str]:
    """The result a row without ``schema`` holds: its step and its metrics."""
    return (str(row.get("step", "")).lstrip("/"), json.dumps(row.get("metrics"), sort_keys=True))


def recorded_results(rows: list[tuple[int, dict[str, Any]]]) -> dict[tuple[str, str], int]:
    """The results the run record holds: (step, metrics) -> the last line recording it."""
    recorded: dict[tuple[str, str], int] = {}
    for number, row in rows:
        if row.get("schema") == 2 and row.get("kind") == "step" and not row.get("reused"):
            recorded[(str(row.get("step")), json.dumps(row.get("metrics"), sort_keys=True))] = number
    return recorded


def recorded_runs(rows: list[tuple[int, dict[str, Any]]]) -> set[str]:
    """The runs the run record names."""
    return {str(r.get("run")) for _, r in rows if r.get("schema") == 2}


def superseded_fast(rows: list[tuple[int, dict[str, Any]]], known_runs: Collection[str] | None) -> set[int]:
    """Lines of rows superseded by the run record: each result counts once.

    A row a job appended (schema 1) for a result its run recorded later in full (same step, same
    metrics) is dropped, and so is an agent step's cost row of a run that has a record (one of
    ``known_runs``; by default, those the rows name)."""
    if all(row.get("schema") is not None for _, row in rows):
        return set()  # a ledger written only by the run record supersedes nothing
    if known_runs is None:  # the runs that have a record: an agent's own cost row of one is dropped
        known_runs = recorded_runs(rows)
    recorded = recorded_results(rows)
    out: set[int] = set()
    for number, row in rows:
        if row.get("schema") is not None:
            continue
        if row.get("kind") == "agent":  # its run's step row carries the cost
            if row.get("run") and str(row.get("run")) in known_runs:
                out.add(number)
            continue
        later = recorded.get(legacy_key(row))
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
    with paused_gc():
        rows, _ = parse_lines(path, warn)
    drop = superseded_fast(rows, set())  # an agent's own row stays: it names its turns and cost as before
    agents = {(r.get("run"), r.get("step")) for _, r in rows if r.get("kind") == "agent"}
    out = []
    for number, row in rows:
        if number in drop or row.get("kind") == "run" or row.get("reused"):
            continue
        if row.get("kind") == "step" and (row.get("run"), row.get("step")) in agents:
            continue  # the same answer as the agent's own row
        row = dict(row)
        nested = row.pop("metrics", None)  # rows keep their metrics flat or under "metrics"
        out.append({**(nested if isinstance(nested, dict) else {}), **row})
    return out
