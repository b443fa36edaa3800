"""Baselines (slashmake_ml.baseline) and the difficulty of the default data."""

from __future__ import annotations

import numpy as np
import pytest

from slashmake_ml.baseline import (
    best_threshold,
    bootstrap_lift,
    cv_accuracy,
    fit_baselines,
    fit_logistic,
    predict_baselines,
    predict_logistic,
    window_stats,
)
from slashmake_ml.config import DataConfig
from slashmake_ml.data import from_frame, make_synthetic


@pytest.fixture(scope="module")
def default_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lab, test, _ = make_synthetic(DataConfig(n_unlabelled=1))  # the default labelled and test sets
    X, y, _ = from_frame(lab)
    Xt, yt, _ = from_frame(test)
    assert y is not None and yt is not None
    return X, y, Xt, yt


def test_default_data_is_hard_for_one_feature_rules_and_logistic_regression(default_data: tuple) -> None:
    X, y, Xt, yt = default_data
    assert len(y) == 200 and len(yt) == 600  # Moola-sized labelled set
    pred = predict_baselines(fit_baselines(X, y), Xt)  # fitted on the labelled windows, scored on test
    acc = {k: float((p == yt).mean()) for k, p in pred.items()}
    assert acc["rule"] <= 0.80 and acc["lr"] <= 0.80, acc
    # Every single statistic's best threshold, not only the one chosen on the labelled set.
    S, St = window_stats(X), window_stats(Xt)
    for j in range(S.shape[1]):
        thr, sign, _ = best_threshold(S[:, j], y)
        assert ((sign * (St[:, j] - thr) > 0) == yt).mean() <= 0.80, j
    assert acc["majority"] == pytest.approx(max(yt.mean(), 1 - yt.mean()), abs=0.05)


def test_best_threshold_finds_a_separating_cut() -> None:
    x = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    thr, sign, acc = best_threshold(x, np.array([0, 0, 0, 1, 1, 1]))
    assert acc == 1.0 and sign == 1 and 0.3 < thr < 0.7
    thr, sign, acc = best_threshold(x, np.array([1, 1, 1, 0, 0, 0]))
    assert acc == 1.0 and sign == -1


def test_logistic_regression_recovers_a_linear_rule() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)) * [1.0, 100.0, 0.01]  # scales differ wildly
    y = (X[:, 0] + X[:, 1] / 100 > 0).astype(np.int64)
    w = fit_logistic(X, y)
    assert ((predict_logistic(w, X) > 0.5) == y).mean() > 0.97


def test_bootstrap_lift_interval_covers_the_observed_difference() -> None:
    rng = np.random.default_rng(1)
    model, base = rng.random(500) < 0.9, rng.random(500) < 0.7
    lift = bootstrap_lift(model, base)
    assert lift["acc_lift"] == pytest.approx(model.mean() - base.mean())
    assert lift["acc_lift_lo"] < lift["acc_lift"] < lift["acc_lift_hi"]
    assert lift["acc_lift_lo"] > 0  # 0.9 vs 0.7 on 500 windows is beyond noise
    same = bootstrap_lift(model, model)
    assert same["acc_lift_lo"] == same["acc_lift_hi"] == 0.0


def test_cross_validation_reads_only_the_given_windows(default_data: tuple) -> None:
    X, y, _, _ = default_data
    cv = cv_accuracy(X, y)
    assert set(cv) == {"majority", "rule", "lr"} and all(0.3 < v < 0.9 for v in cv.values())
