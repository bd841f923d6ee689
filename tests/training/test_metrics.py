"""binary_metrics / breakdown / calibration against known values and scikit-learn itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from deepfake_detector.errors import ModelError
from deepfake_detector.models.checkpoints import (
    ModelConfig,
    checkpoint_paths,
    file_sha256,
    read_config,
    save_checkpoint,
)
from deepfake_detector.training.calibration import (
    expected_calibration_error,
    fit_temperature,
    store_calibration,
)
from deepfake_detector.training.index import IndexItem
from deepfake_detector.training.metrics import binary_metrics, breakdown


def test_perfect_separation() -> None:
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert m["auc"] == 1.0 and m["eer"] == 0.0 and m["ap"] == 1.0
    assert m["accuracy"] == 1.0 and m["balanced_accuracy"] == 1.0
    assert (m["n"], m["n_real"], m["n_fake"]) == (4, 2, 2)
    assert 0.2 <= m["eer_threshold"] <= 0.8


def test_inverted_scores() -> None:
    m = binary_metrics([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])
    assert m["auc"] == 0.0 and m["eer"] == 1.0
    assert m["accuracy"] == 0.0 and m["tpr"] == 0.0 and m["fpr"] == 1.0


def test_matches_scikit_learn_on_noisy_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.25, 300), 0, 1)
    m = binary_metrics(y.tolist(), s.tolist(), threshold=0.5)
    assert m["auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["ap"] == pytest.approx(average_precision_score(y, s))
    assert m["log_loss"] == pytest.approx(log_loss(y, np.clip(s, 1e-6, 1 - 1e-6)))
    assert m["accuracy"] == pytest.approx(np.mean((s >= 0.5) == y))
    assert 0.0 < m["eer"] < 0.5


def test_one_class_gives_nulls_not_errors() -> None:
    m = binary_metrics([1, 1, 1], [0.2, 0.7, 0.9])
    assert m["auc"] is None and m["eer"] is None and m["ap"] is None
    assert m["tpr"] == pytest.approx(2 / 3) and m["fpr"] is None
    assert m["balanced_accuracy"] == pytest.approx(2 / 3)
    assert math.isfinite(m["log_loss"])
    empty = binary_metrics([], [])
    assert empty["n"] == 0 and empty["accuracy"] is None and empty["log_loss"] is None


def test_log_loss_finite_with_hard_probabilities() -> None:
    m = binary_metrics([0, 1, 0, 1], [1.0, 0.0, 0.0, 1.0])
    assert math.isfinite(m["log_loss"])
    assert m["log_loss"] == pytest.approx(-math.log(1e-6) / 2, rel=1e-3)


def test_balanced_accuracy_on_imbalanced_data() -> None:
    # 90 reals all right, 10 fakes all called real: accuracy 0.9 but balanced 0.5
    m = binary_metrics([0] * 90 + [1] * 10, [0.1] * 100)
    assert m["accuracy"] == pytest.approx(0.9)
    assert m["balanced_accuracy"] == pytest.approx(0.5)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError):
        binary_metrics([0, 2], [0.5, 0.5])
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0.5, float("nan")])


def test_breakdown_by_method_compares_fakes_with_reals_of_their_source() -> None:
    items = [
        IndexItem("r1", 0, source="ffpp", method="real"),
        IndexItem("r2", 0, source="ffpp", method="real"),
        IndexItem("f1", 1, source="ffpp", method="Deepfakes"),
        IndexItem("f2", 1, source="ffpp", method="Face2Face"),
        IndexItem("d1", 1, source="dfdc", method="dfdc-fake"),
    ]
    scores = [0.1, 0.3, 0.9, 0.2, 0.7]
    by_method = breakdown(items, scores, by="method")
    assert by_method["Deepfakes"]["detection_rate"] == 1.0
    assert by_method["Deepfakes"]["vs_source_reals"]["auc"] == 1.0
    assert by_method["Face2Face"]["detection_rate"] == 0.0
    assert by_method["Face2Face"]["vs_source_reals"]["auc"] == 0.5
    assert "vs_source_reals" not in by_method["dfdc-fake"]  # no dfdc reals
    assert by_method["real"]["fpr"] == 0.0
    by_source = breakdown(items, scores, by="source")
    assert by_source["ffpp"]["n"] == 4 and by_source["ffpp"]["auc"] == pytest.approx(0.75)
    with pytest.raises(ValueError):
        breakdown(items, scores, by="label")


def _tempered_data(t: float, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 6.0, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z / t))).astype(int)
    return z, y


def test_fit_temperature_recovers_known_temperature() -> None:
    z, y = _tempered_data(2.5)
    t = fit_temperature(z, y)
    assert t == pytest.approx(2.5, rel=0.1)
    assert fit_temperature(z, y) == t  # deterministic


def test_ece_drops_after_calibration() -> None:
    z, y = _tempered_data(2.5, seed=1)
    raw = 1.0 / (1.0 + np.exp(-z))
    t = fit_temperature(z, y)
    calibrated = 1.0 / (1.0 + np.exp(-z / t))
    before, after = expected_calibration_error(y, raw), expected_calibration_error(y, calibrated)
    assert after < before / 2
    assert expected_calibration_error([], []) is None


def test_fit_temperature_needs_both_classes() -> None:
    with pytest.raises(ValueError):
        fit_temperature([1.0, 2.0], [1, 1])


def test_store_calibration_rewrites_config(tmp_path) -> None:
    # store_calibration never loads the weights, so a tiny network keeps this fast
    folder = save_checkpoint(torch.nn.Linear(2, 1), ModelConfig(name="tiny"), tmp_path / "m")
    weights, config_path = checkpoint_paths(folder)
    sha_before = file_sha256(weights)
    new = store_calibration(folder, 2.25, threshold=0.4, provenance={"fitted_on": "val"})
    on_disk = read_config(config_path)
    assert on_disk == new
    assert (on_disk.temperature, on_disk.calibrated, on_disk.threshold) == (2.25, True, 0.4)
    assert on_disk.training["calibration"] == {"fitted_on": "val"}
    assert file_sha256(weights) == sha_before
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    with pytest.raises(ModelError):
        store_calibration(folder, -1.0)
    with pytest.raises(ModelError):
        store_calibration(weights, 1.0)
    assert read_config(config_path).temperature == 2.25
