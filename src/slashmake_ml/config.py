"""Dataclass configurations for data, model, training and pre-training."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SEQ_LEN = 105  # one-minute bars per Moola window
N_FEATURES = 6  # see features.FEATURE_NAMES


@dataclass(frozen=True)
class DataConfig:
    """Synthetic data generator settings."""

    n_labelled: int = 1000
    n_test: int = 300
    n_unlabelled: int = 2000
    seq_len: int = SEQ_LEN
    seed: int = 7
    pos_rate: float = 0.43  # retracement share; consolidation is ~57%
    shift: float = 0.0  # regime shift: volatility x (1 + shift); used to simulate drift


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
    """Supervised training settings."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-2
    patience: int = 5
    val_frac: float = 0.15
    focal_gamma: float = 2.0
    jitter: float = 0.03  # std of Gaussian noise added to training inputs
    seed: int = 17
    threads: int = 1
    device: str = "auto"
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON and checkpoints."""
        return asdict(self)


@dataclass
class PretrainConfig:
    """Masked-reconstruction pre-training settings."""

    epochs: int = 5
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    mask_ratio: float = 0.15
    sigma: float = 0.12  # time-warp strength: the swept "sigma"
    n_knots: int = 4
    seed: int = 17
    threads: int = 1
    device: str = "auto"
    hidden: int = 32
    n_features: int = N_FEATURES

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON."""
        return asdict(self)
