"""Time-warp augmentation (slashmake_ml.augment): the price path is warped, features recomputed."""

from __future__ import annotations

import numpy as np
import pytest

from slashmake_ml.augment import warp_ohlc, warp_positions
from slashmake_ml.data import generate
from slashmake_ml.features import FEATURE_NAMES, compute_features


@pytest.mark.parametrize("sigma", [0.05, 0.2, 0.5])
def test_warp_is_monotone_with_pinned_endpoints(sigma: float) -> None:
    pos = warp_positions(200, 105, sigma, 4, np.random.default_rng(0))
    assert pos.shape == (200, 105)
    assert (np.diff(pos, axis=1) > 0).all()
    np.testing.assert_allclose(pos[:, 0], 0.0, atol=1e-9)
    np.testing.assert_allclose(pos[:, -1], 104.0, atol=1e-9)
    assert np.abs(pos - np.arange(105)).max() > 0.5  # it does move time


def test_sigma_zero_is_the_identity() -> None:
    ohlc, _ = generate(8, seed=1)
    assert warp_ohlc(ohlc, 0.0, 4, np.random.default_rng(0)) is ohlc
    np.testing.assert_array_equal(warp_positions(3, 105, 0.0, 4, np.random.default_rng(0)),
                                  np.tile(np.arange(105.0), (3, 1)))


def test_warped_windows_keep_ohlc_invariants_and_the_first_bar() -> None:
    ohlc, _ = generate(50, seed=2)
    w = warp_ohlc(ohlc, 0.3, 4, np.random.default_rng(1))
    assert w.shape == ohlc.shape and w.dtype == ohlc.dtype and np.isfinite(w).all()
    o, h, lo, c = (w[..., i] for i in range(4))
    assert (h >= np.maximum(o, c) * (1 - 1e-6)).all() and (lo <= np.minimum(o, c) * (1 + 1e-6)).all()
    np.testing.assert_allclose(w[:, 0], ohlc[:, 0], rtol=1e-6)
    assert not np.allclose(w, ohlc)


@pytest.mark.parametrize("sigma", [0.1, 0.2, 0.3])
def test_per_bar_feature_statistics_stay_within_10_percent(sigma: float) -> None:
    ohlc, _ = generate(1500, seed=3)
    f0 = compute_features(ohlc)
    f1 = compute_features(warp_ohlc(ohlc, sigma, 4, np.random.default_rng(2)))
    for j, name in enumerate(FEATURE_NAMES):
        a, b = f0[..., j], f1[..., j]
        assert b.std() == pytest.approx(a.std(), rel=0.10), name
        assert abs(b.mean() - a.mean()) <= 0.10 * (abs(a.mean()) + a.std()), name
    # Bar-to-bar correlation of returns barely moves (interpolating features raised it by 0.24).
    assert abs(_lag1(f1[..., 0]) - _lag1(f0[..., 0])) < 0.05


def _lag1(r: np.ndarray) -> float:
    r = r - r.mean(axis=1, keepdims=True)
    return float(np.corrcoef(r[:, 1:].ravel(), r[:, :-1].ravel())[0, 1])
