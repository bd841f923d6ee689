"""Clips of several callers scored in shared batches give each caller exactly what scoring its
clip alone gives; batches respect their size limit; failures reach the callers."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from model_fixtures import clip_of_crops, small_sequence_folder

from deepfake_detector.models import load_classifier
from deepfake_detector.models.batching import BatchingClassifier
from deepfake_detector.models.runtime import preprocess

ATOL = 1e-4
CUDA_ATOL = 2e-3  # cuDNN may pick TF32 convolutions for one batch shape and not another


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_sequence_folder(tmp_path_factory.mktemp("batching") / "model", seed=11)


def _clips(config, lengths):
    return [preprocess(clip_of_crops(64, n), config) for n in lengths]


# The GPU's row runs where CUDA works (benchmarks/gpu_check.sh runs this file there).
RUNTIMES = [("cpu", "torch"), ("cpu", "onnxruntime")] + (
    [("cuda", "torch")] if torch.cuda.is_available() else []
)


@pytest.mark.parametrize(("device", "backend"), RUNTIMES)
def test_clips_of_different_lengths_in_one_call_score_as_alone(small_model, device, backend):
    classifier = load_classifier(str(small_model), device=device, backend=backend)
    clips = _clips(classifier.config, [3, 7, 7, 1, 12])
    together = classifier.run_clips(clips)
    assert len(together) == len(clips)
    for clip, (clip_logit, frame_logits) in zip(clips, together, strict=True):
        alone_clip, alone_frames = classifier.run(clip[None])
        assert frame_logits.shape == (len(clip),)
        tolerance = ATOL if device == "cpu" else CUDA_ATOL
        assert clip_logit == pytest.approx(float(alone_clip[0]), abs=tolerance)
        np.testing.assert_allclose(frame_logits, alone_frames[0], atol=tolerance)


def test_concurrent_callers_share_batches_and_get_their_own_scores(small_model):
    inner = load_classifier(str(small_model), device="cpu", backend="torch")
    batching = BatchingClassifier(inner, max_batch_frames=1000, max_wait_s=0.5)
    inputs = [clip_of_crops(64, n) for n in (4, 6, 6, 9, 2, 5)]
    expected = [inner.score_clip(crops) for crops in inputs]
    results: list[object] = [None] * len(inputs)
    start = threading.Barrier(len(inputs))

    def call(i: int) -> None:
        start.wait()
        results[i] = batching.score_clip(inputs[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    batching.close()
    for got, want in zip(results, expected, strict=True):
        assert got.fake_probability == pytest.approx(want.fake_probability, abs=ATOL)
        np.testing.assert_allclose(got.frame_probabilities, want.frame_probabilities, atol=ATOL)
    stats = batching.stats
    assert stats.clips == len(inputs) and stats.frames == sum(len(c) for c in inputs)
    assert stats.batches < len(inputs)  # some callers shared a batch
    assert max(stats.requests_per_batch) >= 2
    assert batching.info == inner.info and batching.backend == "torch"


def test_batches_stay_within_their_frame_limit(small_model):
    inner = load_classifier(str(small_model), device="cpu", backend="onnxruntime")
    batching = BatchingClassifier(inner, max_batch_frames=10, max_wait_s=0.3)
    start = threading.Barrier(6)
    sizes: list[int] = []
    original = inner.run_clips

    def recording(clips):
        sizes.append(sum(len(c) for c in clips))
        return original(clips)

    inner.run_clips = recording  # observe what the scoring thread asks of the backend
    try:

        def call() -> None:
            start.wait()
            batching.score_clip(clip_of_crops(64, 4))

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        del inner.run_clips
        batching.close()
    assert sum(sizes) == 24
    assert all(size <= 10 for size in sizes)
    assert max(sizes) == 8  # two 4-frame clips per batch when all six wait together


def test_a_failing_batch_raises_in_its_callers_and_the_next_one_works(small_model):
    inner = load_classifier(str(small_model), device="cpu", backend="onnxruntime")
    batching = BatchingClassifier(inner)
    wrong = np.zeros((5, 4, 64, 64), np.float32)  # four channels: the backend refuses it
    with pytest.raises(Exception, match=r"(?i)channel|dimension|shape|invalid"):
        batching.run_clips([wrong])
    good = clip_of_crops(64, 3)
    assert batching.score_clip(good).fake_probability == pytest.approx(
        inner.score_clip(good).fake_probability, abs=ATOL
    )
    batching.close()
    with pytest.raises(RuntimeError, match="closed"):
        batching.score_clip(good)
