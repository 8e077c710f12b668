from difftone.experiment.real_audio import collect_recordings, invert_recordings
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    recordings = collect_recordings(
        p.instruments, p.per_instrument, folder=p.folder, index_csv=snakemake.input.get("index")
    )
    invert_recordings(
        recordings,
        snakemake.output[0],
        model=p.model,
        classifier=snakemake.input.classifier,
        steps=p.steps,
        source_guidance=p.source_guidance,
        target_guidance=p.target_guidance,
        template=p.template,
        seed=p.seed,
        peak=p.peak,
        silence_db=p.silence_db,
        max_silent_fraction=p.max_silent_fraction,
    )
