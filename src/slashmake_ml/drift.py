"""Data drift between a reference set and new data: PSI and two-sample KS on window statistics."""

from __future__ import annotations

from typing import Any

import numpy as np

STAT_NAMES = ["volatility", "rel_range", "body_share", "trend_strength"]


def window_stats(ohlc: np.ndarray) -> np.ndarray:
    """Per-window summary statistics (N, 4), one row per window.

    Windows, not bars, are the unit: bars within a window are autocorrelated, which would
    make KS flag drift on any fresh sample.
    """
    x = ohlc.astype(np.float64)
    o, h, lo, c = x[..., 0], x[..., 1], x[..., 2], x[..., 3]  # (N, T)
    r = np.diff(np.log(c), axis=1)  # (N, T-1)
    vol = r.std(axis=1) + 1e-12
    rel_range = ((h - lo) / c).mean(axis=1)
    body = (np.abs(c - o) / (h - lo + 1e-12)).mean(axis=1)
    trend = np.abs(np.log(c[:, -1] / c[:, 0])) / (vol * np.sqrt(c.shape[1]))
    return np.stack([vol, rel_range, body, trend], axis=1)


def psi(ref: np.ndarray, new: np.ndarray, n_bins: int = 10) -> float:
    """Population stability index with quantile bins of the reference."""
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, n_bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    p = np.histogram(ref, edges)[0] / len(ref)
    q = np.histogram(new, edges)[0] / len(new)
    p, q = np.clip(p, 1e-4, None), np.clip(q, 1e-4, None)  # empty bins would give log(0)
    return float(((q - p) * np.log(q / p)).sum())


def detect(
    ref_ohlc: np.ndarray, new_ohlc: np.ndarray, psi_threshold: float = 0.2, ks_alpha: float = 0.01
) -> dict[str, Any]:
    """Flat metrics: psi_<stat>, ks_<stat>, ks_p_<stat>, max_psi, min_ks_p, drift_detected.

    Drift when any PSI exceeds ``psi_threshold`` or any KS p-value is below ``ks_alpha``
    divided by the number of statistics (Bonferroni, so a fresh sample rarely trips it).
    """
    from scipy.stats import ks_2samp

    a, b = window_stats(ref_ohlc), window_stats(new_ohlc)
    m: dict[str, Any] = {"n_reference": len(a), "n_current": len(b)}
    psis, ps = [], []
    for j, name in enumerate(STAT_NAMES):
        m[f"psi_{name}"] = psi(a[:, j], b[:, j])
        res = ks_2samp(a[:, j], b[:, j])
        m[f"ks_{name}"] = float(res.statistic)
        m[f"ks_p_{name}"] = float(res.pvalue)
        psis.append(m[f"psi_{name}"])
        ps.append(m[f"ks_p_{name}"])
    m["max_psi"] = max(psis)
    m["min_ks_p"] = min(ps)
    m["psi_threshold"] = psi_threshold
    m["ks_alpha"] = ks_alpha
    m["drift_detected"] = bool(m["max_psi"] > psi_threshold or m["min_ks_p"] < ks_alpha / len(STAT_NAMES))
    return m
