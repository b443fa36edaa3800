"""Analyse a sweep that missed its gate: rank variants and list the likely causes."""

from __future__ import annotations

from _ml import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--summary", required=True, help="input: summary JSON from aggregate.py")
    ap.add_argument("--threshold", type=float, default=0.90)
    ap.add_argument("--report", required=True)
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    from slashmake_ml.fileio import read_json, write_json, write_metrics

    s = read_json(a.summary)
    metric = s["metric"]
    rows = sorted(s["variants"], key=lambda r: -r[metric])
    below = [r for r in rows if r[metric] <= a.threshold]
    hints = []
    if rows and max(r[metric] for r in rows) - min(r[metric] for r in rows) < 0.01:
        hints.append(
            "variants are within 1 point: sigma is not the limiting factor; try more labelled data or epochs"
        )
    if any((r.get("ece") or 0) > 0.10 for r in rows):
        hints.append("ECE above 0.10: calibration is off; check temperature fitting and the validation split")
    if not hints:
        hints.append(
            "best variant below the gate: widen the sigma grid or tune lr/weight decay (/hyperparameter-tune)"
        )
    write_json(
        a.report, {"threshold": a.threshold, "ranked": rows, "below_threshold": len(below), "hints": hints}
    )
    print("\n".join(hints))
    write_metrics(
        a.metrics,
        {
            "n_variants": len(rows),
            "n_below_threshold": len(below),
            "gap_to_threshold": a.threshold - (rows[0][metric] if rows else 0.0),
        },
    )
    return 0


if __name__ == "__main__":
    main_guard(main)
