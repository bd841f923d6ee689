"""``Idempotency-Key`` on uploads (as Stripe's API has it): a client that does not know whether
its upload arrived (a timeout, a dropped connection) sends it again with the same key and gets
the first answer, the same analysis, instead of a second job.

- A key is 1 to 255 characters of ``A-Z a-z 0-9 - _ . : ~ + / =`` (a UUID, say); others are
  refused with 400 ``invalid_idempotency_key``.
- Keys belong to the caller: the API token's id, or ``anonymous`` for requests without one.
- The request is identified by the file's content (sha256) and its options (``frames``,
  ``model``, ``callback_url``): the same key with another file or other options is refused
  with 422 ``idempotency_key_reused``, and nothing is created.
- Only accepted uploads are remembered: a refused one (a bad option, not a video, too large…)
  leaves the key free, so the corrected request may use it.
- While the first request with a key is being handled, a second one waits for its answer (up to
  :data:`WAIT_S`), then gets 409 ``idempotency_key_in_use`` with ``Retry-After``.
- A key is remembered for ``DFD_IDEMPOTENCY_TTL_S`` (24 h) after its first use, and forgotten
  with its analysis when that is deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import IO, Any

from deepfake_detector.service.uploads import UploadError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
ANONYMOUS = "anonymous"
KEY_PATTERN = r"^[A-Za-z0-9_.:~+/=-]{1,255}$"
_KEY = re.compile(KEY_PATTERN, re.ASCII)
WAIT_S = 10.0
"""How long a request waits for the answer of an earlier one with its key still in hand."""
STALE_S = 120.0
"""A key held this long without an answer belonged to a request whose process died: taken over.
(Keys are taken once the upload is received; probing and storing it take seconds.)"""
RETRY_AFTER_S = 1


def key_from(headers: Any) -> str | None:
    """The request's key, validated; ``None`` when it has none."""
    values = headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1 or not _KEY.fullmatch(values[0]):
        raise UploadError(
            400,
            "invalid_idempotency_key",
            f"{HEADER} must be sent once, as 1 to 255 characters of A-Z, a-z, 0-9 and "
            "- _ . : ~ + / = (a UUID, for example).",
        )
    return str(values[0])


def scope_of(token_id: str | None) -> str:
    return token_id or ANONYMOUS


def content_sha256(stream: IO[bytes]) -> str:
    """sha256 of an uploaded file, read from its start; the stream is left at its start again."""
    digest = hashlib.sha256()
    stream.seek(0)
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def fingerprint(file_sha256: str, described: dict[str, Any]) -> str:
    """What one upload request asks for, as a hash: the same file with the same options."""
    text = json.dumps({"file_sha256": file_sha256, **described}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
