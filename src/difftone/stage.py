"""Glue between Snakemake jobs and the library: logging to the rule's log file.

Every ``workflow/scripts/*.py`` wrapper is a few lines::

    from difftone.stage import rule_logging
    with rule_logging(snakemake):
        build_index(...)

so the work itself lives in the package where pytest reaches it. It also makes the
job reproducible (:func:`reproducible`): the same inputs give the same outputs on any
machine load.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOB_SEED = 0  # global seed of every job; each component also seeds its own generator from the config


def reproducible(threads: int = 1, seed: int = JOB_SEED) -> None:
    """Fix what torch would otherwise pick from the machine: the intra-op thread count (a reduction split
    over a different number of threads rounds differently), deterministic algorithms where torch has them
    (warning where it has none), and the global seeds of torch, numpy and random."""
    import os
    import random

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (read at CUDA start)
    import numpy as np
    import torch

    torch.set_num_threads(max(1, int(threads)))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


@contextlib.contextmanager
def rule_logging(smk=None, log_path: str | Path | None = None) -> Iterator[logging.Logger]:
    """Send ``difftone`` log records to the rule's ``log:`` file and to stderr.

    A bad input (``ValueError`` and its subclasses: ``AudioError``, ``DataError``,
    ``PromptError``, ``ExperimentError``..., or a missing file) is reported as its
    one-line message and the job exits with status 1; anything else is logged with
    its traceback and re-raised. Either way the job fails and Snakemake removes its outputs.
    """
    if log_path is None and smk is not None and len(smk.log):
        log_path = smk.log[0]
    logger = logging.getLogger("difftone")
    logger.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for h in handlers:
        h.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(h)
    try:
        if smk is not None:
            # the rule's `threads:` (1 unless a rule asks for more), not the machine's core count
            reproducible(threads=getattr(smk, "threads", 1) or 1)
        yield logger
    except (ValueError, FileNotFoundError) as exc:
        logger.error("%s", exc)
        raise SystemExit(1) from None
    except Exception:
        logger.exception("job failed")
        raise
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()
