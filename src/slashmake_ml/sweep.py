"""Aggregating a sweep over seeds: mean and sd per variant group, selection by the mean, and the
paired difference between pre-trained and from-scratch runs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

GROUP_KEYS = ("sigma", "pretrained")  # what a variant group shares; the seed varies inside it


def group_rows(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Rows (one per variant run: sigma, pretrained, seed, metric, ...) -> one row per group.

    Each group row has the group keys, n_seeds, seeds, mean, sd (ddof=1; 0 for one seed) and
    the per-seed values, ordered by sigma.
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[tuple(r.get(k) for k in GROUP_KEYS)].append(r)
    out = []
    for key, rs in groups.items():
        vals = np.array([r[metric] for r in rs], dtype=np.float64)
        out.append({
            **dict(zip(GROUP_KEYS, key, strict=True)),
            "n_seeds": len(rs),
            "seeds": [r.get("seed") for r in rs],
            "values": vals.tolist(),
            "mean": float(vals.mean()),
            "sd": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
            "runs": rs,
        })
    return sorted(out, key=lambda g: (g["sigma"] is None, g["sigma"] or 0.0, bool(g["pretrained"])))


def pick(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The group with the best mean (ties: the smaller sd, then the first)."""
    return max(groups, key=lambda g: (g["mean"], -g["sd"]))


def paired_difference(rows: list[dict[str, Any]], metric: str) -> dict[str, float] | None:
    """Pre-trained minus scratch, paired by seed: mean, sd, and a 95% t-interval. None without pairs."""
    from scipy.stats import t as student_t

    by_seed: dict[Any, dict[bool, float]] = defaultdict(dict)
    for r in rows:
        if r.get("pretrained") is not None:
            by_seed[r.get("seed")][bool(r["pretrained"])] = float(r[metric])
    d = np.array([v[True] - v[False] for v in by_seed.values() if len(v) == 2])
    if len(d) < 2:
        return None
    half = float(student_t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return {"diff_mean": float(d.mean()), "diff_sd": float(d.std(ddof=1)), "diff_lo": float(d.mean() - half),
            "diff_hi": float(d.mean() + half), "n_pairs": len(d)}
