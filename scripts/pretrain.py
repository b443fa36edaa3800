"""Pre-train the BiLSTM encoder on unlabelled windows: masked reconstruction + time warp (sigma)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import slashmake_ml  # noqa: F401
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from slashmake_ml.cli import main_guard  # noqa: E402


def add_pretrain_args(ap: argparse.ArgumentParser, epochs_alias: bool = False) -> None:
    """Pre-training hyper-parameters (shared with train_sweep.py, where --epochs means fine-tuning)."""
    ap.add_argument("--sigma", type=float, default=0.12, help="time-warp sigma")
    names = ["--pretrain-epochs", "--epochs"] if epochs_alias else ["--pretrain-epochs"]
    ap.add_argument(*names, dest="pretrain_epochs", type=int, default=4)
    ap.add_argument("--pretrain-batch-size", type=int, default=128)
    ap.add_argument("--pretrain-lr", type=float, default=3e-3)
    ap.add_argument("--mask-ratio", type=float, default=0.15)


def main() -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--data", required=True, help="input: unlabelled windows (.parquet/.csv) or features .npz"
    )
    ap.add_argument("--encoder", required=True, help="output: encoder .pt")
    ap.add_argument("--curve", help="output: loss-curve PNG")
    ap.add_argument("--metrics", help="output: metrics JSON (records sigma and encoder_sha256)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    add_pretrain_args(ap, epochs_alias=True)
    a = ap.parse_args()

    from slashmake_ml.fileio import write_metrics

    metrics = run_pretrain(a, a.data, a.encoder, a.curve)
    if a.metrics:
        write_metrics(a.metrics, metrics)
    return 0


def run_pretrain(a: argparse.Namespace, data: str, encoder_out: str, curve: str | None) -> dict[str, object]:
    """Pre-train from parsed args; save the encoder atomically; return metrics."""
    import torch

    from slashmake_ml.config import PretrainConfig
    from slashmake_ml.features import load_features
    from slashmake_ml.fileio import atomic_write
    from slashmake_ml.plots import plot_curve
    from slashmake_ml.pretrain import pretrain_encoder

    X, _ = load_features(data)
    cfg = PretrainConfig(
        epochs=a.pretrain_epochs,
        batch_size=a.pretrain_batch_size,
        lr=a.pretrain_lr,
        mask_ratio=a.mask_ratio,
        sigma=a.sigma,
        seed=a.seed,
        threads=a.threads,
        device=a.device,
        n_features=X.shape[-1],
    )
    enc, metrics, hist = pretrain_encoder(X, cfg, log=sys.stdout)
    atomic_write(
        encoder_out,
        lambda tmp: torch.save(
            {"encoder": enc, "config": cfg.to_dict(), "sha256": metrics["encoder_sha256"]}, tmp
        ),
    )
    if curve:
        plot_curve(hist, curve, f"pre-training sigma={a.sigma}")
    print(
        f"pretrained: sigma={a.sigma} recon_loss={metrics['recon_loss']:.4f} sha256={metrics['encoder_sha256'][:12]}"
    )
    return metrics


if __name__ == "__main__":
    main_guard(main)
