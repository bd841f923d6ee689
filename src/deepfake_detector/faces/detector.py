"""The face detector contract, the registry that names detectors, and the frame handling every
detector shares.

Adding a detector is one new module with a subclass of :class:`ScaledFaceDetector` that
implements ``detect_native`` plus one ``register_detector`` call (see ``faces/mtcnn.py``). The
base class does everything that must not differ between detectors: downscaling the frame,
brightening dark frames, mapping boxes and landmarks back to the original pixels, the score and
size filters, clipping to the frame, and the higher-resolution retry; and searching only a region
of the frame for faces above a size (``detect_in``), which guided detection (``faces/guided.py``)
uses between whole-frame searches.
"""

from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from deepfake_detector.errors import DetectorError


@dataclass(frozen=True)
class FaceDetection:
    """A face in one frame, in that frame's pixel coordinates (original resolution)."""

    box: tuple[float, float, float, float]
    """``(x1, y1, x2, y2)``."""
    score: float
    landmarks: np.ndarray | None = None
    """``(5, 2)`` float array: left eye, right eye, nose, left mouth corner, right mouth corner
    (left/right as seen in the image), or ``None`` when the detector gives none."""


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in an RGB ``uint8`` image ``(H, W, 3)``, boxes in that image's coordinates."""
        ...

    def detect_in(
        self, image: np.ndarray, region: tuple[int, int, int, int], min_face_px: float
    ) -> list[FaceDetection]:
        """Faces inside ``region`` ``(x1, y1, x2, y2)`` of ``image`` no smaller than about
        ``min_face_px`` (a search hint: cheaper detectors skip smaller scales), boxes in the
        whole image's coordinates."""
        ...

    def search_cost(
        self, shape: tuple[int, ...], region: tuple[int, int, int, int], min_face_px: float
    ) -> float:
        """About what :meth:`detect_in` costs with these arguments, as a fraction of a
        whole-frame search of a frame of this ``(H, W, ...)`` shape."""
        ...


class UnknownDetectorError(DetectorError, ValueError):
    """A detector name that nothing registered (a typo in settings, usually)."""


# Frames darker than this mean level (fraction of 255) are brightened with a gamma curve before
# detection. Measured with MTCNN at 640 px: a dim DFDC clip (mean level 34/255) had a face found
# in 2 of 6 sampled frames as is and in 6 of 6 brightened; over 71 clips of shared/data
# (426 frames) frames with a face went from 421 to 425; other detections (mostly second people)
# stayed at about 50.
_DARK_MEAN = 0.45


def brighten_if_dark(image: np.ndarray, target_mean: float = _DARK_MEAN) -> np.ndarray:
    """Gamma-correct ``image`` so its mean level is ``target_mean`` (fraction of 255) when it is
    darker than that; otherwise return it unchanged. Costs one lookup table per frame."""
    mean = float(image.mean()) / 255.0
    if mean >= target_mean or mean <= 0.0:
        return image
    gamma = math.log(target_mean) / math.log(mean)
    lut = np.clip(np.round(255.0 * (np.arange(256) / 255.0) ** gamma), 0, 255).astype(np.uint8)
    return cv2.LUT(image, lut)


class ScaledFaceDetector(ABC):
    """Base of every detector: subclasses implement only :meth:`detect_native`.

    ``detect`` downscales the frame so its longer side is at most ``max_side`` (``INTER_AREA``),
    brightens it if dark, runs the subclass, maps its boxes and landmarks back to the original
    frame, drops detections scoring below ``min_score`` or whose shorter box side is below
    ``min_face_px`` original pixels, and clips boxes to the frame. If nothing is found and the
    frame is larger than ``max_side``, it tries once more at ``retry_max_side`` (default 1.5 x
    ``max_side``; 0 disables): faces 1.5 times smaller become findable and the detector's later
    stages see sharper faces. On a face-free 1080p frame it costs about 2.5 times the first pass
    (twice the resolution cost 3.6 times, for faces too small to classify well anyway), and it
    runs only on frames where nothing was found.
    """

    name: str = "base"
    native_min_face: float = 0.0
    """For detectors that search an image pyramid (cost about proportional to 1 / the smallest
    face squared), the smallest face they can find at all, in pixels at the detection
    resolution (MTCNN: its first window); 0 for single-scale detectors."""

    def __init__(
        self,
        *,
        max_side: int = 640,
        min_score: float = 0.9,
        min_face_px: int = 24,
        retry_max_side: int | None = None,
    ) -> None:
        if max_side < 32:
            raise ValueError(f"max_side must be at least 32 pixels, got {max_side}")
        self.max_side = int(max_side)
        self.min_score = float(min_score)
        self.min_face_px = int(min_face_px)
        self.retry_max_side = (
            3 * self.max_side // 2 if retry_max_side is None else int(retry_max_side)
        )

    @abstractmethod
    def detect_native(self, image: np.ndarray, min_face: float) -> list[FaceDetection]:
        """Faces in ``image`` (RGB ``uint8``, already downscaled), in its own pixel coordinates,
        with any score. ``min_face`` is the smallest face worth finding at this resolution, for
        detectors whose cost depends on it."""

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in an RGB ``uint8`` frame ``(H, W, 3)``, in that frame's pixel coordinates,
        best score first."""
        image = _check_image(image)
        found = self._detect_at(image, self.max_side)
        longer = max(image.shape[:2])
        if not found and self.retry_max_side > self.max_side and longer > self.max_side:
            found = self._detect_at(image, self.retry_max_side)
        return found

    def search_cost(
        self, shape: tuple[int, ...], region: tuple[int, int, int, int], min_face_px: float
    ) -> float:
        """About what :meth:`detect_in` costs with these arguments, as a fraction of the first
        pass of :meth:`detect` on a frame of this ``(H, W, ...)`` shape: the share of the
        frame searched and, for pyramid detectors, the share of the pyramid left when faces
        smaller than ``min_face_px`` are skipped."""
        h, w = shape[0], shape[1]
        area = max(0, region[2] - region[0]) * max(0, region[3] - region[1]) / float(h * w)
        if self.native_min_face <= 0:
            return area
        scale = min(1.0, self.max_side / max(h, w))
        whole = max(self.native_min_face, self.min_face_px * scale)
        part = max(whole, min_face_px * scale)
        return area * (whole / part) ** 2

    def detect_in(
        self, image: np.ndarray, region: tuple[int, int, int, int], min_face_px: float
    ) -> list[FaceDetection]:
        """Faces inside ``region`` ``(x1, y1, x2, y2)`` of a frame, in the frame's coordinates,
        best score first: what :meth:`detect` would find there, at the same resolution, when
        faces smaller than ``min_face_px`` need not be looked for (the detector's smallest
        scales, most of its cost, are skipped). No retry at a higher resolution: the caller
        knows where the faces were and falls back to :meth:`detect` when they are gone.

        A face cut by the region's edge may be missed or boxed short, so regions should hold
        the faces sought with room to spare."""
        image = _check_image(image)
        h, w = image.shape[:2]
        x1, y1 = max(0, int(region[0])), max(0, int(region[1]))
        x2, y2 = min(w, math.ceil(region[2])), min(h, math.ceil(region[3]))
        if x2 <= x1 or y2 <= y1:
            return []
        return self._detect_at(image, self.max_side, (x1, y1, x2, y2), min_face_px)

    def _detect_at(
        self,
        image: np.ndarray,
        max_side: int,
        region: tuple[int, int, int, int] | None = None,
        min_face_px: float = 0.0,
    ) -> list[FaceDetection]:
        """Detect at the scale that brings the whole frame's longer side to ``max_side``, in
        ``region`` (integer pixels inside the frame) or the whole frame."""
        h, w = image.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        x0, y0 = (region[0], region[1]) if region is not None else (0, 0)
        part = image if region is None else image[region[1] : region[3], region[0] : region[2]]
        ph, pw = part.shape[:2]
        if scale < 1.0:
            size = (max(1, round(pw * scale)), max(1, round(ph * scale)))
            small = cv2.resize(part, size, interpolation=cv2.INTER_AREA)
        else:
            small = np.ascontiguousarray(part)
        sx, sy = small.shape[1] / pw, small.shape[0] / ph
        smallest = max(float(self.min_face_px), float(min_face_px))
        raw = self.detect_native(brighten_if_dark(small), smallest * min(sx, sy))
        found = []
        for d in raw:
            if d.score < self.min_score:
                continue
            x1 = d.box[0] / sx + x0
            y1 = d.box[1] / sy + y0
            x2 = d.box[2] / sx + x0
            y2 = d.box[3] / sy + y0
            if min(x2 - x1, y2 - y1) < self.min_face_px:
                continue
            box = (
                float(np.clip(x1, 0, w)),
                float(np.clip(y1, 0, h)),
                float(np.clip(x2, 0, w)),
                float(np.clip(y2, 0, h)),
            )
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            landmarks = None
            if d.landmarks is not None:
                landmarks = np.asarray(d.landmarks, dtype=np.float64) / np.array([sx, sy])
                landmarks += np.array([x0, y0], dtype=np.float64)
            found.append(FaceDetection(box, float(d.score), landmarks))
        found.sort(key=lambda d: -d.score)
        return found


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got shape {shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    return np.ascontiguousarray(image)


_REGISTRY: dict[str, Callable[..., FaceDetector]] = {}

# Modules that register the detectors shipped with the package, imported on first use so that
# importing ``deepfake_detector.faces`` never loads a network.
_BUILTIN_MODULES = (
    "deepfake_detector.faces.mtcnn",
    "deepfake_detector.faces.haar",
    "deepfake_detector.faces.retinaface",
)


def register_detector(name: str, factory: Callable[..., FaceDetector]) -> None:
    """Make ``factory`` available as ``create_detector(name, ...)``. The factory is called with
    the keyword arguments ``max_side``, ``min_score``, ``min_face_px`` and any extra options."""
    _REGISTRY[name] = factory


def available_detectors() -> list[str]:
    """Names ``create_detector`` accepts."""
    _load_builtin()
    return sorted(_REGISTRY)


def create_detector(
    name: str = "mtcnn",
    *,
    max_side: int = 640,
    min_score: float = 0.9,
    min_face_px: int = 24,
    **options: Any,
) -> FaceDetector:
    """Build a registered detector; it downscales frames to ``max_side`` and maps boxes back.

    Build one per process and reuse it: construction loads the detector's networks. ``options``
    go to the detector (e.g. ``retry_max_side=0`` turns the higher-resolution retry off).
    """
    _load_builtin()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownDetectorError(f"Unknown face detector {name!r}; known: {known}.") from None
    try:
        return factory(max_side=max_side, min_score=min_score, min_face_px=min_face_px, **options)
    except TypeError as exc:
        if not options:
            raise
        raise DetectorError(
            f"The face detector {name!r} does not take {', '.join(sorted(options))} ({exc})."
        ) from None


def _load_builtin() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
