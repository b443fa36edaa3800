"""Compare a retrained model with the registry's live model on validation windows, not the test set.

The validation windows are the retrained model's own validation split of the labelled data
(rebuilt from the checkpoint's training config), which the live model has never seen either.
better_performance is true only when the paired-bootstrap lower bound of the accuracy gain
exceeds --margin (a gain beyond noise), or when the registry has no live model yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slashmake_ml.cli import load_labelled, main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--model", required=True, help="input: the retrained checkpoint .pt")
    ap.add_argument("--data", required=True, help="input: the labelled windows it was trained on")
    ap.add_argument("--registry", default="registry")
    ap.add_argument("--model-name", default="simple_lstm")
    ap.add_argument("--margin", type=float, default=0.0, help="required lower bound of the accuracy gain")
    ap.add_argument("--metrics", required=True, help="output: metrics JSON")
    a = ap.parse_args()

    from slashmake_ml import registry as reg
    from slashmake_ml.baseline import bootstrap_lift
    from slashmake_ml.config import TrainConfig
    from slashmake_ml.evaluate import predict_proba
    from slashmake_ml.fileio import write_metrics
    from slashmake_ml.model import load_checkpoint
    from slashmake_ml.train import split_train_val

    X, y = load_labelled(a.data)
    model, ckpt = load_checkpoint(a.model)
    raw = ckpt.get("train_config")
    tc: dict[str, Any] = raw if isinstance(raw, dict) else {}
    cfg = TrainConfig(**{k: v for k, v in tc.items() if k in ("val_frac", "min_val", "seed")})
    _, va = split_train_val(y, cfg)
    Xv, yv = X[va], y[va]
    new = predict_proba(model, Xv).argmax(1) == yv
    m: dict[str, object] = {"val_accuracy": float(new.mean()), "n_val": len(yv), "margin": a.margin}
    cur = reg.current(a.registry, a.model_name)
    if cur is None:
        m.update(better_performance=True, registry_accuracy=-1.0, registry_version="")
    else:
        live, _ = load_checkpoint(str(Path(a.registry) / a.model_name / cur / "state_dict.pt"))
        old = predict_proba(live, Xv).argmax(1) == yv
        gain = bootstrap_lift(new, old)
        m.update(registry_accuracy=float(old.mean()), registry_version=cur,
                 acc_gain=gain["acc_lift"], acc_gain_lo=gain["acc_lift_lo"], acc_gain_hi=gain["acc_lift_hi"],
                 better_performance=gain["acc_lift_lo"] > a.margin)
    print(f"compare-live: val_accuracy={m['val_accuracy']:.4f} registry={m['registry_accuracy']} "
          f"better={m['better_performance']}")
    write_metrics(a.metrics, m)
    return 0


if __name__ == "__main__":
    main_guard(main)
