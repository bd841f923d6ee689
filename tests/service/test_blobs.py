"""Staged uploads of a process that died are removed at the next start, at once on its host."""

from __future__ import annotations

import io
import os
import socket
import subprocess
from pathlib import Path

import pytest

from deepfake_detector.service.blobs import LocalBlobStore, make_blob_store


def test_uploads_half_received_by_a_dead_process_are_swept_at_once(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "files")
    mine = blobs.stage(io.BytesIO(b"still being received"), max_bytes=100)
    assert f"upload-{os.getpid()}@" in mine.path.name
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    orphan = blobs.staging / f"upload-{dead_pid.pid}@{socket.gethostname()}~abc123.part"
    orphan.write_bytes(b"x" * 1000)
    elsewhere = blobs.staging / f"upload-{dead_pid.pid}@another-host~abc123.part"
    elsewhere.write_bytes(b"y")
    assert blobs.sweep_staging() == 1
    assert not orphan.exists()
    assert mine.path.exists(), "a live process's upload is left alone"
    assert elsewhere.exists(), "another host's upload waits until it is old"


def test_the_blob_store_is_chosen_by_url(tmp_path: Path) -> None:
    by_url = make_blob_store(f"file://{tmp_path}/by%20url")
    assert isinstance(by_url, LocalBlobStore) and by_url.root == tmp_path / "by url"
    assert make_blob_store(str(tmp_path / "plain")).root == tmp_path / "plain"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="supported: file://"):
        make_blob_store("s3://bucket/prefix")
    with pytest.raises(ValueError, match="not a host"):
        make_blob_store("file://fileserver/share")
