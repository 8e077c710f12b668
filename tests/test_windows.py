"""Classifiers on inputs of any duration: windows of the training length, logits aggregated.

A training-length input (IRMAS: 3 s) gives exactly what the classifiers gave before
windowing existed; a 10 s input gives the aggregate of its windows, for the teacher
(on audio), the latent classifiers (distilled and baseline), and the engine's hook
on x0_hat.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from difftone.classifiers import load_latent_classifier, load_mert, tiny_latent_classifier
from difftone.classifiers.checkpoint import save_checkpoint
from difftone.classifiers.heads import ClassifierHead
from difftone.classifiers.teacher import TeacherAudioClassifier, TeacherClassifier, TeacherEncoder
from difftone.classifiers.windows import Windowing, window_starts, windowed
from difftone.engine.hooks import ClassifierHook

CLASSES = ["cel", "flu", "pia", "vio"]
SR = 24000
TRAIN_FRAMES = 65  # SAO latent frames of a 3 s clip


def test_window_starts_of_ten_seconds_of_three_second_windows():
    # 10 s at 100 Hz, 3 s windows, hop 1.5 s: 0, 1.5, 3, 4.5, 6 s and the last one ending at 10 s
    assert window_starts(1000, 300, 0.5) == [0, 150, 300, 450, 600, 700]
    assert window_starts(300, 300, 0.5) == [0]
    assert window_starts(310, 300, 0.5) == [0]  # a few frames of rounding: read whole
    assert window_starts(216, 65, 0.5) == [0, 32, 64, 96, 128, 151]  # SAO latents of 10 s
    assert window_starts(1000, 300, 1.0) == [0, 300, 600, 700]


def test_windowing_rejects_bad_settings():
    with pytest.raises(ValueError, match="classifiers.window.hop"):
        Windowing(hop=0)
    with pytest.raises(ValueError, match="classifiers.window.aggregate"):
        Windowing(aggregate="median")


def _latent_checkpoint(tmp_path):
    clf = tiny_latent_classifier(3, CLASSES, seed=1, frames=4, feature_dim=16, channels=4)
    save_checkpoint(
        clf, "latent_classifier", clf.checkpoint_config(variant="distilled", window_frames=TRAIN_FRAMES), tmp_path
    )
    return clf, tmp_path


def test_latent_classifier_at_training_length_is_unchanged(tmp_path):
    reference, path = _latent_checkpoint(tmp_path)
    loaded = load_latent_classifier(path)
    assert loaded.window_frames == TRAIN_FRAMES
    x = torch.randn(2, 3, TRAIN_FRAMES)
    with torch.no_grad():
        before = reference.head(reference.student(x))  # the classifier as it was: any length read whole
        assert torch.equal(loaded(x), before)


@pytest.mark.parametrize("aggregate", ["mean_probs", "mean_logits"])
def test_latent_classifier_on_ten_seconds_aggregates_its_windows(tmp_path, aggregate):
    reference, path = _latent_checkpoint(tmp_path)
    loaded = load_latent_classifier(path, window={"hop": 0.5, "aggregate": aggregate})
    x = torch.randn(2, 3, 216)  # 10 s of SAO latents
    with torch.no_grad():
        per_window = torch.stack(
            [reference.head(reference.student(x[..., s : s + TRAIN_FRAMES])) for s in [0, 32, 64, 96, 128, 151]]
        )
        got = loaded(x)
    if aggregate == "mean_logits":
        expected = per_window.mean(0)
        assert torch.allclose(got, expected, atol=1e-5)
    else:
        expected = torch.softmax(per_window, -1).mean(0)
        assert torch.allclose(torch.softmax(got, -1), expected, atol=1e-5)
    # and not what reading the whole 10 s squeezed into the training length gives
    whole = torch.log_softmax(reference.head(reference.student(x)), -1)
    assert (torch.log_softmax(got, -1) - whole).abs().max() > 1e-4


def test_hook_on_x0_hat_reads_windows(tmp_path):
    reference, path = _latent_checkpoint(tmp_path)
    hook = ClassifierHook(load_latent_classifier(path))
    x0_hat = torch.randn(1, 3, 216)
    hook(0, 1.0, x0_hat)
    with torch.no_grad():
        expected = torch.stack(
            [
                torch.softmax(reference.head(reference.student(x0_hat[..., s : s + TRAIN_FRAMES])), -1)
                for s in [0, 32, 64, 96, 128, 151]
            ]
        ).mean(0)
    assert np.allclose(hook.traces()[0].probs[0], expected[0].numpy(), atol=1e-5)


def _teacher(window_seconds):
    mert = load_mert("tiny")
    torch.manual_seed(0)
    teacher = TeacherClassifier(
        TeacherEncoder(mert.num_layers, mert.hidden_size, 225, 4, 16),
        ClassifierHead(16, len(CLASSES), 16, 16, 0.0),
        CLASSES,
    ).eval()
    return TeacherAudioClassifier(teacher, mert, window_seconds=window_seconds), teacher, mert


def test_teacher_at_training_length_is_unchanged():
    clf, teacher, mert = _teacher(3.0)
    wave = np.random.default_rng(0).normal(0, 0.1, (1, 1, 3 * SR)).astype(np.float32)
    with torch.no_grad():
        before = torch.softmax(teacher(mert.hidden_states(wave, SR)), -1)
    assert torch.equal(clf.predict_audio(wave, SR), before)


def test_teacher_on_ten_seconds_aggregates_its_windows():
    clf, teacher, mert = _teacher(3.0)
    wave = np.random.default_rng(1).normal(0, 0.1, (1, 1, 10 * SR)).astype(np.float32)
    starts = [int(s * SR) for s in (0, 1.5, 3, 4.5, 6, 7)]
    with torch.no_grad():
        expected = torch.stack(
            [torch.softmax(teacher(mert.hidden_states(wave[..., s : s + 3 * SR], SR)), -1) for s in starts]
        ).mean(0)
        whole = torch.softmax(teacher(mert.hidden_states(wave, SR)), -1)
    got = clf.predict_audio(wave, SR)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, whole, atol=1e-4)


def test_windowed_without_a_training_length_reads_whole():
    calls = []
    windowed(lambda x: calls.append(x.shape) or torch.zeros(x.shape[0], 2), torch.zeros(2, 1, 1000), None)
    assert calls == [(2, 1, 1000)]
