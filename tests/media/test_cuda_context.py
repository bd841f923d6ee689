"""The GPU's primary CUDA context, made current for FFmpeg (``media/cuda_context.py``).

Decoding with it is tested in ``test_decode_device.py``; here, the failures open_video turns
into decoding on the CPU.
"""

from __future__ import annotations

import pytest
import torch

from deepfake_detector.errors import ModelError
from deepfake_detector.media import cuda_context
from deepfake_detector.models.runtime import resolve_device


def test_a_device_the_driver_does_not_have_is_an_os_error() -> None:
    """No NVIDIA driver, or no such device: an OSError, the way open_video falls back on."""
    with pytest.raises(OSError, match=r"libcuda|CUDA driver call"):
        cuda_context.make_primary_current(63)


def test_the_wait_setting_reaches_the_context_pytorch_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DFD_CUDA_WAIT=block is what the driver reports for the context PyTorch then starts (on a
    GPU; gpu_check.sh runs it there). Without one, resolving a GPU is refused before any driver
    call, and the flags of a device the driver does not have cannot be read."""
    monkeypatch.setenv("DFD_CUDA_WAIT", "block")
    monkeypatch.setattr(cuda_context, "_prepared", set())
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="requested, but this PyTorch"):
            resolve_device("cuda")
        with pytest.raises(OSError, match=r"libcuda|CUDA driver call"):
            cuda_context.wait_mode(63)
        return
    index = resolve_device("cuda").index
    torch.ones(1, device=f"cuda:{index}").sum().item()
    assert cuda_context.wait_mode(index) == "block"
