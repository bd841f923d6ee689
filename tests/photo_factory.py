"""Test photos written at test time from the real portraits in scikit-image and matplotlib (see
``video_factory``), in every format the project reads, plus the broken ones it must refuse."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

import video_factory

EXIF_ORIENTATION = 0x0112


def write_photo(
    path: str | os.PathLike[str],
    image: np.ndarray | None = None,
    *,
    fmt: str | None = None,
    orientation: int = 1,
    **options: object,
) -> Path:
    """``image`` (RGB or RGBA; the astronaut by default) saved as ``fmt`` (from the suffix by
    default). ``orientation`` 6 stores it turned a quarter counter-clockwise with the EXIF tag
    that tells viewers to turn it back; 3 stores it upside down; 8 a quarter clockwise."""
    picture = video_factory.astronaut() if image is None else image
    stored = {1: picture, 6: np.rot90(picture, 1), 3: np.rot90(picture, 2), 8: np.rot90(picture, 3)}
    pil = Image.fromarray(np.ascontiguousarray(stored[orientation]))
    if orientation != 1:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        options["exif"] = exif
    path = Path(path)
    pil.save(path, format=fmt, **options)
    return path


def tight_face() -> np.ndarray:
    """The astronaut's face cropped tightly, as a profile picture is: detectors miss a face
    that fills the picture unless it is padded first."""
    x1, y1, x2, y2 = video_factory.ASTRONAUT_FACE
    return np.ascontiguousarray(video_factory.astronaut()[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5])


def truncated_jpeg(path: str | os.PathLike[str]) -> Path:
    """A JPEG cut in the middle of its picture data."""
    buffer = io.BytesIO()
    Image.fromarray(video_factory.astronaut()).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    path = Path(path)
    path.write_bytes(data[: len(data) // 2])
    return path


def png_header_only(path: str | os.PathLike[str], width: int, height: int) -> Path:
    """A PNG whose header declares ``width`` x ``height`` with a token of picture data: what a
    decompression bomb looks like before anything is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" * 64)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    path = Path(path)
    path.write_bytes(png)
    return path


def jpeg_with_payload(path: str | os.PathLike[str]) -> Path:
    """A polyglot: a whole JPEG with an HTML page and a ZIP archive appended after its end."""
    buffer = io.BytesIO()
    Image.fromarray(video_factory.astronaut()).save(buffer, format="JPEG", quality=90)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("evil.html", "<script>alert(1)</script>")
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    path = Path(path)
    path.write_bytes(buffer.getvalue() + html + archive.getvalue())
    return path


def html_then_png(path: str | os.PathLike[str]) -> Path:
    """A polyglot the other way round: an HTML page with a PNG after it, which no decoder reads
    as a picture (it does not start like one)."""
    buffer = io.BytesIO()
    Image.fromarray(video_factory.astronaut()).save(buffer, format="PNG")
    path = Path(path)
    path.write_bytes(b"<!doctype html><html><script>alert(1)</script>" + buffer.getvalue())
    return path
