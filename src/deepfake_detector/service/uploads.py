"""Turning an uploaded file into a queued job: receive, hash, probe, check limits, deduplicate.

Shared by the REST API and the upload page so both enforce the same limits with the same
messages. Limits are checked on the probed content, never on the name or the declared type.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from deepfake_detector.config import ServiceSettings
from deepfake_detector.errors import MediaError
from deepfake_detector.media.formats import stored_format
from deepfake_detector.media.image import ImageSizeError
from deepfake_detector.media.probe import FrameSizeError
from deepfake_detector.media.sources import probe_media
from deepfake_detector.service.backends import Backends
from deepfake_detector.service.blobs import UploadTooLarge
from deepfake_detector.service.db import Analysis, Video

if TYPE_CHECKING:
    from werkzeug.datastructures import FileStorage

    from deepfake_detector.service.context import ServiceContext

log = logging.getLogger(__name__)

_PROBE_MAX_PIXELS = 8192 * 8192


class UploadError(Exception):
    """An upload refused with a reason fit to show the person or program that sent it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
UNWRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
NO_SPACE_MESSAGE = "The server is out of disk space; try again later."


def storage_error(exc: OSError, *, anywhere: bool = False) -> UploadError | None:
    """The answer to an OS error met while storing an upload: 507 for a full disk (or quota),
    503 for storage that cannot be written (read-only, permissions); ``None`` for others.
    ``anywhere``: met elsewhere in a request, where EACCES and EPERM may mean anything, so only
    a full or read-only disk is answered as such."""
    if exc.errno in OUT_OF_SPACE:
        return UploadError(507, "insufficient_storage", NO_SPACE_MESSAGE)
    if exc.errno == errno.EROFS or (exc.errno in UNWRITABLE and not anywhere):
        return UploadError(
            503,
            "storage_unavailable",
            "The server cannot store files right now (its storage is not writable); "
            "try again later.",
        )
    return None


def _refuse_storage_error(exc: OSError) -> None:
    """Raise the refusal for ``exc`` met while storing an upload, if it has one."""
    mapped = storage_error(exc)
    if mapped is not None:
        log.error("could not store an upload: %s", exc)
        raise mapped from exc


UPLOAD_ENDPOINTS = frozenset({"api.create_analysis", "web.upload"})
"""The Flask endpoints that receive an upload (the API and the upload page)."""


def check_free_space(backends: Backends, service: ServiceSettings, declared_bytes: int) -> None:
    """Refuse an upload at once (507) unless the storage filesystem keeps ``DFD_MIN_FREE_MB``
    free after receiving ``declared_bytes``, and the request parser's temporary folder (where
    Werkzeug spools a large upload first) has room for it too."""
    folders: dict[int, tuple[str, int]] = {}
    staging = getattr(backends.blobs, "staging", None)  # a local (or mounted) store only
    margin = int(service.min_free_mb * 1_000_000)
    for folder, reserve in ((tempfile.gettempdir(), 0), (staging, margin)):
        if folder is None:
            continue
        with contextlib.suppress(OSError):
            folders[os.stat(folder).st_dev] = (str(folder), reserve)  # same disk: the larger
    for folder, reserve in folders.values():
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            continue  # unreachable: storing will say what is wrong
        if free < reserve + declared_bytes:
            log.error(
                "upload of %d bytes refused: %d bytes free in %s, %d kept free (DFD_MIN_FREE_MB)",
                declared_bytes,
                free,
                folder,
                reserve,
            )
            raise UploadError(507, "insufficient_storage", NO_SPACE_MESSAGE)


@dataclass(frozen=True)
class Accepted:
    analysis: Analysis
    video: Video
    deduplicated: bool
    """True when this content had already been analysed (or queued) with these settings."""


def display_name(client_name: str | None) -> str:
    """The client's file name reduced to something safe to store and show: no folders, no
    control characters, at most 255 characters. It is never used as a path."""
    name = (client_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip()
    return name[:255] or "upload"


def _minutes(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 1_000_000:g} MB"


def accept_upload(
    stream: IO[bytes] | None,
    client_name: str | None,
    *,
    backends: Backends,
    service: ServiceSettings,
    settings_key: str,
    created_by: str | None = None,
    options: dict[str, Any] | None = None,
) -> Accepted:
    """Receive ``stream`` into the store and queue its analysis (unless already done or queued).
    ``created_by``: the id of the API token the upload came with (recorded on a new analysis).
    ``options``: what the upload asked for over the server's analysis settings (``settings_key``
    is the key of the settings with them; see ``service/options.py``).

    Raises ``UploadError`` (400, 413, 415 or 422) with a clear message for anything refused,
    507 or 503 when the storage is full or not writable (nothing is left half-written).
    """
    if stream is None:
        raise UploadError(
            400, "missing_file", "No file was sent: choose a video or a photo to upload."
        )
    limit = service.upload_max_bytes
    try:
        staged = backends.blobs.stage(stream, limit)
    except UploadTooLarge:
        raise UploadError(
            413, "file_too_large", f"The file is larger than the {_megabytes(limit)} limit."
        ) from None
    except OSError as exc:  # the staged .part is already removed
        _refuse_storage_error(exc)
        raise
    try:
        if staged.size_bytes == 0:
            raise UploadError(400, "empty_file", "The file is empty.")
        side = service.upload_max_side
        try:
            # probe's own guard is for absurd declared sizes; the configured limit (a side length)
            # is checked below with its own message.
            info = probe_media(staged.path, max_pixels=max(_PROBE_MAX_PIXELS, side * side))
        except FrameSizeError as exc:
            # A video or photo, just far too large (refused before decoding): the same answer
            # as the side limit below, with the size it declares.
            noun = "photo" if isinstance(exc, ImageSizeError) else "video"
            size = f"{exc.width}×{exc.height} pixels" if exc.width else f"{exc.pixels:,} pixels"
            raise UploadError(
                422,
                "resolution_too_high",
                f"The {noun} is {size}; the limit is {side} pixels on its longer side.",
            ) from None
        except MediaError as exc:
            raise UploadError(415, "not_a_video", str(exc)) from None
        except Exception:
            log.exception("probe failed unexpectedly")
            raise UploadError(
                415, "not_a_video", "This file could not be read as a video or a photo."
            ) from None
        if info.duration_s > service.upload_max_duration_s:
            raise UploadError(
                422,
                "video_too_long",
                f"The video lasts {_minutes(info.duration_s)}; the limit is "
                f"{_minutes(service.upload_max_duration_s)}.",
            )
        if max(info.width, info.height) > side:
            noun = "photo" if info.kind == "image" else "video"
            raise UploadError(
                422,
                "resolution_too_high",
                f"The {noun} is {info.width}×{info.height} pixels; the limit is {side} pixels "
                "on its longer side.",
            )
        details = info.to_dict()
        stored = stored_format(info.kind, info.container, info.codec)
        file_name = f"{info.kind}.{stored.extension}"
        mime = stored.mime
        try:
            backends.blobs.keep(staged, f"{staged.sha256}/{file_name}")
        except OSError as exc:
            _refuse_storage_error(exc)
            raise
    except BaseException:
        with contextlib.suppress(OSError):  # a read-only disk must not hide the first error
            backends.blobs.discard(staged)
        raise
    video = backends.jobs.add_video(staged.sha256, staged.size_bytes, file_name, mime, details)
    analysis, created = backends.jobs.create_or_reuse(
        video.sha256,
        settings_key,
        display_name(client_name),
        created_by=created_by,
        options=options,
    )
    if created:
        backends.queue.enqueue(analysis.id)
    return Accepted(analysis, video, deduplicated=not created)


def accept_file_field(
    upload: FileStorage | None,
    ctx: ServiceContext,
    *,
    settings_key: str | None = None,
    options: dict[str, Any] | None = None,
) -> Accepted:
    """Accept a request's multipart ``file`` field (the API and the upload page share this),
    recording the request's API token (if any) as the analysis's creator. ``settings_key`` and
    ``options``: the upload's own options and their key (default: the server's settings)."""
    from deepfake_detector.service.auth import current_token_id

    has_file = upload is not None and bool(upload.filename)
    return accept_upload(
        upload.stream if has_file else None,  # type: ignore[union-attr]
        upload.filename if upload is not None else None,
        backends=ctx.backends,
        service=ctx.settings,
        settings_key=settings_key or ctx.settings_key,
        created_by=current_token_id(),
        options=options,
    )
