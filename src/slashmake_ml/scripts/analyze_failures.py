"""Analyse a sweep whose chosen model missed its gate: rank the variant groups by their mean
validation score over seeds and list the likely causes."""

from __future__ import annotations

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--summary", required=True, help="input: summary JSON from aggregate.py")
    ap.add_argument("--threshold", type=float, default=0.87)
    ap.add_argument("--report", required=True)
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    from slashmake_ml.fileio import read_json, write_json, write_metrics

    s = read_json(a.summary)
    metric = s["metric"]
    rows = sorted(({k: g[k] for k in ("sigma", "pretrained", "mean", "sd", "n_seeds")} for g in s["groups"]),
                  key=lambda r: -r["mean"])
    below = [r for r in rows if r["mean"] <= a.threshold]
    hints = []
    if rows and rows[0]["mean"] - rows[-1]["mean"] < max(r["sd"] for r in rows):
        hints.append(f"the groups' mean {metric} differ by less than one seed sd: sigma is not the limiting "
                     "factor; try more labelled windows or a longer training budget")
    if not hints:
        hints.append("best group below the gate: widen the sigma grid or tune lr/weight decay (/hyperparameter-tune)")
    write_json(a.report, {"threshold": a.threshold, "metric": metric, "ranked": rows,
                          "below_threshold": len(below), "hints": hints})
    print("\n".join(hints))
    write_metrics(a.metrics, {
        "n_variants": len(rows),
        "n_below_threshold": len(below),
        "gap_to_threshold": a.threshold - (rows[0]["mean"] if rows else 0.0),
    })
    return 0


if __name__ == "__main__":
    main_guard(main)
