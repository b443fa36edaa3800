"""Dataclass configurations for data, model, training and pre-training."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SEQ_LEN = 105  # one-minute bars per Moola window
N_FEATURES = 6  # see features.FEATURE_NAMES


@dataclass(frozen=True)
class DataConfig:
    """Synthetic data generator settings (data.generate): a Moola-sized labelled set, a test set
    large enough to judge one model, and a large unlabelled corpus for pre-training."""

    n_labelled: int = 200  # Moola had 115-174 labelled windows; training and validation split these
    n_test: int = 600
    n_unlabelled: int = 4000
    seq_len: int = SEQ_LEN
    data_seed: int = 7
    pos_rate: float = 0.43  # retracement share; consolidation is ~57%
    shift: float = 0.0  # regime shift: volatility and impulse x (1 + shift); used to simulate drift
    label_noise: float = 0.03  # share of flipped labels, in every labelled split


@dataclass(frozen=True)
class ModelConfig:
    """SimpleLSTM architecture (~17K parameters with the defaults)."""

    n_features: int = N_FEATURES
    hidden: int = 32  # per direction
    n_heads: int = 2
    head_dim: int = 8
    mlp_hidden: int = 32
    n_classes: int = 2
    dropout: float = 0.1

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build from a dict, ignoring unknown keys (forward compatible checkpoints)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TrainConfig:
    """Supervised training settings: the one place their defaults live.

    Training is budgeted in optimiser steps, not epochs, so a small labelled set is not
    under-trained (at 150 windows an epoch is a handful of steps). Validation is evaluated
    every ``eval_every`` steps; ``patience`` evaluations without a better validation loss stop.
    """

    steps: int = 400
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    eval_every: int = 20
    patience: int = 6
    val_frac: float = 0.2
    min_val: int = 24  # fewer validation windows cannot select a model or fit a temperature
    focal_gamma: float = 2.0
    jitter: float = 0.03  # std of Gaussian noise added to training inputs
    # Fine-tuning (Moola): the pre-trained encoder stays frozen for freeze_steps, then
    # everything trains with the encoder at lr * encoder_lr_scale.
    freeze_steps: int = 100
    encoder_lr_scale: float = 0.3
    seed: int = 17
    threads: int = 1
    device: str = "auto"
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON and checkpoints."""
        return asdict(self)


@dataclass
class PretrainConfig:
    """Masked-reconstruction pre-training settings, budgeted in optimiser steps.

    ``sigma`` is the time-warp strength: the std of the local speed of time around 1 (0 = no
    warp). The price path is warped and the features recomputed (augment.warp_ohlc).
    Pre-training stops early once the held-out reconstruction loss stops improving.
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    mask_ratio: float = 0.15
    sigma: float = 0.12
    n_knots: int = 4
    eval_every: int = 50
    patience: int = 5
    heldout_frac: float = 0.1  # unaugmented windows kept out to measure reconstruction
    seed: int = 17
    threads: int = 1
    device: str = "auto"
    hidden: int = 32

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON."""
        return asdict(self)
