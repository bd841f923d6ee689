"""Where uploads and evidence live: a blob store addressed by keys, never by the client's names.

Keys::

    <sha256>/video.<ext>              the upload, named by its content
    <sha256>/<job id>/<attempt>/...   evidence of one attempt: frames/, crops/, heatmaps/

``LocalBlobStore`` keeps them in a folder: on one machine a local disk, on several a shared mount
(NFS, SMB, CephFS) that the web processes and every worker see at the same path or not — each
process only needs ``DFD_STORAGE_DIR`` pointing at its own mount of it. An S3 backend would be one
more class with these methods; it is not provided because no S3-compatible server can be
installed here to test it against (Debian 12 packages none; see docs/deploy.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import unquote, urlsplit

_CHUNK = 1 << 20
STAGING = "tmp"
"""Folder (under the store) of uploads being received."""
STALE_STAGING_S = 6 * 3600.0
"""A staged upload untouched for this long belongs to a process that died: removed at start."""


class UploadTooLarge(Exception):
    """The upload exceeded the byte limit while it was being received."""


class BadKey(ValueError):
    """A key that could name something outside the store."""


@dataclass(frozen=True)
class StagedFile:
    """An upload fully received into a temporary file, with its hash and size."""

    path: Path
    sha256: str
    size_bytes: int


class BlobStore(Protocol):
    """What the web processes and the workers need of the file store."""

    def stage(self, stream: IO[bytes], max_bytes: int) -> StagedFile: ...

    def discard(self, staged: StagedFile) -> None: ...

    def keep(self, staged: StagedFile, key: str) -> None: ...

    def local_path(self, key: str) -> Path: ...

    def exists(self, key: str) -> bool: ...

    def writable_dir(self, prefix: str) -> Path: ...

    def delete_prefix(self, prefix: str) -> None: ...

    def children(self, prefix: str) -> list[str]: ...

    def sweep_staging(self, older_than_s: float = ...) -> int: ...


def check_key(key: str) -> str:
    """A key is ``/``-separated plain names: no empty, dot or hidden parts, no NUL."""
    parts = key.split("/")
    if not key or any(not p or p.startswith(".") or "\0" in p or "\\" in p for p in parts):
        raise BadKey(f"not a blob key: {key!r}")
    return key


class LocalBlobStore:
    """Blobs as files under one folder (local disk, or a mount shared by several machines)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.staging = self.root / STAGING
        self.staging.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def stage(self, stream: IO[bytes], max_bytes: int) -> StagedFile:
        """Copy an upload into the staging folder while hashing it; stop as soon as it is too
        large. Nothing is left behind on any error."""
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(prefix=_staging_prefix(), suffix=".part", dir=self.staging)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLarge
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StagedFile(path, digest.hexdigest(), size)

    def discard(self, staged: StagedFile) -> None:
        staged.path.unlink(missing_ok=True)

    def keep(self, staged: StagedFile, key: str) -> None:
        """Move a staged upload to ``key`` atomically; a second copy of the same bytes is
        dropped (keys of uploads are content hashes)."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            self.discard(staged)
        else:
            os.replace(staged.path, target)

    def local_path(self, key: str) -> Path:
        """A path a decoder (or ``send_file``) can open."""
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def writable_dir(self, prefix: str) -> Path:
        """An empty folder to write the blobs under ``prefix`` into (emptied if it held
        leftovers of an interrupted attempt)."""
        folder = self._path(prefix)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def delete_prefix(self, prefix: str) -> None:
        """Remove everything under ``prefix``, then its parent folders that are left empty."""
        folder = self._path(prefix)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        else:
            folder.unlink(missing_ok=True)
        parent = folder.parent
        while parent != self.root and parent.is_relative_to(self.root):
            with contextlib.suppress(OSError):
                parent.rmdir()  # only succeeds when empty
                parent = parent.parent
                continue
            break

    def children(self, prefix: str) -> list[str]:
        """The keys one level below ``prefix`` (sorted; empty when there is none)."""
        folder = self._path(prefix)
        if not folder.is_dir():
            return []
        return sorted(f"{prefix}/{entry.name}" for entry in folder.iterdir())

    def sweep_staging(self, older_than_s: float = STALE_STAGING_S) -> int:
        """Remove staged uploads left by processes that died while receiving them: at once
        when the process was on this host (its pid is in the name), else once they are old."""
        removed, cutoff = 0, time.time() - older_than_s
        for leftover in self.staging.glob("upload-*.part"):
            with contextlib.suppress(OSError):
                if _owner_died(leftover.name) or leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
        return removed


def _staging_prefix() -> str:
    return f"upload-{os.getpid()}@{socket.gethostname()}~"


def _owner_died(name: str) -> bool:
    """Whether the staged file ``name`` was being written by a process of this host that is
    gone (names made by :func:`_staging_prefix`; other names: unknown, so ``False``)."""
    owner, _, rest = name.removeprefix("upload-").partition("@")
    host = rest.rpartition("~")[0]
    if not owner.isdigit() or host != socket.gethostname():
        return False
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _local(url: str) -> BlobStore:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"file:// URLs name a local path (a mount), not a host: {url!r}")
    return LocalBlobStore(unquote(parts.path))


BACKENDS: dict[str, Callable[[str], BlobStore]] = {"file": _local}
"""URL scheme → blob store. A new backend (``s3``, say) is one class and one entry here."""


def make_blob_store(url: str) -> BlobStore:
    """The blob store for ``DFD_STORAGE_URL`` (``file:///path``; a bare path means the same)."""
    if "://" not in url:
        return LocalBlobStore(url)
    scheme = urlsplit(url).scheme
    if scheme not in BACKENDS:
        known = ", ".join(f"{name}://" for name in BACKENDS)
        raise ValueError(
            f"unknown storage URL scheme {scheme!r} (supported: {known}; for object storage, "
            "mount it as a folder or add a backend: see docs/deploy.md)"
        )
    return BACKENDS[scheme](url)
