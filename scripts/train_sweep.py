"""One sweep variant of /train: pre-train the encoder with time-warp sigma, fine-tune SimpleLSTM
from it, and evaluate on the test set, all in one job. Metrics include sigma and accuracy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import slashmake_ml  # noqa: F401
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # share the sibling scripts' argument sets
from pretrain import add_pretrain_args, run_pretrain  # noqa: E402
from train import add_train_args, train_config  # noqa: E402

from slashmake_ml.cli import main_guard  # noqa: E402


def main() -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--unlabelled", required=True, help="input: unlabelled windows")
    ap.add_argument("--features", required=True, help="input: labelled features .npz (or .parquet)")
    ap.add_argument("--test", required=True, help="input: test windows")
    ap.add_argument("--encoder", required=True, help="output: encoder .pt")
    ap.add_argument("--model", required=True, help="output: fine-tuned checkpoint .pt")
    ap.add_argument("--curve", help="output: fine-tuning curve PNG")
    ap.add_argument("--metrics", required=True, help="output: metrics JSON")
    ap.add_argument("--ledger", default="results/ledger.jsonl")
    ap.add_argument("--step", default="train")
    add_train_args(ap)
    add_pretrain_args(ap)
    a = ap.parse_args()

    import torch

    from slashmake_ml import ledger
    from slashmake_ml.evaluate import classification_metrics, predict_proba
    from slashmake_ml.features import load_features
    from slashmake_ml.fileio import write_metrics
    from slashmake_ml.model import save_checkpoint
    from slashmake_ml.plots import plot_curve
    from slashmake_ml.train import train_classifier

    pre = run_pretrain(a, a.unlabelled, a.encoder, None)
    enc = torch.load(a.encoder, map_location="cpu", weights_only=True)["encoder"]
    X, y = load_features(a.features)
    assert y is not None, "labelled features required"
    cfg = train_config(a)
    res = train_classifier(X, y, cfg, init_encoder=enc, log=sys.stdout)
    save_checkpoint(a.model, res.model, {"train_config": cfg.to_dict(), "sigma": a.sigma})
    if a.curve:
        plot_curve(res.history, a.curve, f"fine-tune sigma={a.sigma}")
    Xt, yt = load_features(a.test)
    assert yt is not None, "labelled test set required"
    m = classification_metrics(predict_proba(res.model, Xt), yt)
    m.update({k: v for k, v in res.metrics.items() if k not in m})
    m.update(sigma=a.sigma, recon_loss=pre["recon_loss"], encoder_sha256=pre["encoder_sha256"])
    if a.ledger:
        ledger.append(a.ledger, a.step, m, sigma=a.sigma)
    print(f"train sigma={a.sigma}: accuracy={m['accuracy']:.4f} f1_macro={m['f1_macro']:.4f}")
    write_metrics(a.metrics, m)
    return 0


if __name__ == "__main__":
    main_guard(main)
