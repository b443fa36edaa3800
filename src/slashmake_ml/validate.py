"""Data validation with pandera: schema, OHLC invariants, time order, labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from slashmake_ml.data import PRICE_COLS


def _finite(s: pd.Series) -> pd.Series:
    return pd.Series(np.isfinite(pd.to_numeric(s, errors="coerce").to_numpy(np.float64)), index=s.index)


def _cell_is_float(v: object) -> bool:
    if isinstance(v, float | np.floating):
        return True
    if isinstance(v, str):  # CSV readers hand back strings for a column with one bad cell
        try:
            float(v)
            return True
        except ValueError:
            return False
    return False


def _is_float(s: pd.Series) -> pd.Series:
    # Any float width passes (the generator writes float32). An object column names the
    # offending cells; a uniformly non-float column (e.g. int64) is reported once per column
    # by validate_frame instead of flooding the report with every row.
    if pd.api.types.is_object_dtype(s):
        return s.map(_cell_is_float)
    return pd.Series(True, index=s.index)


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    # Non-numeric cells become NaN here so a wrong-dtype column is reported by float_dtype
    # (with its rows) instead of crashing the comparison checks.
    return pd.to_numeric(df[col], errors="coerce")


def _high_ok(df: pd.DataFrame) -> pd.Series:
    o, c, h = _num(df, "open"), _num(df, "close"), _num(df, "high")
    return (h >= np.maximum(o, c)) | o.isna() | c.isna() | h.isna()


def _low_ok(df: pd.DataFrame) -> pd.Series:
    o, c, lo = _num(df, "open"), _num(df, "close"), _num(df, "low")
    return (lo <= np.minimum(o, c)) | o.isna() | c.isna() | lo.isna()


def _t_monotonic(df: pd.DataFrame) -> pd.Series:
    # Compare each row with the previous row of the same window in file order: a first
    # row passes, every later one must have a strictly larger t.
    prev_t = df.groupby("window_id", sort=False)["t"].shift(1)
    return prev_t.isna() | (df["t"] > prev_t)


def _label_constant(df: pd.DataFrame) -> pd.Series:
    return df.groupby("window_id", sort=False)["label"].transform("nunique") <= 1


def build_schema(has_label: bool) -> pa.DataFrameSchema:
    """The Moola long-schema contract as a pandera DataFrameSchema."""
    price = {
        c: pa.Column(
            checks=[pa.Check(_is_float, name="float_dtype"), pa.Check(_finite, name="finite")], nullable=False
        )
        for c in PRICE_COLS
    }
    cols: dict[str, pa.Column] = {
        "window_id": pa.Column(pa.Int, nullable=False),
        "t": pa.Column(nullable=False),
        **price,
    }
    checks = [
        pa.Check(_high_ok, name="high>=max(open,close)"),
        pa.Check(_low_ok, name="low<=min(open,close)"),
        pa.Check(_t_monotonic, name="t_monotonic_per_window"),
    ]
    if has_label:
        cols["label"] = pa.Column(checks=pa.Check.isin([0, 1], name="label_in_{0,1}"), nullable=False)
        checks.append(pa.Check(_label_constant, name="label_constant_per_window"))
    return pa.DataFrameSchema(cols, checks=checks, strict=False, coerce=False)


@dataclass
class ValidationReport:
    """Outcome: bad rows as (window_id, t, check) and the data_quality score."""

    n_rows: int
    n_windows: int
    bad: list[dict[str, Any]] = field(default_factory=list)
    whole_file_bad: bool = False  # a column-level failure (missing column, wrong dtype)

    @property
    def bad_windows(self) -> int:
        """Number of windows with at least one failed check."""
        if self.whole_file_bad:
            return self.n_windows
        return len({b["window_id"] for b in self.bad if b["window_id"] is not None})

    @property
    def data_quality(self) -> float:
        """Share of windows that pass every check."""
        return 1.0 - self.bad_windows / max(self.n_windows, 1)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.bad


def validate_frame(df: pd.DataFrame) -> ValidationReport:
    """Validate a long-schema DataFrame; never raises for bad data, reports it instead."""
    rep = ValidationReport(
        n_rows=len(df), n_windows=int(df["window_id"].nunique()) if "window_id" in df else 0
    )
    missing = [c for c in ["window_id", "t", *PRICE_COLS] if c not in df.columns]
    if missing:
        rep.bad.append({"row": None, "window_id": None, "t": None, "check": f"missing columns {missing}"})
        rep.whole_file_bad = True
        return rep
    df = df.reset_index(drop=True)
    for c in PRICE_COLS:
        if not (pd.api.types.is_float_dtype(df[c]) or pd.api.types.is_object_dtype(df[c])):
            rep.bad.append(
                {
                    "row": None,
                    "window_id": None,
                    "t": None,
                    "check": f"{c}: dtype {df[c].dtype}, expected float",
                }
            )
            rep.whole_file_bad = True
    has_label = "label" in df.columns and df["label"].notna().any()
    try:
        build_schema(has_label).validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        for r in fc.to_dict("records"):
            idx = r.get("index")
            check = str(r.get("check"))
            if r.get("schema_context") == "Column":
                check = f"{r.get('column')}: {check}"
            if idx is None or (isinstance(idx, float) and np.isnan(idx)):
                rep.bad.append({"row": None, "window_id": None, "t": None, "check": check})
                rep.whole_file_bad = True
                continue
            rep.bad.append(_row(df, int(idx), check))
    return _dedupe(rep)


def _row(df: pd.DataFrame, i: int, check: str) -> dict[str, Any]:
    wid = df.at[i, "window_id"]
    t = df.at[i, "t"]
    return {"row": i, "window_id": wid.item() if hasattr(wid, "item") else wid, "t": str(t), "check": check}


def _dedupe(rep: ValidationReport) -> ValidationReport:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for b in rep.bad:
        key = (b.get("row"), b["check"])
        if key not in seen:
            seen.add(key)
            out.append(b)
    rep.bad = sorted(out, key=lambda b: (b["row"] is None, b["row"] or 0))
    return rep
