"""Grad-CAM heatmaps: right shape, finite, in [0, 1], and actually about the input."""

from __future__ import annotations

import numpy as np
import pytest
from model_fixtures import clip_of_crops

from deepfake_detector.errors import ModelError
from deepfake_detector.models import load_classifier
from deepfake_detector.models.explain import heatmaps


def _check_maps(maps: np.ndarray, count: int, size: int) -> None:
    assert maps.shape == (count, size, size) and maps.dtype == np.float32
    assert np.isfinite(maps).all()
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    for m in maps:  # a real face gives a map with structure, not a constant
        assert m.std() > 1e-3 and m.max() == pytest.approx(1.0)


@pytest.mark.parametrize("model", ["sequence", "seed"])
def test_heatmaps_per_crop(model, sequence_folder, seed_checkpoint):
    path = str(sequence_folder if model == "sequence" else seed_checkpoint)
    classifier = load_classifier(path, device="cpu", backend="torch")
    crops = clip_of_crops(112, 8)  # frames 0-3 one face, 4-7 another
    maps = heatmaps(classifier, crops)
    _check_maps(maps, 8, 112)
    # Different faces give different maps; the map follows the input.
    assert np.abs(maps[0] - maps[4]).mean() > 1e-2
    # Explaining does not disturb scoring (no hooks left behind, same numbers).
    before = classifier.score_clip(crops).frame_probabilities
    heatmaps(classifier, crops, target="clip")
    np.testing.assert_array_equal(classifier.score_clip(crops).frame_probabilities, before)


def test_heatmaps_for_other_backends_use_the_torch_network(sequence_folder):
    crops = clip_of_crops(112, 4)
    on_torch = heatmaps(load_classifier(str(sequence_folder), device="cpu", backend="torch"), crops)
    on_ort = heatmaps(
        load_classifier(str(sequence_folder), device="cpu", backend="onnxruntime"), crops
    )
    np.testing.assert_allclose(on_ort, on_torch, atol=1e-5)


def test_unknown_target_is_refused(sequence_folder):
    classifier = load_classifier(str(sequence_folder), device="cpu", backend="torch")
    with pytest.raises(ModelError, match="Grad-CAM target"):
        heatmaps(classifier, clip_of_crops(112, 1), target="pixel")
