"""Time-warp augmentation of OHLC windows: the price path is warped, then features are recomputed.

Warping per-bar features by interpolation would smooth them (pre-training would see smoother
data than fine-tuning); warping the bar sequence itself keeps every bar a real bar.
"""

from __future__ import annotations

import numpy as np


def warp_positions(n: int, T: int, sigma: float, n_knots: int, rng: np.random.Generator) -> np.ndarray:
    """Monotone time maps (n, T) of [0, T-1] onto itself with both ends pinned.

    The local speed of time is 1 + sigma * noise at ``n_knots + 2`` knots, interpolated over
    T bars and clamped positive, then integrated. sigma = 0 is the identity map.
    """
    if sigma <= 0:
        return np.tile(np.arange(T, dtype=np.float64), (n, 1))
    knots = 1.0 + sigma * rng.standard_normal((n, n_knots + 2))  # (n, K)
    grid = np.linspace(0.0, 1.0, n_knots + 2)
    speed = np.stack([np.interp(np.linspace(0.0, 1.0, T), grid, k) for k in knots])  # (n, T)
    speed = np.clip(speed, 0.05, None)
    pos = np.cumsum(speed, axis=1) - speed[:, :1]  # (n, T), starts at 0
    return pos / pos[:, -1:] * (T - 1)


def warp_ohlc(ohlc: np.ndarray, sigma: float, n_knots: int, rng: np.random.Generator) -> np.ndarray:
    """Warp OHLC windows (N, T, 4) in time: bar i of the result is original bar round(pos[i]).

    Each bar is kept as a candle relative to the previous close and the path is rebuilt from the
    first close, so slowed stretches repeat bars and sped-up ones skip them: the distribution of
    returns, bodies and wicks is unchanged, only the path's timing moves. sigma = 0 returns the
    input unchanged.
    """
    if sigma <= 0:
        return ohlc
    N, T, _ = ohlc.shape
    x = ohlc.astype(np.float64)
    prev_c = np.concatenate([x[:, :1, 0], x[:, :-1, 3]], axis=1)  # (N, T) previous close (first: own open)
    rel = x / prev_c[..., None]  # (N, T, 4) each bar relative to the close before it
    idx = np.rint(warp_positions(N, T, sigma, n_knots, rng)).astype(np.int64)  # (N, T) monotone, pinned
    rel_w = np.take_along_axis(rel, idx[..., None], axis=1)  # (N, T, 4)
    base = prev_c[:, :1] * np.cumprod(np.concatenate([np.ones((N, 1)), rel_w[:, :-1, 3]], axis=1), axis=1)  # (N, T)
    return (rel_w * base[..., None]).astype(ohlc.dtype)
