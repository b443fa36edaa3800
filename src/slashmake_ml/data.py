"""Moola-shaped OHLC data: a deterministic synthetic generator and a loader for user files.

Long schema (parquet or CSV), one row per bar:

    window_id  int                      identifies the window
    t          int or timestamp         bar time, strictly increasing within a window
    open, high, low, close  float       prices
    label      int in {0, 1}            0 = consolidation, 1 = retracement; absent if unlabelled

Every window must have the same number of bars (105 for Moola).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from slashmake_ml.config import DataConfig
from slashmake_ml.split import stratified_split

PRICE_COLS = ["open", "high", "low", "close"]
CLASS_NAMES = ["consolidation", "retracement"]


def _paths(n: int, seq_len: int, rng: np.random.Generator, labels: np.ndarray, shift: float) -> np.ndarray:
    """Log-price paths (n, T+1) in units of the per-bar volatility, starting at 0."""
    T = seq_len
    eps = rng.standard_normal((n, T))  # (N, T)
    # Retracement: an impulse of random strength and length, then a partial pull-back.
    k = rng.integers(40, 76, n)  # impulse length in bars
    amp = rng.uniform(0.12, 0.55, n)  # impulse drift per bar, in volatility units
    direction = rng.choice([-1.0, 1.0], n)
    frac = rng.uniform(0.35, 0.8, n)  # share of the impulse that is given back
    t = np.arange(T)[None, :]
    impulse = t < k[:, None]
    back = amp * frac * k / (T - k)  # per-bar drift of the pull-back
    drift_r = np.where(impulse, amp[:, None], -back[:, None]) * direction[:, None]
    # Consolidation: mean reversion around a level that itself drifts slowly, so a
    # consolidation can trend a little and a weak retracement can look flat.
    theta = rng.uniform(0.03, 0.15, n)
    slope = rng.normal(0.0, 0.06, n) * (1.0 + shift)
    x = np.zeros((n, T + 1))
    for i in range(T):
        anchor = slope * i
        mr = -theta * (x[:, i] - anchor) + slope
        step = np.where(labels == 1, drift_r[:, i], mr) + eps[:, i]
        x[:, i + 1] = x[:, i] + step
    return x


def generate(
    n: int, seed: int, seq_len: int = 105, pos_rate: float = 0.43, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` windows deterministically.

    Returns (ohlc (N, T, 4) float32 in open/high/low/close order, labels (N,) int64).
    ``shift`` > 0 simulates a regime change (higher volatility, more trend) for drift tests.
    """
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < pos_rate).astype(np.int64)  # (N,)
    vol = np.exp(rng.normal(np.log(1e-3), 0.35, n)) * (1.0 + shift)  # per-bar return std
    x = _paths(n, seq_len, rng, labels, shift) * vol[:, None]  # (N, T+1) log price
    p0 = rng.uniform(20.0, 500.0, n)[:, None]
    close_path = p0 * np.exp(x)  # (N, T+1)
    open_ = close_path[:, :-1] * np.exp(rng.normal(0, 0.1, (n, seq_len)) * vol[:, None])
    close = close_path[:, 1:]
    top = np.maximum(open_, close)
    bot = np.minimum(open_, close)
    high = top * np.exp(np.abs(rng.normal(0, 0.6, (n, seq_len))) * vol[:, None])
    low = bot * np.exp(-np.abs(rng.normal(0, 0.6, (n, seq_len))) * vol[:, None])
    ohlc = np.stack([open_, high, low, close], axis=-1).astype(np.float32)  # (N, T, 4)
    # float32 rounding can break high >= max(open, close) by one ulp; restore the invariant.
    o, c = ohlc[..., 0], ohlc[..., 3]
    ohlc[..., 1] = np.maximum(ohlc[..., 1], np.maximum(o, c))
    ohlc[..., 2] = np.minimum(ohlc[..., 2], np.minimum(o, c))
    return ohlc, labels


def to_frame(ohlc: np.ndarray, labels: np.ndarray | None, id_offset: int = 0) -> pd.DataFrame:
    """Windows (N, T, 4) -> long DataFrame in the documented schema."""
    n, T, _ = ohlc.shape
    df = pd.DataFrame(
        {
            "window_id": np.repeat(np.arange(n, dtype=np.int64) + id_offset, T),
            "t": np.tile(np.arange(T, dtype=np.int64), n),
        }
    )
    for j, col in enumerate(PRICE_COLS):
        df[col] = ohlc[:, :, j].reshape(-1)
    if labels is not None:
        df["label"] = np.repeat(labels.astype(np.int64), T)
    return df


def from_frame(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Long DataFrame -> (ohlc (N, T, 4) float32, labels (N,) int64 or None, window_ids (N,))."""
    missing = [c for c in ["window_id", "t", *PRICE_COLS] if c not in df.columns]
    if missing:
        raise ValueError(f"missing columns: {missing}")
    df = df.sort_values(["window_id", "t"], kind="stable")
    sizes = df.groupby("window_id", sort=True).size()
    if sizes.nunique() != 1:
        raise ValueError(f"windows must all have the same length; found lengths {sorted(sizes.unique())[:5]}")
    n, T = len(sizes), int(sizes.iloc[0])
    ohlc = df[PRICE_COLS].to_numpy(np.float32).reshape(n, T, 4)
    labels = None
    if "label" in df.columns and df["label"].notna().all():
        labels = df["label"].to_numpy().reshape(n, T)[:, 0].astype(np.int64)
    return ohlc, labels, sizes.index.to_numpy()


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a parquet or CSV file in the long schema."""
    p = Path(path)
    if p.suffix in {".parquet", ".pq"}:
        return pd.read_parquet(p)
    if p.suffix in {".csv", ".gz"}:
        return pd.read_csv(p)
    raise ValueError(f"{p}: unsupported file type (use .parquet or .csv)")


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Atomically write a DataFrame as parquet (or CSV by suffix)."""
    from slashmake_ml.fileio import atomic_write

    p = Path(path)
    if p.suffix == ".csv":
        atomic_write(p, lambda tmp: df.to_csv(tmp, index=False))
    else:
        atomic_write(p, lambda tmp: df.to_parquet(tmp, index=False))


def make_synthetic(cfg: DataConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(labelled, test, unlabelled) DataFrames from one seed; window ids never collide."""
    n_lab = cfg.n_labelled + cfg.n_test
    ohlc, y = generate(n_lab, cfg.seed, cfg.seq_len, cfg.pos_rate, cfg.shift)
    # A separate stream for unlabelled windows, so changing n_unlabelled leaves labelled data alone.
    ohlc_u, _ = generate(cfg.n_unlabelled, cfg.seed + 1_000_003, cfg.seq_len, cfg.pos_rate, cfg.shift)
    labelled = to_frame(ohlc[: cfg.n_labelled], y[: cfg.n_labelled], 0)
    test = to_frame(ohlc[cfg.n_labelled :], y[cfg.n_labelled :], cfg.n_labelled)
    unlabelled = to_frame(ohlc_u, None, n_lab)
    return labelled, test, unlabelled


def split_user_table(
    df: pd.DataFrame, test_frac: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split a user's table into (labelled, test, unlabelled).

    Windows with a label go to labelled/test (stratified); windows without one are the
    unlabelled set. With no unlabelled windows, the labelled ones (labels dropped) are used
    for pre-training, which is still self-supervised.
    """
    has_label = "label" in df.columns
    if has_label:
        per_win = df.groupby("window_id")["label"].first()
        lab_ids = per_win[per_win.notna()].index.to_numpy()
        unl_ids = per_win[per_win.isna()].index.to_numpy()
    else:
        lab_ids, unl_ids = np.array([], dtype=np.int64), df["window_id"].unique()
    lab = df[df["window_id"].isin(lab_ids)]
    if len(lab_ids):
        y = per_win.loc[lab_ids].to_numpy().astype(np.int64)
        rest, held = stratified_split(y, test_frac, seed)
        train_df = lab[lab["window_id"].isin(lab_ids[rest])]
        test_df = lab[lab["window_id"].isin(lab_ids[held])]
    else:
        train_df = test_df = lab
    unl = df[df["window_id"].isin(unl_ids)] if len(unl_ids) else lab
    unl = unl.drop(columns=["label"], errors="ignore")
    return train_df.reset_index(drop=True), test_df.reset_index(drop=True), unl.reset_index(drop=True)
