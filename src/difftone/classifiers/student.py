"""The student: an instrument classifier on Stable Audio Open latents (paper, section IV-B).

``StudentEncoder``: per-channel standardisation of the latents, average pooling in
time to ``8 T'`` frames, then the SEANet encoder of Mimi (``transformers``'
``MimiEncoder``) with three blocks, each doubling the channels and halving time,
and a last convolution to ``feature_dim``: ``latents [B, C, T_any] -> [B, T', 64]``,
shaped like the teacher representation. ``LatentClassifier`` adds the head; it is
what the editing engine runs on ``x0_hat`` at every denoising step. A trained one
knows its training length (``window_frames``, the latent frames of a training clip)
and reads longer latents as windows of that length (:mod:`difftone.classifiers.windows`). The same class,
trained end to end with cross-entropy, is the non-distilled baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import MimiConfig
from transformers.models.mimi.modeling_mimi import MimiEncoder

from difftone.classifiers.checkpoint import load_state, read_checkpoint
from difftone.classifiers.heads import ClassifierHead
from difftone.classifiers.windows import Windowing, windowed

N_BLOCKS = 3  # each halves time: the pooled length is 2**3 * T'


class StudentEncoder(nn.Module):
    """SAO latents ``[B, C, T]`` (any T >= 1) -> student representation ``[B, T', feature_dim]``."""

    def __init__(self, in_channels: int, frames: int = 8, feature_dim: int = 64, channels: int = 16):
        super().__init__()
        self.config = dict(in_channels=in_channels, frames=frames, feature_dim=feature_dim, channels=channels)
        mimi = MimiConfig(
            audio_channels=in_channels,
            num_filters=channels,
            upsampling_ratios=[2] * N_BLOCKS,
            hidden_size=feature_dim,
            kernel_size=7,
            last_kernel_size=3,
            residual_kernel_size=3,
            num_residual_layers=1,
            use_causal_conv=False,
            pad_mode="replicate",
        )
        self.seanet = MimiEncoder(mimi)
        # latent statistics of the training set (set by training; identity until then)
        self.register_buffer("latent_mean", torch.zeros(in_channels))
        self.register_buffer("latent_std", torch.ones(in_channels))

    @property
    def pooled_frames(self) -> int:
        return self.config["frames"] * 2**N_BLOCKS

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std.clamp_min(1e-5))

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        C = self.config["in_channels"]
        if latents.dim() != 3 or latents.shape[1] != C or latents.shape[2] < 1:
            raise ValueError(f"student expects latents [batch, {C}, frames >= 1], got {tuple(latents.shape)}")
        x = (latents.float() - self.latent_mean[:, None]) / self.latent_std[:, None]
        # average pooling in time; adaptive so that any length works (short inputs are repeated)
        x = F.adaptive_avg_pool1d(x, self.pooled_frames)
        return self.seanet(x).transpose(1, 2)  # [B, T', feature_dim]


class LatentClassifier(nn.Module):
    """``latents [B, C, T_any] -> logits [B, n]``; ``instruments[i]`` is the IRMAS code of class i."""

    def __init__(self, student: StudentEncoder, head: ClassifierHead, instruments: list[str]):
        super().__init__()
        if head.config["n_classes"] != len(instruments):
            raise ValueError(
                f"head has {head.config['n_classes']} classes but {len(instruments)} instruments were given"
            )
        if head.config["feature_dim"] != student.config["feature_dim"]:
            raise ValueError("head and student disagree on feature_dim")
        self.student = student
        self.head = head
        self.instruments = list(instruments)
        self.window_frames: int | None = None  # training length; None: read any length whole
        self.windowing = Windowing()

    @property
    def in_channels(self) -> int:
        return self.student.config["in_channels"]

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return windowed(self.classify_window, latents, self.window_frames, self.windowing)

    def classify_window(self, latents: torch.Tensor) -> torch.Tensor:
        """Logits of latents read whole (the training-length path)."""
        return self.head(self.student(latents))

    @torch.no_grad()
    def predict(self, latents: torch.Tensor) -> list[str]:
        """IRMAS code of the top-1 class for each item of the batch."""
        return [self.instruments[i] for i in self(latents).argmax(-1).tolist()]

    def checkpoint_config(self, **extra: Any) -> dict[str, Any]:
        return {"instruments": self.instruments, "student": self.student.config, "head": self.head.config, **extra}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LatentClassifier:
        return cls(StudentEncoder(**config["student"]), ClassifierHead(**config["head"]), config["instruments"])


def load_student(path: str | Path) -> tuple[StudentEncoder, dict[str, Any]]:
    """A distilled ``StudentEncoder`` (eval mode) and its checkpoint config."""
    config, state = read_checkpoint(path, "student")
    student = StudentEncoder(**config["student"])
    load_state(student, state, path)
    return student.eval(), config


def load_latent_classifier(path: str | Path, device: str | torch.device = "cpu", window=None) -> LatentClassifier:
    """A trained latent classifier (distilled or non-distilled), frozen and in eval mode.

    ``window``: ``classifiers.window`` (hop, aggregate; default :class:`Windowing`); the window
    length is the training length recorded in the checkpoint (``window_frames``).
    """
    config, state = read_checkpoint(path, "latent_classifier")
    model = LatentClassifier.from_config(config)
    load_state(model, state, path)
    model.window_frames = config.get("window_frames")
    model.windowing = Windowing.of(window)
    model.requires_grad_(False)
    return model.to(device).eval()


def tiny_latent_classifier(
    in_channels: int, instruments: list[str], seed: int = 0, frames: int = 8, feature_dim: int = 64, channels: int = 8
) -> LatentClassifier:
    """An untrained ``LatentClassifier`` with seeded weights, for offline CLI use and tests."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LatentClassifier(
            StudentEncoder(in_channels, frames=frames, feature_dim=feature_dim, channels=channels),
            ClassifierHead(feature_dim, len(instruments), hidden=32, lstm_size=32, dropout=0.0),
            instruments,
        )
    model.requires_grad_(False)
    return model.eval()
