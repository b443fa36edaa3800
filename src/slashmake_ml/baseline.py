"""Baselines the model must beat: the majority class, the best one-feature threshold and a
logistic regression on simple window statistics; and a bootstrap lower bound on the lift.

numpy only (no scikit-learn): the statistics are few and the fits are tiny.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STAT_NAMES = ["volatility", "rel_range", "body_share", "trend_strength", "range_vol", "net_vol", "end_pos"]


def window_stats(ohlc: np.ndarray) -> np.ndarray:
    """Simple per-window statistics (N, 7) of OHLC windows (N, T, 4).

    volatility, rel_range, body_share, trend_strength as in drift.window_stats; range_vol: the
    close path's range in volatility units; net_vol: the net move in volatility units (signed);
    end_pos: where the last close sits in the close path's range (0 = low, 1 = high).
    """
    from slashmake_ml.drift import window_stats as drift_stats

    lc = np.log(ohlc[..., 3].astype(np.float64))  # (N, T)
    base = drift_stats(ohlc)  # (N, 4)
    scale = base[:, 0] * np.sqrt(lc.shape[1])  # (N,) volatility x sqrt(T)
    lo, hi = lc.min(axis=1), lc.max(axis=1)
    extra = np.stack(
        [(hi - lo) / scale, (lc[:, -1] - lc[:, 0]) / scale, (lc[:, -1] - lo) / (hi - lo + 1e-12)], axis=1
    )  # (N, 3)
    return np.concatenate([base, extra], axis=1)


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50) -> np.ndarray:
    """Weights (F+1,) of an L2-regularised logistic regression on standardised X, by Newton's method.

    The first weight is the intercept; X is standardised with its own mean and std, which are
    folded back so the weights apply to raw X.
    """
    mu, sd = X.mean(0), X.std(0) + 1e-12
    Z = np.column_stack([np.ones(len(X)), (X - mu) / sd])  # (N, F+1)
    w = np.zeros(Z.shape[1])
    reg = l2 * np.eye(len(w))
    reg[0, 0] = 0.0  # the intercept is not shrunk
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-Z @ w))
        grad = Z.T @ (p - y) + reg @ w
        hess = (Z * (p * (1 - p))[:, None]).T @ Z + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return np.concatenate([[w[0] - (w[1:] * mu / sd).sum()], w[1:] / sd])


def predict_logistic(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """P(y = 1) (N,) for raw X under weights from fit_logistic."""
    return 1.0 / (1.0 + np.exp(-(w[0] + X @ w[1:])))


def best_threshold(x: np.ndarray, y: np.ndarray) -> tuple[float, int, float]:
    """The rule ``sign * (x - threshold) > 0 -> class 1`` with the best accuracy on (x, y).

    Returns (threshold, sign, training accuracy).
    """
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    # Predicting 1 above position i: correct = zeros at or below i + ones above i.
    zeros_below = np.concatenate([[0], np.cumsum(ys == 0)])  # (N+1,)
    ones_above = (ys == 1).sum() - np.concatenate([[0], np.cumsum(ys == 1)])
    acc_up = (zeros_below + ones_above) / len(y)
    acc_down = 1.0 - acc_up
    i_up, i_down = int(acc_up.argmax()), int(acc_down.argmax())
    cuts = np.concatenate([[xs[0] - 1.0], (xs[:-1] + xs[1:]) / 2, [xs[-1] + 1.0]])
    if acc_up[i_up] >= acc_down[i_down]:
        return float(cuts[i_up]), 1, float(acc_up[i_up])
    return float(cuts[i_down]), -1, float(acc_down[i_down])


BASELINES = ("majority", "rule", "lr")


def fit_baselines(ohlc: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Fit every baseline on labelled windows (N, T, 4); a JSON-serialisable description."""
    S = window_stats(ohlc)
    rules = [best_threshold(S[:, j], y) for j in range(S.shape[1])]
    j = int(np.argmax([r[2] for r in rules]))
    return {
        "majority": int(np.bincount(y, minlength=2).argmax()),
        "rule": {"feature": STAT_NAMES[j], "index": j, "threshold": rules[j][0], "sign": rules[j][1]},
        "lr": fit_logistic(S, y.astype(np.float64)).tolist(),
        "stats": STAT_NAMES,
    }


def predict_baselines(fitted: dict[str, Any], ohlc: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window class predictions (N,) of each fitted baseline."""
    S = window_stats(ohlc)
    r = fitted["rule"]
    return {
        "majority": np.full(len(S), fitted["majority"], dtype=np.int64),
        "rule": (r["sign"] * (S[:, r["index"]] - r["threshold"]) > 0).astype(np.int64),
        "lr": (predict_logistic(np.asarray(fitted["lr"]), S) > 0.5).astype(np.int64),
    }


def cv_accuracy(ohlc: np.ndarray, y: np.ndarray, k: int = 5, seed: int = 0) -> dict[str, float]:
    """k-fold cross-validated accuracy of each baseline on the labelled windows alone."""
    folds = np.random.default_rng(seed).permutation(len(y)) % k
    correct = {b: 0 for b in BASELINES}
    for f in range(k):
        tr, te = folds != f, folds == f
        pred = predict_baselines(fit_baselines(ohlc[tr], y[tr]), ohlc[te])
        for b in BASELINES:
            correct[b] += int((pred[b] == y[te]).sum())
    return {b: correct[b] / len(y) for b in BASELINES}


def bootstrap_lift(
    correct_model: np.ndarray, correct_base: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """Paired bootstrap of accuracy(model) - accuracy(baseline) over the same windows.

    Returns acc_lift (the observed difference), acc_lift_lo and acc_lift_hi (the two-sided
    ``level`` percentile interval). Pairing matters: both are scored on the same windows.
    """
    d = correct_model.astype(np.float64) - correct_base.astype(np.float64)  # (N,)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), (n_boot, len(d)))  # (B, N)
    boots = d[idx].mean(axis=1)
    a = (1.0 - level) / 2
    return {
        "acc_lift": float(d.mean()),
        "acc_lift_lo": float(np.quantile(boots, a)),
        "acc_lift_hi": float(np.quantile(boots, 1 - a)),
    }
