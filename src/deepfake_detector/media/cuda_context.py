"""The CUDA context FFmpeg decodes in: the GPU's primary context, whoever made it first.

FFmpeg's own request for the primary context sets scheduling flags and is refused once the
context is active with others (``EOPNOTSUPP``, measured on an H200), which is what PyTorch leaves
in a worker that scores on the same GPU. So this module makes the primary context current in the
decoding thread through the CUDA driver, and FFmpeg is told to use the current context: one
context per device and process whichever of PyTorch and FFmpeg comes first, never one per file.

Four driver calls through ctypes on ``libcuda`` rather than a dependency: NVIDIA's
``cuda-python`` bindings would be installed on every machine for them, and PyTorch's
``set_device`` may skip making the context current in a thread that already names that device.
"""

from __future__ import annotations

import ctypes
import threading

_CUDA_SUCCESS = 0
_lock = threading.Lock()
_driver: ctypes.CDLL | None = None
_primary: dict[int, ctypes.c_void_p] = {}
"""Primary contexts retained by this process, per device index: kept for its lifetime."""


def make_primary_current(index: int) -> None:
    """Make device ``index``'s primary CUDA context current in the calling thread.

    Raises OSError where there is no CUDA driver or no such device.
    """
    with _lock:
        driver = _load_driver()
        context = _primary.get(index)
        if context is None:
            device = ctypes.c_int()
            _check(driver.cuDeviceGet(ctypes.byref(device), index), "cuDeviceGet", index)
            context = ctypes.c_void_p()
            _check(
                driver.cuDevicePrimaryCtxRetain(ctypes.byref(context), device),
                "cuDevicePrimaryCtxRetain",
                index,
            )
            _primary[index] = context
    _check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent", index)


def _load_driver() -> ctypes.CDLL:
    global _driver
    if _driver is None:
        driver = ctypes.CDLL("libcuda.so.1")  # OSError where no NVIDIA driver is installed
        _check(driver.cuInit(0), "cuInit", None)
        _driver = driver
    return _driver


def _check(status: int, call: str, index: int | None) -> None:
    if status != _CUDA_SUCCESS:
        where = "" if index is None else f" for device {index}"
        raise OSError(f"CUDA driver call {call} failed{where} (CUresult {status})")
