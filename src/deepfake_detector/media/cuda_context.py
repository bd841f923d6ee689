"""The CUDA context FFmpeg decodes in: the GPU's primary context, whoever made it first.

FFmpeg's own request for the primary context sets scheduling flags and is refused once the
context is active with others (``EOPNOTSUPP``, measured on an H200), which is what PyTorch leaves
in a worker that scores on the same GPU. So this module makes the primary context current in the
decoding thread through the CUDA driver, and FFmpeg is told to use the current context: one
context per device and process whichever of PyTorch and FFmpeg comes first, never one per file.

It also sets how a thread waiting for the GPU waits (``DFD_CUDA_WAIT``,
``config.cuda_wait_from_env``) before the context starts, whoever starts it:
``models.runtime.resolve_device`` and this module both call :func:`prepare` first.

A few driver calls through ctypes on ``libcuda`` rather than a dependency: NVIDIA's
``cuda-python`` bindings would be installed on every machine for them, and PyTorch's
``set_device`` may skip making the context current in a thread that already names that device.
"""

from __future__ import annotations

import ctypes
import logging
import threading

from deepfake_detector.config import cuda_wait_from_env

log = logging.getLogger(__name__)
_CUDA_SUCCESS = 0
_lock = threading.Lock()
_driver: ctypes.CDLL | None = None
_primary: dict[int, ctypes.c_void_p] = {}
"""Primary contexts retained by this process, per device index: kept for its lifetime."""
_prepared: set[int] = set()
"""Devices whose primary context's wait flags this process has set (or left to CUDA)."""
_WAIT_FLAGS = {"auto": 0, "spin": 1, "yield": 2, "block": 4}
"""``CU_CTX_SCHED_*``: the three low bits of a context's flags."""
_SCHED_MASK = 0x07


def prepare(index: int) -> None:
    """Set device ``index``'s primary context to wait for the GPU as ``DFD_CUDA_WAIT`` says,
    once per process, before anything starts that context. ``auto`` (the default) calls
    nothing. Where the driver refuses, or there is none, CUDA's own choice stays and a warning
    says so: how a thread waits never decides whether work runs."""
    with _lock:
        if index in _prepared:
            return
        _prepared.add(index)
        wait = cuda_wait_from_env()
        if wait == "auto":
            return
        try:
            driver = _load_driver()
            device = _device(driver, index)
            # The _v2 entry point (CUDA 11) also sets the flags of a context already active.
            set_flags = getattr(driver, "cuDevicePrimaryCtxSetFlags_v2", None)
            set_flags = set_flags or driver.cuDevicePrimaryCtxSetFlags
            _check(set_flags(device, _WAIT_FLAGS[wait]), "cuDevicePrimaryCtxSetFlags", index)
        except OSError as exc:
            log.warning("DFD_CUDA_WAIT=%s not applied to GPU %d: %s", wait, index, exc)


def wait_mode(index: int) -> str:
    """How device ``index``'s primary context waits for the GPU (a key of the wait flags), as
    the driver reports it, for benchmarks to record. Raises OSError where there is no CUDA
    driver or no such device."""
    with _lock:
        driver = _load_driver()
        device = _device(driver, index)
        flags, active = ctypes.c_uint(), ctypes.c_int()
        _check(
            driver.cuDevicePrimaryCtxGetState(device, ctypes.byref(flags), ctypes.byref(active)),
            "cuDevicePrimaryCtxGetState",
            index,
        )
    sched = flags.value & _SCHED_MASK
    return next((k for k, v in _WAIT_FLAGS.items() if v == sched), f"flags {sched}")


def make_primary_current(index: int) -> None:
    """Make device ``index``'s primary CUDA context current in the calling thread.

    Raises OSError where there is no CUDA driver or no such device.
    """
    prepare(index)
    with _lock:
        driver = _load_driver()
        context = _primary.get(index)
        if context is None:
            device = _device(driver, index)
            context = ctypes.c_void_p()
            _check(
                driver.cuDevicePrimaryCtxRetain(ctypes.byref(context), device),
                "cuDevicePrimaryCtxRetain",
                index,
            )
            _primary[index] = context
    _check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent", index)


def _device(driver: ctypes.CDLL, index: int) -> ctypes.c_int:
    device = ctypes.c_int()
    _check(driver.cuDeviceGet(ctypes.byref(device), index), "cuDeviceGet", index)
    return device


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
