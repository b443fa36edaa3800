"""Synthetic data, the long schema, user files and features (slashmake_ml.data/features)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from slashmake_ml.config import DataConfig
from slashmake_ml.data import from_frame, generate, make_synthetic, read_table, to_frame
from slashmake_ml.features import FEATURE_NAMES, compute_features

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_generator_is_deterministic_and_moola_shaped() -> None:
    a, ya = generate(400, seed=3)
    b, yb = generate(400, seed=3)
    c, _ = generate(400, seed=4)
    assert a.shape == (400, 105, 4) and a.dtype == np.float32
    assert np.array_equal(a, b) and np.array_equal(ya, yb)
    assert not np.array_equal(a, c)
    assert 0.36 < ya.mean() < 0.50  # ~57/43 consolidation vs retracement
    o, h, lo, cl = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    assert (h >= np.maximum(o, cl)).all() and (lo <= np.minimum(o, cl)).all()
    assert np.isfinite(a).all()


def test_long_schema_round_trip() -> None:
    ohlc, y = generate(5, seed=1)
    df = to_frame(ohlc, y)
    assert list(df.columns) == ["window_id", "t", "open", "high", "low", "close", "label"]
    back, yb, ids = from_frame(df.sample(frac=1.0, random_state=0))  # order must not matter
    assert np.array_equal(back, ohlc) and np.array_equal(yb, y) and list(ids) == list(range(5))


def test_features_are_relative_only() -> None:
    ohlc, _ = generate(20, seed=2)
    f1 = compute_features(ohlc)
    f2 = compute_features(ohlc * np.float32(32.0))  # same market, other price level (exact in float32)
    assert f1.shape == (20, 105, len(FEATURE_NAMES))
    np.testing.assert_allclose(f1, f2, atol=1e-5)


def test_splits_do_not_share_windows() -> None:
    lab, test, unl = make_synthetic(DataConfig(n_labelled=30, n_test=10, n_unlabelled=15))
    ids = [set(d["window_id"]) for d in (lab, test, unl)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert "label" not in unl.columns and len(ids[2]) == 15


def test_init_script_synthetic_and_user_csv(tmp_path: Path) -> None:
    out = [
        f"--data={tmp_path}/d.parquet",
        f"--test={tmp_path}/t.parquet",
        f"--unlabelled={tmp_path}/u.parquet",
    ]
    r = run(
        "-m", "slashmake_ml.scripts.init",
        *out,
        "--n-labelled",
        "40",
        "--n-test",
        "10",
        "--n-unlabelled",
        "20",
        f"--metrics={tmp_path}/m.json",
        f"--env={tmp_path}/env.json",
    )
    assert r.returncode == 0, r.stderr
    assert read_table(tmp_path / "d.parquet")["window_id"].nunique() == 40
    # A user's CSV: timestamps for t, some windows unlabelled.
    ohlc, y = generate(60, seed=5)
    df = to_frame(ohlc, y)
    df["t"] = pd.Timestamp("2024-01-02 09:30") + pd.to_timedelta(df["t"], unit="min")
    df.loc[df["window_id"] >= 50, "label"] = np.nan
    df.to_csv(tmp_path / "user.csv", index=False)
    user = [
        f"--data={tmp_path}/ud.parquet",
        f"--test={tmp_path}/ut.parquet",
        f"--unlabelled={tmp_path}/uu.parquet",
    ]
    r = run("-m", "slashmake_ml.scripts.init", *user, "--source", str(tmp_path / "user.csv"))
    assert r.returncode == 0, r.stderr
    n = [read_table(tmp_path / f)["window_id"].nunique() for f in ("ud.parquet", "ut.parquet", "uu.parquet")]
    assert n == [40, 10, 10]


def test_shuffle_labels_keeps_balance_changes_assignment(tmp_path: Path) -> None:
    base = ["--n-labelled", "200", "--n-test", "10", "--n-unlabelled", "5"]
    for tag, flag in (("a", "false"), ("b", "True")):
        r = run(
            "-m", "slashmake_ml.scripts.init",
            f"--data={tmp_path}/{tag}.parquet",
            f"--test={tmp_path}/{tag}t.parquet",
            f"--unlabelled={tmp_path}/{tag}u.parquet",
            *base,
            "--shuffle-labels",
            flag,
        )
        assert r.returncode == 0, r.stderr
    ya = read_table(tmp_path / "a.parquet").groupby("window_id")["label"].first()
    yb = read_table(tmp_path / "b.parquet").groupby("window_id")["label"].first()
    assert ya.sum() == yb.sum() and (ya != yb).mean() > 0.2


def _sliding(n_windows: int, stride: int, labelled_upto: int) -> pd.DataFrame:
    """Overlapping windows of one price series with global minute timestamps."""
    ohlc, y = generate(n_windows, seed=9)
    df = to_frame(ohlc, y)
    start = pd.Timestamp("2024-01-02 09:30") + pd.to_timedelta(df["window_id"] * stride, unit="min")
    df["t"] = start + pd.to_timedelta(df["t"], unit="min")
    df.loc[df["window_id"] >= labelled_upto, "label"] = np.nan
    return df


def _spans(path: Path) -> pd.DataFrame:
    g = read_table(path).assign(t=lambda d: pd.to_datetime(d["t"])).groupby("window_id")["t"]
    return pd.DataFrame({"start": g.min(), "end": g.max()})


def test_time_ordered_split_purges_windows_that_overlap_the_test_period(tmp_path: Path) -> None:
    # 120 windows of 105 bars, one every 20 bars: each overlaps its 5 neighbours on each side.
    df = _sliding(120, 20, labelled_upto=90)  # the latest 30 are unlabelled
    df.sample(frac=1.0, random_state=1).to_csv(tmp_path / "series.csv", index=False)  # file order must not matter
    out = [f"--data={tmp_path}/d.parquet", f"--test={tmp_path}/t.parquet", f"--unlabelled={tmp_path}/u.parquet"]
    r = run("-m", "slashmake_ml.scripts.init", *out, "--source", str(tmp_path / "series.csv"), "--embargo-bars", "10")
    assert r.returncode == 0, r.stderr
    train, test, unl = (_spans(tmp_path / f) for f in ("d.parquet", "t.parquet", "u.parquet"))
    assert len(test) == 18 and test.index.min() == 72  # the latest 20% of the 90 labelled windows
    gap = pd.Timedelta(minutes=10)
    assert train["end"].max() < test["start"].min() - gap  # nothing overlaps across the purge
    assert len(train) == 72 - 5  # windows 67..71 end inside the test period or its 10-bar embargo
    # Unlabelled windows after the test start overlap it: none reaches pre-training.
    assert unl.empty or unl["end"].max() < test["start"].min() - gap


def test_pre_training_never_sees_a_test_window_when_a_file_has_no_unlabelled_windows(tmp_path: Path) -> None:
    df = _sliding(80, 120, labelled_upto=80)  # all labelled, no overlap (stride > window)
    df.to_parquet(tmp_path / "all.parquet")
    out = [f"--data={tmp_path}/d.parquet", f"--test={tmp_path}/t.parquet", f"--unlabelled={tmp_path}/u.parquet"]
    assert run("-m", "slashmake_ml.scripts.init", *out, "--source", str(tmp_path / "all.parquet")).returncode == 0
    pre = set(read_table(tmp_path / "u.parquet")["window_id"])
    test = set(read_table(tmp_path / "t.parquet")["window_id"])
    assert pre and test and not pre & test
    assert pre == set(read_table(tmp_path / "d.parquet")["window_id"])
    assert "label" not in read_table(tmp_path / "u.parquet").columns


def test_a_split_too_small_is_a_clear_error(tmp_path: Path) -> None:
    _sliding(30, 120, labelled_upto=30).to_csv(tmp_path / "few.csv", index=False)
    out = [f"--data={tmp_path}/d.parquet", f"--test={tmp_path}/t.parquet", f"--unlabelled={tmp_path}/u.parquet"]
    r = run("-m", "slashmake_ml.scripts.init", *out, "--source", str(tmp_path / "few.csv"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "30 labelled windows are too few for a 20% test split" in r.stderr
    assert not (tmp_path / "d.parquet").exists()
