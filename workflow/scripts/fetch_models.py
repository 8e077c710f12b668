"""Snakemake wrapper: fetch one hub model into models.dir (difftone.models.fetch.fetch_model)."""

from pathlib import Path

from difftone.models import ModelLoadError
from difftone.models.fetch import HubModel, fetch_model
from difftone.stage import rule_logging

with rule_logging(snakemake) as log:
    try:
        fetch_model(HubModel.from_params(snakemake.params.model), Path(snakemake.output[0]).parent)
    except ModelLoadError as exc:  # no token, no access, no network: one line saying what to do
        log.error("%s", exc)
        raise SystemExit(1) from None
