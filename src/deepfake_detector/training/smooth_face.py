"""Smoothed faces: the inner face re-rendered flatter than the real skin around it.

Self-blending teaches the seam a face swap leaves; a modern real-time swap leaves almost none
(its colour is transferred and its alignment is tight), and learned models trained on seams rank
DeepFaceLive swaps *below* their own originals. What the swaps do differ in, measured on the 48
matched pairs by ``scripts/probe_face_texture.py``: inside the face, the swap's chroma
varies less than its original's (the CIE-Lab ``b`` spread is lower in 37 of 48 pairs, ``a`` in
35) and it holds less fine detail (Laplacian variance lower in 33, fine-over-coarse band energy
in 34): the face an autoencoder decodes from a small code is flatter than webcam skin. Each cue
alone is weak across clips (AUC 0.60-0.63 against the originals): the footage varies more
than the manipulation does.

This family makes that from real crops alone: the face region is replaced by a copy of itself
whose chroma is blurred and pulled towards its mean and whose luminance is smoothed, pasted back
along a soft face mask at the same mean colour (so there is no colour seam to learn instead).
Parameters and the mask shape are drawn once per track: a generator is consistent over time.
RGB ``uint8`` square crops in, the same out, deterministic for a given ``numpy.random.Generator``.

Measured (docs/training.md, "Smoothed faces"): a network trained on these alone finds them at
0.95 but ranks the held-out swaps against their own originals at chance, so the family is not in the
default's recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from deepfake_detector.training.families import (
    FakeFamily,
    FamilyContext,
    check_track,
    register_family,
)
from deepfake_detector.training.selfblend import SelfBlendConfig, check_crop, face_mask

__all__ = ["SmoothFace", "SmoothFaceConfig", "smooth_face"]


_MASK = SelfBlendConfig(blend_ratios=(0.75, 1.0, 1.0))


@dataclass(frozen=True)
class SmoothFaceConfig:
    """Random ranges of one smoothed face, as ``(low, high)``; sizes are fractions of the side."""

    chroma_sigma: tuple[float, float] = (0.005, 0.03)
    """Gaussian blur of the Lab ``a``/``b`` channels (1 to 7 px at 224 px)."""
    chroma_gain: tuple[float, float] = (0.55, 0.9)
    """The blurred chroma's deviation from the face's mean chroma is multiplied by this."""
    luma_sigma_space: tuple[float, float] = (0.01, 0.03)
    """Bilateral filter of the ``L`` channel: spatial sigma."""
    luma_sigma_colour: tuple[float, float] = (4.0, 14.0)
    """Bilateral filter of the ``L`` channel: range sigma, in ``L`` units (0 to 100)."""
    luma_mix: tuple[float, float] = (0.4, 1.0)
    """Share of the smoothed luminance in the result (the rest keeps the original detail)."""
    mask: SelfBlendConfig = _MASK
    """Mask shape ranges (the self-blend mask, mostly at full strength)."""

    def __post_init__(self) -> None:
        for name in (
            "chroma_sigma",
            "chroma_gain",
            "luma_sigma_space",
            "luma_sigma_colour",
            "luma_mix",
        ):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")
        if self.chroma_gain[1] > 1.0 or self.luma_mix[1] > 1.0:
            raise ValueError("chroma_gain and luma_mix must be at most 1")


_DEFAULT = SmoothFaceConfig()


@dataclass(frozen=True)
class _Draw:
    """One track's parameters."""

    chroma_sigma: float
    chroma_gain: float
    luma_sigma_space: float
    luma_sigma_colour: float
    luma_mix: float


def _draw(rng: np.random.Generator, cfg: SmoothFaceConfig) -> _Draw:
    return _Draw(
        chroma_sigma=float(rng.uniform(*cfg.chroma_sigma)),
        chroma_gain=float(rng.uniform(*cfg.chroma_gain)),
        luma_sigma_space=float(rng.uniform(*cfg.luma_sigma_space)),
        luma_sigma_colour=float(rng.uniform(*cfg.luma_sigma_colour)),
        luma_mix=float(rng.uniform(*cfg.luma_mix)),
    )


def _smoothed(face: np.ndarray, mask: np.ndarray, p: _Draw) -> np.ndarray:
    """The whole crop re-rendered flat (float32 RGB 0..255); the mask weights the chroma mean."""
    size = face.shape[0]
    lab = cv2.cvtColor(face.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    weight = mask / max(float(mask.sum()), 1e-6)
    for channel in (1, 2):
        chroma = lab[..., channel]
        if p.chroma_sigma * size >= 0.3:
            chroma = cv2.GaussianBlur(chroma, (0, 0), p.chroma_sigma * size)
        mean = float((chroma * weight).sum())
        lab[..., channel] = mean + (chroma - mean) * p.chroma_gain
    luma = lab[..., 0]
    smooth = cv2.bilateralFilter(luma, -1, p.luma_sigma_colour, max(p.luma_sigma_space * size, 0.5))
    lab[..., 0] = luma + (smooth - luma) * p.luma_mix
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) * 255.0, 0.0, 255.0)


def smooth_face(
    face: np.ndarray,
    landmarks: np.ndarray | None,
    rng: np.random.Generator,
    config: SmoothFaceConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One smoothed face: ``(fake RGB uint8, mask float32)``, the fake equal to ``face`` where
    the mask is 0 (see :func:`~.selfblend.self_blend` for the argument conventions)."""
    cfg = config or _DEFAULT
    return _apply(face, landmarks, _draw(rng, cfg), rng, cfg)


def _apply(
    face: np.ndarray,
    landmarks: np.ndarray | None,
    params: _Draw,
    mask_rng: np.random.Generator,
    cfg: SmoothFaceConfig,
) -> tuple[np.ndarray, np.ndarray]:
    face = check_crop(face)
    mask = face_mask(landmarks, face.shape[0], mask_rng, cfg.mask)
    weight = mask[..., None]
    fake = _smoothed(face, mask, params) * weight + face.astype(np.float32) * (1.0 - weight)
    return np.clip(np.rint(fake), 0, 255).astype(np.uint8), mask


class SmoothFace:
    """Sequence family: ``SmoothFace(cfg)(crops, landmarks, rng) -> fakes``, one draw of the
    parameters and one mask shape for the whole track."""

    def __init__(self, config: SmoothFaceConfig | None = None) -> None:
        self.config = config or _DEFAULT

    def __call__(
        self,
        crops: Sequence[np.ndarray],
        landmarks: Sequence[np.ndarray | None],
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        """T smoothed crops for T crops of one track."""
        check_track(crops, landmarks)
        params = _draw(rng, self.config)
        mask_seed = int(rng.integers(2**63))
        return [
            _apply(crop, points, params, np.random.default_rng(mask_seed), self.config)[0]
            for crop, points in zip(crops, landmarks, strict=True)
        ]

    def __repr__(self) -> str:
        return f"SmoothFace({self.config!r})"


@register_family("smoothface")
def _smoothface(context: FamilyContext) -> FakeFamily:
    return SmoothFace()
