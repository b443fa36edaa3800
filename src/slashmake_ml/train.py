"""Supervised training of SimpleLSTM: focal loss, AdamW, early stopping, jitter."""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
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


def split_train_val(y: np.ndarray, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, val) indices; at least ``cfg.min_val`` validation windows, or an error."""
    n_val = max(cfg.min_val, round(cfg.val_frac * len(y)))
    if n_val > len(y) // 2:
        raise ValueError(
            f"{len(y)} labelled windows are too few: validation needs at least {cfg.min_val} "
            f"and training at least as many (label more windows or lower --min-val)"
        )
    return stratified_split(y, n_val / len(y), cfg.seed)


def train_classifier(
    X: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    init_encoder: dict[str, torch.Tensor] | None = None,
    progress: bool = True,
    log: Any = None,
) -> TrainResult:
    """Train SimpleLSTM on features X (N, T, F) with labels y (N,) for ``cfg.steps`` optimiser steps.

    A stratified validation split (``val_frac``, at least ``min_val`` windows) is evaluated
    every ``eval_every`` steps for early stopping on validation loss; the best weights are
    restored and a temperature is fitted on validation. ``init_encoder`` (a BiLSTMEncoder
    state_dict) starts fine-tuning as Moola did: encoder frozen for ``freeze_steps``, then
    unfrozen at ``lr * encoder_lr_scale``. Its hash and the model's encoder hash right after
    loading are recorded so a caller can prove where training started.
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
    metrics["fine_tuned"] = init_encoder is not None
    if init_encoder is not None:
        metrics["encoder_sha256_loaded"] = state_dict_sha256(init_encoder)
        model.encoder.load_state_dict(init_encoder)
        metrics["model_encoder_sha256_at_start"] = state_dict_sha256(model.encoder.state_dict())

    tr_idx, va_idx = split_train_val(y, cfg)
    Xt = torch.from_numpy(X[tr_idx]).to(device)  # (Ntr, T, F)
    yt = torch.from_numpy(y[tr_idx]).long().to(device)
    Xv = torch.from_numpy(X[va_idx]).to(device)  # (Nva, T, F)
    yv = torch.from_numpy(y[va_idx]).long().to(device)
    enc_params = list(model.encoder.parameters())
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    freeze = cfg.freeze_steps if init_encoder is not None else 0
    enc_lr = cfg.lr * (cfg.encoder_lr_scale if init_encoder is not None else 1.0)
    opt = torch.optim.AdamW(
        [{"params": head_params, "lr": cfg.lr}, {"params": enc_params, "lr": 0.0 if freeze else enc_lr}],
        weight_decay=cfg.weight_decay,
    )
    gen = torch.Generator().manual_seed(cfg.seed)  # data order independent of the global RNG

    history: dict[str, list[float]] = {"step": [], "train_loss": [], "val_loss": [], "val_acc": []}
    best_loss, best_state, bad, best_step = float("inf"), copy.deepcopy(model.state_dict()), 0, 0
    perm, pos, running, seen = torch.randperm(len(Xt), generator=gen), 0, 0.0, 0
    t0 = time.perf_counter()
    bar = tqdm(range(1, cfg.steps + 1), desc="train", file=sys.stderr, disable=not progress, leave=False)
    for step in bar:
        if step == freeze + 1 and freeze:
            opt.param_groups[1]["lr"] = enc_lr  # unfreeze the pre-trained encoder
        model.train()
        if pos + cfg.batch_size > len(Xt):  # a new pass over the training windows
            perm, pos = torch.randperm(len(Xt), generator=gen), 0
        idx = perm[pos : pos + cfg.batch_size].to(device)
        pos += cfg.batch_size
        xb, yb = Xt[idx], yt[idx]  # (B, T, F), (B,)
        if cfg.jitter > 0:
            # Jitter: small noise makes the model robust to tick-level measurement noise.
            xb = xb + cfg.jitter * torch.randn(xb.shape, generator=gen).to(device)
        loss = focal_loss(model(xb), yb, cfg.focal_gamma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # LSTMs spike early on
        opt.step()
        running, seen = running + float(loss.detach()) * len(idx), seen + len(idx)
        if step % cfg.eval_every and step != cfg.steps:
            continue
        val_loss, val_acc = _eval_loss(model, Xv, yv, cfg.focal_gamma, 512)
        for k, v in (("step", step), ("train_loss", running / seen), ("val_loss", val_loss), ("val_acc", val_acc)):
            history[k].append(v)
        running, seen = 0.0, 0
        bar.set_postfix(val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.3f}")
        if log is not None:
            print(f"step {step} train_loss {history['train_loss'][-1]:.4f} val_loss {val_loss:.4f} "
                  f"val_acc {val_acc:.3f}", file=log, flush=True)
        if val_loss < best_loss - 1e-5:
            best_loss, best_step, bad = val_loss, step, 0
            best_state = copy.deepcopy(model.state_dict())
        elif step > freeze:  # the frozen phase does not count against patience
            bad += 1
            if bad >= cfg.patience:
                break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    temperature = fit_temperature(model, Xv, yv)
    with torch.no_grad():  # cross-entropy after temperature scaling: comparable across focal gammas
        val_log_loss = float(F.cross_entropy(torch.cat([model(Xv[i : i + 512]) for i in range(0, len(Xv), 512)]), yv))
    best_i = history["step"].index(best_step) if best_step else 0
    metrics.update(
        best_val_loss=best_loss,
        val_accuracy=history["val_acc"][best_i],
        best_step=best_step,
        steps_run=history["step"][-1],
        train_time_s=round(time.perf_counter() - t0, 3),
        n_train=len(tr_idx),
        n_val=len(va_idx),
        temperature=temperature,
        val_log_loss=val_log_loss,
    )
    return TrainResult(model=model, history=history, metrics=metrics)


def with_best_params(cfg: TrainConfig, path: str) -> TrainConfig:
    """``cfg`` with the ``best`` values of a /hyperparameter-tune best_params.json (none when path is empty)."""
    if not path:
        return cfg
    best = json.loads(Path(path).read_text()).get("best", {})
    known = {f.name for f in dataclasses.fields(cfg)}
    print(f"hyper-parameters from {path}: {best}", flush=True)
    return dataclasses.replace(cfg, **{k: v for k, v in best.items() if k in known})


def fit_and_save(
    X: np.ndarray, y: np.ndarray, cfg: TrainConfig, model_path: str, curve: str | None = None,
    encoder_path: str | None = None, extra: dict[str, Any] | None = None,
) -> TrainResult:
    """Train (fine-tune from ``encoder_path`` when given), save the checkpoint and the curve."""
    from slashmake_ml.model import save_checkpoint
    from slashmake_ml.plots import plot_curve

    enc = torch.load(encoder_path, map_location="cpu", weights_only=True)["encoder"] if encoder_path else None
    res = train_classifier(X, y, cfg, init_encoder=enc, log=sys.stdout)
    scalars = {k: v for k, v in res.metrics.items() if isinstance(v, int | float)}
    save_checkpoint(model_path, res.model, {"train_config": cfg.to_dict(), "metrics": scalars, **(extra or {})})
    if curve:
        plot_curve(res.history, curve, "fine-tune" if enc is not None else "train")
        # The curve's numbers beside its picture, for `slashmake compare` to overlay runs' curves.
        Path(curve).with_suffix(".json").write_text(json.dumps(res.history))
    return res
