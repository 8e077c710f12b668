"""Instrument classifiers (paper, section IV-B): teacher (on MERT or log-mel features), distilled student, non-distilled baseline.

Public entry points::

    load_latent_classifier(path) -> LatentClassifier   # what the engine runs on x0_hat: [B, C, T_any] -> logits
    tiny_latent_classifier(in_channels, instruments, seed=0)
    load_teacher_classifier(path, mert_spec=None) -> TeacherAudioClassifier   # .predict_audio(wave, sr) -> probs
    load_mert(spec, revision, ...) -> MertExtractor
    load_teacher_features(kind, spec, ...) -> MertExtractor | LogMelExtractor   # teacher_features.kind: mert | logmel
    extract_teacher_features / encode_sao_latents         # feature caches (features.smk; classifiers.features)
    extract_roundtrip_teacher_features                    # teacher_features.roundtrip: train/val clips after the demo round trip
    train_teacher / distill_student / train_student_head / train_baseline   # classifiers.smk
    write_table1                                          # Table I
"""

from difftone.classifiers.checkpoint import CheckpointError
from difftone.classifiers.features import (
    encode_sao_latents,
    extract_mert_features,
    extract_roundtrip_teacher_features,
    extract_teacher_features,
)
from difftone.classifiers.heads import ClassifierHead
from difftone.classifiers.logmel import LogMelExtractor
from difftone.classifiers.mert import MertExtractor, MertLoadError, load_mert
from difftone.classifiers.student import (
    LatentClassifier,
    StudentEncoder,
    load_latent_classifier,
    tiny_latent_classifier,
)
from difftone.classifiers.table1 import write_table1
from difftone.classifiers.teacher import (
    TeacherAudioClassifier,
    TeacherClassifier,
    TeacherEncoder,
    load_teacher,
    load_teacher_classifier,
)
from difftone.classifiers.teacher_features import load_teacher_features
from difftone.classifiers.train import distill_student, train_baseline, train_student_head, train_teacher

__all__ = [
    "CheckpointError",
    "ClassifierHead",
    "LatentClassifier",
    "LogMelExtractor",
    "MertExtractor",
    "MertLoadError",
    "StudentEncoder",
    "TeacherAudioClassifier",
    "TeacherClassifier",
    "TeacherEncoder",
    "distill_student",
    "encode_sao_latents",
    "extract_mert_features",
    "extract_roundtrip_teacher_features",
    "extract_teacher_features",
    "load_latent_classifier",
    "load_mert",
    "load_teacher",
    "load_teacher_classifier",
    "load_teacher_features",
    "tiny_latent_classifier",
    "train_baseline",
    "train_student_head",
    "train_teacher",
    "write_table1",
]
