"""The analysis de-duplication key: a re-upload is answered from the old analysis only when the
settings *and the weights* are the same."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from deepfake_detector.config import AnalysisSettings
from deepfake_detector.models.checkpoints import ModelConfig, build_network, save_checkpoint
from deepfake_detector.service.settings_key import LATER_CONFIG_FIELDS, config_text, settings_key


def _model(folder: Path, seed: int) -> Path:
    config = ModelConfig(name="key-test", backbone="mobilenet_v2", trained=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_network(config)
    save_checkpoint(network, config, folder)
    return folder


def test_key_follows_the_weights_not_the_name(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", seed=1)
    settings = AnalysisSettings(model=str(folder))
    first = settings_key(settings)
    assert settings_key(settings) == first  # stable
    _model(folder, seed=2)  # the same path, new weights (a new default shipped in place)
    assert settings_key(settings) != first
    assert settings_key(replace(settings, frames=settings.frames + 1)) != settings_key(settings)
    # A model that cannot be resolved still gets a key (its jobs fail with a clear error).
    missing = AnalysisSettings(model=str(tmp_path / "nothing.pt"))
    assert settings_key(missing) != settings_key(settings)


def test_key_follows_the_calibration_too(tmp_path: Path) -> None:
    """Same weights, a new temperature and band in config.json (a model recalibrated in place):
    a new key, so re-uploads are scored with the new calibration."""
    import json

    folder = _model(tmp_path / "m", seed=1)
    settings = AnalysisSettings(model=str(folder))
    first = settings_key(settings)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config.update(temperature=1.7, band=[0.3, 0.7], calibrated=True)
    config_path.write_text(json.dumps(config))
    assert settings_key(settings) != first


def test_key_leaves_out_where_the_analysis_runs(tmp_path: Path) -> None:
    """A GPU worker's analysis answers a re-upload taken by a web server set up for the CPU: the
    devices and the backend change no result (beyond float rounding)."""
    from dataclasses import fields

    from deepfake_detector.config import EXECUTION_SETTINGS

    assert EXECUTION_SETTINGS.issubset(f.name for f in fields(AnalysisSettings))  # none renamed
    settings = AnalysisSettings(model=str(_model(tmp_path / "m", seed=1)))
    elsewhere = replace(
        settings, device="cuda", backend="onnxruntime", detect_device="cuda", decode_device="cuda"
    )
    assert settings_key(elsewhere) == settings_key(settings)
    for field in ("detector", "sample_snap", "full_detect_every", "detect_max_side"):
        other = {"detector": "retinaface", "sample_snap": 0.0}.get(field)
        if other is None:
            other = getattr(settings, field) * 2
        assert settings_key(replace(settings, **{field: other})) != settings_key(settings), field


def test_config_fields_added_later_key_only_when_set(tmp_path: Path) -> None:
    """A field added to model configs after keys were issued leaves the key of a model that
    does not set it unchanged (stored analyses still answer re-uploads after an upgrade); set,
    it changes the key like any other."""
    import json

    config = ModelConfig(name="key-test")
    text = json.loads(config_text(config))
    assert not set(LATER_CONFIG_FIELDS) & set(text)
    assert json.loads(config_text(replace(config, detail_scale=0.5)))["detail_scale"] == 0.5
    assert text["temperature"] == config.temperature
    folder = _model(tmp_path / "m", seed=1)
    settings = AnalysisSettings(model=str(folder))
    first = settings_key(settings)
    config_path = folder / "config.json"
    data = json.loads(config_path.read_text())
    config_path.write_text(json.dumps(data | {"detail_scale": 0.5}))
    assert settings_key(settings) != first
