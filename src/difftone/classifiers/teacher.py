"""The teacher: an instrument classifier on MERT hidden states (paper, section IV-B).

``TeacherEncoder`` is everything before the head: a learned softmax aggregation
over the hidden-state layers, a linear layer over time (``frames_in -> T'``) and a
linear layer over features (``hidden -> feature_dim``). Its output ``[B, T', 64]``
is the *teacher representation* the student is distilled towards.
``TeacherClassifier`` adds the head; ``TeacherAudioClassifier`` puts MERT in front
so that the metrics stage can classify waveforms (``inst_acc``). Waveforms longer
than the training clip (``window_seconds`` of the checkpoint) are read as windows
of that length, cut from the audio before any feature extraction
(:mod:`difftone.classifiers.windows`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from difftone.classifiers.checkpoint import load_state, read_checkpoint
from difftone.classifiers.heads import ClassifierHead
from difftone.classifiers.windows import Windowing, windowed


def fit_frames(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Resample the time axis (last) of ``x[..., T]`` to ``frames`` by linear interpolation (any T >= 1)."""
    if x.shape[-1] == frames:
        return x
    shape = x.shape
    y = F.interpolate(x.reshape(-1, 1, shape[-1]).float(), size=frames, mode="linear", align_corners=False)
    return y.reshape(*shape[:-1], frames).to(x.dtype)


class TeacherEncoder(nn.Module):
    """MERT hidden states ``[B, L, T, D]`` (any T >= 1) -> teacher representation ``[B, T', feature_dim]``."""

    def __init__(self, num_layers: int, hidden_size: int, frames_in: int, frames: int = 8, feature_dim: int = 64):
        super().__init__()
        self.config = dict(
            num_layers=num_layers, hidden_size=hidden_size, frames_in=frames_in, frames=frames, feature_dim=feature_dim
        )
        self.layer_logits = nn.Parameter(torch.zeros(num_layers))  # learned aggregation over layers
        self.time = nn.Linear(frames_in, frames)
        self.features = nn.Linear(hidden_size, feature_dim)

    def layer_weights(self) -> torch.Tensor:
        return torch.softmax(self.layer_logits, dim=0)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        L, D = self.config["num_layers"], self.config["hidden_size"]
        if hidden.dim() != 4 or hidden.shape[1] != L or hidden.shape[3] != D:
            raise ValueError(f"teacher expects MERT hidden states [batch, {L}, frames, {D}], got {tuple(hidden.shape)}")
        hidden = hidden.float()
        # each layer normalised over features (MERT layers differ in scale), then weighted
        hidden = F.layer_norm(hidden, (D,))
        x = torch.einsum("l,bltd->btd", self.layer_weights(), hidden)
        x = fit_frames(x.transpose(1, 2), self.config["frames_in"])  # [B, D, frames_in]
        x = self.time(x).transpose(1, 2)  # [B, T', D]
        return self.features(x)


class TeacherClassifier(nn.Module):
    """``TeacherEncoder`` + ``ClassifierHead``: MERT hidden states -> logits."""

    def __init__(self, encoder: TeacherEncoder, head: ClassifierHead, instruments: list[str]):
        super().__init__()
        if head.config["n_classes"] != len(instruments):
            raise ValueError(
                f"head has {head.config['n_classes']} classes but {len(instruments)} instruments were given"
            )
        self.encoder = encoder
        self.head = head
        self.instruments = list(instruments)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(hidden))

    def checkpoint_config(self, **extra: Any) -> dict[str, Any]:
        return {"instruments": self.instruments, "encoder": self.encoder.config, "head": self.head.config, **extra}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TeacherClassifier:
        return cls(TeacherEncoder(**config["encoder"]), ClassifierHead(**config["head"]), config["instruments"])


def load_teacher(path: str | Path) -> tuple[TeacherClassifier, dict[str, Any]]:
    """The trained teacher (eval mode) and its checkpoint config (which records the MERT spec)."""
    config, state = read_checkpoint(path, "teacher")
    model = TeacherClassifier.from_config(config)
    load_state(model, state, path)
    return model.eval(), config


class TeacherAudioClassifier(nn.Module):
    """MERT + teacher: classifies waveforms; ``predict_audio(wave, sr) -> probs [B, n]``."""

    def __init__(self, teacher: TeacherClassifier, mert, window_seconds: float | None = None, windowing=None):
        super().__init__()
        n_layers = mert.num_layers
        if (
            n_layers != teacher.encoder.config["num_layers"]
            or mert.hidden_size != teacher.encoder.config["hidden_size"]
        ):
            raise ValueError(
                f"features {mert.spec!r} give {n_layers} layers of {mert.hidden_size}, but the teacher was trained on "
                f"{teacher.encoder.config['num_layers']} of {teacher.encoder.config['hidden_size']}: "
                "use the teacher_features spec it was trained with"
            )
        self.teacher = teacher.eval()
        self.mert = mert
        self.instruments = teacher.instruments
        self.window_seconds = window_seconds  # training clip length; None: read any length whole
        self.windowing = Windowing.of(windowing)

    @torch.no_grad()
    def predict_audio(self, wave: np.ndarray | torch.Tensor, sr: int) -> torch.Tensor:
        """Class probabilities of ``wave`` (``[samples]``, ``[ch, samples]`` or ``[B, ch, samples]``) at rate ``sr``."""
        w = (
            wave.detach().cpu().float()
            if isinstance(wave, torch.Tensor)
            else torch.from_numpy(np.asarray(wave, np.float32))
        )
        w = w.reshape((1,) * (3 - w.dim()) + tuple(w.shape)) if w.dim() < 3 else w  # [B, ch, samples]
        device = next(self.teacher.parameters()).device

        def classify(chunk: torch.Tensor) -> torch.Tensor:
            return self.teacher(self.mert.hidden_states(chunk, sr).to(device)).cpu()  # MERT [B, L, T, D] -> logits

        length = None if self.window_seconds is None else int(round(self.window_seconds * sr))
        return torch.softmax(windowed(classify, w, length, self.windowing), dim=-1)

    def forward(self, wave: torch.Tensor, sr: int) -> torch.Tensor:
        return self.predict_audio(wave, sr)


def load_teacher_classifier(
    path: str | Path, mert_spec: str | None = None, device: str = "cpu", window=None
) -> TeacherAudioClassifier:
    """The teacher as an audio classifier for the metrics stage.

    Its features are the ones recorded in the checkpoint (``teacher_features``: MERT, or
    log-mel for ``kind: logmel``). ``mert_spec`` overrides the recorded MERT spec (e.g. a
    local snapshot of the same hub model); ``None`` uses the recorded one. ``window``:
    ``classifiers.window`` (hop, aggregate); the window length is the training clip
    length recorded in the checkpoint (``window_seconds``).
    """
    from difftone.classifiers.teacher_features import load_teacher_features

    teacher, config = load_teacher(path)
    feats = config["mert"]
    extractor = load_teacher_features(
        feats.get("kind", "mert"),
        mert_spec or feats["spec"],
        revision=feats.get("revision"),
        sample_rate=feats["sample_rate"],
        layers=feats.get("layers"),
        device=device,
    )
    return TeacherAudioClassifier(teacher.to(device), extractor, config.get("window_seconds"), window)
