"""Aggregate a sweep over seeds: mean +- sd of a metric per variant group (sigma, pretrained), the
group with the best mean, a metric-vs-sigma plot with error bars and, when the sweep has
pre-trained and from-scratch runs, their paired difference by seed with a 95% interval.

Selection flows aggregate validation metrics (val_accuracy); the test set is not read here.
"""

from __future__ import annotations

from pathlib import Path

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--metrics", nargs="+", required=True, help="input: each variant's metrics JSON")
    ap.add_argument("--out", required=True, help="output: aggregate metrics JSON")
    ap.add_argument("--summary", help="output: JSON table of groups and runs")
    ap.add_argument("--plot", help="output: metric-vs-sigma PNG with error bars")
    ap.add_argument("--metric", default="val_accuracy")
    a = ap.parse_args()

    from slashmake_ml.fileio import read_json, write_json, write_metrics
    from slashmake_ml.plots import plot_metric_vs_sigma
    from slashmake_ml.sweep import group_rows, paired_difference, pick

    rows = []
    for p in a.metrics:
        m = read_json(p)
        if a.metric not in m:
            raise SystemExit(f"error: {p}: no key {a.metric!r} (keys: {sorted(m)[:10]})")
        rows.append({"metrics_file": str(Path(p).resolve()), "variant_dir": str(Path(p).resolve().parent),
                     "sigma": m.get("sigma"), "pretrained": m.get("pretrained"), "seed": m.get("seed"),
                     a.metric: m[a.metric]})
    groups = group_rows(rows, a.metric)
    best = pick(groups)
    diff = paired_difference(rows, a.metric)
    if a.plot:
        plot_metric_vs_sigma(groups, a.plot, a.metric)
    if a.summary:
        write_json(a.summary, {"metric": a.metric, "groups": groups, "best": best, "difference": diff})
    for g in groups:
        print(f"sigma={g['sigma']} pretrained={g['pretrained']}: {a.metric} {g['mean']:.4f} +- {g['sd']:.4f} "
              f"over {g['n_seeds']} seeds")
    if diff:
        print(f"pre-trained - scratch: {diff['diff_mean']:+.4f} (95% CI {diff['diff_lo']:+.4f} .. "
              f"{diff['diff_hi']:+.4f}, {diff['n_pairs']} seeds)")
    write_metrics(a.out, {
        "best_mean": best["mean"],
        "best_sd": best["sd"],
        "best_sigma": best["sigma"] if best["sigma"] is not None else -1.0,
        "n_variants": len(groups),
        "n_runs": len(rows),
        "min_seeds": min(g["n_seeds"] for g in groups),
        **(diff or {}),
    })
    return 0


if __name__ == "__main__":
    main_guard(main)
