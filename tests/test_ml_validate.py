"""Data validation: each kind of corruption is rejected and its rows are named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slashmake_ml.data import generate, to_frame
from slashmake_ml.validate import validate_frame

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def frame() -> pd.DataFrame:
    ohlc, y = generate(6, seed=11)
    return to_frame(ohlc, y)


def _corrupt(df: pd.DataFrame, kind: str) -> tuple[pd.DataFrame, int, int]:
    """Return (corrupted frame, window_id, t) of the bad row."""
    df = df.copy()
    row = 2 * 105 + 17  # window 2, t 17
    if kind == "high<low":
        df.loc[row, "high"] = df.loc[row, "low"] - 1.0
    elif kind == "nan":
        df.loc[row, "close"] = np.nan
    elif kind == "inf":
        df.loc[row, "open"] = np.inf
    elif kind == "wrong_dtype":
        df["open"] = df["open"].astype(object)
        df.loc[row, "open"] = "12.5x"
    elif kind == "unsorted_time":
        df.loc[[row - 1, row], "t"] = df.loc[[row, row - 1], "t"].to_numpy()
    elif kind == "unknown_label":
        df.loc[row, "label"] = 7
    return df, 2, 17 if kind != "unsorted_time" else 16


def test_clean_data_passes(frame: pd.DataFrame) -> None:
    rep = validate_frame(frame)
    assert rep.ok and rep.data_quality == 1.0


@pytest.mark.parametrize("kind", ["high<low", "nan", "inf", "wrong_dtype", "unsorted_time", "unknown_label"])
def test_each_corruption_is_rejected_with_its_row(frame: pd.DataFrame, kind: str) -> None:
    bad, wid, t = _corrupt(frame, kind)
    rep = validate_frame(bad)
    assert not rep.ok
    assert any(b["window_id"] == wid and b["t"] == str(t) for b in rep.bad), rep.bad[:5]
    assert rep.bad_windows == 1 and rep.data_quality == pytest.approx(5 / 6)


@pytest.mark.parametrize("kind", ["high<low", "wrong_dtype", "unsorted_time"])
def test_script_prints_bad_rows_and_exits_1(tmp_path: Path, frame: pd.DataFrame, kind: str) -> None:
    bad, wid, t = _corrupt(frame, kind)
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    metrics = tmp_path / "m.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m", "slashmake_ml.scripts.validate",
            "--data",
            str(path),
            "--metrics",
            str(metrics),
            "--report",
            str(tmp_path / "r.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert f"window_id={wid}  t={t}" in r.stderr and "check=" in r.stderr
    assert not metrics.exists()  # a failed step leaves no metrics that look complete
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["bad"]


def test_script_passes_clean_data_and_publishes_quality(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(tmp_path / "ok.parquet")
    r = subprocess.run(
        [
            sys.executable,
            "-m", "slashmake_ml.scripts.validate",
            "--data",
            str(tmp_path / "ok.parquet"),
            "--metrics",
            str(tmp_path / "m.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["data_quality"] == 1.0 and m["valid"] is True


def test_validate_script_does_not_import_torch() -> None:
    # as `python -m slashmake_ml.scripts.validate` runs it
    code = "import runpy, sys; sys.argv=['validate.py','--help']\ntry:\n    runpy.run_module('slashmake_ml.scripts.validate', run_name='__main__')\nexcept SystemExit: pass\nimport slashmake_ml.validate, slashmake_ml.drift, slashmake_ml.ops\nprint('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().endswith("False"), r.stdout + r.stderr


def test_integer_price_column_is_a_column_level_failure(frame: pd.DataFrame) -> None:
    bad = frame.assign(open=frame["open"].round().astype("int64"))
    rep = validate_frame(bad)
    assert not rep.ok and rep.data_quality == 0.0
    assert any(b["check"] == "open: dtype int64, expected float" for b in rep.bad)
