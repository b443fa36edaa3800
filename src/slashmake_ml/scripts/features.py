"""Feature engineering: OHLC windows -> relative features (N, T, 6) as .npz."""

from __future__ import annotations

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--data", required=True, help="input: labelled windows (.parquet/.csv)")
    ap.add_argument("--out", required=True, help="output: features .npz (X, y, window_ids)")
    ap.add_argument("--test", help="input: test windows; with --test-out")
    ap.add_argument("--test-out", help="output: test features .npz")
    ap.add_argument("--metrics", help="output: metrics JSON")
    a = ap.parse_args()

    from slashmake_ml.data import from_frame, read_table
    from slashmake_ml.features import FEATURE_NAMES, compute_features, save_features
    from slashmake_ml.fileio import write_metrics

    pairs = [(a.data, a.out)] + ([(a.test, a.test_out)] if a.test and a.test_out else [])
    shapes = []
    for src, dst in pairs:
        ohlc, y, ids = from_frame(read_table(src))
        X = compute_features(ohlc)  # (N, T, F)
        save_features(dst, X, y, ids)
        shapes.append(X.shape)
        print(f"{src} -> {dst}: {X.shape}")
    if a.metrics:
        write_metrics(
            a.metrics, {"n_windows": shapes[0][0], "seq_len": shapes[0][1], "n_features": len(FEATURE_NAMES)}
        )
    return 0


if __name__ == "__main__":
    main_guard(main)
