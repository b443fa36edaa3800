"""Set up (or refresh) monitoring of the live model: record the deployed version and the
reference statistics that drift detection compares new data against."""

from __future__ import annotations

from pathlib import Path

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--reference", required=True, help="input: reference windows (training data)")
    ap.add_argument("--registry", default="registry")
    ap.add_argument("--model-name", default="simple_lstm")
    ap.add_argument("--psi-threshold", type=float, default=0.2)
    ap.add_argument("--config", required=True, help="output: monitoring config JSON")
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    from slashmake_ml import registry as reg
    from slashmake_ml.data import from_frame, read_table
    from slashmake_ml.drift import STAT_NAMES, window_stats
    from slashmake_ml.fileio import write_json, write_metrics

    ohlc, _, _ = from_frame(read_table(a.reference))
    st = window_stats(ohlc)
    version = reg.current(a.registry, a.model_name) or ""
    cfg = {
        "model_name": a.model_name,
        "registry": str(Path(a.registry).resolve()),
        "version": version,
        "reference": str(Path(a.reference).resolve()),
        "psi_threshold": a.psi_threshold,
        "reference_stats": {
            n: {"mean": float(st[:, j].mean()), "std": float(st[:, j].std())}
            for j, n in enumerate(STAT_NAMES)
        },
    }
    write_json(a.config, cfg)
    print(f"monitor: watching {a.model_name} {version or '(none deployed)'}")
    write_metrics(
        a.metrics,
        {"monitoring": True, "version": version, "has_model": bool(version), "n_reference": len(ohlc)},
    )
    return 0


if __name__ == "__main__":
    main_guard(main)
