"""Train SimpleLSTM (focal loss, AdamW, a budget of optimiser steps, early stopping on validation loss).

With --init-encoder, fine-tunes from a pre-trained BiLSTM encoder (frozen first, then unfrozen at
a lower learning rate) and records the encoder's sha256 at load and the model's encoder sha256
right after loading (they must be equal). Hyper-parameter defaults live in TrainConfig.
"""

from __future__ import annotations

from slashmake_ml.cli import add_config_args, config_from_args, load_labelled, main_guard, parser


def main() -> int:
    """CLI entry point."""
    from slashmake_ml.config import TrainConfig

    ap = parser(__doc__)
    ap.add_argument("--features", required=True, help="input: features .npz (or a labelled .parquet/.csv)")
    ap.add_argument("--model", required=True, help="output: checkpoint .pt")
    ap.add_argument("--curve", help="output: training-curve PNG")
    ap.add_argument("--metrics", help="output: metrics JSON")
    ap.add_argument("--init-encoder", help="input: pre-trained encoder .pt (fine-tuning)")
    ap.add_argument("--params-json", default="",
                    help="input: best_params.json of /hyperparameter-tune; its values override the flags")
    ap.add_argument("--arch", choices=["simple_lstm"], default="simple_lstm", help="model architecture")
    add_config_args(ap, TrainConfig)
    a = ap.parse_args()

    from slashmake_ml.fileio import write_metrics
    from slashmake_ml.train import fit_and_save, with_best_params

    X, y = load_labelled(a.features)
    cfg = with_best_params(config_from_args(TrainConfig, a), a.params_json)
    res = fit_and_save(X, y, cfg, a.model, a.curve, a.init_encoder)
    print(f"trained: val_accuracy={res.metrics['val_accuracy']:.4f} "
          f"best_val_loss={res.metrics['best_val_loss']:.4f} steps={res.metrics['steps_run']}")
    if a.metrics:
        write_metrics(a.metrics, res.metrics)
    return 0


if __name__ == "__main__":
    main_guard(main)
