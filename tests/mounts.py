"""Real small disks for fault tests: a tmpfs of a few MB mounted on a test folder (a disk that
fills up), remounted read-only (unwritable storage, which root's chmod cannot simulate).

Mounting needs root or CAP_SYS_ADMIN; where the kernel refuses it (an unprivileged container)
these tests skip and say why, rather than fake a full disk."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
MS_RDONLY, MS_REMOUNT, MNT_DETACH = 1, 32, 2


def _mount(target: Path, flags: int, options: str | None, fstype: str | None = "tmpfs") -> None:
    encoded = options.encode() if options else None
    kind = fstype.encode() if fstype else None
    if _libc.mount(b"tmpfs", str(target).encode(), kind, flags, encoded) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(target))


@contextlib.contextmanager
def small_disk(path: Path, size_kb: int) -> Iterator[Path]:
    """``path`` as an empty tmpfs of ``size_kb``; unmounted (lazily, if still busy) afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount(path, 0, f"size={size_kb}k,mode=0700")
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise
        pytest.skip(f"cannot mount a tmpfs here ({exc.strerror}): needs root or CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        if _libc.umount2(str(path).encode(), 0) != 0:
            _libc.umount2(str(path).encode(), MNT_DETACH)


def read_only(path: Path, on: bool = True) -> None:
    """Remount the small disk at ``path`` read-only (or writable again)."""
    _mount(path, MS_REMOUNT | (MS_RDONLY if on else 0), None, fstype=None)


def fill(path: Path) -> None:
    """Use up every free byte of the filesystem holding ``path`` (files ``filler-*``)."""
    for n, block in enumerate((1 << 20, 4096, 1)):
        with contextlib.suppress(OSError), open(path / f"filler-{n}", "wb", buffering=0) as out:
            while True:
                out.write(b"\0" * block)
