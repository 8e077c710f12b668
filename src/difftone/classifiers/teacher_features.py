"""The teacher's input features, by ``teacher_features.kind``: MERT hidden states or log-mel.

``kind: mert`` (the paper, ``configs/paper.yaml``): MERT at ``spec``/``revision``
(:mod:`difftone.classifiers.mert`; ``spec: tiny`` is a random stand-in that cannot
hear instruments). ``kind: logmel`` (the embedded default): the fixed log-mel
spectrogram of :mod:`difftone.classifiers.logmel`, informative without any weights.
Both give ``hidden_states(wave, sr) -> [B, L, T, D]``, cached once per clip (fp16)
under ``results/features/teacher/`` and read by the same teacher encoder and head.
"""

from __future__ import annotations

KINDS = ("mert", "logmel")


def load_teacher_features(
    kind: str = "mert",
    spec: str = "tiny",
    revision: str | None = None,
    sample_rate: int | None = None,
    layers: list[int] | None = None,
    device: str = "cpu",
):
    """The feature extractor of ``kind`` (a :class:`MertExtractor` or a :class:`LogMelExtractor`)."""
    if kind == "mert":
        from difftone.classifiers.mert import MERT_SAMPLE_RATE, load_mert

        return load_mert(spec, revision, sample_rate or MERT_SAMPLE_RATE, layers, device)
    if kind == "logmel":
        from difftone.classifiers.logmel import LOGMEL_SAMPLE_RATE, LogMelExtractor

        return LogMelExtractor(sample_rate or LOGMEL_SAMPLE_RATE, device)
    raise ValueError(f"teacher_features.kind {kind!r} is not one of {', '.join(KINDS)}")
