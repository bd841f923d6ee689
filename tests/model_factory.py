"""Copies of the shipped default model for tests that need it configured otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from deepfake_detector.models.registry import WEIGHTS_DIR, default_model_name


def default_model_copy(folder: Path, **config: object) -> Path:
    """The default model's weights in ``folder`` (created), its ``config.json`` with the keys
    in ``config`` replaced, e.g. ``ece=0.05`` for one whose scores are worded as chances."""
    source = WEIGHTS_DIR / default_model_name()
    folder.mkdir(parents=True)
    shutil.copyfile(source / "model.safetensors", folder / "model.safetensors")
    original = json.loads((source / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps(original | config), encoding="utf-8")
    return folder
