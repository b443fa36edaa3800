"""Baselines beside the model: the majority class, the best one-feature threshold and a logistic
regression on simple window statistics, fitted on the labelled windows.

Writes the fitted baselines (JSON, for the evaluation to score on the test set and bootstrap the
model's lift) and their 5-fold cross-validated accuracy on the labelled windows; reads no test data.
"""

from __future__ import annotations

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--data", required=True, help="input: labelled windows (long schema)")
    ap.add_argument("--out", required=True, help="output: fitted baselines (JSON)")
    ap.add_argument("--metrics", required=True, help="output: metrics JSON")
    ap.add_argument("--folds", type=int, default=5)
    a = ap.parse_args()

    from slashmake_ml.baseline import cv_accuracy, fit_baselines
    from slashmake_ml.data import from_frame, read_table
    from slashmake_ml.fileio import write_json, write_metrics

    ohlc, y, _ = from_frame(read_table(a.data))
    if y is None:
        raise SystemExit(f"error: {a.data} has no labels")
    cv = cv_accuracy(ohlc, y, a.folds)
    fitted = fit_baselines(ohlc, y)
    fitted["best"] = max(cv, key=lambda b: cv[b])  # the baseline to beat, chosen without the test set
    write_json(a.out, fitted)
    print("baselines (cv accuracy): " + ", ".join(f"{b} {v:.3f}" for b, v in cv.items())
          + f"; rule on {fitted['rule']['feature']}")
    write_metrics(a.metrics, {**{f"cv_{b}_acc": v for b, v in cv.items()}, "cv_baseline_acc": cv[fitted["best"]],
                              "baseline": fitted["best"], "rule_feature": fitted["rule"]["feature"]})
    return 0


if __name__ == "__main__":
    main_guard(main)
