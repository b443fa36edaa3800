"""Evaluate a checkpoint on the held-out test set; append the result to the experiment ledger.

This is the one step of a flow that reads the test set, for the model the flow chose. With
--baseline (the fitted baselines of /baseline), it also scores them on the same test windows and
publishes the model's lift over the baseline chosen by cross-validation, with a paired bootstrap
interval: acc_lift, acc_lift_lo, acc_lift_hi (gate on ``/if:acc_lift_lo>0``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slashmake_ml.cli import load_labelled, main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--model", required=True, help="input: checkpoint .pt")
    ap.add_argument("--test", required=True, help="input: test windows (.parquet/.csv) or features .npz")
    ap.add_argument("--metrics", required=True, help="output: metrics JSON")
    ap.add_argument("--report", help="output: JSON report (metrics + confusion matrix)")
    ap.add_argument("--reliability", help="output: reliability-diagram PNG")
    ap.add_argument("--predictions", help="output: per-example predictions CSV (for paired comparisons)")
    ap.add_argument("--ledger", default="", help="experiment ledger (JSONL) to append a row to; empty = none "
                    "(slashmake run records the step's row itself)")
    ap.add_argument("--step", default="evaluate", help="flow step name recorded in the ledger")
    ap.add_argument("--baseline", default="", help="input: fitted baselines JSON from /baseline")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    from slashmake_ml import ledger
    from slashmake_ml.evaluate import classification_metrics, predict_proba
    from slashmake_ml.fileio import write_json, write_metrics
    from slashmake_ml.model import load_checkpoint
    from slashmake_ml.plots import plot_reliability

    torch.set_num_threads(a.threads)
    X, y = load_labelled(a.test)
    model, _ = load_checkpoint(a.model)
    proba = predict_proba(model, X)  # (N, C)
    m = classification_metrics(proba, y)
    if a.baseline:
        m.update(baseline_lift(a.baseline, a.test, proba.argmax(1) == y))
    if a.reliability:
        plot_reliability(proba.max(1), (proba.argmax(1) == y).astype(float), a.reliability)
    if a.report:
        cm = [[m[f"cm_{i}_{j}"] for j in range(proba.shape[1])] for i in range(proba.shape[1])]
        write_json(
            a.report,
            {
                "metrics": m,
                "confusion_matrix": cm,
                "classes": ["consolidation", "retracement"],
                "model": a.model,
                "test": a.test,
            },
        )
    if a.predictions:
        write_predictions(a.predictions, proba, y)
    if a.ledger:
        ledger.append(a.ledger, a.step, m, model=str(Path(a.model).resolve()))
    print(
        f"evaluate: accuracy={m['accuracy']:.4f} f1_macro={m['f1_macro']:.4f} ece={m['ece']:.4f} brier={m['brier']:.4f} log_loss={m['log_loss']:.4f}"
    )
    write_metrics(a.metrics, m)
    return 0


def write_predictions(path: str, proba: np.ndarray, y: np.ndarray) -> None:
    """One row per test window, in the test set's order: index, label, prediction, p_k, correct."""
    import pandas as pd

    pred = proba.argmax(1)
    frame = pd.DataFrame({"index": np.arange(len(y)), "label": y.astype(int), "pred": pred.astype(int)})
    for k in range(proba.shape[1]):
        frame[f"p{k}"] = proba[:, k].round(6)
    frame["correct"] = (pred == y).astype(int)
    frame.to_csv(path, index=False)


def baseline_lift(baseline: str, test: str, correct: np.ndarray) -> dict[str, object]:
    """Each baseline's test accuracy and the model's paired-bootstrap lift over the chosen one."""
    from slashmake_ml.baseline import bootstrap_lift, predict_baselines
    from slashmake_ml.data import from_frame, read_table
    from slashmake_ml.fileio import read_json

    fitted = read_json(baseline)
    ohlc, y, _ = from_frame(read_table(test))  # baselines read prices, not features
    pred = predict_baselines(fitted, ohlc)
    out: dict[str, object] = {f"{b}_acc": float((p == y).mean()) for b, p in pred.items()}
    out["baseline_acc"] = out[f"{fitted['best']}_acc"]
    out.update(bootstrap_lift(correct, pred[fitted["best"]] == y))
    return out


if __name__ == "__main__":
    main_guard(main)
