"""Materialise the data: synthetic Moola-shaped windows by default, or a user's parquet/CSV.

Writes the labelled set, a held-out test set, the unlabelled set (long schema, parquet) and an
environment snapshot. A user's file is split in time order with a purge (and an optional
embargo) so overlapping windows never straddle the split; defaults live in DataConfig.
"""

from __future__ import annotations

from pathlib import Path

from slashmake_ml.cli import add_config_args, boolean, config_from_args, env_snapshot, main_guard, parser


def main() -> int:
    """CLI entry point."""
    from slashmake_ml.config import DataConfig

    ap = parser(__doc__)
    ap.add_argument("--data", required=True, help="output: labelled windows (.parquet)")
    ap.add_argument("--test", required=True, help="output: held-out labelled test windows (.parquet)")
    ap.add_argument("--unlabelled", required=True, help="output: unlabelled windows (.parquet)")
    ap.add_argument("--env", help="output: environment snapshot (.json)")
    ap.add_argument("--metrics", help="output: metrics JSON")
    ap.add_argument("--source", default="", help="a user file in the long schema; empty = synthetic")
    ap.add_argument("--test-frac", type=float, default=0.2, help="test share of a user file's labelled windows")
    ap.add_argument("--embargo-bars", type=int, default=0,
                    help="bars between the last training window and the test period (user files)")
    ap.add_argument("--shuffle-labels", type=boolean, default=False, help="permute labels (a negative control)")
    add_config_args(ap, DataConfig, skip=("seq_len", "pos_rate"))
    a = ap.parse_args()

    import numpy as np

    from slashmake_ml.data import make_synthetic, read_table, split_user_table, write_table
    from slashmake_ml.fileio import write_json, write_metrics

    if a.source:
        try:
            lab, test, unl = split_user_table(read_table(a.source), a.test_frac, a.embargo_bars)
        except ValueError as e:  # a split too small: the user's data, not a bug
            raise SystemExit(f"error: {a.source}: {e}") from None
        origin = str(Path(a.source).resolve())
    else:
        lab, test, unl = make_synthetic(config_from_args(DataConfig, a))
        origin = "synthetic"
    if a.shuffle_labels and "label" in lab.columns:
        # Permute whole-window labels of the training set only, so the test set stays honest.
        per_win = lab.groupby("window_id")["label"].first()
        perm = np.random.default_rng(a.data_seed + 1).permutation(per_win.to_numpy())
        lab = lab.assign(label=lab["window_id"].map(dict(zip(per_win.index, perm, strict=True))).astype("int64"))
    for df, path in ((lab, a.data), (test, a.test), (unl, a.unlabelled)):
        write_table(df, path)
    n_lab = int(lab["window_id"].nunique())
    pos = float(lab.groupby("window_id")["label"].first().mean()) if "label" in lab.columns and n_lab else 0.0
    print(f"init: {origin}: {n_lab} labelled, {test['window_id'].nunique()} test, "
          f"{unl['window_id'].nunique()} unlabelled windows; retracement share {pos:.3f}")
    if a.env:
        write_json(a.env, {**env_snapshot(), "source": origin, "args": vars(a)})
    if a.metrics:
        write_metrics(a.metrics, {
            "n_labelled": n_lab,
            "n_test": int(test["window_id"].nunique()),
            "n_unlabelled": int(unl["window_id"].nunique()),
            "positive_rate": pos,
            "synthetic": not a.source,
            "shuffle_labels": a.shuffle_labels,
        })
    return 0


if __name__ == "__main__":
    main_guard(main)
