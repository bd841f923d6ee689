"""The record the sampler hands out for each decoded frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SampledFrame:
    """One decoded frame: upright (rotation applied), RGB, ``uint8`` of shape ``(H, W, 3)``."""

    sample_index: int
    """Position in the requested sample list (0-based)."""
    time_s: float
    """Presentation time of the decoded frame, in seconds from the start of the stream."""
    image: np.ndarray
