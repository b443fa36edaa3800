"""Evaluate a checkpoint on the held-out test set; append the result to the experiment ledger.

With --compare-registry, also evaluates the registry's live model on the same test set and
publishes better_performance (true when the registry is empty).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import slashmake_ml  # noqa: F401
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from slashmake_ml.cli import boolean, main_guard  # noqa: E402


def main() -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, help="input: checkpoint .pt")
    ap.add_argument("--test", required=True, help="input: test windows (.parquet/.csv) or features .npz")
    ap.add_argument("--metrics", required=True, help="output: metrics JSON")
    ap.add_argument("--report", help="output: JSON report (metrics + confusion matrix)")
    ap.add_argument("--reliability", help="output: reliability-diagram PNG")
    ap.add_argument(
        "--ledger", default="results/ledger.jsonl", help="experiment ledger (JSONL, appended); empty = none"
    )
    ap.add_argument("--step", default="evaluate", help="flow step name recorded in the ledger")
    ap.add_argument("--compare-registry", type=boolean, default=False)
    ap.add_argument("--registry", default="registry")
    ap.add_argument("--model-name", default="simple_lstm")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    from slashmake_ml import ledger
    from slashmake_ml.evaluate import classification_metrics, predict_proba
    from slashmake_ml.features import load_features
    from slashmake_ml.fileio import write_json, write_metrics
    from slashmake_ml.model import load_checkpoint
    from slashmake_ml.plots import plot_reliability

    torch.set_num_threads(a.threads)
    X, y = load_features(a.test)
    if y is None:
        raise SystemExit(f"error: {a.test} has no labels")
    model, _ = load_checkpoint(a.model)
    proba = predict_proba(model, X)  # (N, C)
    m = classification_metrics(proba, y)
    if a.compare_registry:
        m.update(compare_with_registry(a.registry, a.model_name, X, y, m["accuracy"]))
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
    if a.ledger:
        ledger.append(a.ledger, a.step, m, model=str(Path(a.model).resolve()))
    print(
        f"evaluate: accuracy={m['accuracy']:.4f} f1_macro={m['f1_macro']:.4f} ece={m['ece']:.4f} brier={m['brier']:.4f} log_loss={m['log_loss']:.4f}"
    )
    write_metrics(a.metrics, m)
    return 0


def compare_with_registry(
    registry: str, name: str, X: object, y: object, accuracy: float
) -> dict[str, object]:
    """Accuracy of the registry's live model on the same test set; better_performance flag."""
    from slashmake_ml import registry as reg
    from slashmake_ml.evaluate import classification_metrics, predict_proba
    from slashmake_ml.model import load_checkpoint

    cur = reg.current(registry, name)
    if cur is None:
        return {"better_performance": True, "registry_accuracy": -1.0, "registry_version": ""}
    live, _ = load_checkpoint(str(Path(registry) / name / cur / "state_dict.pt"))
    acc = classification_metrics(predict_proba(live, X), y)["accuracy"]  # type: ignore[arg-type]
    return {"better_performance": bool(accuracy > acc), "registry_accuracy": acc, "registry_version": cur}


if __name__ == "__main__":
    main_guard(main)
