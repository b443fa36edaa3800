"""``slashmake runs`` and ``slashmake compare``, as data: runs listed, results grouped, two runs diffed.

Everything here works on :class:`~slashmake.experiments.ledger.Ledger` frames with pandas (filters,
``groupby``); nothing folds rows by hand. A filter (``--where``) is ``NAME OP VALUE`` over a
parameter, a metric or a field (``run``, ``chain``, ``executor``...), never code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slashmake.errors import FlowError
from slashmake.experiments.ledger import METRIC, PARAM, Ledger
from slashmake.experiments.stats import Paired, Summary, paired_bootstrap, t_quantile

OPS = {"==": "eq", "=": "eq", "!=": "ne", ">=": "ge", "<=": "le", ">": "gt", "<": "lt"}
_WHERE = re.compile(r"^\s*([\w.:/~-]+?)\s*(==|!=|>=|<=|=|>|<)\s*(.*?)\s*$")


@dataclass(frozen=True)
class RunRow:
    """A line of ``slashmake runs``."""

    run: str
    time: str
    chain: str
    status: str
    metric: str | None
    value: float | None
    duration_s: float | None
    cost_usd: float
    commit: str | None
    dirty: bool | None


@dataclass(frozen=True)
class Group:
    """One group of ``compare``: its parameter values and each metric's summary over its results."""

    params: dict[str, Any]
    metrics: dict[str, Summary]
    runs: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """``compare``: the groups (or single results with ``each``), the parameters that vary and those that don't."""

    group_by: tuple[str, ...]
    varying: tuple[str, ...]
    constant: dict[str, Any]
    metrics: tuple[str, ...]
    groups: tuple[Group, ...]
    n_results: int


@dataclass(frozen=True)
class MetricDiff:
    """One metric of one step in runs A and B; ``paired`` when per-example predictions allow it."""

    metric: str
    a: float | None
    b: float | None
    paired: Paired | None = None
    note: str = ""

    @property
    def diff(self) -> float | None:
        """B − A, when both runs have the metric."""
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class StepDiff:
    """A step both runs recorded: its parameters that differ (name -> (A, B)) and its metrics."""

    step: str
    variant: str | None
    params: dict[str, tuple[Any, Any]]
    metrics: tuple[MetricDiff, ...]
    same_result: bool


@dataclass(frozen=True)
class RunDiff:
    """``compare A B``: what differs between two runs, step by step."""

    a: str
    b: str
    chain: tuple[str | None, str | None]
    commit: tuple[str | None, str | None]
    params: dict[str, tuple[Any, Any]]
    steps: tuple[StepDiff, ...]
    only_a: tuple[str, ...] = ()
    only_b: tuple[str, ...] = ()
    curves: tuple[tuple[str, str], ...] = field(default=())  # (label, curve.json) of the compared steps


def plain(value: Any) -> Any:
    """A cell as JSON has it: NaN and pandas' missing values as None, numpy scalars as Python's."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return plain(value.item())
    return value


def column(frame: pd.DataFrame, name: str) -> str:
    """The column a user's name means: a parameter, else a metric, else a field."""
    for col in (PARAM + name, METRIC + name, name):
        if col in frame.columns:
            return col
    raise FlowError(f"no parameter, metric or field named {name!r} in the ledger's rows", exit_code=2)


def where(frame: pd.DataFrame, conditions: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """The rows meeting every ``NAME OP VALUE`` condition (numbers compare as numbers)."""
    for cond in conditions:
        m = _WHERE.match(cond)
        if not m:
            raise FlowError(f"--where {cond!r}: write NAME OP VALUE, OP one of == != > >= < <=", exit_code=2)
        name, op, text = m.groups()
        col = frame[column(frame, name)]
        try:
            value: Any = float(text)
            col = pd.to_numeric(col, errors="coerce")
        except ValueError:
            value = text.strip("'\"")
            col = col.astype(str)
        frame = frame[getattr(col, OPS[op])(value).fillna(False).astype(bool)]
    return frame


def results(ledger: Ledger, step: str | None = None, conditions: tuple[str, ...] = ()) -> pd.DataFrame:
    """The step results to compare: each result once (not a later run's reuse of it), filtered."""
    frame = ledger.steps
    if frame.empty:
        return frame
    keep = ~frame["reused"].astype(bool)
    if step:
        name = step.lstrip("/")
        keep &= (frame["step"] == name) | (frame["rule"] == name)
    frame = where(frame[keep], conditions)  # one copy of the rows kept, not one per filter
    metric_cols = [c for c in frame.columns if c.startswith(METRIC)]
    if "key" in frame.columns and not frame.empty:  # a forced rerun of a seeded step is the same result
        keyed = frame["key"].notna()
        dup = frame.loc[keyed, ["key", "variant", *metric_cols]].duplicated(keep="last")
        frame = frame.drop(index=dup[dup].index)
    return frame


def runs(ledger: Ledger, chain: str | None = None, limit: int | None = None) -> list[RunRow]:
    """The recorded runs, oldest first (the last ``limit``)."""
    frame = ledger.runs
    if chain and not frame.empty:
        frame = frame[frame["chain"] == chain]
    if limit:
        frame = frame.tail(limit)
    out = []
    for r in frame.to_dict("records"):
        cost = (plain(r.get("agent_usd")) or 0.0) + (plain(r.get("pod_usd")) or 0.0)
        out.append(RunRow(str(r["run"]), str(plain(r.get("time")) or ""), str(plain(r.get("chain")) or ""),
                          str(plain(r.get("status")) or ""), plain(r.get("headline_metric")),
                          plain(r.get("headline")), plain(r.get("duration_s")), float(cost),
                          plain(r.get("commit")), plain(r.get("dirty"))))
    return out


def default_group_by(frame: pd.DataFrame) -> list[str]:
    """Every parameter the rows carry except ``seed`` (and an upstream step's ``LABEL.seed``)."""
    names = [c[len(PARAM):] for c in frame.columns if c.startswith(PARAM) and frame[c].notna().any()]
    return [n for n in names if n != "seed" and not n.endswith(".seed")]


def default_metrics(frame: pd.DataFrame) -> list[str]:
    """The rows' primary metrics; every numeric metric when none declares one."""
    # unique(), in order of appearance: iterating a column of 100,000 Arrow strings in Python took 0.2 s
    primaries = [p for p in frame["primary"].dropna().unique() if METRIC + str(p) in frame.columns]
    if primaries:
        return [str(p) for p in primaries]
    return [c[len(METRIC):] for c in frame.columns if c.startswith(METRIC)
            and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any()]


def compare(ledger: Ledger, step: str | None = None, conditions: tuple[str, ...] = (),
            group_by: tuple[str, ...] | None = None, metrics: tuple[str, ...] = (), each: bool = False) -> Table:
    """Group the results by ``group_by`` (default: every parameter but seed): n, mean ± sd, 95% interval.

    With ``each``, every result is its own group (n = 1).
    """
    frame = results(ledger, step, conditions)
    if frame.empty:
        return Table(tuple(group_by or ()), (), {}, tuple(metrics), (), 0)
    names = list(group_by) if group_by is not None else default_group_by(frame)
    cols = [column(frame, n) for n in names]
    mets = list(metrics) or default_metrics(frame)
    mcols = [column(frame, m) for m in mets]
    varying = [n for n, c in zip(names, cols, strict=True) if frame[c].nunique(dropna=False) > 1]
    constant = {n: plain(frame[c].iloc[0]) for n, c in zip(names, cols, strict=True) if n not in varying}
    values = frame[mcols].apply(pd.to_numeric, errors="coerce")
    if each:
        keys = pd.Series(range(len(frame)), index=frame.index, name="_row")
        by: list[Any] = [keys]
    else:
        by = [frame[c].map(str) if frame[c].dtype == object else frame[c] for c in cols] if cols else \
            [pd.Series(0, index=frame.index)]
    grouped = values.groupby(by, dropna=False, sort=True)
    stats = grouped.agg(["count", "mean", "std"])
    first = frame.groupby(by, dropna=False, sort=True)
    firsts = first[cols].first() if cols else None
    run_lists = first["run"].unique()  # each group's runs in order of appearance, in compiled code
    groups = []
    for i in range(len(stats)):
        params = {n: plain(firsts.iloc[i][c]) for n, c in zip(names, cols, strict=True)} if firsts is not None else {}
        summaries = {}
        for m, c in zip(mets, mcols, strict=True):
            n = int(stats.iloc[i][(c, "count")])
            mean = float(stats.iloc[i][(c, "mean")]) if n else math.nan
            sd = plain(float(stats.iloc[i][(c, "std")])) if n >= 2 else None
            half = t_quantile(n - 1) * sd / math.sqrt(n) if sd is not None else None
            summaries[m] = Summary(n, mean, sd, mean - half if half is not None else None,
                                   mean + half if half is not None else None)
        groups.append(Group(params, summaries, tuple(run_lists.iloc[i].tolist())))  # not item by item
    return Table(tuple(names), tuple(varying), constant, tuple(mets), tuple(groups), len(frame))


def resolve_run(ledger: Ledger, ref: str) -> str:
    """A run id from a unique prefix, ``latest`` or ``latest~N`` (the N-th run before the latest)."""
    ids = list(dict.fromkeys([*ledger.runs.get("run", pd.Series(dtype=str)).astype(str),
                              *ledger.steps.get("run", pd.Series(dtype=str)).astype(str)]))
    ids = [i for i in ids if i]
    m = re.fullmatch(r"latest(?:~(\d+))?", ref)
    if m:
        with_steps = [i for i in ids if (ledger.steps["run"] == i).any()] if not ledger.steps.empty else []
        back = int(m.group(1) or 0)
        if back >= len(with_steps):
            raise FlowError(f"{ref!r}: the ledger has {len(with_steps)} runs with results", exit_code=2)
        return with_steps[-1 - back]
    hits = [i for i in ids if i.startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise FlowError(f"no run {ref!r} in the ledger (`slashmake runs` lists them)", exit_code=2)
    raise FlowError(f"{ref!r} names {len(hits)} runs ({', '.join(hits[:4])}...): give more of the id", exit_code=2)


def keyed(rows: pd.DataFrame) -> dict[tuple[str, str | None, int], dict[str, Any]]:
    """A run's rows by (step, variant, occurrence): the same chain lists its steps in the same order."""
    out: dict[tuple[str, str | None, int], dict[str, Any]] = {}
    seen: dict[tuple[str, str | None], int] = {}
    for r in rows.sort_values("line").to_dict("records"):
        base = (str(r["step"]), plain(r.get("variant")))
        k = seen.get(base, 0)
        seen[base] = k + 1
        out[(*base, k)] = r
    return out


def same(a: Any, b: Any) -> bool:
    """Whether two cells hold the same value (NaN and None count as the same: both missing)."""
    return plain(a) == plain(b)


def paired_accuracy(root: Path, a: dict[str, Any], b: dict[str, Any]) -> tuple[Paired | None, str]:
    """The paired bootstrap of accuracy B − A from the two steps' saved predictions, or why there is none."""
    pa, pb = plain(a.get("predictions")), plain(b.get("predictions"))
    if not pa or not pb:
        which = " and ".join(x for x, p in (("A", pa), ("B", pb)) if not p)
        return None, f"no per-example predictions saved for run {which}: no paired interval"
    try:
        fa, fb = pd.read_csv(root / pa), pd.read_csv(root / pb)
    except (OSError, ValueError) as e:
        return None, f"predictions unreadable ({e}): no paired interval"
    joined = fa.merge(fb, on="index", suffixes=("_a", "_b"))
    if len(joined) != len(fa) or len(joined) != len(fb) or not (joined["label_a"] == joined["label_b"]).all():
        return None, "the two runs were evaluated on different examples: no paired interval"
    return paired_bootstrap(joined["correct_a"].to_numpy(), joined["correct_b"].to_numpy()), ""


def compare_runs(root: Path, ledger: Ledger, ref_a: str, ref_b: str, metrics: tuple[str, ...] = ()) -> RunDiff:
    """Run B against run A: the parameters that differ and each shared step's metric differences."""
    a, b = resolve_run(ledger, ref_a), resolve_run(ledger, ref_b)
    steps = ledger.steps
    rows_a, rows_b = keyed(steps[steps["run"] == a]), keyed(steps[steps["run"] == b])

    def info(run: str, name: str) -> str | None:
        """A field of the run: from its run row, else from its last step row (a run cut short has none)."""
        for frame in (ledger.runs, steps):
            rows = frame[frame["run"] == run] if not frame.empty else frame
            if name in rows and not rows.empty:
                return plain(rows[name].iloc[-1])
        return None

    pcols = [c for c in steps.columns if c.startswith(PARAM)]
    all_params: dict[str, tuple[Any, Any]] = {}
    out: list[StepDiff] = []
    curves: list[tuple[str, str]] = []
    for k in [k for k in rows_a if k in rows_b]:
        ra, rb = rows_a[k], rows_b[k]
        diff = {c[len(PARAM):]: (plain(ra.get(c)), plain(rb.get(c))) for c in pcols if not same(ra.get(c), rb.get(c))}
        all_params.update(diff)
        names = list(metrics) or [c[len(METRIC):] for c in steps.columns if c.startswith(METRIC)
                                  and isinstance(plain(ra.get(c)), (int, float)) and isinstance(plain(rb.get(c)), (int, float))
                                  and not isinstance(plain(ra.get(c)), bool)]
        mdiffs = []
        for m in names:
            va, vb = plain(ra.get(METRIC + m)), plain(rb.get(METRIC + m))
            paired, note = (None, "")
            if m == "accuracy":
                paired, note = paired_accuracy(root, ra, rb)
            mdiffs.append(MetricDiff(m, va, vb, paired, note))
        label = k[0] + (f" [{k[1]}]" if k[1] else "") + (f" #{k[2] + 1}" if k[2] else "")
        for run, r in ((a, ra), (b, rb)):
            if plain(r.get("curve")):
                curves.append((f"{run[:15]} {label}", str(r["curve"])))
        out.append(StepDiff(label, k[1], diff, tuple(mdiffs), same(ra.get("key"), rb.get("key"))
                            and plain(ra.get("key")) is not None))
    return RunDiff(a, b, (info(a, "chain"), info(b, "chain")), (info(a, "commit"), info(b, "commit")),
                   all_params, tuple(out), tuple(name_of(k) for k in rows_a if k not in rows_b),
                   tuple(name_of(k) for k in rows_b if k not in rows_a), tuple(curves))


def name_of(k: tuple[str, str | None, int]) -> str:
    """A step of a run as a reader names it: ``step [variant]``."""
    return k[0] + (f" [{k[1]}]" if k[1] else "")
