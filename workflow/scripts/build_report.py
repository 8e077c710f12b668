from pathlib import Path

from difftone.report import write_report
from difftone.report.columns import TABLES
from difftone.stage import rule_logging

with rule_logging(snakemake):
    i, p = snakemake.input, snakemake.params
    write_report(
        snakemake.output.html,
        config=p.config,
        model_spec=p.model,
        table1=i.table1,
        table2=i.table2,
        per_pair=i.per_pair,
        swap_steps_audio=i.swap_audio,
        swap_steps_figure=i.swap_figure,
        sources_dirs={Path(d).name: d for d in i.sources},
        swaps_csvs=i.swaps,
        strategies=p.strategies,
        examples=[tuple(pair) for pair in p.examples],
        confusion_figures=i.confusion,
        loss_figure=i.get("loss_figure"),
        sweep_table=i.get("sweep_table"),
        sweep_figure=i.get("sweep_figure"),
        paired=i.get("paired"),
        chroma_reference=i.get("chroma_reference"),
        items_csvs=i.judged,
        extra_tables={spec.key: i.get(spec.key) for spec in TABLES if i.get(spec.key)},
        multi_dir=i.get("multi_dir"),
        listening={key: i.get(f"{key}_listening") for key in ("table3", "table4") if i.get(f"{key}_listening")},
    )
