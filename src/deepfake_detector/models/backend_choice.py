"""``backend=auto`` on the CPU: the fastest of PyTorch, ONNX Runtime and OpenVINO for this model on
this machine, measured once and remembered.

Which backend wins depends on the host: on the 2-core AMD EPYC machines (no AVX-512) ONNX Runtime
scored a 32-frame clip of the EfficientNet-Lite0 model in 95 ms, OpenVINO in 96 ms and PyTorch
eager in 328 ms (``DFD_CACHE_DIR=$(mktemp -d) deepfake-detector -v scan VIDEO`` logs the three);
depthwise convolutions are where eager PyTorch loses. Rather than a rule that
holds on one kind of CPU, the first load on a machine times each backend that can load (fp32, the
same preprocessed clip of 32 frames) and keeps the fastest whose outputs agree with PyTorch's.

The decision is stored in ``<cache>/backend-choice.json`` keyed by the model's weights, the CPU,
the usable cores and the library versions, so a new machine, a new model or an upgrade measures
again; a file lock makes concurrent workers on one machine measure once. On CUDA the answer is
always PyTorch (the other two run on the CPU here).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_detector.hostinfo import cpu_model, usable_cores
from deepfake_detector.models.export import cache_dir
from deepfake_detector.models.registry import ResolvedModel

log = logging.getLogger(__name__)

CANDIDATES = ("torch", "onnxruntime", "openvino")
"""In order of preference when timings tie (PyTorch needs no export)."""
BENCH_FRAMES = 32
"""One person's clip at the default sampling: what the choice should be fastest at."""
_TIMED_RUNS = 3
_AGREE_ABS = 1e-3
_AGREE_REL = 1e-4
"""A backend is eligible when every logit is within ``_AGREE_ABS + _AGREE_REL * |torch's|`` of
PyTorch's; fp32 backends differ by about 1e-5."""

Factory = Callable[[str], Any]
"""Builds a classifier for a backend name (``runtime.create_classifier`` bound to a model)."""


def choice_file() -> Path:
    """Where decisions are stored, beside the ONNX export cache."""
    return cache_dir().parent / "backend-choice.json"


def host_key(resolved: ResolvedModel) -> str:
    """What a measurement is valid for: model weights and input size, CPU, cores, versions."""
    parts = [
        resolved.sha256[:16],
        str(resolved.config.input_size),
        platform.machine(),
        cpu_model(),
        f"cores={usable_cores()}",
    ]
    for package in ("torch", "onnxruntime", "openvino"):
        try:
            parts.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package}=none")
    return "|".join(parts)


def choose_backend(
    resolved: ResolvedModel, factory: Factory
) -> tuple[str, Any | None, dict[str, Any]]:
    """The backend ``auto`` means for ``resolved`` on this CPU.

    Returns ``(name, classifier or None, record)``: when this call measured, the winning
    classifier it already built (so it is not loaded twice); when the decision was on file, None.
    ``record`` is the stored decision (timings in ms per clip, what was excluded and why)."""
    key = host_key(resolved)
    path = choice_file()
    known = _read(path).get(key)
    if _valid(known):
        return known["backend"], None, known
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        known = _read(path).get(key)  # another process may have measured while we waited
        if _valid(known):
            return known["backend"], None, known
        log.info("choosing the fastest backend for %s on this machine (once)", resolved.config.name)
        record, winner = measure(resolved, factory)
        decisions = _read(path)
        decisions[key] = record
        _write_atomically(path, decisions)
    return record["backend"], winner, record


def measure(resolved: ResolvedModel, factory: Factory) -> tuple[dict[str, Any], Any]:
    """Time every candidate on one clip; the fastest one that agrees with PyTorch wins."""
    rng = np.random.default_rng(0)
    s = resolved.config.input_size
    clip = rng.standard_normal((1, BENCH_FRAMES, 3, s, s), dtype=np.float32)
    timings: dict[str, float] = {}
    excluded: dict[str, str] = {}
    built: dict[str, Any] = {}
    reference: tuple[np.ndarray, np.ndarray] | None = None
    for name in CANDIDATES:
        try:
            classifier = factory(name)
            outputs = classifier.run(clip)  # also the warm-up
        except Exception as exc:
            if name == "torch":
                raise
            excluded[name] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        if reference is None:
            reference = outputs
        elif not _agrees(outputs, reference):
            excluded[name] = "its outputs differ from PyTorch's"
            continue
        runs = []
        for _ in range(_TIMED_RUNS):
            t = time.perf_counter()
            classifier.run(clip)
            runs.append(time.perf_counter() - t)
        timings[name] = round(min(runs) * 1000.0, 2)
        built[name] = classifier
    best = min(timings, key=lambda n: (timings[n], CANDIDATES.index(n)))
    record = {
        "backend": best,
        "ms_per_clip": timings,
        "frames": BENCH_FRAMES,
        "excluded": excluded,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    log.info("backend for %s: %s (ms per %d-frame clip: %s)", resolved.config.name, best,
             BENCH_FRAMES, timings)  # fmt: skip
    return record, built[best]


def _agrees(
    outputs: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray]
) -> bool:
    for got, want in zip(outputs, reference, strict=True):
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape:
            return False
        if np.any(np.abs(got - want) > _AGREE_ABS + _AGREE_REL * np.abs(want)):
            return False
    return True


def _valid(record: object) -> bool:
    return isinstance(record, dict) and record.get("backend") in CANDIDATES


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: measure again and rewrite it
    return data if isinstance(data, dict) else {}


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only means measuring again next time
        log.warning("could not store the backend choice in %s: %s", path, exc)
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        handle = open(path, "a")  # noqa: SIM115 - held for the duration of the block
    except OSError:
        yield  # an unwritable cache: measure without the lock
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
