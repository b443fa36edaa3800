"""Classification and calibration metrics on a held-out test set."""

from __future__ import annotations

from typing import Any

import numpy as np


def predict_proba(model: Any, X: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class probabilities (N, C) under torch.no_grad()."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            xb = torch.from_numpy(X[i : i + batch_size]).to(device)  # (B, T, F)
            out.append(torch.softmax(model(xb), dim=-1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def ece_score(conf: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error with equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def classification_metrics(proba: np.ndarray, y: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    """Flat metrics: accuracy, f1_macro, f1_class{k}, ece, brier, log_loss, cm_{i}_{j} (true i, pred j)."""
    n_classes = proba.shape[1]
    pred = proba.argmax(1)
    conf = proba.max(1)
    correct = (pred == y).astype(np.float64)
    m: dict[str, Any] = {"accuracy": float(correct.mean()), "n_test": len(y)}
    f1s = []
    for k in range(n_classes):
        tp = int(((pred == k) & (y == k)).sum())
        fp = int(((pred == k) & (y != k)).sum())
        fn = int(((pred != k) & (y == k)).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
        m[f"f1_class{k}"] = f1
        f1s.append(f1)
    m["f1_macro"] = float(np.mean(f1s))
    m["ece"] = ece_score(conf, correct, n_bins)
    onehot = np.eye(n_classes)[y]
    # Brier over all classes / C: for two classes this equals mean (p1 - y)^2.
    sq = ((proba - onehot) ** 2).sum(1).mean()
    # Binary Brier is mean (p1 - y)^2, which is half the summed multi-class form.
    m["brier"] = float(sq / 2 if n_classes == 2 else sq)
    m["log_loss"] = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0)).mean())
    for i in range(n_classes):
        for j in range(n_classes):
            m[f"cm_{i}_{j}"] = int(((y == i) & (pred == j)).sum())
    return m
