"""Aggregate a sweep: read every variant's metrics JSON; write best_acc, best_sigma and the
metric-vs-sigma plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import slashmake_ml  # noqa: F401
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from slashmake_ml.cli import main_guard  # noqa: E402


def main() -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--metrics", nargs="+", required=True, help="input: each variant's metrics JSON")
    ap.add_argument("--out", required=True, help="output: aggregate metrics JSON")
    ap.add_argument("--summary", help="output: JSON table of variants")
    ap.add_argument("--plot", help="output: metric-vs-sigma PNG")
    ap.add_argument("--metric", default="accuracy")
    a = ap.parse_args()

    from slashmake_ml.fileio import read_json, write_json, write_metrics
    from slashmake_ml.plots import plot_metric_vs_sigma

    rows = []
    for p in a.metrics:
        m = read_json(p)
        if a.metric not in m:
            raise SystemExit(f"error: {p}: no key {a.metric!r} (keys: {sorted(m)[:10]})")
        rows.append(
            {
                "metrics_file": str(Path(p).resolve()),
                "variant_dir": str(Path(p).resolve().parent),
                "sigma": m.get("sigma"),
                a.metric: m[a.metric],
                "f1_macro": m.get("f1_macro"),
                "ece": m.get("ece"),
            }
        )
    best = max(rows, key=lambda r: r[a.metric])
    if a.plot:
        with_sigma = [r for r in rows if r["sigma"] is not None]
        plot_metric_vs_sigma(
            [r["sigma"] for r in with_sigma], [r[a.metric] for r in with_sigma], a.plot, a.metric
        )
    if a.summary:
        write_json(a.summary, {"metric": a.metric, "variants": rows, "best": best})
    vals = [r[a.metric] for r in rows]
    print(f"aggregate: {len(rows)} variants; best {a.metric}={best[a.metric]:.4f} at sigma={best['sigma']}")
    write_metrics(
        a.out,
        {
            "best_acc" if a.metric == "accuracy" else f"best_{a.metric}": best[a.metric],
            "best_sigma": best["sigma"] if best["sigma"] is not None else -1.0,
            "mean_acc" if a.metric == "accuracy" else f"mean_{a.metric}": sum(vals) / len(vals),
            "n_variants": len(rows),
            "best_metrics_file": best["metrics_file"],
        },
    )
    return 0


if __name__ == "__main__":
    main_guard(main)
