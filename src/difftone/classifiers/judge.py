"""The second, independent judge of "the edit reached the target instrument".

The teacher judges ``inst_acc``, and the step selector (the distilled student) was
trained to imitate it, so their errors correlate. The judge shares nothing with
either (config ``judge``):

- ``mfcc_logreg`` (embedded default): mean and standard deviation over time of
  librosa MFCCs and their deltas (``4 * n_mfcc`` numbers per clip; not MERT, not SAO
  latents), standardised, then scikit-learn's multinomial logistic regression
  trained on the IRMAS *train* split only. Saved without pickle: one JSON file with
  the scaler and the coefficients (:func:`save_mfcc_judge`).
- ``clap_zero_shot`` (paper config): CLAP (LAION's music checkpoint, the one KAD
  uses) compares the clip's audio embedding (mean over its windows) with the text
  embedding of ``prompt_template`` per instrument (``"the sound of a {name}"``) and
  takes the nearest. Nothing is trained. On the embedded default CLAP is a random
  stand-in, so zero-shot means nothing there.

Every judge answers :meth:`predict_audio` with an instrument code. Another judge
(e.g. a MERT probe trained on MTG-Jamendo) is one more ``kind`` here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from difftone import audio
from difftone.files import atomic_path
from difftone.instruments import resolve

log = logging.getLogger(__name__)

JUDGE_KINDS = ("mfcc_logreg", "clap_zero_shot")
FORMAT = 1
TINY_TEXT_VOCAB = 128  # difftone.metrics.clap.tiny_clap_config's text vocab_size


class JudgeError(ValueError):
    """A judge file or setting is unusable; the message names it."""


def mfcc_features(wave: np.ndarray, sr: int, sample_rate: int = 22050, n_mfcc: int = 20) -> np.ndarray:
    """``[4 * n_mfcc]``: mean and std over time of the MFCCs and of their deltas (mono, ``sample_rate``)."""
    import librosa

    x = np.asarray(wave, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if sr != sample_rate:
        x = librosa.resample(x, orig_sr=sr, target_sr=sample_rate)
    mfcc = librosa.feature.mfcc(y=x, sr=sample_rate, n_mfcc=n_mfcc)
    delta = librosa.feature.delta(mfcc, width=min(9, mfcc.shape[1] - (mfcc.shape[1] + 1) % 2))
    feats = np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)]).astype(np.float64)
    if not np.all(np.isfinite(feats)):
        raise JudgeError("MFCC features are not finite (silent or broken audio?)")
    return feats


class MfccJudge:
    """Standardised MFCC statistics -> logistic regression (coefficients read from JSON)."""

    kind = "mfcc_logreg"

    def __init__(self, instruments: Sequence[str], mean, scale, coef, intercept, *, n_mfcc: int, sample_rate: int):
        self.instruments = list(instruments)
        self.mean, self.scale = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
        self.coef, self.intercept = np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
        self.n_mfcc, self.sample_rate = int(n_mfcc), int(sample_rate)
        if self.coef.shape != (len(self.instruments), 4 * self.n_mfcc):
            raise JudgeError(
                f"judge coefficients have shape {self.coef.shape}, expected "
                f"({len(self.instruments)}, {4 * self.n_mfcc})"
            )

    def features(self, wave, sr) -> np.ndarray:
        return mfcc_features(wave, sr, self.sample_rate, self.n_mfcc)

    def scores(self, feats: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(feats) - self.mean) / self.scale
        return z @ self.coef.T + self.intercept

    def predict_audio(self, wave, sr) -> str:
        return self.instruments[int(self.scores(self.features(wave, sr))[0].argmax())]

    def ranking(self, wave, sr) -> list[str]:
        """The instruments, most likely first (a multi-label reading takes the first k)."""
        return [self.instruments[i] for i in np.argsort(-self.scores(self.features(wave, sr))[0], kind="stable")]


def train_mfcc_judge(
    index_csv: str | Path,
    instruments: Sequence[str],
    out_json: str | Path,
    *,
    n_mfcc: int = 20,
    sample_rate: int = 22050,
    c: float = 1.0,
    max_iter: int = 2000,
    seed: int = 0,
) -> dict:
    """Fit the MFCC judge on the ``train`` split of ``index.csv``; score ``val`` and ``test``; write JSON."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from tqdm.auto import tqdm

    from difftone.data import read_index

    index = read_index(index_csv)
    index = index[index["instrument"].isin(instruments)]
    feats = np.stack(
        [
            mfcc_features(*audio.load(p), sample_rate, n_mfcc)
            for p in tqdm(index["path"], desc="judge MFCCs", unit="clip", mininterval=5)
        ]
    )
    labels = np.array([list(instruments).index(c) for c in index["instrument"]])
    train = (index["split"] == "train").to_numpy()
    scaler = StandardScaler().fit(feats[train])
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
    model.fit((feats[train] - scaler.mean_) / scale, labels[train])
    coef, intercept = _full_coefficients(model, len(instruments))
    judge = MfccJudge(instruments, scaler.mean_, scale, coef, intercept, n_mfcc=n_mfcc, sample_rate=sample_rate)
    accuracy = {}
    for split in ("train", "val", "test"):
        mask = (index["split"] == split).to_numpy()
        if mask.any():
            accuracy[split] = float((judge.scores(feats[mask]).argmax(1) == labels[mask]).mean())
    save_mfcc_judge(judge, out_json, {"accuracy": accuracy, "n_train": int(train.sum()), "C": c})
    log.info("MFCC judge: accuracy %s", {k: round(v, 3) for k, v in accuracy.items()})
    return accuracy


def _full_coefficients(model, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One row of scores per instrument from a fitted LogisticRegression (two classes: sklearn keeps one row;
    an instrument absent from training never wins)."""
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    full = np.zeros((n_classes, coef.shape[1]))
    bias = np.full(n_classes, -1e9)
    full[model.classes_], bias[model.classes_] = coef, intercept
    return full, bias


def save_mfcc_judge(judge: MfccJudge, path: str | Path, extra: Mapping | None = None) -> None:
    doc = {
        "format": FORMAT,
        "kind": judge.kind,
        "instruments": judge.instruments,
        "n_mfcc": judge.n_mfcc,
        "sample_rate": judge.sample_rate,
        "mean": judge.mean.tolist(),
        "scale": judge.scale.tolist(),
        "coef": judge.coef.tolist(),
        "intercept": judge.intercept.tolist(),
        **dict(extra or {}),
    }
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(doc) + "\n")


def load_mfcc_judge(path: str | Path) -> MfccJudge:
    try:
        doc = json.loads(Path(path).read_text())
        if doc.get("kind") != "mfcc_logreg" or doc.get("format") != FORMAT:
            raise KeyError("kind/format")
        return MfccJudge(
            doc["instruments"],
            doc["mean"],
            doc["scale"],
            doc["coef"],
            doc["intercept"],
            n_mfcc=doc["n_mfcc"],
            sample_rate=doc["sample_rate"],
        )
    except FileNotFoundError:
        raise JudgeError(f"{path} does not exist; build it with `snakemake {path}`") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise JudgeError(
            f"{path} is not an MFCC judge file of format {FORMAT} ({exc}); delete it and rerun rule train_judge"
        ) from None


class ClapZeroShotJudge:
    """CLAP zero-shot: nearest text embedding of ``template.format(name=...)`` to the clip's mean audio embedding."""

    kind = "clap_zero_shot"

    def __init__(self, embedder, tokenizer, instruments: Sequence[str], template: str):
        import torch

        if "{name}" not in template:
            raise JudgeError(f"judge.prompt_template {template!r} must contain {{name}} (the instrument's name)")
        self.embedder, self.instruments = embedder, list(instruments)
        self.prompts = [template.format(name=resolve(c).name) for c in self.instruments]
        tokens = tokenizer(self.prompts, padding=True, return_tensors="pt")
        model = embedder.model
        with torch.no_grad():
            text = model.get_text_features(
                input_ids=tokens["input_ids"].to(embedder.device),
                attention_mask=tokens["attention_mask"].to(embedder.device),
            )
        text = getattr(text, "pooler_output", text).float().cpu().numpy()
        self.text = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)

    def _similarity(self, wave, sr) -> np.ndarray:
        emb = self.embedder.embed(wave, sr).mean(axis=0)
        emb = emb / max(float(np.linalg.norm(emb)), 1e-12)
        return self.text @ emb

    def predict_audio(self, wave, sr) -> str:
        return self.instruments[int(self._similarity(wave, sr).argmax())]

    def ranking(self, wave, sr) -> list[str]:
        """The instruments, most similar first (a multi-label reading takes the first k)."""
        return [self.instruments[i] for i in np.argsort(-self._similarity(wave, sr), kind="stable")]


def tiny_clap_tokenizer():
    """An offline RoBERTa-format tokenizer for the tiny CLAP stand-in: byte-level BPE with RoBERTa's special
    tokens (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, ``<mask>`` 4), trained on the instrument names into
    128 ids (the tiny text vocabulary; bytes it never saw become ``<unk>``). The rehearsal saves it where the
    real ``FacebookAI/roberta-base`` would be (:func:`difftone.rehearsal.write_roberta_tokenizer`)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import RobertaTokenizerFast

    from difftone.instruments import INSTRUMENTS

    names = [i.name for i in INSTRUMENTS.values()]
    corpus = [f"the sound of a {n}" for n in names] + [f"A {n} melody played on music with an {n}" for n in names]
    corpus.append("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,'-")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=TINY_TEXT_VOCAB,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            initial_alphabet=[],
            show_progress=False,
        ),
    )
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
    return RobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )


def load_tokenizer(spec: str):
    """The CLAP text tokenizer ``spec``: a folder (fetch_models' ``<models.dir>/clap_tokenizer``) or a hub id."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(spec)
    except (OSError, ValueError) as exc:
        raise JudgeError(
            f"judge.tokenizer {spec!r} cannot be loaded ({str(exc).splitlines()[0]}); run rule "
            "fetch_models (it fetches the tokenizer into models.dir/clap_tokenizer) or set "
            "judge.tokenizer to a tokenizer folder"
        ) from None


def load_judge(
    judge: Mapping,
    model_file: str | Path | None = None,
    *,
    clap: Mapping | None = None,
    instruments: Sequence[str] = (),
    device: str = "cpu",
):
    """The judge the config ``judge`` names: ``mfcc_logreg`` reads ``model_file`` (rule train_judge);
    ``clap_zero_shot`` builds CLAP from ``judge.checkpoint`` (null: ``metrics.clap.checkpoint``)."""
    kind = judge.get("kind", "mfcc_logreg")
    if kind == "mfcc_logreg":
        if model_file is None:
            raise JudgeError("judge.kind mfcc_logreg needs its trained file (results/classifiers/judge/model.json)")
        return load_mfcc_judge(model_file)
    if kind == "clap_zero_shot":
        from difftone.metrics.clap import load_clap

        clap = dict(clap or {})
        checkpoint = judge.get("checkpoint") or clap.get("checkpoint", "tiny")
        # the pin of the judge's own checkpoint, else metrics.clap's when the judge reads that same checkpoint
        sha256 = judge.get("sha256") or (clap.get("sha256") if checkpoint == clap.get("checkpoint", "tiny") else None)
        embedder = load_clap(
            checkpoint,
            device=device,
            cache_dir=clap.get("cache_dir"),
            window_s=clap.get("window_s", 10.0),
            hop_s=clap.get("hop_s", 1.0),
            batch_size=clap.get("batch_size", 8),
            architecture=clap.get("architecture", "laion_music"),
            sha256=sha256,
        )
        spec = str(judge.get("tokenizer") or "FacebookAI/roberta-base")
        tokenizer = tiny_clap_tokenizer() if spec == "tiny" else load_tokenizer(spec)
        log.info("judge: CLAP zero-shot, checkpoint %s, tokenizer %s", checkpoint, spec)
        return ClapZeroShotJudge(
            embedder, tokenizer, instruments, judge.get("prompt_template", "the sound of a {name}")
        )
    raise JudgeError(f"judge.kind must be one of {JUDGE_KINDS}, got {kind!r}")
