"""Train the ``demo`` model family (:mod:`difftone.models.demo`) on the embedded dataset.

The recipe is Stable Audio Open's, small:

1. the training clips of ``results/data/index.csv`` are encoded once by the mel
   autoencoder (its global mean/std are computed from these clips and stored in its
   config);
2. each step draws a batch of latents with a caption naming the clip's instrument
   ("a gentle violin melody"), 10% of them with the empty prompt (the all-zero
   conditioning of classifier-free guidance, as the pipeline builds it);
3. v-prediction in SAO's parameterization: t logit-normal rescaled to
   [atan(sigma_min), atan(sigma_max)] * 2/pi, sigma = tan(t pi/2), model input
   x / sqrt(sigma^2 + 1), target (eps - sigma x0) / sqrt(sigma^2 + 1);
4. AdamW with a cosine decay over ``max_steps``, an EMA of the weights, which are
   the ones saved.

Outputs: the checkpoint folder (diffusers layout, safetensors, with ``training.json``),
``loss.csv`` and a loss-curve figure. Every run trains exactly ``max_steps`` and is
reproducible from the seed: nothing depends on the clock. ``budget_seconds`` only warns
(log and ``training.json``) when a machine is slower than the budget assumes.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.fft
import torch
from tqdm.auto import tqdm

from difftone import audio
from difftone.files import atomic_folder, atomic_path
from difftone.instruments import INSTRUMENTS
from difftone.models.demo import (
    MelAutoencoder,
    build_demo_components,
    latent_frames,
    load_demo_autoencoder,
    save_demo_components,
)
from difftone.models.sao import SAOBackbone

log = logging.getLogger(__name__)


class DemoTrainingError(ValueError):
    """The training data or settings cannot be used; the message says what to fix."""


@dataclass
class DemoTrainingSettings:
    """The ``demo:`` config section (see ``workflow/schemas/config.schema.yaml``)."""

    budget_seconds: float | None = 600.0
    max_steps: int = 3000
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    ema_decay: float = 0.999
    prompt_dropout: float = 0.1
    clips_per_instrument: int | None = None
    clip_seconds: float = 3.0
    seed: int = 0
    log_every: int = 50
    eval_per_instrument: int = 2
    eval_steps: int = 30
    guidance_scale: float = 4.0
    timbre_coefficients: int | None = None
    timbre_std: float = 1.0
    note_std: float = 1.0

    @classmethod
    def from_config(cls, section: dict) -> DemoTrainingSettings:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in section.items() if k in known})


# -- captions --------------------------------------------------------------------------

CAPTION_TEMPLATES: tuple[str, ...] = (
    "{inst}",
    "a {inst} note",
    "a {adj} {inst} note",
    "a {adj} {inst} melody",
    "a {adj} {inst} chord",
    "a {adj} {inst} phrase",
    "{adj} {inst} playing a {noun}",
    "a {adj} and {adj2} {inst} {noun}",
    "solo {inst} , {adj} {noun}",
    "{genre} {inst} {noun}",
    "a {adj} {genre} {noun} played on the {inst}",
    "the sound of a {inst}",
)
ADJECTIVES = (
    "soft loud gentle bright warm dark mellow smooth rich clean calm lively sad happy elegant "
    "expressive delicate powerful dreamy melancholic joyful peaceful tender bold quiet intimate "
    "lyrical playful slow fast short long simple sustained legato staccato"
).split()
NOUNS = "note notes melody chord chords phrase line tune motif theme piece sound tone riff arpeggio".split()
GENRES = "classical jazz pop rock folk blues ambient cinematic country latin".split()


DUET_TEMPLATES: tuple[str, ...] = (
    "{a} and {b}",
    "a duet for {a} and {b}",
    "a {adj} duet for {a} and {b}",
    "a {genre} duet for {a} and {b}",
    "{a} and {b} playing a {noun}",
    "a {adj} {noun} played on {a} and {b}",
    "{genre} {a} and {b} duet",
    "a {adj} {genre} duet of {a} with {b}",
)


def duet_caption(codes: tuple[str, str], rng: np.random.Generator) -> str:
    """A random caption naming both instruments of a duet by their prompt words, once each, in either order."""
    a, b = (INSTRUMENTS[c].name for c in (codes if rng.random() < 0.5 else codes[::-1]))
    template = DUET_TEMPLATES[rng.integers(len(DUET_TEMPLATES))]
    return template.format(a=a, b=b, adj=rng.choice(ADJECTIVES), noun=rng.choice(NOUNS), genre=rng.choice(GENRES))


def training_caption(codes: str | tuple[str, ...], rng: np.random.Generator) -> str:
    """The caption of a training clip: one instrument (:func:`caption`) or a duet (:func:`duet_caption`)."""
    return caption(codes, rng) if isinstance(codes, str) else duet_caption(tuple(codes), rng)


def caption(code: str, rng: np.random.Generator) -> str:
    """A random caption naming instrument ``code`` by its prompt word exactly once.

    Half are short captions (:data:`CAPTION_TEMPLATES`), half are sentences of the
    offline prompt generator's templates and word pools (:mod:`difftone.prompts`), so
    that the prompts the experiment generates from are in the training distribution.
    """
    if rng.random() < 0.5:
        return prompt_like_caption(code, rng)
    template = CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))]
    adj, adj2 = rng.choice(ADJECTIVES, size=2, replace=False)
    return template.format(
        inst=INSTRUMENTS[code].name,
        adj=adj,
        adj2=adj2,
        noun=rng.choice(NOUNS),
        genre=rng.choice(GENRES),
    )


def prompt_like_caption(code: str, rng: np.random.Generator) -> str:
    """A sentence of :func:`difftone.prompts.offline_prompts`' form for instrument ``code``."""
    from difftone import prompts

    adj = prompts.ADJECTIVES[rng.integers(len(prompts.ADJECTIVES))]
    text = prompts.TEMPLATES[rng.integers(len(prompts.TEMPLATES))].format(
        inst=INSTRUMENTS[code].name,
        adj=adj,
        Adj=adj.capitalize(),
        genre=prompts.GENRES[rng.integers(len(prompts.GENRES))],
        mood=prompts.MOODS[rng.integers(len(prompts.MOODS))],
    )
    return text


# -- data --------------------------------------------------------------------------------


def training_clips(
    index_csv: str | Path, instruments: list[str], clips_per_instrument: int | None, seed: int
) -> pd.DataFrame:
    """The training split of ``index_csv`` restricted to ``instruments`` (optionally subsampled, seeded)."""
    from difftone.data.index import read_index

    table = read_index(index_csv, split="train")
    table = table[table["instrument"].isin(instruments)]
    missing = [code for code in instruments if code not in set(table["instrument"])]
    if missing:
        raise DemoTrainingError(
            f"{index_csv}: no training clips for instrument(s) {', '.join(missing)}; "
            "rebuild the data stage or remove them from `instruments`"
        )
    if clips_per_instrument is not None:
        table = table.sample(frac=1.0, random_state=seed).groupby("instrument").head(clips_per_instrument)
    return table.sort_values("path").reset_index(drop=True)


def training_duets(duets_dir: str | Path, instruments: list[str]):
    """The duet clips of ``duets_dir`` (``read_duets``); every duet instrument must be one of ``instruments``."""
    from difftone.data.render import read_duets

    duets = read_duets(duets_dir)
    unknown = sorted({c for pair in duets["instruments"] for c in pair} - set(instruments))
    if unknown:
        raise DemoTrainingError(
            f"{duets_dir}: duets of instrument(s) {', '.join(unknown)} not in `instruments`; fix data.duets.pairs"
        )
    return duets


def encode_clips(paths: list[str], vae: MelAutoencoder, seconds: float, batch: int = 32) -> torch.Tensor:
    """Unstandardized log-mels ``[N, n_mels, frames]`` of the clips, cut or zero-padded to ``seconds``."""
    n = int(round(seconds * vae.sampling_rate))
    out = []
    for start in tqdm(range(0, len(paths), batch), desc="encoding clips", unit="batch", mininterval=5):
        waves = []
        for path in paths[start : start + batch]:
            wave, _ = audio.load(path, sample_rate=vae.sampling_rate, channels=1)
            wave = wave[:, :n] if wave.shape[-1] >= n else np.pad(wave, ((0, 0), (0, n - wave.shape[-1])))
            waves.append(wave)
        out.append(vae.log_mel(torch.from_numpy(np.stack(waves))))
    return torch.cat(out)


def training_pool(
    index_csv: str | Path, instruments: list[str], settings: DemoTrainingSettings, duets_dir: str | Path | None = None
):
    """The demo model's training clips: ``(clips, duets, paths, codes)``; the single-instrument clips
    (:func:`training_clips`) come first, then the duets of ``duets_dir`` (codes: a tuple per duet)."""
    s = settings
    clips = training_clips(index_csv, instruments, s.clips_per_instrument, s.seed)
    log.info("training on %d clips of %d instruments from %s", len(clips), len(instruments), index_csv)
    paths, codes = clips["path"].tolist(), clips["instrument"].tolist()
    duets = training_duets(duets_dir, instruments) if duets_dir is not None else None
    if duets is not None and len(duets):
        paths += duets["path"].tolist()
        codes += duets["instruments"].tolist()
        log.info("+ %d duet clips of %d pair(s) from %s", len(duets), duets["instruments"].nunique(), duets_dir)
    return clips, duets, paths, codes


def fitted_autoencoder(
    log_mels: torch.Tensor, timbre_coefficients: int | None = None, timbre_std: float = 1.0, note_std: float = 1.0
) -> MelAutoencoder:
    """The mel autoencoder whose latent statistics (mean, std, decode's ceiling) are those of ``log_mels``.

    ``timbre_coefficients`` K (``demo.timbre_coefficients``): cepstral latents. The mel-axis DCT of the
    standardized log-mel puts the spectral envelope (the instrument) in its first coefficients and the
    harmonics (the notes) in the higher ones; the first K coefficients are scaled by one gain to an RMS
    standard deviation of ``timbre_std`` over these clips, the others by another to ``note_std``. Diffusion settles a direction of large spread at a
    larger sigma, so notes of larger spread than the timbre are decided first, as in SAO (docs/results.md, "Tuning history")."""
    mean, std = round(float(log_mels.mean()), 6), round(float(log_mels.std()), 6)
    standardized = (log_mels - mean) / std
    scale = None
    if timbre_coefficients is not None:
        cepstrum = scipy.fft.dct(standardized.numpy(), type=2, norm="ortho", axis=-2)
        var = cepstrum.var(axis=(0, 2))
        timbre = np.arange(len(var)) < timbre_coefficients
        gain = np.where(timbre, timbre_std / np.sqrt(var[timbre].mean()), note_std / np.sqrt(var[~timbre].mean()))
        scale = [round(float(g), 6) for g in gain]
    return MelAutoencoder(
        latent_mean=mean, latent_std=std, latent_max=round(float(standardized.max()), 4), quefrency_scale=scale
    )


def demo_autoencoder(
    index_csv: str | Path,
    instruments: list[str],
    settings: DemoTrainingSettings | dict,
    duets_dir: str | Path | None = None,
) -> MelAutoencoder:
    """The VAE :func:`train_demo_model` writes into the checkpoint of these arguments, built without training.

    The mel autoencoder has no weights, only the latent statistics of the training clips, so the
    teacher's round-trip augmentation (``teacher_features.roundtrip: demo``) gets the demo decoder
    without waiting for the demo model (``tests/test_demo.py`` checks it equals the checkpoint's)."""
    s = settings if isinstance(settings, DemoTrainingSettings) else DemoTrainingSettings.from_config(settings)
    _, _, paths, _ = training_pool(index_csv, instruments, s, duets_dir)
    return fitted_autoencoder(
        encode_clips(paths, MelAutoencoder(), s.clip_seconds), s.timbre_coefficients, s.timbre_std, s.note_std
    )


# -- training ------------------------------------------------------------------------------


def _sao_time_bounds(scheduler) -> tuple[float, float]:
    c = scheduler.config
    return math.atan(c.sigma_min) * 2 / math.pi, math.atan(c.sigma_max) * 2 / math.pi


def v_training_batch(x0: torch.Tensor, generator: torch.Generator, t_bounds: tuple[float, float]):
    """Noisy model input, timestep and v target in SAO's parameterization (sigma_data 1)."""
    b = x0.shape[0]
    u = torch.sigmoid(torch.randn(b, generator=generator))  # logit-normal
    t = t_bounds[0] + (t_bounds[1] - t_bounds[0]) * u
    sigma = torch.tan(t * math.pi / 2)[:, None, None]
    eps = torch.randn(x0.shape, generator=generator)
    scale = 1 / torch.sqrt(sigma**2 + 1)
    return (x0 + sigma * eps) * scale, t, (eps - sigma * x0) * scale


def conditioning(backbone: SAOBackbone, prompts: list[str], seconds: float, drop: torch.Tensor):
    """The DiT's ``encoder_hidden_states`` and ``global_hidden_states`` from the backbone's own prompt encoding
    (:meth:`SAOBackbone.encode_prompts`, with grad). ``drop[b]`` zeroes item b's cross-attention
    conditioning: the pipeline's unconditional branch."""
    return backbone.encode_prompts(prompts, seconds).dit_inputs(cfg=False, drop=drop)


def _lr_factor(step: int, progress: float, warmup: int) -> float:
    return min(1.0, (step + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_demo_model(
    index_csv: str | Path,
    out_dir: str | Path,
    loss_csv: str | Path,
    loss_figure: str | Path,
    instruments: list[str],
    settings: DemoTrainingSettings | dict,
    threads: int | None = None,
    device: str = "cpu",
    duets_dir: str | Path | None = None,
    autoencoder_dir: str | Path | None = None,
) -> dict:
    """Train the demo model on the training clips of ``index_csv``; write checkpoint, loss table and figure.

    ``duets_dir``: the embedded dataset's duet section (:func:`difftone.data.render.render_duets`): its
    clips join the training pool with captions naming both instruments (a duet pair whose instruments
    are not all in ``instruments`` is an error). ``autoencoder_dir``: the autoencoder
    :func:`fit_demo_autoencoder` fitted on the same clips (the workflow's rule ``fit_demo_autoencoder``,
    so that the latents cache need not wait for this training); None: fitted here. Returns the training
    summary (also stored as ``training.json`` in the checkpoint).
    """
    from diffusers.training_utils import EMAModel

    s = settings if isinstance(settings, DemoTrainingSettings) else DemoTrainingSettings.from_config(settings)
    _check_settings(s)
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    gen = torch.Generator().manual_seed(s.seed)

    # 1. data: log-mels once, the autoencoder's statistics, standardized latents
    clips, duets, paths, codes = training_pool(index_csv, instruments, s, duets_dir)
    log_mels = encode_clips(paths, MelAutoencoder(), s.clip_seconds)

    def fit():
        return fitted_autoencoder(log_mels, s.timbre_coefficients, s.timbre_std, s.note_std)

    if autoencoder_dir is None:
        vae = fit()
    else:
        try:
            vae = load_demo_autoencoder(autoencoder_dir)
        except FileNotFoundError as exc:
            raise DemoTrainingError(str(exc)) from None
        fitted = fit().config
        if any(vae.config[k] != fitted[k] for k in ("latent_mean", "latent_std", "latent_max", "quefrency_scale")):
            raise DemoTrainingError(
                f"{autoencoder_dir} was fitted on other clips or settings than this training; "
                "rerun rule fit_demo_autoencoder (snakemake -R fit_demo_autoencoder)"
            )
    latents = vae.latents_of(log_mels)
    log.info(
        "latents %s, log-mel mean %.4f std %.4f%s",
        tuple(latents.shape),
        vae.config.latent_mean,
        vae.config.latent_std,
        ""
        if s.timbre_coefficients is None
        else f", cepstral (timbre coefficients {s.timbre_coefficients} at std {s.timbre_std}, notes at {s.note_std})",
    )

    # 2. model
    components = build_demo_components(None, device=device, sample_size=latents.shape[-1], seed=s.seed)
    components["vae"] = vae.to(device)
    transformer, text_encoder, proj = (components[k] for k in ("transformer", "text_encoder", "projection_model"))
    modules = [transformer, text_encoder, proj]
    params = [p for m in modules for p in m.parameters()]
    for m in modules:
        m.train()
    log.info(
        "parameters: DiT %d, text encoder %d, projection %d", *(sum(p.numel() for p in m.parameters()) for m in modules)
    )
    optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    ema = EMAModel(params, decay=s.ema_decay)
    t_bounds = _sao_time_bounds(components["scheduler"])
    backbone = SAOBackbone(**components, spec="demo (training)")
    rotary = backbone.rotary(latents.shape[-1] + 1)

    # 3. loop
    rows, window = [], []
    start = time.monotonic()
    bar = tqdm(total=s.max_steps, desc="training demo model", unit="step", mininterval=5)
    step, warned = 0, False
    while step < s.max_steps:
        elapsed = time.monotonic() - start
        if s.budget_seconds is not None and elapsed >= s.budget_seconds and not warned:
            # the result never depends on the clock: training goes on to exactly max_steps
            log.warning(
                "demo.budget_seconds (%.0f s) passed at step %d of max_steps %d: this machine is slower "
                "than the budget assumes; training continues to max_steps (lower demo.max_steps for a "
                "shorter run)",
                s.budget_seconds,
                step,
                s.max_steps,
            )
            warned = True
        lr = s.lr * _lr_factor(step, step / s.max_steps, s.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = torch.from_numpy(rng.integers(len(latents), size=s.batch_size))
        prompts = [training_caption(codes[i], rng) for i in idx.tolist()]
        drop = torch.from_numpy(rng.random(s.batch_size) < s.prompt_dropout)
        x_in, t, target = (a.to(device) for a in v_training_batch(latents[idx], gen, t_bounds))
        cross, global_states = conditioning(backbone, prompts, s.clip_seconds, drop)
        v = backbone.velocity(x_in, t, cross, global_states, rotary)
        loss = torch.nn.functional.mse_loss(v, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        ema.step(params)
        step += 1
        window.append(loss.item())
        rows.append({"step": step, "loss": window[-1], "lr": lr, "seconds": round(time.monotonic() - start, 3)})
        bar.update()
        if step % s.log_every == 0:
            log.info(
                "step %d  loss %.4f (mean of last %d)  lr %.2e  %.0f s",
                step,
                np.mean(window),
                len(window),
                lr,
                time.monotonic() - start,
            )
            window = []
    bar.close()
    seconds = time.monotonic() - start

    # 4. EMA weights -> checkpoint, loss table, figure
    ema.copy_to(params)
    for m in modules:
        m.eval()
    losses = pd.DataFrame(rows)
    summary = {
        "steps": step,
        "seconds": round(seconds, 1),
        "steps_per_second": round(step / seconds, 3),
        "over_budget": warned,
        "clips": len(clips),
        "duet_clips": 0 if duets is None else len(duets),
        "instruments": list(instruments),
        "latent_frames": int(latents.shape[-1]),
        "latent_mean": vae.config.latent_mean,
        "latent_std": vae.config.latent_std,
        "loss_first_100": float(losses["loss"].head(100).mean()),
        "loss_last_100": float(losses["loss"].tail(100).mean()),
        "settings": asdict(s),
    }
    if s.eval_per_instrument > 0:
        single = len(clips)  # the single-instrument clips come first; duets have no one centroid
        summary["prompt_adherence"] = prompt_adherence(backbone, latents[:single], codes[:single], instruments, s)
    log.info(
        "trained %d steps in %.0f s (%.2f steps/s); loss %.4f -> %.4f",
        step,
        seconds,
        step / seconds,
        summary["loss_first_100"],
        summary["loss_last_100"],
    )
    out_dir = Path(out_dir)
    save_demo_components(components, out_dir)
    with atomic_path(out_dir / "training.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    with atomic_path(loss_csv) as tmp:
        losses.to_csv(tmp, index=False)
    plot_loss(losses, loss_figure)
    return summary


def fit_demo_autoencoder(
    index_csv: str | Path,
    out_dir: str | Path,
    instruments: list[str],
    settings: DemoTrainingSettings | dict,
    duets_dir: str | Path | None = None,
) -> MelAutoencoder:
    """Fit the demo model's parameter-free autoencoder (log-mel statistics of the clips
    :func:`train_demo_model` learns from) and write it to ``out_dir`` (diffusers layout). Seconds of work:
    the latents cache and the classifiers need only this, not the trained DiT."""
    s = settings if isinstance(settings, DemoTrainingSettings) else DemoTrainingSettings.from_config(settings)
    _check_settings(s)
    vae = demo_autoencoder(index_csv, instruments, s, duets_dir)
    with atomic_folder(out_dir) as tmp:
        vae.save_pretrained(tmp, safe_serialization=True)
    log.info(
        "demo autoencoder: log-mel mean %.4f std %.4f, latent max %.4f -> %s",
        vae.config.latent_mean,
        vae.config.latent_std,
        vae.config.latent_max,
        out_dir,
    )
    return vae


def _check_settings(s: DemoTrainingSettings) -> None:
    if s.max_steps < 1 or s.batch_size < 1:
        raise DemoTrainingError("demo.max_steps and demo.batch_size must be at least 1")
    if s.budget_seconds is not None and s.budget_seconds <= 0:
        raise DemoTrainingError("demo.budget_seconds must be positive (or null for no time limit)")
    if s.clip_seconds > 0 and latent_frames(s.clip_seconds) < 2:
        raise DemoTrainingError("demo.clip_seconds is too short for two latent frames")


def plot_loss(losses: pd.DataFrame, path: str | Path) -> Path:
    """The loss curve (raw and a 50-step running mean) on a log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(losses["step"], losses["loss"], lw=0.5, alpha=0.4, label="batch loss")
    ax.plot(losses["step"], losses["loss"].rolling(50, min_periods=1).mean(), lw=1.5, label="running mean (50)")
    ax.set(xlabel="step", ylabel="v-prediction MSE", yscale="log", title="demo model training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


# -- a quick check that generations follow the prompt's instrument word -------------------


@torch.no_grad()
def prompt_adherence(
    backbone: SAOBackbone, latents: torch.Tensor, codes: list[str], instruments: list[str], s: DemoTrainingSettings
) -> dict:
    """Generate ``eval_per_instrument`` clips per instrument and classify them by the nearest
    instrument centroid of the training latents (time-averaged mel frames).

    A classifier-free proxy, available before any classifier is trained: the share of
    generations nearest to the prompted instrument's centroid (chance: 1 / n_instruments),
    and the same share for the training clips themselves (the proxy's ceiling). Generated through the
    engine's loop on the backbone, clip ``i`` from seed ``seed + i``.
    """
    from difftone.engine import Editor

    feats = latents.mean(-1).cpu()
    labels = torch.tensor([instruments.index(c) for c in codes])
    centroids = torch.stack([feats[labels == k].mean(0) for k in range(len(instruments))])
    ceiling = float((torch.cdist(feats, centroids).argmin(1) == labels).float().mean())
    prompts = [f"a {INSTRUMENTS[c].name} note" for c in instruments for _ in range(s.eval_per_instrument)]
    target = torch.tensor([k for k in range(len(instruments)) for _ in range(s.eval_per_instrument)])
    editor = Editor(backbone, progress=False)
    seeds = [s.seed + i for i in range(len(prompts))]
    out = editor.denoise(
        editor.initial_latents(seeds),
        editor.encode(prompts, s.clip_seconds),
        seeds,
        s.eval_steps,
        s.guidance_scale,
        backbone.frames_for(s.clip_seconds),
    ).latents
    predicted = torch.cdist(out.mean(-1).float().cpu(), centroids).argmin(1)
    result = {
        "generated_nearest_prompted": float((predicted == target).float().mean()),
        "training_nearest_own": ceiling,
        "chance": 1 / len(instruments),
        "n": len(prompts),
    }
    log.info(
        "prompt adherence (nearest centroid): generations %.0f%%, training clips %.0f%%, chance %.0f%%",
        100 * result["generated_nearest_prompted"],
        100 * ceiling,
        100 * result["chance"],
    )
    return result
