"""One sweep variant: pre-train the encoder with time-warp sigma (unless --start scratch), fine-tune
SimpleLSTM from it, all in one job, for one seed.

Metrics are the validation metrics the sweep selects on (val_accuracy, best_val_loss) with sigma,
seed and pretrained. Only with --test (a measurement flow that selects nothing, such as
/pretraining-effect) are the test metrics added.
"""

from __future__ import annotations

from slashmake_ml.cli import add_config_args, config_from_args, load_labelled, main_guard, parser


def main() -> int:
    """CLI entry point."""
    from slashmake_ml.config import PretrainConfig, TrainConfig

    ap = parser(__doc__)
    ap.add_argument("--unlabelled", required=True, help="input: unlabelled windows (long schema)")
    ap.add_argument("--features", required=True, help="input: labelled features .npz (or .parquet)")
    ap.add_argument("--test", default="", help="input: test windows, for a measurement flow only")
    ap.add_argument("--encoder", required=True, help="output: encoder .pt")
    ap.add_argument("--model", required=True, help="output: fine-tuned checkpoint .pt")
    ap.add_argument("--curve", help="output: fine-tuning curve PNG")
    ap.add_argument("--metrics", required=True, help="output: metrics JSON")
    ap.add_argument("--arch", choices=["simple_lstm"], default="simple_lstm", help="model architecture")
    ap.add_argument("--start", choices=["pretrained", "scratch"], default="pretrained",
                    help="scratch: train from random weights (the control of /pretraining-effect)")
    add_config_args(ap, TrainConfig)
    add_config_args(ap, PretrainConfig, prefix="pretrain-", skip=("seed", "threads", "device"))
    a = ap.parse_args()

    from slashmake_ml.fileio import write_metrics
    from slashmake_ml.pretrain import pretrain_and_save
    from slashmake_ml.train import fit_and_save

    pretrained = a.start == "pretrained"
    cfg = config_from_args(TrainConfig, a)
    pcfg = config_from_args(PretrainConfig, a, "pretrain-", seed=a.seed, threads=a.threads, device=a.device)
    m: dict[str, object] = {"sigma": pcfg.sigma, "seed": a.seed, "pretrained": pretrained}
    if pretrained:
        pre = pretrain_and_save(a.unlabelled, pcfg, a.encoder, None)
        m.update({k: pre[k] for k in ("recon_heldout", "recon_mean_baseline", "recon_neighbour_baseline",
                                      "encoder_sha256")})
    else:
        from slashmake_ml.fileio import atomic_write_text

        atomic_write_text(a.encoder, "no pre-training (--start scratch)\n")
    X, y = load_labelled(a.features)
    res = fit_and_save(X, y, cfg, a.model, a.curve, a.encoder if pretrained else None,
                       {"sigma": pcfg.sigma, "seed": a.seed})
    m.update(res.metrics)
    if a.test:
        from slashmake_ml.evaluate import classification_metrics, predict_proba

        Xt, yt = load_labelled(a.test)
        m.update({f"test_{k}": v for k, v in classification_metrics(predict_proba(res.model, Xt), yt).items()})
    print(f"variant sigma={pcfg.sigma} seed={a.seed} start={a.start}: "
          f"val_accuracy={m['val_accuracy']:.4f}")
    write_metrics(a.metrics, m)
    return 0


if __name__ == "__main__":
    main_guard(main)
