"""SimpleLSTM (~17K parameters) and the BiLSTM encoder it shares with pre-training."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from slashmake_ml.config import ModelConfig


class BiLSTMEncoder(nn.Module):
    """Bidirectional LSTM over a window: (B, T, F) -> (B, T, 2H).

    Pre-training trains exactly this module, so its state_dict loads into SimpleLSTM.encoder.
    """

    def __init__(self, n_features: int, hidden: int = 32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, 2H)
        return out


class TemporalSelfAttention(nn.Module):
    """Multi-head self-attention over time with a narrow projection (keeps the model ~17K)."""

    def __init__(self, d_model: int, n_heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.head_dim = n_heads, head_dim
        self.qkv = nn.Linear(d_model, 3 * n_heads * head_dim)
        self.proj = nn.Linear(n_heads * head_dim, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        q, k, v = self.qkv(x).split(self.n_heads * self.head_dim, dim=-1)  # each (B, T, nh*hd)
        q, k, v = (
            z.view(B, T, self.n_heads, self.head_dim).transpose(1, 2) for z in (q, k, v)
        )  # (B, nh, T, hd)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)  # (B, T, nh*hd)
        return self.proj(y)  # (B, T, D)


class SimpleLSTM(nn.Module):
    """BiLSTM -> self-attention (residual + LayerNorm) -> mean pool -> MLP -> 2 logits."""

    temperature: torch.Tensor

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = BiLSTMEncoder(cfg.n_features, cfg.hidden)
        d = self.encoder.out_dim
        self.attn = TemporalSelfAttention(d, cfg.n_heads, cfg.head_dim, cfg.dropout)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(
            nn.Linear(d, cfg.mlp_hidden),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.mlp_hidden, cfg.n_classes),
        )
        # Temperature fitted on the validation split after training (focal loss under-states
        # confidence); a buffer, so it travels with the state_dict and the exported program.
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)  # (B, T, D)
        h = self.norm(h + self.attn(h))  # (B, T, D) residual keeps the LSTM signal if attention is unhelpful
        pooled = h.mean(dim=1)  # (B, D)
        return self.head(pooled) / self.temperature  # (B, C)


class MaskedReconstructor(nn.Module):
    """Pre-training wrapper: encoder + linear decoder back to the input features."""

    def __init__(self, n_features: int, hidden: int = 32) -> None:
        super().__init__()
        self.encoder = BiLSTMEncoder(n_features, hidden)
        self.mask_token = nn.Parameter(torch.zeros(n_features))
        self.decoder = nn.Linear(self.encoder.out_dim, n_features)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, F), mask (B, T) bool: True where the step is hidden -> reconstruction (B, T, F)."""
        x_in = torch.where(mask[..., None], self.mask_token.expand_as(x), x)
        return self.decoder(self.encoder(x_in))


def n_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def state_dict_sha256(sd: Mapping[str, torch.Tensor]) -> str:
    """Canonical sha256 of a state_dict: keys in order, dtype, shape and raw bytes of each tensor.

    Independent of how the dict was serialised, so a file's encoder and a model's live
    encoder hash equal exactly when their weights are equal.
    """
    h = hashlib.sha256()
    for k in sorted(sd):
        t = sd[k].detach().to("cpu").contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def pick_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda requested but no CUDA device is available")
    return torch.device(device)


def save_checkpoint(path: str, model: SimpleLSTM, extra: dict[str, object] | None = None) -> None:
    """Atomically save {model_config, state_dict, feature_version, ...}; loadable with weights_only=True."""
    from dataclasses import asdict

    from slashmake_ml import FEATURE_VERSION
    from slashmake_ml.fileio import atomic_write

    ckpt = {
        "model_config": asdict(model.cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "feature_version": FEATURE_VERSION,
        **(extra or {}),
    }
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def load_checkpoint(path: str, device: str | torch.device = "cpu") -> tuple[SimpleLSTM, dict[str, object]]:
    """Load a SimpleLSTM checkpoint written by save_checkpoint (safe: weights_only)."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    model = SimpleLSTM(ModelConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt
