"""Reading photos (JPEG, PNG, WebP, HEIC, BMP, TIFF) with Pillow: what the content is, how large,
and the upright RGB picture, with clear errors for anything that is not one.

A photo is described by the same :class:`~deepfake_detector.media.probe.VideoInfo` a video is
(``kind="image"``, one frame at time 0), so that everything after decoding treats it as a
one-frame clip.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from deepfake_detector.errors import MediaError
from deepfake_detector.media.formats import IMAGE_FORMAT_NAMES
from deepfake_detector.media.probe import FrameSizeError, VideoInfo

try:  # HEIC/HEIF photos (iPhones) through the pillow-heif wheel's bundled libheif.
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - a dependency; without it HEIC is "not a photo"
    pillow_heif = None

MIN_IMAGE_SIDE = 32
"""A photo narrower or lower than this cannot show a face the detector finds (its smallest
faces are about 20 px): refused with a message instead of a silent "no face"."""
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


class ImageSizeError(FrameSizeError):
    """A photo larger than accepted. ``width``/``height`` are 0 when only its pixel count is
    known (Pillow refuses to open pictures of more than about 179 megapixels)."""

    def __init__(self, width: int, height: int, max_pixels: int, pixels: int = 0) -> None:
        self.pixels = pixels or width * height
        size = f"{width}x{height} pixels" if width else f"{self.pixels:,} pixels"
        MediaError.__init__(
            self,
            f"The photo is {size}, more than the {max_pixels:,} pixels accepted. "
            "Please provide a smaller photo.",
        )
        self.width, self.height, self.max_pixels = width, height, max_pixels


def sniff_image(path: str | Path) -> str | None:
    """The Pillow format name when ``path`` holds a photo of an accepted format, else ``None``
    (a video, or not media at all: the caller tries the video reader). Reads the header only."""
    try:
        with _open(path, max_pixels=0) as image:
            return image.format if image.format in IMAGE_FORMAT_NAMES else None
    except ImageSizeError:
        return "large"  # a photo, just too large: load_image says so
    except MediaError:
        return None


def load_image(path: str | Path, *, max_pixels: int = 8192 * 8192) -> tuple[VideoInfo, np.ndarray]:
    """Describe a photo and decode it, once: its ``VideoInfo`` (``width``/``height`` upright,
    EXIF orientation applied; ``rotation`` the clockwise turn that took) and its pixels, an
    upright RGB ``uint8`` array (transparency composited over white, as a viewer shows it; the
    first frame of an animated picture).

    Raises ``MediaError`` for a damaged, truncated or tiny picture, ``ImageSizeError`` (before
    decoding) for one of more than ``max_pixels``.
    """
    with _open(path, max_pixels=max_pixels) as image:
        fmt = str(image.format)
        rotation = _exif_rotation(image)
        _load(image)
        pixels = _rgb(_upright(image))
    height, width = pixels.shape[:2]
    if min(width, height) < MIN_IMAGE_SIDE:
        raise MediaError(
            f"The photo is {width}x{height} pixels, too small to show a face: at least "
            f"{MIN_IMAGE_SIDE} pixels on each side are needed."
        )
    info = VideoInfo(
        duration_s=0.0,
        fps=0.0,
        width=width,
        height=height,
        rotation=rotation,
        codec=fmt.lower() if fmt != "HEIF" else "hevc",
        frame_count=1,
        variable_frame_rate=False,
        container=fmt,
        duration_source="frame_count",
        kind="image",
    )
    return info, pixels


def read_image(path: str | Path, *, max_pixels: int = 8192 * 8192) -> np.ndarray:
    """:func:`load_image`'s pixels of the photo."""
    return load_image(path, max_pixels=max_pixels)[1]


def _rgb(upright: Image.Image) -> np.ndarray:
    if upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    ):
        rgba = upright.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        upright = Image.alpha_composite(white, rgba)
    elif upright.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits (convert("RGB") would clip it to white).
        wide = np.asarray(upright, dtype=np.float64)
        top = max(float(wide.max()), 1.0)
        grey = np.clip(wide * (255.0 / top), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    return np.ascontiguousarray(np.asarray(upright.convert("RGB"), dtype=np.uint8))


def _open(path: str | Path, *, max_pixels: int) -> Image.Image:
    """``Image.open`` with every way it fails turned into ``MediaError``; ``max_pixels`` 0: no
    size check of ours (Pillow's own bomb check still applies)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except FileNotFoundError:
        raise MediaError(f"File not found: {path}") from None
    except Image.DecompressionBombError as exc:
        found = _BOMB_PIXELS.search(str(exc))
        raise ImageSizeError(0, 0, max_pixels, int(found.group(1)) if found else 0) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"This file could not be read as a photo ({exc}).") from None
    width, height = image.size
    if max_pixels and width * height > max_pixels:
        image.close()
        raise ImageSizeError(width, height, max_pixels)
    return image


def _load(image: Image.Image) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise MediaError(
            f"The photo is damaged or truncated and could not be decoded ({exc})."
        ) from None


def _upright(image: Image.Image) -> Image.Image:
    """The picture turned as its EXIF orientation says; as stored when that tag is malformed
    (viewers ignore it too)."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


_EXIF_ROTATION = {3: 180, 6: 90, 8: 270}


def _exif_rotation(image: Image.Image) -> int:
    """The clockwise degrees EXIF orientation turns the stored picture by (mirrorings, rare,
    are applied too but not counted)."""
    try:
        orientation = int(image.getexif().get(0x0112, 1))
    except Exception:  # a malformed EXIF block is ignored, as viewers do
        return 0
    return _EXIF_ROTATION.get(orientation, 0)
