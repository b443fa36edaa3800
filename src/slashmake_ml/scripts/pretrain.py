"""Pre-train the BiLSTM encoder on unlabelled OHLC windows: masked reconstruction of time-warped windows.

``--sigma`` is the time-warp strength (0 = no warp). Reports the held-out reconstruction error on
unaugmented windows beside the mean and neighbour predictors. Defaults live in PretrainConfig.
"""

from __future__ import annotations

from slashmake_ml.cli import add_config_args, config_from_args, main_guard, parser


def main() -> int:
    """CLI entry point."""
    from slashmake_ml.config import PretrainConfig

    ap = parser(__doc__)
    ap.add_argument("--data", required=True, help="input: unlabelled windows (.parquet/.csv, long schema)")
    ap.add_argument("--encoder", required=True, help="output: encoder .pt")
    ap.add_argument("--curve", help="output: loss-curve PNG")
    ap.add_argument("--metrics", help="output: metrics JSON (records sigma and encoder_sha256)")
    add_config_args(ap, PretrainConfig)
    a = ap.parse_args()

    from slashmake_ml.fileio import write_metrics
    from slashmake_ml.pretrain import pretrain_and_save

    metrics = pretrain_and_save(a.data, config_from_args(PretrainConfig, a), a.encoder, a.curve)
    if a.metrics:
        write_metrics(a.metrics, metrics)
    return 0


if __name__ == "__main__":
    main_guard(main)
