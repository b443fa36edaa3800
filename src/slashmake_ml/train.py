"""Supervised training of SimpleLSTM: focal loss, AdamW, early stopping, jitter."""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from slashmake_ml.config import TrainConfig
from slashmake_ml.model import SimpleLSTM, n_params, pick_device, state_dict_sha256
from slashmake_ml.split import stratified_split


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal loss (Lin et al.): down-weights easy examples; gamma=0 is cross-entropy."""
    logp = F.log_softmax(logits, dim=-1)  # (B, C)
    logp_t = logp.gather(1, target[:, None]).squeeze(1)  # (B,)
    return (-((1.0 - logp_t.exp()) ** gamma) * logp_t).mean()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    """What train_classifier returns."""

    model: SimpleLSTM
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@torch.no_grad()
def _eval_loss(
    model: SimpleLSTM, X: torch.Tensor, y: torch.Tensor, gamma: float, bs: int
) -> tuple[float, float]:
    model.eval()
    losses, correct = 0.0, 0
    for i in range(0, len(X), bs):
        logits = model(X[i : i + bs])
        losses += float(focal_loss(logits, y[i : i + bs], gamma)) * len(logits)
        correct += int((logits.argmax(-1) == y[i : i + bs]).sum())
    return losses / len(X), correct / len(X)


@torch.no_grad()
def fit_temperature(model: SimpleLSTM, X: torch.Tensor, y: torch.Tensor) -> float:
    """Set model.temperature to the value minimising validation NLL (grid search; cheap, robust)."""
    model.eval()
    model.temperature.fill_(1.0)
    logits = torch.cat([model(X[i : i + 512]) for i in range(0, len(X), 512)])  # (N, C)
    grid = torch.exp(torch.linspace(-2.5, 1.5, 81))
    nll = torch.stack([F.cross_entropy(logits / t, y) for t in grid])
    best = float(grid[int(nll.argmin())])
    model.temperature.fill_(best)
    return best


def train_classifier(
    X: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    init_encoder: dict[str, torch.Tensor] | None = None,
    progress: bool = True,
    log: Any = None,
) -> TrainResult:
    """Train SimpleLSTM on features X (N, T, F) with labels y (N,).

    A stratified ``cfg.val_frac`` split is held out for early stopping on validation loss;
    the best-validation weights are restored at the end. ``init_encoder`` (a BiLSTMEncoder
    state_dict) initialises the encoder for fine-tuning; its hash and the model's encoder
    hash right after loading are recorded so a caller can prove where training started.
    """
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    mcfg = (
        dataclasses.replace(cfg.model, n_features=X.shape[-1])
        if X.shape[-1] != cfg.model.n_features
        else cfg.model
    )
    model = SimpleLSTM(mcfg).to(device)
    metrics: dict[str, Any] = {"n_params": n_params(model), "device": device.type, "seed": cfg.seed}
    if init_encoder is not None:
        metrics["encoder_sha256_loaded"] = state_dict_sha256(init_encoder)
        model.encoder.load_state_dict(init_encoder)
        metrics["model_encoder_sha256_at_start"] = state_dict_sha256(model.encoder.state_dict())
        metrics["fine_tuned"] = True
    else:
        metrics["fine_tuned"] = False

    tr_idx, va_idx = stratified_split(y, cfg.val_frac, cfg.seed)
    Xt = torch.from_numpy(X[tr_idx]).to(device)  # (Ntr, T, F)
    yt = torch.from_numpy(y[tr_idx]).long().to(device)
    Xv = torch.from_numpy(X[va_idx]).to(device)  # (Nva, T, F)
    yv = torch.from_numpy(y[va_idx]).long().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)  # data order independent of the global RNG

    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_acc": []}
    best_loss, best_state, bad_epochs, best_epoch = float("inf"), copy.deepcopy(model.state_dict()), 0, 0
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.epochs), desc="train", file=sys.stderr, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        perm = torch.randperm(len(Xt), generator=gen).to(device)
        total = 0.0
        for i in range(0, len(Xt), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            xb, yb = Xt[idx], yt[idx]  # (B, T, F), (B,)
            if cfg.jitter > 0:
                # Jitter: small noise makes the model robust to tick-level measurement noise.
                xb = xb + cfg.jitter * torch.randn(xb.shape, generator=gen).to(device)
            loss = focal_loss(model(xb), yb, cfg.focal_gamma)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # LSTMs spike early on
            opt.step()
            total += float(loss.detach()) * len(idx)
        val_loss, val_acc = _eval_loss(model, Xv, yv, cfg.focal_gamma, 512)
        history["train_loss"].append(total / len(Xt))
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        bar.set_postfix(val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.3f}")
        if log is not None:
            print(
                f"epoch {epoch + 1} train_loss {total / len(Xt):.4f} val_loss {val_loss:.4f} val_acc {val_acc:.3f}",
                file=log,
                flush=True,
            )
        if val_loss < best_loss - 1e-5:
            best_loss, best_epoch, bad_epochs = val_loss, epoch + 1, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            if bad_epochs >= cfg.patience:
                break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    temperature = fit_temperature(model, Xv, yv)
    metrics.update(
        best_val_loss=best_loss,
        val_accuracy=history["val_acc"][best_epoch - 1] if best_epoch else 0.0,
        best_epoch=best_epoch,
        epochs_run=len(history["val_loss"]),
        train_time_s=round(time.perf_counter() - t0, 3),
        n_train=len(tr_idx),
        n_val=len(va_idx),
        temperature=temperature,
    )
    return TrainResult(model=model, history=history, metrics=metrics)
