"""Drift detection: a shifted regime is flagged, a fresh sample of the same regime is not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from slashmake_ml.data import generate, to_frame
from slashmake_ml.drift import detect, psi

REPO = Path(__file__).resolve().parents[1]


def test_psi_is_zero_for_identical_and_large_for_shifted() -> None:
    x = np.random.default_rng(0).normal(size=2000)
    assert psi(x, x) < 1e-9
    assert psi(x, x + 1.0) > 0.5


def test_fresh_sample_not_flagged_shifted_flagged() -> None:
    ref, _ = generate(800, seed=7)
    for seed in (99, 100, 101):
        fresh, _ = generate(300, seed=seed)
        assert detect(ref, fresh)["drift_detected"] is False
        shifted, _ = generate(300, seed=seed, shift=0.5)
        m = detect(ref, shifted)
        assert m["drift_detected"] is True and m["max_psi"] > 0.2


def test_drift_script_on_files_and_synthetic_batch(tmp_path: Path) -> None:
    ref, _ = generate(400, seed=7)
    to_frame(ref, None).to_parquet(tmp_path / "ref.parquet")
    cur, _ = generate(200, seed=8, shift=0.6)
    to_frame(cur, None).to_csv(tmp_path / "cur.csv", index=False)
    for extra, expected in ((["--current", str(tmp_path / "cur.csv")], True), (["--shift", "0"], False)):
        r = subprocess.run(
            [
                sys.executable,
                "-m", "slashmake_ml.scripts.drift",
                f"--reference={tmp_path}/ref.parquet",
                f"--metrics={tmp_path}/m.json",
                *extra,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads((tmp_path / "m.json").read_text())["drift_detected"] is expected
