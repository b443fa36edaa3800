"""Select the sweep's model: the group with the best mean validation score (aggregate.py's
summary), and within it the seed with the best validation score. Reads no test metrics."""

from __future__ import annotations

from pathlib import Path

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--summary", required=True, help="input: summary JSON from aggregate.py")
    ap.add_argument("--models", nargs="+", required=True, help="input: every variant's model")
    ap.add_argument("--model", required=True, help="output: the selected model")
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    import shutil

    from slashmake_ml.fileio import atomic_write, read_json, sha256_file, write_metrics

    s = read_json(a.summary)
    metric, best = s["metric"], s["best"]
    run = max(best["runs"], key=lambda r: r[metric])
    # Variants keep model and metrics in one folder: match by folder, not by list order.
    match = [m for m in a.models if str(Path(m).resolve().parent) == run["variant_dir"]]
    if not match:
        raise SystemExit(f"error: no model among --models comes from {run['variant_dir']}")
    atomic_write(a.model, lambda tmp: shutil.copyfile(match[0], tmp))
    print(f"selected {match[0]} (sigma={best['sigma']}: mean {metric} {best['mean']:.4f} +- {best['sd']:.4f}; "
          f"seed {run['seed']})")
    write_metrics(a.metrics, {
        "best_mean": best["mean"],
        "best_sd": best["sd"],
        "best_sigma": best["sigma"] if best["sigma"] is not None else -1.0,
        "seed": run["seed"],
        "model_sha256_file": sha256_file(a.model),
        "source_model": str(Path(match[0]).resolve()),
    })
    return 0


if __name__ == "__main__":
    main_guard(main)
