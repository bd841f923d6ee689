"""Which faces of a labelled-fake video show the manipulation.

An index labels a clip, not each face in it, and some fake clips also show faces nobody
manipulated: the reference portrait or driving video that a talking-head demo insets in a corner
(FLOAT's "ood" showcases, an EDTalk demo), or the second person of a face-swap demo, where the
tool swapped one face. Trained as fakes, those faces teach that a real face is fake; scored as
fakes in validation, they count a real face as a missed fake. Two rules, each read from the
data's own structure, decide which tracks of a labelled fake are *not* taken as fake (they are
left out, neither fake nor real):

- **inset**: a face whose median size is under ``MIN_FACE_FRACTION`` of the clip's largest
  face. A generator animates the clip's main face; a much smaller one is an inset or a
  bystander. Needs the cache's face sizes (``CachedCrops.face_px``; caches written before
  they were recorded keep every track, with a warning).
- **unchanged**: in a swap with its matched original (the index's ``extra.original``, the other
  half of a side-by-side demo), the face that changed most against the original is the swap;
  any other face changed less than ``UNCHANGED_FRACTION`` of that. Change is the mean absolute
  grey difference of the inner face, against the original's crop of the same instant, after the
  sub-pixel shift that lines the two crops up, medianed over the instants; each face is compared
  with the original face that matches it best.

A clip with one face keeps it: the label names that face.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from deepfake_detector.training.crop_cache import CachedCrops

log = logging.getLogger(__name__)

MIN_FACE_FRACTION = 0.5
"""A face under this fraction of the clip's largest (median box side) is an inset or a
bystander. The insets seen in the training data are 0.2–0.3 of the main face."""

UNCHANGED_FRACTION = 0.75
"""A face of a swap half that changed less than this fraction of the most-changed face (against
the matched original) was not swapped. In the two multi-face demos of the training data the
unswapped face changed 0.19 and 0.47 as much as the swapped one (the halves are not pixel
copies: the tool re-renders its output frame)."""

_SAME_INSTANT_S = 0.02
"""Crops of the two halves at most this far apart in time are of the same instant (both halves
are cut from one demo and sampled alike, so their times agree exactly)."""


@dataclass(frozen=True)
class LeftOut:
    """A track of a labelled fake that is not taken as fake, and why."""

    track_id: int
    reason: str
    """``"inset"`` or ``"unchanged"``."""


def left_out_tracks(
    tracks: Sequence[CachedCrops], original: Sequence[CachedCrops] | None = None
) -> list[LeftOut]:
    """The tracks of one labelled-fake video (each a ``CachedCrops`` of one track id, as
    :meth:`CropCache.tracks` gives them) that do not show the manipulation; ``original``: the
    tracks of its matched original, when the index names one."""
    if len(tracks) < 2:
        return []
    out: list[LeftOut] = []
    kept = list(tracks)
    if all(t.face_px is not None for t in tracks):
        sizes = [float(np.nanmedian(t.face_px)) if len(t) else 0.0 for t in tracks]
        largest = max(sizes)
        kept = []
        for track, size in zip(tracks, sizes, strict=True):
            if size < MIN_FACE_FRACTION * largest:
                out.append(LeftOut(_track_id(track), "inset"))
            else:
                kept.append(track)
    else:
        log.warning(
            "the crop cache has no face sizes (written before they were recorded): insets in "
            "labelled fakes cannot be told apart; extract the crops again to have them"
        )
    if original and len(kept) > 1:
        change = [_change_against(track, original) for track in kept]
        known = [c for c in change if c is not None]
        if known:
            most = max(known)
            for track, c in zip(kept, change, strict=True):
                if c is not None and c < UNCHANGED_FRACTION * most:
                    out.append(LeftOut(_track_id(track), "unchanged"))
    return sorted(out, key=lambda x: x.track_id)


def _track_id(track: CachedCrops) -> int:
    return int(track.track[0])


def _change_against(track: CachedCrops, original: Sequence[CachedCrops]) -> float | None:
    """How much a face changed against the original face that matches it best (median over
    the instants both show; None where no original face is seen at the same instants)."""
    best: float | None = None
    for other in original:
        diffs = []
        for k, t in enumerate(track.time_s):
            if not len(other):
                break
            j = int(np.argmin(np.abs(other.time_s - t)))
            if abs(float(other.time_s[j]) - float(t)) <= _SAME_INSTANT_S:
                diffs.append(inner_face_difference(track.crops[k], other.crops[j]))
        if diffs:
            value = float(np.median(diffs))
            best = value if best is None else min(best, value)
    return best


def inner_face_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute grey difference of the inner face (eyes to mouth: the middle of an
    aligned crop) of two RGB uint8 crops of one size, after shifting ``b`` onto ``a``."""
    size = a.shape[0]
    grey_a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey_b = shift_onto(grey_a, cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float32))
    lo, hi = round(0.35 * size), round(0.67 * size)
    left, right = round(0.33 * size), round(0.67 * size)
    return float(np.abs(grey_a - grey_b)[lo:hi, left:right].mean())


def shift_onto(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """``moving`` (float32, one channel or RGB) shifted by the sub-pixel translation that best
    lines its grey levels up with ``reference``'s (float32 grey, same size): OpenCV's ECC
    alignment. Unchanged where ECC does not converge. (``cv2.phaseCorrelate`` is not used: in
    OpenCV 4.14 it finds a shift of half a pixel between two identical images.)"""
    grey = moving if moving.ndim == 2 else cv2.cvtColor(moving, cv2.COLOR_RGB2GRAY)
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    try:
        _, warp = cv2.findTransformECC(
            reference, grey.astype(np.float32), warp, cv2.MOTION_TRANSLATION, criteria, None, 5
        )
    except cv2.error:
        return moving
    height, width = reference.shape[:2]
    return cv2.warpAffine(
        moving,
        warp,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
