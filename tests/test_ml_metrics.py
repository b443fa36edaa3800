"""The metrics of /ml-evaluate (slashmake_ml.evaluate) against computations by hand on tiny fixed examples.

scikit-learn is not a dependency, so the reference values are worked out below, line by line, and
checked a second time by :func:`reference_metrics`, a plain-Python transcription of the textbook
definitions that shares no code with slashmake_ml. Each example is chosen so that the usual wrong
formulas give other numbers: F1 is not the Jaccard index here, the binary Brier score is not the
summed multi-class form, ECE is not 0, and log-loss is not half or twice its value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from slashmake_ml.evaluate import classification_metrics, ece_score

# Six windows, two classes; each row is (p(class 0), p(class 1)). No confidence sits on a bin edge.
P1 = [0.92, 0.83, 0.26, 0.62, 0.14, 0.57]
Y = [1, 1, 0, 0, 1, 1]
PROBA = np.array([[1 - p, p] for p in P1])
# pred        = 1, 1, 0, 1, 0, 1
# correct     = 1, 1, 1, 0, 0, 1                      -> accuracy 4/6
# class 1: tp 3 (0,1,5), fp 1 (3), fn 1 (4)           -> F1 = 6/8 = 0.75   (Jaccard 3/5 = 0.6)
# class 0: tp 1 (2),     fp 1 (4), fn 1 (3)           -> F1 = 2/4 = 0.5    (Jaccard 1/3)
# confidence  = .92 .83 .74 .62 .86 .57, in bins of width 0.1:
#   (.9, 1]: {.92 right}           |1 - .92|  * 1/6 = .08/6
#   (.8, .9]: {.83 right, .86 wrong} |.5 - .845| * 2/6 = .69/6
#   (.7, .8]: {.74 right}           |1 - .74|  * 1/6 = .26/6
#   (.6, .7]: {.62 wrong}           |0 - .62|  * 1/6 = .62/6
#   (.5, .6]: {.57 right}           |1 - .57|  * 1/6 = .43/6          -> ECE = 2.08/6
# Brier (binary) = mean (p1 - y)^2 = (.08² + .17² + .26² + .62² + .86² + .43²)/6 = 1.4118/6
# log-loss = -mean ln p(true class) = -(ln .92 + ln .83 + ln .74 + ln .38 + ln .14 + ln .57)/6
BY_HAND = {
    "accuracy": 4 / 6,
    "f1_class0": 0.5,
    "f1_class1": 0.75,
    "f1_macro": 0.625,
    "ece": 2.08 / 6,
    "brier": 1.4118 / 6,
    "log_loss": -sum(math.log(p) for p in (0.92, 0.83, 0.74, 0.38, 0.14, 0.57)) / 6,
    "cm_0_0": 1, "cm_0_1": 1, "cm_1_0": 1, "cm_1_1": 3,
    "n_test": 6,
}


def reference_metrics(proba: list[list[float]], y: list[int], n_bins: int = 10) -> dict[str, float]:
    """The textbook definitions, in plain Python (no numpy, nothing shared with slashmake_ml)."""
    n, k = len(y), len(proba[0])
    pred = [max(range(k), key=lambda c: row[c]) for row in proba]
    conf = [max(row) for row in proba]
    right = [int(p == t) for p, t in zip(pred, y, strict=True)]
    out: dict[str, float] = {"accuracy": sum(right) / n, "n_test": n}
    f1s = []
    for c in range(k):
        tp = sum(1 for p, t in zip(pred, y, strict=True) if p == c and t == c)
        fp = sum(1 for p, t in zip(pred, y, strict=True) if p == c and t != c)
        fn = sum(1 for p, t in zip(pred, y, strict=True) if p != c and t == c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[f"f1_class{c}"] = f1
        f1s.append(f1)
    out["f1_macro"] = sum(f1s) / k
    ece = 0.0
    for b in range(n_bins):  # bins (b/n, (b+1)/n]
        members = [i for i in range(n) if b / n_bins < conf[i] <= (b + 1) / n_bins]
        if members:
            acc = sum(right[i] for i in members) / len(members)
            avg_conf = sum(conf[i] for i in members) / len(members)
            ece += len(members) / n * abs(acc - avg_conf)
    out["ece"] = ece
    if k == 2:  # the binary Brier score: mean squared error of p(class 1)
        out["brier"] = sum((row[1] - t) ** 2 for row, t in zip(proba, y, strict=True)) / n
    else:  # the multi-class Brier score: squared distance to the one-hot label, summed over classes
        out["brier"] = sum(sum((row[c] - (t == c)) ** 2 for c in range(k)) for row, t in zip(proba, y, strict=True)) / n
    out["log_loss"] = -sum(math.log(row[t]) for row, t in zip(proba, y, strict=True)) / n
    for i in range(k):
        for j in range(k):
            out[f"cm_{i}_{j}"] = sum(1 for p, t in zip(pred, y, strict=True) if t == i and p == j)
    return out


def test_the_worked_example_agrees_with_the_reference_definitions() -> None:
    """The hand-worked numbers above and the plain-Python definitions agree (the reference is right)."""
    ref = reference_metrics(PROBA.tolist(), Y)
    assert ref == pytest.approx(BY_HAND, abs=1e-12)


def test_binary_metrics_match_the_hand_computation() -> None:
    got = classification_metrics(PROBA, np.array(Y))
    assert set(got) == set(BY_HAND)
    for key, want in BY_HAND.items():
        assert got[key] == pytest.approx(want, abs=1e-12), key
    # The wrong formulas give other numbers on this example, so a test this strict can tell them apart.
    assert got["f1_class1"] != pytest.approx(3 / 5) and got["ece"] > 0.3
    assert got["brier"] != pytest.approx(2 * BY_HAND["brier"]) and got["log_loss"] != pytest.approx(BY_HAND["log_loss"] / 2)


def test_three_class_metrics_match_the_reference_definitions() -> None:
    """Three classes: macro F1 over three, the summed multi-class Brier score, a 3x3 confusion matrix."""
    proba = [[0.72, 0.18, 0.1], [0.1, 0.45, 0.449], [0.25, 0.35, 0.4], [0.05, 0.07, 0.88],
             [0.62, 0.28, 0.1], [0.21, 0.69, 0.1], [0.34, 0.33, 0.33]]
    y = [0, 2, 1, 2, 1, 1, 0]
    got = classification_metrics(np.array(proba), np.array(y))
    ref = reference_metrics(proba, y)
    assert set(got) == set(ref)
    for key, want in ref.items():
        assert got[key] == pytest.approx(want, abs=1e-12), key
    assert got["cm_1_0"] == 1 and got["cm_2_1"] == 1 and got["cm_1_1"] == 1  # rows are the true class


def test_ece_of_a_calibrated_and_of_an_overconfident_model() -> None:
    # 10 predictions at confidence 0.8, 8 right: calibrated, ECE 0.
    conf = np.full(10, 0.8)
    assert ece_score(conf, np.array([1.0] * 8 + [0.0] * 2)) == pytest.approx(0.0, abs=1e-12)
    # The same confidence, 5 right: ECE = |0.5 - 0.8| = 0.3.
    assert ece_score(conf, np.array([1.0] * 5 + [0.0] * 5)) == pytest.approx(0.3, abs=1e-12)
    # Two bins, weighted by their share of the predictions: 3/4 * |1 - .95| + 1/4 * |0 - .65|.
    assert ece_score(np.array([0.95, 0.95, 0.95, 0.65]), np.array([1.0, 1.0, 1.0, 0.0])) == pytest.approx(
        0.75 * 0.05 + 0.25 * 0.65, abs=1e-12)
