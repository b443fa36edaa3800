"""Relative, scale-free features: no absolute price ever reaches the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURE_NAMES = ["ret_atr", "body", "upper_wick", "lower_wick", "range_atr", "disp_atr"]
_EPS = 1e-12


def compute_features(ohlc: np.ndarray) -> np.ndarray:
    """OHLC windows (N, T, 4) -> features (N, T, 6) float32.

    ret_atr: close-to-close return in units of the window's average true range (ATR);
    body/upper_wick/lower_wick: candle parts as shares of the bar's range;
    range_atr: bar range / ATR; disp_atr: close minus the first close, in ATR / sqrt(T).
    """
    x = ohlc.astype(np.float64)
    o, h, lo, c = x[..., 0], x[..., 1], x[..., 2], x[..., 3]  # each (N, T)
    prev_c = np.concatenate([o[:, :1], c[:, :-1]], axis=1)
    true_range = np.maximum(h - lo, np.maximum(np.abs(h - prev_c), np.abs(lo - prev_c)))
    atr = true_range.mean(axis=1, keepdims=True) + _EPS  # (N, 1): scale of this window
    rng = h - lo + _EPS
    feats = np.stack(
        [
            (c - prev_c) / atr,
            (c - o) / rng,
            (h - np.maximum(o, c)) / rng,
            (np.minimum(o, c) - lo) / rng,
            (h - lo) / atr,
            (c - c[:, :1]) / atr / np.sqrt(c.shape[1]),
        ],
        axis=-1,
    )  # (N, T, 6)
    return feats.astype(np.float32)


def save_features(path: str | Path, X: np.ndarray, y: np.ndarray | None, window_ids: np.ndarray) -> None:
    """Atomically write features as .npz (X, optional y, window_ids, feature names)."""
    from slashmake_ml.fileio import atomic_write

    arrays: dict[str, np.ndarray] = {"X": X, "window_ids": window_ids, "names": np.array(FEATURE_NAMES)}
    if y is not None:
        arrays["y"] = y

    def _w(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    atomic_write(path, _w)


def load_features(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Features from a .npz written by save_features, or computed from a parquet/CSV table."""
    p = Path(path)
    if p.suffix == ".npz":
        with np.load(p) as z:
            return z["X"], (z["y"] if "y" in z.files else None)
    from slashmake_ml.data import from_frame, read_table

    ohlc, y, _ = from_frame(read_table(p))
    return compute_features(ohlc), y
