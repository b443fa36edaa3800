"""The intervals a comparison reports: a t-interval over seeds, a paired bootstrap over examples."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 10_000
BOOTSTRAP_SEED = 20  # fixed: the same predictions give the same interval on every call


@dataclass(frozen=True)
class Summary:
    """n, mean, sample sd and the 95% t-interval of the mean (sd and interval need n >= 2)."""

    n: int
    mean: float
    sd: float | None
    lo: float | None
    hi: float | None

    def text(self, digits: int = 4) -> str:
        """``mean ± sd [lo, hi]`` (just the mean for one value)."""
        if self.sd is None or self.lo is None or self.hi is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


# The 97.5% quantile of Student's t for 1 to 100 degrees of freedom, as scipy.special.stdtrit(df, 0.975)
# gives it (tests/test_compare.py checks every one): scipy took a third of a second to import, more
# than the rest of a cached `compare`, for numbers that never change.
_T975 = (
    12.706204736174694, 4.302652729749462, 3.1824463052837078, 2.7764451051977934, 2.5705818356363146,
    2.4469118511449786, 2.364624251592784, 2.306004135204166, 2.262157162798205, 2.228138851986274,
    2.200985160091639, 2.1788128296672284, 2.1603686564627913, 2.144786687917804, 2.131449545559776,
    2.1199052992212546, 2.1098155778333156, 2.1009220402410382, 2.0930240544083087, 2.085963447265864,
    2.0796138447276795, 2.0738730679040254, 2.0686576104190486, 2.0638985616280245, 2.0595385527532972,
    2.0555294386428735, 2.0518305164802846, 2.0484071417952454, 2.045229642132703, 2.0422724563012378,
    2.039513446396408, 2.0369333434601016, 2.0345152974493383, 2.0322445093177186, 2.030107928250343,
    2.0280940009804502, 2.0261924630291093, 2.0243941639119694, 2.022690920036761, 2.021075390306273,
    2.019540970441376, 2.0180817028184443, 2.016692199227824, 2.0153675744437636, 2.014103388880846,
    2.012895598919429, 2.0117405137297655, 2.010634757624232, 2.0095752371292392, 2.008559112100761,
    2.007583770315836, 2.006646805061688, 2.0057459953178687, 2.0048792881880564, 2.0040447832891455,
    2.003240718847872, 2.002465459291007, 2.0017174841452356, 2.000995378088267, 2.0002978220142604,
    1.999623584994939, 1.9989715170333788, 1.998340542520741, 1.997729654317693, 1.9971379083920038,
    1.9965644189523117, 1.996008354025296, 1.9954689314298435, 1.9949454151072374, 1.994437111771186,
    1.9939433678456255, 1.9934635666618719, 1.992997125889855, 1.992543495180932, 1.9921021540022417,
    1.9916726096446642, 1.9912543953883846, 1.9908470688116906, 1.9904502102301285, 1.990063421254446,
    1.9896863234569029, 1.989318557136572, 1.9889597801751624, 1.9886096669757083, 1.9882679074772216,
    1.98793420623902, 1.9876082815890708, 1.9872898648311692, 1.986978699506281, 1.9866745407037683,
    1.9863771544186177, 1.98608631695113, 1.9858018143458227, 1.985523441866604, 1.9852510035054978,
    1.984984311522457, 1.9847231860139845, 1.9844674545084815, 1.9842169515864174, 1.9839715185235518,
)
_Z975 = 1.959963984540054  # the normal distribution's 97.5% quantile


def t_quantile(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` (>= 1) degrees of freedom.

    Up to 100 from the table; beyond, the Cornish-Fisher expansion in 1/df (Abramowitz & Stegun
    26.7.5, five terms), within 4e-13 of scipy's value at 100 and exact to double precision from 1000.
    """
    if df < 1:
        raise ValueError(f"t_quantile needs at least one degree of freedom, not {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = _Z975, float(df)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    g5 = (27 * z**11 + 339 * z**9 + 930 * z**7 - 1782 * z**5 - 765 * z**3 + 17955 * z) / 368640
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4 + g5 / v**5


def summarize(values: list[float] | np.ndarray) -> Summary:
    """Mean ± sd over the values and the 95% t-interval of the mean (NaNs left out)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return Summary(0, math.nan, None, None, None)
    mean = float(x.mean())
    if n < 2:
        return Summary(1, mean, None, None, None)
    sd = float(x.std(ddof=1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


@dataclass(frozen=True)
class Paired:
    """B − A on the same examples: the observed difference, its 95% bootstrap interval and p-value."""

    n: int
    diff: float
    lo: float
    hi: float
    p: float
    samples: int


def paired_bootstrap(a: np.ndarray, b: np.ndarray, samples: int = BOOTSTRAP_SAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> Paired:
    """Resample examples with replacement, the same indices for both: mean(b) − mean(a).

    The interval is the 2.5 and 97.5 percentiles of the resampled differences. The two-sided
    p-value is that of the hypothesis "no difference": the share of resampled differences, shifted
    to be centred on zero, at least as far from zero as the observed one (at least 1/samples).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("paired_bootstrap needs two equally long, non-empty vectors")
    d = b - a
    observed = float(d.mean())
    rng = np.random.default_rng(seed)
    # In blocks, so 10,000 resamples of 100,000 examples never hold 10^9 indices at once.
    means = np.empty(samples)
    block = max(1, 2_000_000 // len(d))
    for start in range(0, samples, block):
        stop = min(samples, start + block)
        idx = rng.integers(0, len(d), size=(stop - start, len(d)))
        means[start:stop] = d[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    extreme = np.abs(means - observed) >= abs(observed) - 1e-12
    p = max(float(extreme.mean()), 1.0 / samples) if observed != 0 else 1.0
    return Paired(len(d), observed, float(lo), float(hi), min(p, 1.0), samples)
