"""Matplotlib (Agg) figures, each written atomically as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _save(fig: Any, path: str | Path) -> None:
    import matplotlib.pyplot as plt

    from slashmake_ml.fileio import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    plt.close(fig)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless: steps run on servers and pods
    import matplotlib.pyplot as plt

    return plt


def plot_curve(history: dict[str, list[float]], path: str | Path, title: str = "training") -> None:
    """Train/val loss (and val accuracy when present) per evaluation, against optimiser steps."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    steps = history.get("step") or list(range(1, len(history.get("train_loss", [])) + 1))
    for key in ("train_loss", "val_loss"):
        if history.get(key):
            ax.plot(steps, history[key], label=key)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss")
    if history.get("val_acc"):
        ax2 = ax.twinx()
        ax2.plot(steps, history["val_acc"], "g--", label="val_acc")
        ax2.set_ylabel("val accuracy")
    ax.legend(loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def plot_reliability(conf: np.ndarray, correct: np.ndarray, path: str | Path, n_bins: int = 10) -> None:
    """Reliability diagram: accuracy vs confidence per bin, with the diagonal."""
    plt = _plt()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    mids, accs, counts = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            mids.append((lo + hi) / 2)
            accs.append(float(correct[sel].mean()))
            counts.append(int(sel.sum()))
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "k:", label="perfect")
    ax.bar(mids, accs, width=1.0 / n_bins, alpha=0.6, edgecolor="k", label="accuracy")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    _save(fig, path)


def plot_metric_vs_sigma(groups: Sequence[dict[str, Any]], path: str | Path, metric: str = "val_accuracy") -> None:
    """Sweep plot: mean +- sd of a metric over seeds against the time-warp sigma (one line per
    pre-trained/scratch), from sweep.group_rows."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for pre in sorted({bool(g["pretrained"]) for g in groups}):
        gs = [g for g in groups if bool(g["pretrained"]) == pre and g["sigma"] is not None]
        if gs:
            ax.errorbar([g["sigma"] for g in gs], [g["mean"] for g in gs], yerr=[g["sd"] for g in gs],
                        fmt="o-", capsize=3, label="pre-trained" if pre else "scratch")
    ax.set_xlabel("time-warp sigma")
    ax.set_ylabel(f"{metric} (mean +- sd over seeds)")
    ax.set_title(f"{metric} vs sigma")
    ax.legend(loc="lower right")
    fig.tight_layout()
    _save(fig, path)
