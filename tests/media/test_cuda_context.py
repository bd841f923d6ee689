"""The GPU's primary CUDA context, made current for FFmpeg (``media/cuda_context.py``).

Decoding with it is tested in ``test_decode_device.py``; here, the failures open_video turns
into decoding on the CPU.
"""

from __future__ import annotations

import pytest

from deepfake_detector.media import cuda_context


def test_a_device_the_driver_does_not_have_is_an_os_error() -> None:
    """No NVIDIA driver, or no such device: an OSError, the way open_video falls back on."""
    with pytest.raises(OSError, match=r"libcuda|CUDA driver call"):
        cuda_context.make_primary_current(63)
