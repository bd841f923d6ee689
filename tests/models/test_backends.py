"""The same clip through torch, ONNX Runtime and OpenVINO gives the same scores; classifiers are
loaded once; devices, precisions and inputs are checked with clear messages.

Tolerances (fp32 everywhere): frame and clip probabilities within 1e-4, logits within 1e-3. Both
ONNX files (sequence model and seed, ResNeXt50 each) are exported once into the session's cache.
"""

from __future__ import annotations

import os
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from model_fixtures import clip_of_crops, sequence_network, small_sequence_folder

from deepfake_detector.errors import ModelError
from deepfake_detector.models import load_classifier
from deepfake_detector.models.checkpoints import CONFIG_NAME, read_config, save_checkpoint
from deepfake_detector.models.export import cache_dir, cached_onnx, onnx_filename
from deepfake_detector.models.registry import resolve_model

PROB_ATOL = 1e-4
LOGIT_ATOL = 1e-3


def _agree(reference, other) -> None:
    ref_clip, ref_lengths, ref_frames = reference
    clip, lengths, frames = other
    assert lengths == ref_lengths
    np.testing.assert_allclose(clip, ref_clip, atol=LOGIT_ATOL, rtol=0)
    np.testing.assert_allclose(frames, ref_frames, atol=LOGIT_ATOL, rtol=0)


@pytest.mark.parametrize("model", ["sequence", "seed"])
def test_backends_agree(model, sequence_folder, seed_checkpoint, crops_112):
    path = str(sequence_folder if model == "sequence" else seed_checkpoint)
    torch_c = load_classifier(path, device="cpu", backend="torch")
    expected_logits = torch_c.logits(crops_112)
    expected = torch_c.score_clip(crops_112)
    assert np.ptp(expected.frame_probabilities) > 1e-3  # frames differ: the check means something
    for backend in ("onnxruntime", "openvino"):
        other = load_classifier(path, device="cpu", backend=backend)
        assert other.backend == backend and other.device == "cpu"
        _agree(expected_logits, other.logits(crops_112))
        for count in (1, 9):  # the exported graph has a dynamic number of frames
            clip = clip_of_crops(112, count)
            _agree(torch_c.logits(clip), other.logits(clip))
        scores = other.score_clip(crops_112)
        np.testing.assert_allclose(
            scores.frame_probabilities, expected.frame_probabilities, atol=PROB_ATOL
        )
        assert scores.fake_probability == pytest.approx(expected.fake_probability, abs=PROB_ATOL)
        assert other.info == torch_c.info


def test_every_export_in_a_process_keeps_the_frames_axis_dynamic(tmp_path):
    """torch 2.13 fixed the frames axis to the example's length on a second in-process export;
    each export now runs in its own interpreter, so the second model takes any clip length."""
    for seed in (1, 2):
        folder = small_sequence_folder(tmp_path / f"m{seed}", seed)
        reference = load_classifier(str(folder), device="cpu", backend="torch")
        other = load_classifier(str(folder), device="cpu", backend="onnxruntime")
        for count in (1, 5):
            clip = clip_of_crops(64, count)
            _agree(reference.logits(clip), other.logits(clip))


def test_onnx_files_are_cached_by_hash(sequence_folder, crops_112):
    resolved = resolve_model(str(sequence_folder))
    path = cached_onnx(resolved)  # exported by the agreement test, or now
    assert path.parent == cache_dir()
    assert path.name == onnx_filename(resolved)
    assert path.name.startswith(resolved.sha256 + "-sequence-112")
    mtime = path.stat().st_mtime_ns
    assert cached_onnx(resolved) == path and path.stat().st_mtime_ns == mtime
    assert not [p for p in os.listdir(path.parent) if p.endswith(".tmp")]


def test_calibration_uses_the_configured_temperature(sequence_folder, crops_112):
    classifier = load_classifier(str(sequence_folder), device="cpu", backend="torch")
    assert classifier.config.temperature == 1.5
    (clip,), _, frames = classifier.logits(crops_112)
    scores = classifier.score_clip(crops_112)
    assert scores.fake_probability == pytest.approx(1 / (1 + np.exp(-clip / 1.5)), abs=1e-7)
    np.testing.assert_allclose(
        scores.frame_probabilities, 1 / (1 + np.exp(-frames / 1.5)), atol=1e-6
    )
    assert scores.frame_probabilities.dtype == np.float32
    assert scores.frame_probabilities.shape == (len(crops_112),)


def test_long_clips_are_scored_in_chunks(tmp_path, sequence_folder):
    config = read_config(sequence_folder / CONFIG_NAME)
    folder = save_checkpoint(sequence_network(), replace(config, max_frames=4), tmp_path / "m4")
    classifier = load_classifier(str(folder), device="cpu", backend="torch")
    crops = clip_of_crops(112, 10)
    clip, lengths, frames = classifier.logits(crops)
    assert lengths == [4, 3, 3] and frames.shape == (10,)
    # Each chunk is exactly a clip of its own.
    whole = load_classifier(str(sequence_folder), device="cpu", backend="torch")
    parts = [whole.logits(crops[a:b]) for a, b in ((0, 4), (4, 7), (7, 10))]
    np.testing.assert_allclose(clip, [p[0][0] for p in parts], atol=1e-5)
    np.testing.assert_allclose(frames, np.concatenate([p[2] for p in parts]), atol=1e-5)
    expected = np.average(clip, weights=lengths)
    assert classifier.score_clip(crops).fake_probability == pytest.approx(
        1 / (1 + np.exp(-expected / 1.5)), abs=1e-6
    )


def test_crops_of_another_size_are_resized(sequence_folder, crops_112):
    classifier = load_classifier(str(sequence_folder), device="cpu", backend="torch")
    big = clip_of_crops(160, 6)
    by_hand = [cv2.resize(c, (112, 112), interpolation=cv2.INTER_AREA) for c in big]
    np.testing.assert_array_equal(
        classifier.score_clip(big).frame_probabilities,
        classifier.score_clip(by_hand).frame_probabilities,
    )


def test_bad_crops_are_refused(sequence_folder, crops_112):
    classifier = load_classifier(str(sequence_folder), device="cpu", backend="torch")
    with pytest.raises(ModelError, match="no face crops"):
        classifier.score_clip([])
    with pytest.raises(ModelError, match="RGB uint8"):
        classifier.score_clip([crops_112[0].astype(np.float32)])
    with pytest.raises(ModelError, match="RGB uint8"):
        classifier.score_clip([crops_112[0][..., 0]])


def test_bf16_is_close_to_fp32(sequence_folder, crops_112):
    fp32 = load_classifier(str(sequence_folder), device="cpu", backend="torch")
    bf16 = load_classifier(str(sequence_folder), device="cpu", backend="torch", precision="bf16")
    assert bf16 is not fp32 and bf16.precision == "bf16"
    a, b = fp32.score_clip(crops_112), bf16.score_clip(crops_112)
    np.testing.assert_allclose(b.frame_probabilities, a.frame_probabilities, atol=0.05)


def test_loaded_once_per_process(sequence_folder):
    first = load_classifier(str(sequence_folder), device="cpu", backend="torch")
    assert load_classifier(str(sequence_folder), device="cpu", backend="torch") is first
    # "auto" resolves before the cache lookup: whatever it chose is the same instance as an
    # explicit request for that backend.
    auto = load_classifier(str(sequence_folder))
    assert load_classifier(str(sequence_folder)) is auto
    assert load_classifier(str(sequence_folder), device="cpu", backend=auto.backend) is auto
    default = load_classifier()
    assert load_classifier("default") is default
    assert default.info.trained is True and default.device in ("cpu", "cuda:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine with no GPU")
def test_cuda_without_a_gpu_is_a_clear_error(sequence_folder):
    with pytest.raises(ModelError, match="use --device cpu"):
        load_classifier(str(sequence_folder), device="cuda", backend="torch")
    with pytest.raises(ModelError, match="use --device cpu"):
        load_classifier(str(sequence_folder), device="cuda:1", backend="torch")


def test_unsupported_choices_are_clear_errors(sequence_folder):
    path = str(sequence_folder)
    with pytest.raises(ModelError, match="unknown backend 'tensorrt'"):
        load_classifier(path, backend="tensorrt")
    with pytest.raises(ModelError, match="unknown device 'gpu'"):
        load_classifier(path, device="gpu", backend="torch")
    with pytest.raises(ModelError, match="runs on the CPU here"):
        load_classifier(path, device="cuda", backend="onnxruntime")
    with pytest.raises(ModelError, match="fp16 is not supported on CPU"):
        load_classifier(path, device="cpu", backend="torch", precision="fp16")
    with pytest.raises(ModelError, match="fp32 only"):
        load_classifier(path, device="cpu", backend="onnxruntime", precision="bf16")
