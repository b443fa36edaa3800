"""Hyper-parameter tuning: a small seeded random search over lr, weight decay and focal gamma,
scored by validation loss. Writes the best model and its parameters."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

try:
    import slashmake_ml  # noqa: F401
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import add_train_args, train_config  # noqa: E402

from slashmake_ml.cli import main_guard  # noqa: E402


def main() -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--features", required=True)
    ap.add_argument("--model", required=True, help="output: best checkpoint .pt")
    ap.add_argument("--best-params", required=True, help="output: JSON of the best trial")
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--n-trials", type=int, default=3)
    add_train_args(ap)
    a = ap.parse_args()

    import numpy as np

    from slashmake_ml.features import load_features
    from slashmake_ml.fileio import write_json, write_metrics
    from slashmake_ml.model import save_checkpoint
    from slashmake_ml.train import train_classifier

    X, y = load_features(a.features)
    assert y is not None, "labelled features required"
    rng = np.random.default_rng(a.seed)
    trials = []
    best = None
    for i in range(a.n_trials):
        hp = {
            "lr": float(10 ** rng.uniform(-3.3, -2.0)),
            "weight_decay": float(10 ** rng.uniform(-4, -1)),
            "focal_gamma": float(rng.choice([0.0, 1.0, 2.0])),
        }
        cfg = dataclasses.replace(train_config(a), **hp)
        res = train_classifier(X, y, cfg, progress=False)
        # Compare trials on cross-entropy-free ground: val accuracy, val loss as tie-break.
        score = (res.metrics["val_accuracy"], -res.metrics["best_val_loss"])
        trials.append(
            {**hp, "val_accuracy": res.metrics["val_accuracy"], "best_val_loss": res.metrics["best_val_loss"]}
        )
        print(f"trial {i}: {trials[-1]}", flush=True)
        if best is None or score > best[0]:
            best = (score, hp, res)
    assert best is not None
    _, hp, res = best
    save_checkpoint(a.model, res.model, {"hparams": hp})
    write_json(a.best_params, {"best": hp, "trials": trials})
    write_metrics(
        a.metrics,
        {
            "n_trials": a.n_trials,
            "best_val_accuracy": res.metrics["val_accuracy"],
            "best_val_loss": res.metrics["best_val_loss"],
            **{f"best_{k}": v for k, v in hp.items()},
        },
    )
    return 0


if __name__ == "__main__":
    main_guard(main)
