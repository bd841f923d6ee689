"""What an API upload may ask for beyond its file: ``frames`` and ``model`` (over the server's
analysis settings) and ``callback_url`` (a webhook, see ``webhooks.py``), all as multipart form
fields beside ``file``.

What is allowed comes from the service settings only: ``DFD_ALLOWED_MODELS`` (the server's own
``DFD_MODEL`` is always allowed) and ``DFD_ALLOWED_FRAMES_MIN`` .. ``DFD_ALLOWED_FRAMES_MAX``
(0: the analysis's ``max_frames``). Anything else is refused with 400 ``invalid_parameter``
naming what is allowed. The chosen options are kept with the job (``analyses.options``), are
part of its de-duplication key, and the worker analyses with them (:func:`apply`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from deepfake_detector.config import AnalysisSettings, ServiceSettings, SettingsError
from deepfake_detector.service.uploads import UploadError
from deepfake_detector.service.webhooks import CallbackRefused, check_callback_url, parse_hosts

FORM_FIELDS = ("file", "frames", "model", "callback_url")
"""The multipart fields ``POST /api/v1/analyses`` takes; any other is refused."""
_DIGITS = re.compile(r"[0-9]{1,9}", re.ASCII)


@dataclass(frozen=True)
class RequestOptions:
    """An upload's options, validated. ``analysis``: only what differs from the server's own
    settings (``{}`` for none), so asking for the defaults is the same request as asking for
    nothing."""

    analysis: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None

    def described(self) -> dict[str, Any]:
        """Everything the request asked for, for its idempotency fingerprint."""
        return {"options": dict(sorted(self.analysis.items())), "callback_url": self.callback_url}


def allowed_models(service: ServiceSettings, analysis: AnalysisSettings) -> list[str]:
    """The server's model first, then ``DFD_ALLOWED_MODELS`` in its order, without repeats."""
    names = [analysis.model] + [n.strip() for n in service.allowed_models.split(",")]
    return list(dict.fromkeys(n for n in names if n))


def frames_range(service: ServiceSettings, analysis: AnalysisSettings) -> tuple[int, int]:
    top = service.allowed_frames_max or analysis.max_frames
    return service.allowed_frames_min, min(top, analysis.max_frames)


def check_settings(service: ServiceSettings, analysis: AnalysisSettings) -> None:
    """Refuse (``SettingsError``, naming the variable) settings that can never work: an empty
    frames range, a model in ``DFD_ALLOWED_MODELS`` that does not exist, a malformed
    ``DFD_WEBHOOK_HOSTS``."""
    from deepfake_detector.errors import ModelError
    from deepfake_detector.models.registry import resolve_model

    low, high = frames_range(service, analysis)
    if low < 1 or low > high:
        raise SettingsError(
            f"DFD_ALLOWED_FRAMES_MIN={service.allowed_frames_min} and DFD_ALLOWED_FRAMES_MAX="
            f"{service.allowed_frames_max} allow no frame count (the analysis's max_frames is "
            f"{analysis.max_frames}; the minimum is at least 1)"
        )
    for name in allowed_models(service, analysis)[1:]:
        try:
            resolve_model(name)
        except ModelError as exc:
            raise SettingsError(f"DFD_ALLOWED_MODELS: {exc}") from None
    parse_hosts(service.webhook_hosts)


def _single(form: Mapping[str, Any], name: str) -> str | None:
    values = form.getlist(name)  # type: ignore[attr-defined]
    return str(values[0]) if values else None


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "…")


def parse(
    form: Mapping[str, Any],
    file_fields: Mapping[str, Any],
    query: Mapping[str, Any],
    service: ServiceSettings,
    analysis: AnalysisSettings,
) -> RequestOptions:
    """The options of one upload request (its form fields, file fields and query string),
    validated against the settings; raises ``UploadError`` (400) naming what is allowed."""
    allowed = ", ".join(FORM_FIELDS)
    if query:
        name = sorted(query)[0]
        raise UploadError(
            400,
            "invalid_parameter",
            f"Unknown query parameter {_shown(name)}: an upload's options are multipart form "
            f"fields ({allowed}).",
        )
    unknown = sorted((set(form) | set(file_fields)) - set(FORM_FIELDS))
    if unknown:
        raise UploadError(
            400,
            "invalid_parameter",
            f"Unknown field {_shown(unknown[0])} (allowed: {allowed}).",
        )
    for name in sorted(set(form) | set(file_fields)):
        sent = len(form.getlist(name)) + len(file_fields.getlist(name))  # type: ignore[attr-defined]
        if sent > 1:
            raise UploadError(400, "invalid_parameter", f"{name} was sent {sent} times.")
    chosen: dict[str, Any] = {}
    frames = _single(form, "frames")
    if frames is not None:
        low, high = frames_range(service, analysis)
        value = int(frames) if _DIGITS.fullmatch(frames.strip()) else None
        if value is None or not low <= value <= high:
            raise UploadError(
                400,
                "invalid_parameter",
                f"frames must be a whole number from {low} to {high}, not {_shown(frames)}.",
            )
        if value != analysis.frames or analysis.frames_per_second is not None:
            chosen["frames"] = value
    model = _single(form, "model")
    if model is not None:
        models = allowed_models(service, analysis)
        if model not in models:
            raise UploadError(
                400,
                "invalid_parameter",
                f"model {_shown(model)} is not allowed on this server (allowed: "
                f"{', '.join(models)}; see DFD_ALLOWED_MODELS).",
            )
        if model != analysis.model:
            chosen["model"] = model
    callback = _single(form, "callback_url")
    if callback is not None:
        try:
            callback = check_callback_url(callback, service)
        except CallbackRefused as exc:
            raise UploadError(400, "invalid_callback_url", str(exc)) from None
    return RequestOptions(chosen, callback)


def apply(settings: AnalysisSettings, options: Mapping[str, Any] | None) -> AnalysisSettings:
    """The settings a job is analysed with: ``settings`` with its upload's options. ``frames``
    replaces a frames-per-second rate too."""
    if not options:
        return settings
    changes: dict[str, Any] = {}
    if "frames" in options:
        changes.update(frames=int(options["frames"]), frames_per_second=None)
    if "model" in options:
        changes["model"] = str(options["model"])
    return replace(settings, **changes)
