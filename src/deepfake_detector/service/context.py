"""What every request handler needs (settings, backends), held by the app, not by globals."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from deepfake_detector.config import AnalysisSettings, ServiceSettings
from deepfake_detector.service.backends import Backends

EXTENSION_KEY = "deepfake_detector"


@dataclass(frozen=True)
class ServiceContext:
    settings: ServiceSettings
    analysis_settings: AnalysisSettings
    settings_key: str
    """Fingerprint of ``analysis_settings``: uploads of the same bytes with it are deduplicated."""
    backends: Backends


def service() -> ServiceContext:
    """The current app's service context."""
    return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
