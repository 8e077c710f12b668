"""Table V (beyond the paper): both instruments of a duet edited at once.

For every ``[source duet, target duet]`` of ``multi.edits`` and every seed, a source is generated
from ``multi.prompt`` ("A jazz duet for piano and trumpet") with the distilled classifier's trace,
then each strategy of ``multi.strategies`` is applied *per word* by the one edit step
(:func:`difftone.engine.edit_words`): ``presence`` swaps each word at the last step where the trace's
probability of *its* instrument crosses ``swap.presence_threshold`` (per-word Diff-TONE; the words
swap one after another along the trajectory in one resumed run), ``midpoint`` swaps both words at
N//2, ``difftone`` swaps both at the single-instrument rule's step (the last top-1 change).

Scores per edit: ``chroma`` distance to the source (content kept), and a multi-label reading of the
judges (both trained on single-instrument clips): a target instrument is reached when it is among a
judge's ``top_k`` classes on the edit. The teacher gives ``inst_acc`` (the share of the edit's target
words reached), ``all_reached`` (all of them) and ``source_left`` (the share of the source's words
still in its top-k); the independent judge (``judge.*``, :mod:`difftone.classifiers.judge`) gives
``judge_acc`` the same way. The sources themselves are read the same way for their own instruments
(the ``sources (judge check)`` row): how well the judges read a duet at all.

Table V (``results/tables/table5_multi.csv`` + ``.md``): one row per strategy; every interval is the
cluster bootstrap over *sources* (:func:`difftone.metrics.cluster_bootstrap_ci`: all of a source's
edits resampled together).
Layout: ``results/multi/sources/<a+b>-s<seed>/{source.wav, trajectory/}``,
``results/multi/edits/<strategy>/<a+b>_to_<c+d>/<item>.wav``, ``results/multi/{sources,edits,items}.csv``
(audio paths as given under ``out_dir``; the report's Table V section plays them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.engine import EditOptions, Editor, Trajectory, edit_words
from difftone.experiment.items import ExperimentError, check_finite, strategy_slug
from difftone.experiment.tables import write_csv_and_markdown
from difftone.instruments import INSTRUMENTS
from difftone.metrics import SourceChromagrams, cluster_bootstrap_ci
from difftone.models import ModelSettings

log = logging.getLogger(__name__)

JUDGE_CHECK = "sources (judge check)"
EDIT_COLUMNS = [
    "strategy",
    "item",
    "source",
    "target",
    "seed",
    "source_prompt",
    "target_prompt",
    "swap_step",
    "sigma",
    "word_steps",
    "schedule",
    "reason",
    "fallback",
    "nfe",
    "audio",
]
ITEM_COLUMNS = [
    "strategy",
    "item",
    "source",
    "target",
    "swap_step",
    "word_steps",
    "chroma",
    "top_k",
    "inst_acc",
    "all_reached",
    "source_left",
    "judge_acc",
    "teacher_top",
    "judge_top",
]
METRICS = ("chroma", "inst_acc", "all_reached", "source_left", "judge_acc")
TABLE5_COLUMNS = (
    ["method", "sources", "n"]
    + [f"{m}{s}" for m in METRICS for s in ("", "_low", "_high")]
    + ["swap_step_mean", "step_gap_mean", "fallback_share", "nfe_per_edit"]
)


def duet_name(duet: Sequence[str]) -> str:
    return "+".join(duet)


def duet_prompt(template: str, duet: Sequence[str]) -> str:
    """``multi.prompt`` with the duet's instrument words (``{first}``, ``{second}``)."""
    try:
        return template.format(first=INSTRUMENTS[duet[0]].name, second=INSTRUMENTS[duet[1]].name)
    except (KeyError, IndexError) as exc:
        raise ExperimentError(
            f"multi.prompt {template!r}: use the fields {{first}} and {{second}} only ({exc})"
        ) from None


def generate_duet_sources(
    editor: Editor,
    edits: Sequence[Sequence[Sequence[str]]],
    template: str,
    seeds: Sequence[int],
    out_dir: str | Path,
    *,
    steps: int,
    duration: float,
    guidance_scale: float,
) -> pd.DataFrame:
    """One source per source duet of ``edits`` and seed (one batch), saved under ``out_dir/<a+b>-s<seed>/``."""
    out_dir = Path(out_dir)
    duets = list(dict.fromkeys(tuple(src) for src, _ in edits))
    jobs = [(duet, int(seed)) for duet in duets for seed in seeds]
    trajectories = editor.generate(
        [duet_prompt(template, d) for d, _ in jobs], [s for _, s in jobs], steps, duration, guidance_scale
    )
    rows = []
    for (duet, seed), traj in zip(jobs, trajectories):
        item = f"{duet_name(duet)}-s{seed}"
        check_finite(traj.audio, f"the audio of duet source {item}")
        traj.save(out_dir / item / "trajectory")
        audio.write(out_dir / item / "source.wav", traj.audio.numpy(), traj.sample_rate)
        rows.append(
            {
                "item": item,
                "duet": duet_name(duet),
                "seed": seed,
                "prompt": traj.prompt,
                "audio": str(out_dir / item / "source.wav"),
                "trajectory": str(out_dir / item / "trajectory"),
            }
        )
    return pd.DataFrame(rows)


def run_multi_edits(
    editor: Editor,
    sources: pd.DataFrame,
    edits: Sequence[Sequence[Sequence[str]]],
    strategies: Sequence[str],
    out_dir: str | Path,
    *,
    options: Mapping[str, Mapping[str, Any]],
    seed: int = 0,
    synonyms: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Every source of each edit's source duet into its target duet, per strategy (:func:`edit_words`).
    ``options``: strategy -> the values of its config keys (``no_change_policy``, ``presence_threshold``...)."""
    out_dir = Path(out_dir)
    rows = []
    jobs = [(tuple(src), tuple(tgt), strategy) for src, tgt in edits for strategy in strategies]
    for src, tgt, strategy in tqdm(jobs, desc="duet edits", unit="edit group"):
        values = dict(options.get(strategy, {}))
        policy = values.pop("no_change_policy", "midpoint")
        edit_options = EditOptions(no_change_policy=policy, seed=seed, synonyms=synonyms, strategy_options=values)
        for row in sources[sources["duet"] == duet_name(src)].itertuples():
            traj = Trajectory.load(row.trajectory)
            record = edit_words(editor, traj, list(zip(src, tgt)), strategy, edit_options, item=row.item)
            name = ""
            if record.audio is not None:
                check_finite(record.audio, f"the duet edit of {row.item} to {duet_name(tgt)} ({strategy})")
                rel = Path(strategy_slug(strategy)) / f"{duet_name(src)}_to_{duet_name(tgt)}" / f"{row.item}.wav"
                audio.write(out_dir / rel, record.audio.numpy(), traj.sample_rate)
                name = str(out_dir / rel)
            rows.append(
                {
                    "strategy": strategy,
                    "item": row.item,
                    "source": duet_name(src),
                    "target": duet_name(tgt),
                    "seed": int(row.seed),
                    "source_prompt": traj.prompt,
                    "target_prompt": record.target_prompt,
                    "swap_step": "" if record.swap_step is None else int(record.swap_step),
                    "sigma": record.sigma,
                    "word_steps": json.dumps({f"{w.source}->{w.target}": w.swap_step for w in record.words}),
                    "schedule": json.dumps(record.schedule),
                    "reason": " | ".join(w.reason for w in record.words),
                    "fallback": record.fallback,
                    "nfe": record.nfe,
                    "audio": name,
                }
            )
    return pd.DataFrame(rows, columns=EDIT_COLUMNS)


def judge_reading(ranking: Sequence[str], codes: Sequence[str], top_k: int) -> float:
    """The share of ``codes`` among the first ``top_k`` of a judge's ``ranking`` (most likely first): the
    multi-label reading of one clip."""
    top = set(list(ranking)[:top_k])
    return float(np.mean([c in top for c in codes]))


def teacher_ranking(teacher, wave, sr) -> list[str]:
    probs = np.asarray(teacher.predict_audio(wave, sr)[0], dtype=np.float64)
    return [teacher.instruments[i] for i in np.argsort(-probs, kind="stable")]


def score_multi(
    edits: pd.DataFrame, sources: pd.DataFrame, teacher, *, chroma: Mapping, top_k: int, judge=None
) -> pd.DataFrame:
    """Per-item rows: the edits (chroma, inst_acc, all_reached, source_left, judge_acc) and the judge check
    of each source (its own instruments read the same way). ``judge``: the independent judge (``ranking``)."""

    def read(path):
        wave, sr = audio.load(path)
        return wave, sr, teacher_ranking(teacher, wave, sr), (judge.ranking(wave, sr) if judge is not None else None)

    def row(strategy, item, source, target, ranks, judged, codes, olds, **extra):
        reached = judge_reading(ranks, codes, top_k)
        return {
            "strategy": strategy,
            "item": item,
            "source": source,
            "target": target,
            "top_k": top_k,
            "inst_acc": reached,
            "all_reached": float(reached == 1.0),
            "source_left": judge_reading(ranks, olds, top_k) if olds else np.nan,
            "judge_acc": judge_reading(judged, codes, top_k) if judged is not None else np.nan,
            "teacher_top": " ".join(ranks[:top_k]),
            "judge_top": " ".join(judged[:top_k]) if judged else "",
            **extra,
        }

    src_audio = {r.item: read(r.audio) for r in sources.itertuples()}
    rows = []
    for r in sources.itertuples():
        _, _, ranks, judged = src_audio[r.item]
        rows.append(
            row(
                JUDGE_CHECK,
                r.item,
                r.duet,
                r.duet,
                ranks,
                judged,
                r.duet.split("+"),
                None,
                swap_step=np.nan,
                word_steps="",
                chroma=np.nan,
            )
        )
    source_chroma = SourceChromagrams(
        method=chroma["method"], target_sr=chroma["sample_rate"], hop_length=chroma["hop_length"]
    )
    for r in tqdm(list(edits[edits["audio"] != ""].itertuples()), desc="score duet edits", unit="edit"):
        wave, sr, ranks, judged = read(r.audio)
        distance = source_chroma.distance(wave, sr, r.item, lambda: src_audio[r.item][:2])
        rows.append(
            row(
                r.strategy,
                r.item,
                r.source,
                r.target,
                ranks,
                judged,
                r.target.split("+"),
                r.source.split("+"),
                swap_step=float(r.swap_step),
                word_steps=r.word_steps,
                chroma=distance,
            )
        )
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def table5(items: pd.DataFrame, edits: pd.DataFrame, strategies: Sequence[str], bootstrap: Mapping) -> pd.DataFrame:
    """One row per strategy (then the judge check); intervals: cluster bootstrap over sources."""
    boot = {"n_boot": bootstrap["n_boot"], "seed": bootstrap["seed"], "alpha": bootstrap["alpha"]}
    rows = []
    for method in [*strategies, JUDGE_CHECK]:
        df = items[items["strategy"] == method]
        done = edits[edits["strategy"] == method]
        if df.empty:
            if method != JUDGE_CHECK:
                raise ExperimentError(f"Table V: strategy {method} has no edits to score (every item skipped?)")
            continue
        row: dict[str, Any] = {"method": method, "sources": df["item"].nunique(), "n": len(df)}
        for m in METRICS:
            ok = df[m].notna()
            row[m], row[f"{m}_low"], row[f"{m}_high"] = (
                cluster_bootstrap_ci(df.loc[ok, m].astype(float), df.loc[ok, "item"], **boot)
                if ok.any()
                else (np.nan,) * 3
            )
        if method != JUDGE_CHECK:
            steps = [list(json.loads(s).values()) for s in done["word_steps"]]
            gaps = [max(s) - min(s) for s in steps if s and None not in s]
            row.update(
                swap_step_mean=float(df["swap_step"].mean()),
                step_gap_mean=float(np.mean(gaps)) if gaps else np.nan,
                fallback_share=float(done["fallback"].astype(bool).mean()),
                nfe_per_edit=float(done["nfe"].astype(float).mean()),
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE5_COLUMNS)


def run_multi(
    edits: Sequence[Sequence[Sequence[str]]],
    out_dir: str | Path,
    table_csv: str | Path,
    *,
    model: ModelSettings | Mapping | str,
    classifier: str | Path,
    teacher: str | Path,
    prompt: str,
    seeds: Sequence[int],
    strategies: Sequence[str],
    options: Mapping[str, Mapping[str, Any]],
    steps: int,
    duration: float,
    guidance_scale: float,
    chroma: Mapping,
    bootstrap: Mapping,
    top_k: int = 2,
    judge=None,
    window=None,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The Table V stage (module doc): duet sources, per-word edits, scores, the table (+ .md).
    ``model``: the generative model (:class:`difftone.models.ModelSettings`, its dict, or a spec; its
    device also runs the classifiers);
    ``judge``: the loaded independent judge (:func:`difftone.classifiers.judge.load_judge`) or None;
    ``window``: ``classifiers.window`` (how the classifiers read clips longer than their training clips)."""
    from difftone.classifiers import load_latent_classifier, load_teacher_classifier

    if not edits:
        raise ExperimentError("multi.edits is empty: list [[source duet], [target duet]] pairs for Table V")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = ModelSettings.of(model)
    device = model.device
    editor = Editor(
        model.load(), classifier=load_latent_classifier(classifier, device=device, window=window), progress=False
    )
    editor.check_settings(steps, duration, guidance_scale)
    sources = generate_duet_sources(
        editor, edits, prompt, seeds, out_dir / "sources", steps=steps, duration=duration, guidance_scale=guidance_scale
    )
    sources.to_csv(out_dir / "sources.csv", index=False)
    nfe_sources = editor.nfe
    done = run_multi_edits(
        editor, sources, edits, strategies, out_dir / "edits", options=options, seed=seed, synonyms=synonyms
    )
    done.to_csv(out_dir / "edits.csv", index=False)
    teacher_clf = load_teacher_classifier(teacher, None, device=device, window=window)
    items = score_multi(done, sources, teacher_clf, chroma=chroma, top_k=top_k, judge=judge)
    items.to_csv(out_dir / "items.csv", index=False)
    table = table5(items, done, strategies, bootstrap)
    write_csv_and_markdown(table, table_csv)
    log.info(
        "Table V: %d duet sources (%d NFE), %d edits (%d NFE)",
        len(sources),
        nfe_sources,
        len(done),
        editor.nfe - nfe_sources,
    )
    for r in table.itertuples():
        log.info(
            "%s: chroma %.3f, inst_acc %.2f, all %.2f, source left %.2f, judge_acc %.2f (%d sources)",
            r.method,
            r.chroma,
            r.inst_acc,
            r.all_reached,
            r.source_left,
            r.judge_acc,
            r.sources,
        )
    return table
