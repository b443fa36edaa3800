"""Pictures of a comparison (matplotlib, PNG and SVG, in ``results/compare/``).

- the metric against the one swept parameter, mean ± sd over seeds as error bars;
- parallel coordinates when three or more parameters vary (one line per result);
- the training curves of compared runs, overlaid.

Each picture's points go beside it as JSON (``<name>.json``), so what a plot shows can be checked
without reading pixels. In the SVG the means are the ``<g id="means">`` group, one marker a point.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from slashmake.experiments.compare import Table

OUT = Path("results/compare")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    return plt


def slug(text: str) -> str:
    """A file-name-safe form of a step, parameter or metric name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "all"


def _save(fig: Any, stem: Path, data: dict[str, Any]) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1, default=str))
    _pyplot().close(fig)
    return paths


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def errorbars(table: Table, root: Path, step: str | None) -> list[Path]:
    """Each metric against the one varying parameter: mean ± sd over the group's results."""
    if len(table.varying) != 1:
        return []
    param = table.varying[0]
    plt = _pyplot()
    out: list[Path] = []
    for metric in table.metrics:
        points = []
        for g in table.groups:
            s = g.metrics[metric]
            if s.n:
                points.append({"x": g.params[param], "mean": s.mean, "sd": s.sd, "n": s.n, "lo": s.lo, "hi": s.hi})
        if not points:
            continue
        numeric = all(_number(p["x"]) is not None for p in points)
        points.sort(key=lambda p: float(p["x"]) if numeric else str(p["x"]))
        xs = [float(p["x"]) for p in points] if numeric else list(range(len(points)))
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        bars = ax.errorbar(xs, [p["mean"] for p in points], yerr=[p["sd"] or 0.0 for p in points], fmt="o-",
                           capsize=4, color="#1f5fa8", ecolor="#7a9cc6")
        bars.lines[0].set_gid("means")
        if not numeric:
            ax.set_xticks(xs, [str(p["x"]) for p in points])
        ns = sorted({p["n"] for p in points})
        ax.set_xlabel(param)
        ax.set_ylabel(metric)
        ax.set_title(f"{step or 'all steps'}: {metric} by {param} (mean ± sd, n={'/'.join(map(str, ns))})",
                     fontsize=9)
        ax.grid(alpha=0.3)
        stem = root / OUT / f"{slug(step or 'all')}-{slug(metric)}-vs-{slug(param)}"
        out += _save(fig, stem, {"param": param, "metric": metric, "points": points})
    return out


def parallel(table: Table, root: Path, step: str | None) -> list[Path]:
    """Parallel coordinates of the varying parameters and the first metric, one line per group."""
    if len(table.varying) < 3 or not table.metrics:
        return []
    plt = _pyplot()
    metric = table.metrics[0]
    axes = [*table.varying, metric]
    rows = [[g.params.get(p) for p in table.varying] + [g.metrics[metric].mean] for g in table.groups]
    cols = list(zip(*rows, strict=True))
    scaled, ticks = [], []
    for values in cols:
        nums = [_number(v) for v in values]
        if all(n is not None for n in nums):
            arr = np.asarray(nums, dtype=float)
            labels = None
        else:  # a categorical axis: its values in order
            cats = sorted({str(v) for v in values})
            arr = np.asarray([cats.index(str(v)) for v in values], dtype=float)
            labels = cats
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled.append((arr - lo) / (hi - lo) if hi > lo else np.full_like(arr, 0.5))
        ticks.append((lo, hi, labels))
    fig, ax = plt.subplots(figsize=(1.6 * len(axes) + 2, 3.8))
    colour = plt.get_cmap("viridis")
    quality = scaled[-1]
    for i in range(len(rows)):
        ax.plot(range(len(axes)), [s[i] for s in scaled], color=colour(float(quality[i])), alpha=0.8)
    for j, (lo, hi, labels) in enumerate(ticks):
        ax.axvline(j, color="grey", lw=0.8)
        ax.text(j, -0.08, labels[0] if labels else f"{lo:.4g}", ha="center", fontsize=7)
        ax.text(j, 1.04, labels[-1] if labels else f"{hi:.4g}", ha="center", fontsize=7)
    ax.set_xticks(range(len(axes)), axes, rotation=20, fontsize=8)
    ax.set_yticks([])
    ax.set_title(f"{step or 'all steps'}: {len(rows)} groups, coloured by mean {metric}", fontsize=9)
    stem = root / OUT / f"{slug(step or 'all')}-parallel"
    return _save(fig, stem, {"axes": axes, "rows": rows})


def curves(pairs: tuple[tuple[str, str], ...], root: Path, name: str) -> list[Path]:
    """The training curves (``curve.json`` beside a step's curve.png) of the compared runs, overlaid."""
    loaded = []
    for label, rel in pairs:
        try:
            history = json.loads((root / rel).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(history, dict) and history.get("step"):
            loaded.append((label, history))
    if not loaded:
        return []
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, h in loaded:
        left.plot(h["step"], h.get("val_loss", []), label=label)
        right.plot(h["step"], h.get("val_acc", []), label=label)
    left.set(xlabel="optimiser step", ylabel="validation loss")
    right.set(xlabel="optimiser step", ylabel="validation accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    right.legend(fontsize=7)
    return _save(fig, root / OUT / f"curves-{slug(name)}", {"curves": [label for label, _ in loaded]})


def draw(table: Table, root: Path, step: str | None) -> list[Path]:
    """Every picture that suits a compare table (none when no parameter varies)."""
    return [*errorbars(table, root, step), *parallel(table, root, step)]
