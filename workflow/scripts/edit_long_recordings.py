from pathlib import Path

from difftone.engine import EditOptions
from difftone.experiment.real_audio import collect_recordings, edit_long
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    recordings = collect_recordings(
        p.sources, p.real_audio["long"]["clips"], folder=p.folder, index_csv=snakemake.input.get("index")
    )
    options = {
        slug: EditOptions(
            no_change_policy=o.get("no_change_policy", "midpoint"),
            seed=o.get("random_seed", p.seed),
            synonyms=p.synonyms,
        )
        for slug, o in p.options.items()
    }
    o = snakemake.output
    edit_long(
        recordings,
        p.rows,
        Path(o.sources[0]).parent,
        Path(o.nfe[0]).parents[1],
        model=p.model,
        classifier=snakemake.input.classifier,
        real_audio=p.real_audio,
        options=options,
        steps=p.steps,
        targets=p.instruments,
    )
