"""The fingerprint of everything that changes an analysis's result, used to deduplicate uploads."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from typing import TYPE_CHECKING

from deepfake_detector.config import EXECUTION_SETTINGS, AnalysisSettings

if TYPE_CHECKING:
    from deepfake_detector.models.checkpoints import ModelConfig

LATER_CONFIG_FIELDS = ("detail_scale",)
"""Model config fields added after keys were first issued: left out of the key at their
default, so that upgrading does not make every stored analysis look stale."""


def settings_key(settings: AnalysisSettings) -> str:
    """Fingerprint of everything that changes a result: the settings (not where they run:
    ``config.EXECUTION_SETTINGS``), the sha256 of the weights
    that ``settings.model`` resolves to and of its landmark member, and its configuration
    (temperature, threshold, band: a recalibrated model scores differently with the same
    weights), so that re-uploading a video after the default model (or the file behind a model
    path) changed re-analyses it instead of returning the old model's result. A model that
    cannot be resolved keys on its name (its jobs fail anyway)."""
    from deepfake_detector.errors import ModelError
    from deepfake_detector.models.checkpoints import file_sha256
    from deepfake_detector.models.ensemble import member_path
    from deepfake_detector.models.registry import resolve_model

    try:
        resolved = resolve_model(settings.model)
        config = config_text(resolved.config)
        weights = resolved.sha256 + ":config:" + hashlib.sha256(config.encode()).hexdigest()
        member = member_path(settings.model)
        if member is not None:  # a second scorer changes the results as much as the weights
            weights += ":" + file_sha256(member)
    except (ModelError, OSError, ValueError):
        weights = f"unresolved:{settings.model}"
    fields = {k: v for k, v in dataclasses.asdict(settings).items() if k not in EXECUTION_SETTINGS}
    text = json.dumps(
        {"settings": fields, "weights_sha256": weights},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=32)
def cached_settings_key(settings: AnalysisSettings) -> str:
    """:func:`settings_key`, computed once per process for each distinct settings (as the
    server's own key is, at start): uploads asking for other frames or another model are keyed
    without hashing the weights again on every request."""
    return settings_key(settings)


def config_text(config: ModelConfig) -> str:
    """A model config as the key hashes it (``LATER_CONFIG_FIELDS`` left out at their
    defaults)."""
    values = dataclasses.asdict(config)
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    for name in LATER_CONFIG_FIELDS:
        if values[name] == defaults[name]:
            del values[name]
    return json.dumps(values, sort_keys=True, default=str)
