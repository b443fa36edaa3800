"""Materialise the data: synthetic Moola-shaped windows by default, or a user's parquet/CSV.

Writes the labelled set, a held-out test set, the unlabelled set (long schema, parquet) and
an environment snapshot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import slashmake_ml  # noqa: F401
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from slashmake_ml.cli import boolean, env_snapshot, main_guard  # noqa: E402


def main() -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="output: labelled windows (.parquet)")
    ap.add_argument("--test", required=True, help="output: held-out labelled test windows (.parquet)")
    ap.add_argument("--unlabelled", required=True, help="output: unlabelled windows (.parquet)")
    ap.add_argument("--env", help="output: environment snapshot (.json)")
    ap.add_argument("--metrics", help="output: metrics JSON")
    ap.add_argument("--source", default="", help="a user file in the long schema; empty = synthetic")
    ap.add_argument("--n-labelled", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--n-unlabelled", type=int, default=2000)
    ap.add_argument("--data-seed", type=int, default=7)
    ap.add_argument(
        "--shift", type=float, default=0.0, help="synthetic regime shift (volatility x (1+shift))"
    )
    ap.add_argument(
        "--test-frac", type=float, default=0.2, help="test share of a user file's labelled windows"
    )
    ap.add_argument(
        "--shuffle-labels", type=boolean, default=False, help="permute labels (a negative control)"
    )
    a = ap.parse_args()

    import numpy as np

    from slashmake_ml.config import DataConfig
    from slashmake_ml.data import make_synthetic, read_table, split_user_table, write_table
    from slashmake_ml.fileio import write_json, write_metrics

    if a.source:
        lab, test, unl = split_user_table(read_table(a.source), a.test_frac, a.data_seed)
        origin = str(Path(a.source).resolve())
    else:
        cfg = DataConfig(
            n_labelled=a.n_labelled,
            n_test=a.n_test,
            n_unlabelled=a.n_unlabelled,
            seed=a.data_seed,
            shift=a.shift,
        )
        lab, test, unl = make_synthetic(cfg)
        origin = "synthetic"
    if a.shuffle_labels and "label" in lab.columns:
        # Permute whole-window labels of the training set only, so the test set stays honest.
        per_win = lab.groupby("window_id")["label"].first()
        perm = dict(
            zip(
                per_win.index,
                np.random.default_rng(a.data_seed + 1).permutation(per_win.to_numpy()),
                strict=True,
            )
        )
        lab = lab.assign(label=lab["window_id"].map(perm).astype("int64"))
    write_table(lab, a.data)
    write_table(test, a.test)
    write_table(unl, a.unlabelled)
    n_lab = int(lab["window_id"].nunique())
    pos = float(lab.groupby("window_id")["label"].first().mean()) if "label" in lab.columns and n_lab else 0.0
    print(
        f"init: {origin}: {n_lab} labelled, {test['window_id'].nunique()} test, {unl['window_id'].nunique()} unlabelled windows; retracement share {pos:.3f}"
    )
    if a.env:
        write_json(a.env, {**env_snapshot(), "source": origin, "args": vars(a)})
    if a.metrics:
        write_metrics(
            a.metrics,
            {
                "n_labelled": n_lab,
                "n_test": int(test["window_id"].nunique()),
                "n_unlabelled": int(unl["window_id"].nunique()),
                "positive_rate": pos,
                "synthetic": not a.source,
                "shuffle_labels": a.shuffle_labels,
            },
        )
    return 0


if __name__ == "__main__":
    main_guard(main)
