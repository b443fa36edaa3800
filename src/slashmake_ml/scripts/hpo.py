"""Hyper-parameter tuning: a small seeded random search over lr, weight decay and focal gamma,
scored by validation log loss (cross-entropy after temperature scaling, so trials with different
focal gammas compare on one scale). Writes the best model and its parameters; no test data is read."""

from __future__ import annotations

from typing import Any

from slashmake_ml.cli import add_config_args, config_from_args, load_labelled, main_guard, parser


def main() -> int:
    """CLI entry point."""
    from slashmake_ml.config import TrainConfig

    ap = parser(__doc__)
    ap.add_argument("--features", required=True, help="input: labelled features .npz")
    ap.add_argument("--model", required=True, help="output: best checkpoint .pt")
    ap.add_argument("--best-params", required=True, help="output: JSON of the best trial")
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--n-trials", type=int, default=3)
    add_config_args(ap, TrainConfig)
    a = ap.parse_args()

    import dataclasses

    import numpy as np

    from slashmake_ml.fileio import write_json, write_metrics
    from slashmake_ml.model import save_checkpoint
    from slashmake_ml.train import train_classifier

    X, y = load_labelled(a.features)
    rng = np.random.default_rng(a.seed)
    trials, best = [], None
    for i in range(a.n_trials):
        hp: dict[str, Any] = {
            "lr": float(10 ** rng.uniform(-3.3, -2.0)),
            "weight_decay": float(10 ** rng.uniform(-4, -1)),
            "focal_gamma": float(rng.choice([0.0, 1.0, 2.0])),
        }
        res = train_classifier(X, y, dataclasses.replace(config_from_args(TrainConfig, a), **hp), progress=False)
        trials.append({**hp, **{k: res.metrics[k] for k in ("val_log_loss", "val_accuracy", "best_val_loss")}})
        print(f"trial {i}: {trials[-1]}", flush=True)
        if best is None or res.metrics["val_log_loss"] < best[1].metrics["val_log_loss"]:
            best = (hp, res)
    assert best is not None
    hp, res = best
    save_checkpoint(a.model, res.model, {"hparams": hp})
    write_json(a.best_params, {"best": hp, "trials": trials, "score": "val_log_loss"})
    write_metrics(a.metrics, {
        "n_trials": a.n_trials,
        "best_val_log_loss": res.metrics["val_log_loss"],
        "best_val_accuracy": res.metrics["val_accuracy"],
        **{f"best_{k}": v for k, v in hp.items()},
    })
    return 0


if __name__ == "__main__":
    main_guard(main)
