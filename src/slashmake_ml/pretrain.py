"""Self-supervised pre-training of the BiLSTM encoder: masked reconstruction of time-warped windows."""

from __future__ import annotations

import copy
import sys
import time
from typing import Any

import numpy as np
import torch

from slashmake_ml.augment import warp_ohlc
from slashmake_ml.config import PretrainConfig
from slashmake_ml.features import compute_features
from slashmake_ml.model import MaskedReconstructor, pick_device, state_dict_sha256
from slashmake_ml.train import seed_everything


def masked_mse(recon: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden steps only: (B, T, F) x2, mask (B, T) -> scalar."""
    err = ((recon - x) ** 2).mean(-1)  # (B, T)
    return (err * mask).sum() / mask.sum().clamp_min(1)


def reference_losses(x: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Masked MSE of two predictors that need no training, on x (N, T, F) with mask (N, T).

    mean: each hidden step is the mean of the window's visible steps; neighbour: the mean of
    the nearest visible step on each side. A useful encoder beats both.
    """
    vis = (~mask).float()[..., None]  # (N, T, 1)
    mean = (x * vis).sum(1, keepdim=True) / vis.sum(1, keepdim=True).clamp_min(1)  # (N, 1, F)
    T = x.shape[1]
    idx = torch.arange(T).expand(mask.shape)  # (N, T)
    left = torch.where(mask, torch.full_like(idx, -1), idx).cummax(1).values  # last visible at or before t
    right = torch.where(mask, torch.full_like(idx, T), idx).flip(1).cummin(1).values.flip(1)
    gl = torch.gather(x, 1, left.clamp(0, T - 1)[..., None].expand_as(x))
    gr = torch.gather(x, 1, right.clamp(0, T - 1)[..., None].expand_as(x))
    has_l, has_r = (left >= 0)[..., None], (right < T)[..., None]
    neigh = torch.where(has_l & has_r, (gl + gr) / 2, torch.where(has_l, gl, gr))
    neigh = torch.where(has_l | has_r, neigh, mean.expand_as(x))
    return {
        "recon_mean_baseline": float(masked_mse(mean.expand_as(x), x, mask)),
        "recon_neighbour_baseline": float(masked_mse(neigh, x, mask)),
    }


def pretrain_encoder(
    ohlc: np.ndarray, cfg: PretrainConfig, progress: bool = True, log: Any = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, list[float]]]:
    """Pre-train on unlabelled OHLC windows (N, T, 4) for up to ``cfg.steps`` optimiser steps.

    Each batch is time-warped (price path, strength ``cfg.sigma``) and its features recomputed;
    a random ``mask_ratio`` of steps is hidden and reconstructed. ``heldout_frac`` of the windows,
    unaugmented and with a fixed mask, measure reconstruction every ``eval_every`` steps against
    the mean and neighbour predictors; training stops after ``patience`` evaluations without
    improvement (converged) and keeps the best encoder.

    Returns (encoder state_dict on CPU, metrics, history).
    """
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(ohlc))
    n_held = max(1, round(cfg.heldout_frac * len(ohlc)))
    held, train = ohlc[order[:n_held]], ohlc[order[n_held:]]
    gen = torch.Generator().manual_seed(cfg.seed)
    Xh = torch.from_numpy(compute_features(held))  # (Nh, T, F) unaugmented
    mask_h = torch.rand(Xh.shape[:2], generator=gen) < cfg.mask_ratio  # (Nh, T) fixed across evaluations
    refs = reference_losses(Xh, mask_h)
    Xh, mask_h = Xh.to(device), mask_h.to(device)
    model = MaskedReconstructor(Xh.shape[-1], cfg.hidden).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    history: dict[str, list[float]] = {"step": [], "train_loss": [], "val_loss": []}
    best, best_state, bad, running, seen = float("inf"), copy.deepcopy(model.encoder.state_dict()), 0, 0.0, 0
    t0 = time.perf_counter()
    bar = tqdm(range(1, cfg.steps + 1), desc=f"pretrain sigma={cfg.sigma}", file=sys.stderr,
               disable=not progress, leave=False)
    for step in bar:
        model.train()
        batch = train[rng.integers(0, len(train), cfg.batch_size)]  # (B, T, 4)
        xb = torch.from_numpy(compute_features(warp_ohlc(batch, cfg.sigma, cfg.n_knots, rng))).to(device)  # (B, T, F)
        mask = (torch.rand(xb.shape[:2], generator=gen) < cfg.mask_ratio).to(device)  # (B, T)
        # Loss only on hidden steps: the encoder must infer them from context.
        loss = masked_mse(model(xb, mask), xb, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running, seen = running + float(loss.detach()), seen + 1
        if step % cfg.eval_every and step != cfg.steps:
            continue
        model.eval()
        with torch.no_grad():
            val = float(masked_mse(model(Xh, mask_h), Xh, mask_h))
        for k, v in (("step", step), ("train_loss", running / seen), ("val_loss", val)):
            history[k].append(v)
        running, seen = 0.0, 0
        bar.set_postfix(val=f"{val:.4f}")
        if log is not None:
            print(f"step {step} recon_loss {history['train_loss'][-1]:.4f} heldout {val:.4f}", file=log, flush=True)
        if val < best - 1e-5:
            best, bad, best_state = val, 0, copy.deepcopy(model.encoder.state_dict())
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    bar.close()
    enc = {k: v.detach().cpu().clone() for k, v in best_state.items()}
    metrics = {
        "sigma": cfg.sigma,
        "recon_loss": history["train_loss"][-1],
        "recon_heldout": best,
        **refs,
        "converged": bad >= cfg.patience,
        "steps_run": history["step"][-1],
        "n_windows": len(train),
        "n_heldout": n_held,
        "seed": cfg.seed,
        "mask_ratio": cfg.mask_ratio,
        "encoder_sha256": state_dict_sha256(enc),
        "pretrain_time_s": round(time.perf_counter() - t0, 3),
    }
    return enc, metrics, history


def pretrain_and_save(data: str, cfg: PretrainConfig, encoder_out: str, curve: str | None) -> dict[str, Any]:
    """Pre-train on the windows of a long-schema file; save the encoder atomically; return metrics."""
    from slashmake_ml.data import from_frame, read_table
    from slashmake_ml.fileio import atomic_write
    from slashmake_ml.plots import plot_curve

    ohlc, _, _ = from_frame(read_table(data))
    enc, metrics, hist = pretrain_encoder(ohlc, cfg, log=sys.stdout)
    blob = {"encoder": enc, "config": cfg.to_dict(), "sha256": metrics["encoder_sha256"]}
    atomic_write(encoder_out, lambda tmp: torch.save(blob, tmp))
    if curve:
        plot_curve(hist, curve, f"pre-training sigma={cfg.sigma}")
    print(f"pretrained: sigma={cfg.sigma} heldout={metrics['recon_heldout']:.4f} "
          f"(mean {metrics['recon_mean_baseline']:.4f}, neighbour {metrics['recon_neighbour_baseline']:.4f}) "
          f"steps={metrics['steps_run']} sha256={metrics['encoder_sha256'][:12]}")
    return metrics
