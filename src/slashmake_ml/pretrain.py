"""Self-supervised pre-training of the BiLSTM encoder: masked reconstruction + time warp."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch

from slashmake_ml.config import PretrainConfig
from slashmake_ml.model import MaskedReconstructor, pick_device, state_dict_sha256
from slashmake_ml.train import seed_everything


def time_warp(x: torch.Tensor, sigma: float, n_knots: int, gen: torch.Generator) -> torch.Tensor:
    """Smoothly stretch/compress time: x (B, T, F) -> (B, T, F).

    Per-sample speeds are drawn at ``n_knots + 2`` knots around 1 with std ``sigma``,
    interpolated over T, integrated into a monotone warp of [0, T-1], and the features are
    resampled by linear interpolation. sigma=0 is the identity.
    """
    if sigma <= 0:
        return x
    B, T, Fdim = x.shape
    knots = 1.0 + sigma * torch.randn(B, 1, n_knots + 2, generator=gen)  # (B, 1, K)
    speed = torch.nn.functional.interpolate(knots, size=T, mode="linear", align_corners=True)[:, 0]  # (B, T)
    speed = speed.clamp_min(0.05)  # keep the warp monotone
    pos = torch.cumsum(speed, dim=1)
    pos = (pos - pos[:, :1]) / (pos[:, -1:] - pos[:, :1]) * (T - 1)  # (B, T) in [0, T-1]
    pos = pos.to(x.device)
    i0 = pos.floor().long().clamp(0, T - 2)
    w = (pos - i0.float())[..., None]  # (B, T, 1)
    g0 = torch.gather(x, 1, i0[..., None].expand(B, T, Fdim))
    g1 = torch.gather(x, 1, (i0 + 1)[..., None].expand(B, T, Fdim))
    return g0 * (1 - w) + g1 * w


def pretrain_encoder(
    X: np.ndarray, cfg: PretrainConfig, progress: bool = True, log: Any = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, list[float]]]:
    """Pre-train on unlabelled features X (N, T, F).

    Returns (encoder state_dict on CPU, metrics incl. sigma and encoder_sha256, history).
    """
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    model = MaskedReconstructor(X.shape[-1], cfg.hidden).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    Xt = torch.from_numpy(X)  # (N, T, F), batches moved to the device as they are used
    history: dict[str, list[float]] = {"train_loss": []}
    t0 = time.perf_counter()
    bar = tqdm(
        range(cfg.epochs),
        desc=f"pretrain sigma={cfg.sigma}",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    for epoch in bar:
        model.train()
        perm = torch.randperm(len(Xt), generator=gen)
        total = 0.0
        for i in range(0, len(Xt), cfg.batch_size):
            xb = time_warp(Xt[perm[i : i + cfg.batch_size]], cfg.sigma, cfg.n_knots, gen).to(
                device
            )  # (B, T, F)
            mask = (torch.rand(xb.shape[:2], generator=gen) < cfg.mask_ratio).to(device)  # (B, T)
            recon = model(xb, mask)
            # Loss only on hidden steps: the encoder must infer them from context.
            err = ((recon - xb) ** 2).mean(-1)  # (B, T)
            loss = (err * mask).sum() / mask.sum().clamp_min(1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += float(loss.detach()) * len(xb)
        history["train_loss"].append(total / len(Xt))
        bar.set_postfix(loss=f"{history['train_loss'][-1]:.4f}")
        if log is not None:
            print(f"epoch {epoch + 1} recon_loss {history['train_loss'][-1]:.4f}", file=log, flush=True)
    bar.close()
    enc = {k: v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()}
    metrics = {
        "sigma": cfg.sigma,
        "recon_loss": history["train_loss"][-1],
        "epochs_run": len(history["train_loss"]),
        "n_windows": len(X),
        "seed": cfg.seed,
        "mask_ratio": cfg.mask_ratio,
        "encoder_sha256": state_dict_sha256(enc),
        "pretrain_time_s": round(time.perf_counter() - t0, 3),
    }
    return enc, metrics, history
