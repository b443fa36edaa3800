"""Train SimpleLSTM (focal loss, AdamW, early stopping on val loss, jitter).

With --init-encoder, fine-tunes from a pre-trained BiLSTM encoder and records the encoder's
sha256 at load and the model's encoder sha256 right after loading (they must be equal).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import slashmake_ml  # noqa: F401
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from slashmake_ml.cli import main_guard  # noqa: E402

if TYPE_CHECKING:
    from slashmake_ml.config import TrainConfig


def add_train_args(ap: argparse.ArgumentParser) -> None:
    """Hyper-parameters shared by train.py, train_sweep.py and hpo.py."""
    ap.add_argument("--arch", choices=["simple_lstm"], default="simple_lstm", help="model architecture")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-2)
    ap.add_argument("--focal-gamma", type=float, default=2.0)
    ap.add_argument("--jitter", type=float, default=0.03)
    ap.add_argument("--val-frac", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")


def train_config(a: argparse.Namespace) -> TrainConfig:
    """The TrainConfig that the arguments of :func:`add_train_args` describe."""
    from slashmake_ml.config import TrainConfig

    return TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay,
                       patience=a.patience, val_frac=a.val_frac, focal_gamma=a.focal_gamma, jitter=a.jitter,
                       seed=a.seed, threads=a.threads, device=a.device)


def main() -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--features", required=True, help="input: features .npz (or a labelled .parquet/.csv)")
    ap.add_argument("--model", required=True, help="output: checkpoint .pt")
    ap.add_argument("--curve", help="output: training-curve PNG")
    ap.add_argument("--metrics", help="output: metrics JSON")
    ap.add_argument("--init-encoder", help="input: pre-trained encoder .pt (fine-tuning)")
    ap.add_argument("--params-json", default="",
                    help="input: best_params.json of /hyperparameter-tune; its values override the defaults")
    add_train_args(ap)
    a = ap.parse_args()

    import torch

    from slashmake_ml.features import load_features
    from slashmake_ml.fileio import write_metrics
    from slashmake_ml.model import save_checkpoint
    from slashmake_ml.plots import plot_curve
    from slashmake_ml.train import train_classifier

    X, y = load_features(a.features)
    if y is None:
        raise SystemExit(f"error: {a.features} has no labels; training needs a labelled set")
    cfg = train_config(a)
    if a.params_json:
        import dataclasses
        import json

        best = json.loads(Path(a.params_json).read_text()).get("best", {})
        known = {f.name for f in dataclasses.fields(cfg)}
        cfg = dataclasses.replace(cfg, **{k: v for k, v in best.items() if k in known})
        print(f"hyper-parameters from {a.params_json}: {best}", flush=True)
    enc = (
        torch.load(a.init_encoder, map_location="cpu", weights_only=True)["encoder"]
        if a.init_encoder
        else None
    )
    res = train_classifier(X, y, cfg, init_encoder=enc, log=sys.stdout)
    save_checkpoint(
        a.model,
        res.model,
        {
            "train_config": cfg.to_dict(),
            "metrics": {k: v for k, v in res.metrics.items() if isinstance(v, int | float)},
        },
    )
    if a.curve:
        plot_curve(res.history, a.curve, "fine-tune" if enc is not None else "train")
    print(
        f"trained: val_accuracy={res.metrics['val_accuracy']:.4f} best_val_loss={res.metrics['best_val_loss']:.4f} epochs={res.metrics['epochs_run']}"
    )
    if a.metrics:
        write_metrics(a.metrics, res.metrics)
    return 0


if __name__ == "__main__":
    main_guard(main)
