"""Self-blended fakes (SBI): a real face blended with a slightly altered copy of itself.

Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022. Source and
target are the same real face; only the source is colour-jittered, re-sharpened or blurred and
shifted by a few pixels, then pasted back along a soft, randomly deformed face-shaped mask. The
result has no new identity, only the traces that face swapping leaves: a blending boundary,
colour and sharpness mismatch and a small misalignment. A classifier trained on real versus
self-blended faces therefore learns those traces rather than who is in the picture, which is
what lets it generalise to swap methods it never saw.

Everything here is NumPy and OpenCV, deterministic for a given ``numpy.random.Generator`` state,
and free of torch, so that a ``Dataset`` can call :class:`SelfBlender` per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "FIXED_FACE_MASK",
    "SelfBlendConfig",
    "SelfBlender",
    "check_crop",
    "default_landmarks",
    "face_mask",
    "self_blend",
]

# A frontal face in a crop made with CropSpec(margin=0.25, align=True), as fractions of the crop
# side: left eye, right eye, nose, mouth left, mouth right. Used when a detector gives no
# landmarks; measured roughly on MTCNN crops of the scikit-image and matplotlib portraits.
_DEFAULT_LANDMARKS = np.array(
    [[0.38, 0.43], [0.62, 0.43], [0.50, 0.55], [0.40, 0.66], [0.60, 0.66]], dtype=np.float64
)


@dataclass(frozen=True)
class SelfBlendConfig:
    """Random ranges of one self-blend. Defaults follow SBI's released code where it gives a
    value (marked "SBI"); the others are chosen here, of the same modest strength.

    Ranges are symmetric (``±x``) unless they are given as ``(low, high)``.
    """

    # Colour, applied to the source copy only.
    rgb_shift: float = 20.0
    """Per-channel additive shift in levels (SBI: RGBShift ±20)."""
    rgb_shift_p: float = 0.3
    """Probability of the RGB shift (SBI: 0.3)."""
    hue_shift_deg: float = 5.0
    """Hue rotation in degrees."""
    saturation: float = 0.15
    """Saturation multiplied by ``1 ± saturation``."""
    value: float = 0.1
    """HSV value multiplied by ``1 ± value``."""
    brightness: float = 0.1
    """Additive brightness as a fraction of 255 (SBI: RandomBrightnessContrast ±0.1)."""
    contrast: float = 0.1
    """Contrast multiplied by ``1 ± contrast`` about the image mean (SBI: ±0.1)."""

    # Sharpness: exactly one of the two (SBI: OneOf([RandomDownScale, Sharpen])).
    downscale_p: float = 0.5
    """Probability of blurring by down- and up-scaling instead of sharpening."""
    downscale_factors: tuple[float, ...] = (2.0, 4.0)
    """Down-scale factors to choose from (SBI: 2 or 4)."""
    sharpen_alpha: tuple[float, float] = (0.2, 0.5)
    """Sharpen blend weight (SBI: albumentations Sharpen alpha)."""
    sharpen_lightness: tuple[float, float] = (0.5, 1.0)
    """Sharpen kernel centre lightness (SBI)."""

    # Geometry of the source copy.
    scale: tuple[float, float] = (0.95, 1 / 0.95)
    """Zoom about the crop centre (SBI: 0.95 to 1/0.95)."""
    translate_x: float = 0.03
    """Horizontal shift as a fraction of the side (SBI: ±0.03)."""
    translate_y: float = 0.015
    """Vertical shift as a fraction of the side (SBI: ±0.015)."""

    # Mask.
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    """Maximum mask value, drawn uniformly from these (SBI's list)."""
    axis_scale: tuple[float, float] = (0.9, 1.1)
    """Each ellipse semi-axis is multiplied by a factor drawn from this range."""
    outline_jitter: float = 0.08
    """Amplitude of the smooth radial deformation of the outline, relative to the radius."""
    erode: float = 0.02
    """Largest erosion, as a fraction of the side (chosen or dilation with equal odds)."""
    dilate: float = 0.05
    """Largest dilation, as a fraction of the side."""
    blur: tuple[float, float] = (0.02, 0.1)
    """Gaussian kernel sizes as fractions of the side, one draw for each of the two blurs (SBI:
    5 to 25 px on masks of 192 to 256 px)."""

    def __post_init__(self) -> None:
        if not self.blend_ratios or not all(0.0 < r <= 1.0 for r in self.blend_ratios):
            raise ValueError("blend_ratios must be non-empty values in (0, 1]")
        if not self.downscale_factors or min(self.downscale_factors) < 1.0:
            raise ValueError("downscale_factors must be non-empty values >= 1")
        for name in ("scale", "sharpen_alpha", "sharpen_lightness", "axis_scale", "blur"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")


_DEFAULT_CONFIG = SelfBlendConfig()

FIXED_FACE_MASK = SelfBlendConfig(
    blend_ratios=(1.0,),
    axis_scale=(1.0, 1.0),
    outline_jitter=0.0,
    erode=0.0,
    dilate=0.0,
    blur=(0.03, 0.03),
)
"""The face ellipse of :func:`face_mask` without random jitter, for measuring regions of a
crop: its full-strength core is the inner face (``scripts/probe_*.py``)."""


def check_crop(face: np.ndarray) -> np.ndarray:
    """``face`` as an array, or ``ValueError`` unless it is a square RGB ``uint8`` crop: what
    every fake family takes."""
    face = np.asarray(face)
    if face.ndim != 3 or face.shape[2] != 3 or face.dtype != np.uint8:
        raise ValueError(f"face must be RGB uint8 (H, W, 3), got {face.dtype} {face.shape}")
    if face.shape[0] != face.shape[1]:
        raise ValueError(f"face must be square, got {face.shape[:2]}")
    return face


def default_landmarks(size: int) -> np.ndarray:
    """``(5, 2)`` landmarks of a centred frontal face in a ``size`` crop (margin 0.25), for faces
    whose detector gave none: the mask then becomes a centred, face-sized ellipse."""
    return _DEFAULT_LANDMARKS * size


def face_mask(
    landmarks: np.ndarray | None,
    size: int,
    rng: np.random.Generator,
    config: SelfBlendConfig | None = None,
) -> np.ndarray:
    """Soft, randomly deformed face-shaped mask, ``float32 (size, size)`` in ``[0, 1]``.

    An ellipse is fitted to the 5 points in the face's own frame (eye line and its normal): it
    reaches up to about the brows and down to about the chin in proportion to the eye-mouth
    distance, and out to the cheeks in proportion to the eye distance. Its axes are scaled at
    random, its outline deformed by a smooth random radial wave, the filled region eroded or
    dilated, and it is blurred twice as in SBI (blur, keep only the fully inside part, blur
    again) so the boundary is soft at a random width. Its maximum is a random blend ratio, so
    some fakes are only a faint mix of the two copies. ``landmarks=None`` gives a centred,
    face-sized ellipse (see :func:`default_landmarks`).
    """
    cfg = config or _DEFAULT_CONFIG
    points = default_landmarks(size) if landmarks is None else np.asarray(landmarks, np.float64)
    if points.shape != (5, 2) or not np.all(np.isfinite(points)):
        raise ValueError(f"landmarks must be a finite (5, 2) array, got shape {points.shape}")
    eyes = (points[0] + points[1]) / 2.0
    mouth = (points[3] + points[4]) / 2.0
    eye_mouth = max(float(np.linalg.norm(mouth - eyes)), 1e-3 * size)
    eye_dist = max(float(np.linalg.norm(points[1] - points[0])), 1e-3 * size)
    down = (mouth - eyes) / eye_mouth
    across = np.array([-down[1], down[0]])  # Points from the left eye towards the right one.
    if float(np.dot(across, points[1] - points[0])) < 0:
        across = -across

    # Brows sit about 0.6 eye-mouth distances above the eyes, the chin about 0.7 below the mouth;
    # the cheeks about one eye distance from the face's centre line.
    top, bottom = 0.6 * eye_mouth, 1.7 * eye_mouth
    semi_v = (top + bottom) / 2.0 * rng.uniform(*cfg.axis_scale)
    semi_h = 1.1 * eye_dist * rng.uniform(*cfg.axis_scale)
    centre = eyes + down * (bottom - top) / 2.0 + across * np.dot(points[2] - eyes, across) * 0.3

    # A smooth random radial wave: a few low-frequency harmonics with random phases.
    n = 64
    theta = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    harmonics = [(rng.uniform(-1.0, 1.0), rng.uniform(0.0, 2.0 * math.pi)) for _ in range(3)]

    def radius(angle: np.ndarray) -> np.ndarray:
        wave = sum(
            a * np.cos(k * angle + phase)
            for k, (a, phase) in zip((2, 3, 4), harmonics, strict=True)
        )
        return 1.0 + wave * cfg.outline_jitter / 3.0

    grow = rng.uniform() < 0.5
    reach = round(float(rng.uniform(0.0, cfg.dilate if grow else cfg.erode) * size))
    first = _odd_kernel(rng.uniform(*cfg.blur) * size)

    # However it is deformed, the mask must still blend the eyes, nose and mouth: grow the
    # ellipse (keeping its shape) until each landmark lies inside by what the erosion and the
    # first blur will take off, plus a margin. A hard "core" region would show as corners.
    shrink = (0 if grow else reach) + first // 2 + 0.15 * eye_dist
    rel = points - centre
    u, v = rel @ across, rel @ down
    angle = np.arctan2(v / semi_v, u / semi_h)
    boundary = radius(angle) * np.hypot(semi_h * np.cos(angle), semi_v * np.sin(angle))
    factor = max(1.0, float(np.max((np.hypot(u, v) + shrink) / boundary)))
    semi_h, semi_v = semi_h * factor, semi_v * factor

    r = radius(theta)
    offsets = np.outer(semi_h * r * np.cos(theta), across) + np.outer(
        semi_v * r * np.sin(theta), down
    )
    outline = centre + offsets

    shift = 4  # Sub-pixel polygon vertices: 1/16 px.
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(outline * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift)
    if reach > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
        mask = cv2.dilate(mask, kernel) if grow else cv2.erode(mask, kernel)

    soft = mask.astype(np.float32) / 255.0
    soft = cv2.GaussianBlur(soft, (first, first), 0)
    soft[soft < 1.0 - 1e-6] = 0.0  # SBI: keep only the part the first blur left fully inside.
    if not soft.any():  # A tiny face: keep the unblurred region rather than nothing.
        soft = mask.astype(np.float32) / 255.0
    second = _odd_kernel(rng.uniform(*cfg.blur) * size)
    soft = cv2.GaussianBlur(soft, (second, second), 0)
    peak = float(soft.max())
    if peak > 0.0:
        soft /= peak
    soft[soft < 1e-4] = 0.0  # Float noise of the blur: keep "outside" exactly zero.
    ratio = float(cfg.blend_ratios[int(rng.integers(len(cfg.blend_ratios)))])
    return np.clip(soft * ratio, 0.0, 1.0).astype(np.float32)


def _odd_kernel(size: float) -> int:
    return max(3, round(size) // 2 * 2 + 1)


def _jitter_colour(image: np.ndarray, rng: np.random.Generator, cfg: SelfBlendConfig) -> np.ndarray:
    """RGB shift (sometimes), hue-saturation-value, then brightness-contrast, in float."""
    out = image.astype(np.float32)
    if rng.uniform() < cfg.rgb_shift_p:
        out += rng.uniform(-cfg.rgb_shift, cfg.rgb_shift, size=3).astype(np.float32)
    hsv = cv2.cvtColor(np.clip(out, 0, 255) / 255.0, cv2.COLOR_RGB2HSV)  # H in degrees.
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue_shift_deg, cfg.hue_shift_deg)) % 360.0
    hsv[..., 1] = np.clip(hsv[..., 1] * (1.0 + rng.uniform(-cfg.saturation, cfg.saturation)), 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] * (1.0 + rng.uniform(-cfg.value, cfg.value)), 0, 1)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    contrast = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
    brightness = rng.uniform(-cfg.brightness, cfg.brightness) * 255.0
    out = (out - out.mean()) * contrast + out.mean() + brightness
    return np.clip(out, 0.0, 255.0)


def _jitter_sharpness(
    image: np.ndarray, rng: np.random.Generator, cfg: SelfBlendConfig
) -> np.ndarray:
    """Either blur by down- and up-scaling or sharpen (albumentations' Sharpen kernel)."""
    h, w = image.shape[:2]
    if rng.uniform() < cfg.downscale_p:
        factor = float(cfg.downscale_factors[int(rng.integers(len(cfg.downscale_factors)))])
        small = cv2.resize(
            image,
            (max(1, round(w / factor)), max(1, round(h / factor))),
            interpolation=cv2.INTER_AREA,
        )
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = rng.uniform(*cfg.sharpen_alpha)
    lightness = rng.uniform(*cfg.sharpen_lightness)
    effect = np.full((3, 3), -1.0, np.float32)
    effect[1, 1] = 8.0 + lightness
    identity = np.zeros((3, 3), np.float32)
    identity[1, 1] = 1.0
    kernel = (1.0 - alpha) * identity + alpha * effect
    return np.clip(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101), 0, 255)


def _jitter_geometry(
    image: np.ndarray, rng: np.random.Generator, cfg: SelfBlendConfig
) -> np.ndarray:
    """Small zoom about the centre plus a shift: the misalignment a face swap leaves."""
    h, w = image.shape[:2]
    scale = rng.uniform(*cfg.scale)
    tx = rng.uniform(-cfg.translate_x, cfg.translate_x) * w
    ty = rng.uniform(-cfg.translate_y, cfg.translate_y) * h
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    matrix = np.array(
        [[scale, 0.0, cx - scale * cx + tx], [0.0, scale, cy - scale * cy + ty]], np.float64
    )
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def self_blend(
    face: np.ndarray,
    landmarks: np.ndarray | None,
    rng: np.random.Generator,
    config: SelfBlendConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Blend an altered copy of ``face`` back into itself; returns ``(fake, mask)``.

    ``face`` is an RGB ``uint8 (S, S, 3)`` crop, ``landmarks`` its ``(5, 2)`` points in crop
    pixels (``None``: a centred face is assumed). ``fake`` is RGB ``uint8`` of the same shape:
    ``round(source * mask + face * (1 - mask))``, so it equals ``face`` exactly where the mask
    is 0. ``mask`` is ``float32 (S, S)`` in ``[0, 1]``, the per-pixel share of the altered copy
    (also a ready target for a blending-boundary head). Same ``rng`` state, same output.
    """
    cfg = config or _DEFAULT_CONFIG
    face = check_crop(face)
    size = face.shape[0]
    source = _jitter_colour(face, rng, cfg)
    source = _jitter_sharpness(source, rng, cfg)
    source = _jitter_geometry(source, rng, cfg)
    mask = face_mask(landmarks, size, rng, cfg)
    weight = mask[..., None]
    target = face.astype(np.float32)
    fake = source * weight + target * (1.0 - weight)
    return np.clip(np.rint(fake), 0, 255).astype(np.uint8), mask


class SelfBlender:
    """Per-sample self-blending for a training ``Dataset``: ``SelfBlender(cfg)(face, lm, rng)``.

    Holds only the configuration, so it pickles into ``DataLoader`` workers; give each worker
    its own ``numpy.random.Generator`` (e.g. seeded from the sample index and epoch) to keep runs
    reproducible.
    """

    def __init__(self, config: SelfBlendConfig | None = None) -> None:
        self.config = config or SelfBlendConfig()

    def __call__(
        self, face: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(fake RGB uint8, mask float32)``; see :func:`self_blend`."""
        return self_blend(face, landmarks, rng, self.config)

    def __repr__(self) -> str:
        return f"SelfBlender({self.config!r})"
