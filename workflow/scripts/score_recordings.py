from pathlib import Path

from difftone.classifiers.judge import load_judge
from difftone.experiment.scoring import score_edits
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p, i, o = snakemake.params, snakemake.input, snakemake.output
    judge = load_judge(
        p.judge, i.judge[0] if i.judge else None, clap=p.clap, instruments=p.instruments, device=p.device
    )
    sources = Path(i.sources)
    score_edits(
        p.strategy,
        Path(i.swaps[0]).parents[1],
        {code: sources / code for code in dict.fromkeys(s for s, _ in p.pairs)},  # a long row: its sources only
        p.instruments,
        i.reference,
        i.teacher,
        o.per_item,
        o.pairs,
        clap=p.clap,
        chroma=p.chroma,
        bootstrap=p.bootstrap,
        success=p.success,
        kad_bandwidth=p.kad_bandwidth,
        window=p.window,
        device=p.device,
        judge=judge,
        skipped_csv=o.skipped,
        embeddings_npz=o.embeddings,
        pairs=p.pairs,
    )
