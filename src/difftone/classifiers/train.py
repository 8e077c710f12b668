"""Training of the three classifiers (paper, sections IV-B and V-C).

1. :func:`train_teacher`: teacher encoder + head on cached MERT hidden states, cross-entropy.
2. :func:`distill_student`: student encoder on cached SAO latents, cosine-similarity loss
   against the frozen teacher representation of the same clip.
3. :func:`train_student_head`: a head of the teacher's architecture on the frozen student,
   cross-entropy; saved with the student as the *distilled* latent classifier.
4. :func:`train_baseline`: the same student architecture and head trained end to end with
   cross-entropy on SAO latents: the *non-distilled* latent classifier.

All use :func:`fit`: Adam, early stopping on the validation split (the best epoch's
weights are kept), per-epoch loss and accuracy logged, seeded (deterministic on CPU).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, TensorDataset
from tqdm import tqdm

from difftone.classifiers.cache import load_split, read_clip, read_index
from difftone.classifiers.checkpoint import save_checkpoint
from difftone.classifiers.heads import ClassifierHead
from difftone.classifiers.student import LatentClassifier, StudentEncoder, load_student
from difftone.classifiers.teacher import TeacherClassifier, TeacherEncoder, fit_frames, load_teacher
from difftone.files import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageParams:
    """One training stage's schedule (``classifiers.<stage>`` in the config)."""

    epochs: int = 30
    lr: float = 1e-3
    patience: int = 8
    batch_size: int = 32

    @classmethod
    def of(cls, d: dict[str, Any] | StageParams) -> StageParams:
        return d if isinstance(d, StageParams) else cls(**d)


@dataclass(frozen=True)
class Arch:
    """Architecture shared by the three classifiers (``classifiers`` keys of the config)."""

    frames: int = 8  # T'
    feature_dim: int = 64
    head_hidden: int = 64
    lstm_size: int = 64
    dropout: float = 0.3
    student_channels: int = 16

    @classmethod
    def of(cls, d: dict[str, Any] | Arch) -> Arch:
        if isinstance(d, Arch):
            return d
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def head(self, n_classes: int) -> ClassifierHead:
        return ClassifierHead(self.feature_dim, n_classes, self.head_hidden, self.lstm_size, self.dropout)


def _device(device: str) -> torch.device:
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"config device is {device!r} but CUDA is not available here; set `device: cpu`")
    return torch.device(device)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(-1) == y).float().mean())


def cosine_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` between representations ``[B, T', D]``, per frame over D, averaged."""
    return (1 - F.cosine_similarity(pred, target, dim=-1)).mean()


def fit(
    model: nn.Module,
    train: Dataset,
    val: Dataset,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    params: StageParams,
    device: torch.device,
    seed: int,
    desc: str,
    score_fn: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
) -> pd.DataFrame:
    """Train ``model`` with Adam; early-stop on validation (score if given, else loss); keep the best weights.

    Returns the history (epoch, train_loss, val_loss, [train_acc, val_acc]).
    """
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(train, batch_size=params.batch_size, shuffle=True, generator=gen)
    val_loader = DataLoader(val, batch_size=max(params.batch_size, 64))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=params.lr)
    best, best_state, waited, rows = -math.inf, None, 0, []

    def run(batches, train_mode: bool) -> tuple[float, float | None]:
        model.train(train_mode)
        total, n, outs, ys = 0.0, 0, [], []
        with torch.set_grad_enabled(train_mode):
            for x, y in batches:
                x, y = x.to(device), y.to(device)
                out = model(x)
                loss = loss_fn(out, y)
                if train_mode:
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                total += loss.item() * len(x)
                n += len(x)
                if score_fn is not None:
                    outs.append(out.detach())
                    ys.append(y)
        score = score_fn(torch.cat(outs), torch.cat(ys)) if score_fn is not None else None
        return total / n, score

    bar = tqdm(range(1, params.epochs + 1), desc=desc, unit="epoch")
    for epoch in bar:
        train_loss, train_score = run(loader, True)
        val_loss, val_score = run(val_loader, False)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss}
        if score_fn is not None:
            row.update(train_acc=train_score, val_acc=val_score)
        rows.append(row)
        log.info("%s epoch %d: %s", desc, epoch, ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"))
        current = val_score if score_fn is not None else -val_loss
        if current > best + 1e-6:
            best, waited = current, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
        bar.set_postfix({k: round(v, 3) for k, v in row.items() if k != "epoch"})
        if waited >= params.patience:
            log.info("%s: early stop after epoch %d (no validation improvement in %d epochs)", desc, epoch, waited)
            break
    model.load_state_dict(best_state)
    model.eval()
    hist = pd.DataFrame(rows)
    best_row = hist.loc[hist["val_acc"].idxmax()] if score_fn is not None else hist.loc[hist["val_loss"].idxmin()]
    log.info(
        "%s: best epoch %d (%s)",
        desc,
        int(best_row["epoch"]),
        ", ".join(f"{k} {best_row[k]:.4f}" for k in hist.columns[1:]),
    )
    return hist


class ClipDataset(Dataset):
    """Cached clip tensors read from disk on access (float32, time fitted to ``frames``) with labels."""

    def __init__(self, files: list[Path], labels: torch.Tensor, frames: int, time_axis: int):
        self.files, self.labels, self.frames, self.time_axis = files, labels, frames, time_axis

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = read_clip(self.files[i]).float()
        x = fit_frames(x.movedim(self.time_axis, -1), self.frames).movedim(-1, self.time_axis)
        return x, self.labels[i]


def _frames_of(manifest_csv: str | Path, split: str = "train") -> int:
    df = read_index(manifest_csv, ("split", "frames"))
    return int(df.loc[df["split"] == split, "frames"].median())


def _mert_split(manifest: str | Path, split: str, instruments: list[str], frames_in: int) -> ClipDataset:
    files, labels = load_split(manifest, split, instruments)
    return ClipDataset(files, labels, frames_in, time_axis=1)  # [L, T, D]


def _latent_split(
    manifest: str | Path, split: str, instruments: list[str], frames: int
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """All latents of a split in memory ``[N, C, frames]`` (they are small), labels, and clip paths."""
    files, labels = load_split(manifest, split, instruments)
    ds = ClipDataset(files, labels, frames, time_axis=-1)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    df = read_index(manifest)
    return x, labels, list(df.loc[df["split"] == split, "path"])


def _write_history(hist: pd.DataFrame, out_dir: Path) -> None:
    with atomic_path(out_dir / "history.csv") as tmp:
        hist.to_csv(tmp, index=False)


def _seed(seed: int) -> None:
    torch.manual_seed(seed)


def train_teacher(
    mert_manifest: str | Path,
    out_dir: str | Path,
    instruments: list[str],
    mert: dict[str, Any],
    arch: dict[str, Any] | Arch,
    params: dict[str, Any] | StageParams,
    device: str = "cpu",
    seed: int = 0,
    clip_seconds: float | None = None,
    roundtrip_manifest: str | Path | None = None,
) -> TeacherClassifier:
    """Train the teacher on cached MERT features; ``mert`` (the teacher_features config) is recorded.

    ``clip_seconds``: the training clips' length (``data.clip_seconds``), recorded as the window
    length the teacher reads longer audio with (None: longer audio is read whole).
    ``roundtrip_manifest`` (``teacher_features.roundtrip``): the features of the same train and val
    clips after the demo autoencoder's round trip (:func:`teacher_training_sets`).
    """
    arch, params, dev, out_dir = Arch.of(arch), StageParams.of(params), _device(device), Path(out_dir)
    frames_in = _frames_of(mert_manifest)
    train, val = teacher_training_sets(mert_manifest, instruments, frames_in, roundtrip_manifest)
    num_layers, _, hidden = train[0][0].shape
    log.info(
        "teacher: %d train / %d val clips%s, MERT %d layers x %d frames x %d",
        len(train),
        len(val),
        " (clean + round-tripped)" if roundtrip_manifest is not None else "",
        num_layers,
        frames_in,
        hidden,
    )
    _seed(seed)
    encoder = TeacherEncoder(num_layers, hidden, frames_in, arch.frames, arch.feature_dim)
    model = TeacherClassifier(encoder, arch.head(len(instruments)), instruments).to(dev)
    hist = fit(model, train, val, F.cross_entropy, params, dev, seed, "teacher", score_fn=accuracy)
    weights = [round(w, 4) for w in model.encoder.layer_weights().tolist()]
    log.info("teacher: layer weights %s", weights)
    summary = {"val_acc": float(hist["val_acc"].max()), "epochs_run": len(hist), "layer_weights": weights}
    save_checkpoint(
        model,
        "teacher",
        model.checkpoint_config(
            mert=dict(mert), window_seconds=clip_seconds, training={**params.__dict__, "seed": seed}, summary=summary
        ),
        out_dir,
    )
    _write_history(hist, out_dir)
    return model


def teacher_training_sets(
    mert_manifest: str | Path, instruments: list[str], frames_in: int, roundtrip_manifest: str | Path | None = None
) -> tuple[ClipDataset, ClipDataset]:
    """The teacher's training and validation sets: the clean train / val clips of ``mert_manifest``, and,
    with ``roundtrip_manifest``, the same clips after the round trip added to each (train: clean +
    round-tripped; validation: clean + round-tripped, the two kinds of audio the teacher judges: clean
    clips in Table I, decoded generations and edits in the metrics). The round-trip manifest must list
    exactly the clean train and val clips: no test clip ever reaches training or model selection."""
    sets = [_mert_split(mert_manifest, split, instruments, frames_in) for split in ("train", "val")]
    if roundtrip_manifest is None:
        return sets[0], sets[1]
    clean, rt = read_index(mert_manifest), read_index(roundtrip_manifest)
    extra = sorted(set(rt["split"]) - {"train", "val"})
    if extra:
        raise ValueError(
            f"{roundtrip_manifest} has clips of split(s) {extra}: only train and val clips are "
            "round-tripped; rerun the features stage"
        )
    for split in ("train", "val"):
        if sorted(rt.loc[rt["split"] == split, "path"]) != sorted(clean.loc[clean["split"] == split, "path"]):
            raise ValueError(
                f"{roundtrip_manifest} and {mert_manifest} list different {split} clips; "
                "rerun both feature stages from the same results/data/index.csv"
            )
    for i, split in enumerate(("train", "val")):
        files, labels = load_split(roundtrip_manifest, split, instruments)
        sets[i] = ConcatDataset([sets[i], ClipDataset(files, labels, frames_in, time_axis=1)])
    return sets[0], sets[1]


@torch.no_grad()
def teacher_representations(
    teacher: TeacherClassifier, data: ClipDataset, device: torch.device, batch_size: int = 64
) -> torch.Tensor:
    """The frozen teacher representation ``[N, T', D]`` of every clip of ``data``."""
    teacher.eval().to(device)
    reps = [teacher.encoder(x.to(device)).cpu() for x, _ in DataLoader(data, batch_size=batch_size)]
    return torch.cat(reps)


def _paired(latent_manifest: str | Path, mert_manifest: str | Path) -> None:
    a, b = read_index(latent_manifest), read_index(mert_manifest)
    for split in ("train", "val"):
        pa, pb = list(a.loc[a["split"] == split, "path"]), list(b.loc[b["split"] == split, "path"])
        if pa != pb:
            raise ValueError(
                f"{latent_manifest} and {mert_manifest} list different {split} clips; "
                "rerun both feature stages from the same results/data/index.csv"
            )


def distill_student(
    teacher_dir: str | Path,
    mert_manifest: str | Path,
    latent_manifest: str | Path,
    out_dir: str | Path,
    arch: dict[str, Any] | Arch,
    params: dict[str, Any] | StageParams,
    device: str = "cpu",
    seed: int = 0,
) -> StudentEncoder:
    """Distil the frozen teacher's representation into a student on SAO latents (cosine loss)."""
    arch, params, dev, out_dir = Arch.of(arch), StageParams.of(params), _device(device), Path(out_dir)
    teacher, tconfig = load_teacher(teacher_dir)
    instruments = tconfig["instruments"]
    if tconfig["encoder"]["frames"] != arch.frames or tconfig["encoder"]["feature_dim"] != arch.feature_dim:
        raise ValueError(f"teacher {teacher_dir} was trained with another classifiers.frames/feature_dim; retrain it")
    _paired(latent_manifest, mert_manifest)
    frames_in = tconfig["encoder"]["frames_in"]
    sets = {}
    for split in ("train", "val"):
        lat, _, _ = _latent_split(latent_manifest, split, instruments, _frames_of(latent_manifest))
        rep = teacher_representations(teacher, _mert_split(mert_manifest, split, instruments, frames_in), dev)
        sets[split] = TensorDataset(lat, rep)
    in_channels = sets["train"].tensors[0].shape[1]
    log.info(
        "distillation: %d train / %d val clips, latents %d channels x %d frames -> teacher representation %s",
        len(sets["train"]),
        len(sets["val"]),
        in_channels,
        sets["train"].tensors[0].shape[2],
        tuple(sets["train"].tensors[1].shape[1:]),
    )
    _seed(seed)
    student = StudentEncoder(in_channels, arch.frames, arch.feature_dim, arch.student_channels)
    lat = sets["train"].tensors[0]
    student.set_latent_stats(lat.mean(dim=(0, 2)), lat.std(dim=(0, 2)))
    student.to(dev)
    hist = fit(student, sets["train"], sets["val"], cosine_loss, params, dev, seed, "distill")
    summary = {"val_cosine_loss": float(hist["val_loss"].min()), "epochs_run": len(hist)}
    config = {
        "instruments": instruments,
        "student": student.config,
        "training": {**params.__dict__, "seed": seed},
        "summary": summary,
    }
    save_checkpoint(student, "student", config, out_dir)
    _write_history(hist, out_dir)
    return student


def train_student_head(
    student_dir: str | Path,
    latent_manifest: str | Path,
    out_dir: str | Path,
    arch: dict[str, Any] | Arch,
    params: dict[str, Any] | StageParams,
    device: str = "cpu",
    seed: int = 0,
) -> LatentClassifier:
    """Train a head (teacher architecture) on the frozen distilled student: the distilled classifier."""
    arch, params, dev, out_dir = Arch.of(arch), StageParams.of(params), _device(device), Path(out_dir)
    student, sconfig = load_student(student_dir)
    instruments = sconfig["instruments"]
    student.requires_grad_(False).to(dev)
    sets = {}
    for split in ("train", "val"):
        lat, y, _ = _latent_split(latent_manifest, split, instruments, _frames_of(latent_manifest))
        with torch.no_grad():
            reps = torch.cat([student(b.to(dev)).cpu() for b in lat.split(64)])
        sets[split] = TensorDataset(reps, y)
    log.info("student head: %d train / %d val clips on the frozen student", len(sets["train"]), len(sets["val"]))
    _seed(seed)
    head = ClassifierHead(
        student.config["feature_dim"], len(instruments), arch.head_hidden, arch.lstm_size, arch.dropout
    ).to(dev)
    hist = fit(head, sets["train"], sets["val"], F.cross_entropy, params, dev, seed, "student head", score_fn=accuracy)
    model = LatentClassifier(student.cpu(), head.cpu(), instruments).eval()
    summary = {"val_acc": float(hist["val_acc"].max()), "epochs_run": len(hist)}
    save_checkpoint(
        model,
        "latent_classifier",
        model.checkpoint_config(
            variant="distilled",
            window_frames=_frames_of(latent_manifest),
            training={**params.__dict__, "seed": seed},
            summary=summary,
        ),
        out_dir,
    )
    _write_history(hist, out_dir)
    return model


def train_baseline(
    latent_manifest: str | Path,
    out_dir: str | Path,
    instruments: list[str],
    arch: dict[str, Any] | Arch,
    params: dict[str, Any] | StageParams,
    device: str = "cpu",
    seed: int = 0,
) -> LatentClassifier:
    """The non-distilled baseline: student architecture + head, cross-entropy on SAO latents end to end."""
    arch, params, dev, out_dir = Arch.of(arch), StageParams.of(params), _device(device), Path(out_dir)
    frames = _frames_of(latent_manifest)
    lat, y, _ = _latent_split(latent_manifest, "train", instruments, frames)
    vlat, vy, _ = _latent_split(latent_manifest, "val", instruments, frames)
    log.info(
        "baseline: %d train / %d val clips, latents %d channels x %d frames",
        len(lat),
        len(vlat),
        lat.shape[1],
        lat.shape[2],
    )
    _seed(seed)
    student = StudentEncoder(lat.shape[1], arch.frames, arch.feature_dim, arch.student_channels)
    student.set_latent_stats(lat.mean(dim=(0, 2)), lat.std(dim=(0, 2)))
    model = LatentClassifier(student, arch.head(len(instruments)), instruments).to(dev)
    hist = fit(
        model,
        TensorDataset(lat, y),
        TensorDataset(vlat, vy),
        F.cross_entropy,
        params,
        dev,
        seed,
        "baseline",
        score_fn=accuracy,
    )
    model = model.cpu().eval()
    summary = {"val_acc": float(hist["val_acc"].max()), "epochs_run": len(hist)}
    save_checkpoint(
        model,
        "latent_classifier",
        model.checkpoint_config(
            variant="non-distilled", window_frames=frames, training={**params.__dict__, "seed": seed}, summary=summary
        ),
        out_dir,
    )
    _write_history(hist, out_dir)
    return model
