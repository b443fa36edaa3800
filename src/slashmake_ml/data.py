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

PRICE_COLS = ["open", "high", "low", "close"]
CLASS_NAMES = ["consolidation", "retracement"]


def _paths(n: int, seq_len: int, rng: np.random.Generator, labels: np.ndarray, shift: float) -> np.ndarray:
    """Log-price paths (n, T+1) in units of the per-bar volatility, starting at 0.

    Both classes are one process: a flat stretch, an impulse, then a give-back of a share of
    the impulse, all on the same Gaussian random walk. Only the shape of the give-back differs
    (Moola's labels): a consolidation (0) gives it back in a few bars and then moves sideways;
    a retracement (1) gives it back gradually over the rest of the window. Net move, range and
    volatility have the same distribution in both classes; the difference is in the path.
    """
    T = seq_len
    eps = rng.standard_normal((n, T))  # (N, T) the shared noise process
    pre = rng.integers(5, 21, n)  # flat bars before the impulse
    k = rng.integers(15, 31, n)  # impulse length in bars
    amp = rng.uniform(1.0, 2.0, n) * (1.0 + shift)  # impulse drift per bar, in volatility units
    direction = rng.choice([-1.0, 1.0], n)
    give = amp * k * rng.uniform(0.4, 0.7, n)  # how much of the impulse is given back
    d = np.where(labels == 1, seq_len - pre - k, rng.integers(4, 13, n))  # bars the give-back takes
    t = np.arange(T)[None, :]  # (1, T)
    end = (pre + k)[:, None]  # (N, 1) first bar after the impulse
    in_impulse = (t >= pre[:, None]) & (t < end)
    in_give = (t >= end) & (t < end + d[:, None])
    drift = np.where(in_impulse, amp[:, None], 0.0) - np.where(in_give, (give / d)[:, None], 0.0)  # (N, T)
    x = np.zeros((n, T + 1))
    x[:, 1:] = np.cumsum(drift * direction[:, None] + eps, axis=1)
    return x


def generate(
    n: int, seed: int, seq_len: int = 105, pos_rate: float = 0.43, shift: float = 0.0, label_noise: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` windows deterministically.

    Returns (ohlc (N, T, 4) float32 in open/high/low/close order, labels (N,) int64).
    ``shift`` > 0 simulates a regime change (higher volatility, stronger impulses) for drift
    tests. ``label_noise`` is the share of windows whose label is flipped after the path is
    drawn (annotators disagree on Moola's windows too); it caps the reachable accuracy.
    """
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < pos_rate).astype(np.int64)  # (N,) the shape each path is drawn from
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
    flip = rng.random(n) < label_noise  # drawn last, so the noise level leaves the paths alone
    return ohlc, np.where(flip, 1 - labels, labels)


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
    ohlc, y = generate(n_lab, cfg.data_seed, cfg.seq_len, cfg.pos_rate, cfg.shift, cfg.label_noise)
    # A separate stream for unlabelled windows, so changing n_unlabelled leaves labelled data alone.
    ohlc_u, _ = generate(cfg.n_unlabelled, cfg.data_seed + 1_000_003, cfg.seq_len, cfg.pos_rate, cfg.shift)
    labelled = to_frame(ohlc[: cfg.n_labelled], y[: cfg.n_labelled], 0)
    test = to_frame(ohlc[cfg.n_labelled :], y[cfg.n_labelled :], cfg.n_labelled)
    unlabelled = to_frame(ohlc_u, None, n_lab)
    return labelled, test, unlabelled


def _spans(df: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Per window: start and end time (timestamps as ns) and label (NaN when absent); the bar spacing."""
    t = df["t"] if pd.api.types.is_numeric_dtype(df["t"]) else pd.to_datetime(df["t"]).astype("int64")
    g = df.assign(_t=t).sort_values(["window_id", "_t"]).groupby("window_id", sort=True)
    out = pd.DataFrame({"start": g["_t"].min(), "end": g["_t"].max()})
    out["label"] = g["label"].first() if "label" in df.columns else np.nan
    bar = float(g["_t"].diff().median())
    return out, bar if np.isfinite(bar) and bar > 0 else 1.0


def split_user_table(
    df: pd.DataFrame, test_frac: float, embargo_bars: int = 0, min_windows: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split a user's table into (labelled, test, unlabelled) in time order, without leaks.

    The latest ``test_frac`` of the labelled windows (by start time) are the test set. Windows
    of one series overlap, so every other window that overlaps the test period, or ends less
    than ``embargo_bars`` bars before it, is purged: from the labelled set and from the
    unlabelled set alike. Pre-training reads the unlabelled set, or the labelled one when there
    is none, so it never sees a test window. Times come from ``t`` (numbers or timestamps);
    windows that all share one time range (t counted from 0 in each) are ordered by window_id.
    Raises ValueError when a part would have fewer than ``min_windows`` windows.
    """
    spans, bar = _spans(df)
    clock = spans["start"].nunique() > 1 or spans["end"].nunique() > 1
    if not clock:  # t counts bars within each window: order by id; nothing is known to overlap
        spans["start"] = spans["end"] = np.arange(len(spans))
    lab = spans[spans["label"].notna()].sort_values(["start", "end"], kind="stable")
    n_test = int(np.ceil(test_frac * len(lab)))
    if n_test < min_windows or len(lab) - n_test < min_windows:
        raise ValueError(
            f"{len(lab)} labelled windows are too few for a {test_frac:.0%} test split: each side needs "
            f"at least {min_windows} (label more windows or change --test-frac)"
        )
    test = lab.iloc[len(lab) - n_test :]
    cut = test["start"].min() - embargo_bars * bar
    # Clear of the test period: ends before it and its embargo (without a clock: not a test window).
    clear = spans["end"] < cut if clock else pd.Series(~spans.index.isin(test.index), index=spans.index)
    train_ids = lab.index[clear.loc[lab.index] & ~lab.index.isin(test.index)]
    if len(train_ids) < min_windows:
        raise ValueError(
            f"after purging windows that overlap the test period, {len(train_ids)} labelled windows remain; "
            f"at least {min_windows} are needed (lower --embargo-bars or --test-frac)"
        )
    unl_ids = spans.index[spans["label"].isna() & clear]
    pick = lambda ids: df[df["window_id"].isin(ids)].reset_index(drop=True)  # noqa: E731
    train_df, test_df = pick(train_ids), pick(test.index)
    unl = pick(unl_ids) if len(unl_ids) else train_df
    return train_df, test_df, unl.drop(columns=["label"], errors="ignore")
