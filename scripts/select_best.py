"""Select the best sweep variant's model (by the aggregate summary) and copy it out."""

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
    ap.add_argument("--summary", required=True, help="input: summary JSON from aggregate.py")
    ap.add_argument("--models", nargs="+", required=True, help="input: every variant's model")
    ap.add_argument("--model", required=True, help="output: the selected model")
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    import shutil

    from slashmake_ml.fileio import atomic_write, read_json, sha256_file, write_metrics

    s = read_json(a.summary)
    best, metric = s["best"], s["metric"]
    # Variants keep model and metrics in one folder: match by folder, not by list order.
    match = [m for m in a.models if str(Path(m).resolve().parent) == best["variant_dir"]]
    if not match:
        idx = [r["metrics_file"] for r in s["variants"]].index(best["metrics_file"])
        if idx >= len(a.models):
            raise SystemExit(f"error: cannot find the model of the best variant {best['variant_dir']}")
        match = [a.models[idx]]
    atomic_write(a.model, lambda tmp: shutil.copyfile(match[0], tmp))
    print(f"selected {match[0]} ({metric}={best[metric]:.4f}, sigma={best['sigma']})")
    write_metrics(
        a.metrics,
        {
            "best_acc": best[metric],
            "accuracy": best[metric],
            "best_sigma": best["sigma"] if best["sigma"] is not None else -1.0,
            "model_sha256_file": sha256_file(a.model),
            "source_model": str(Path(match[0]).resolve()),
        },
    )
    return 0


if __name__ == "__main__":
    main_guard(main)
