"""ONNX export of either architecture, cached on disk by weights hash.

The graph takes ``frames (B, T, 3, S, S)`` float32, already preprocessed, with B and T dynamic, and
returns ``clip_logit (B,)`` and ``frame_logits (B, T)``: the same ``scores`` interface the torch
backend calls, so every backend shares the preprocessing and the calibration code.

``torch.onnx.export(dynamo=True)`` handles both networks here (the seed's bias-free LSTM included,
T and B dynamic); weights are stored inside the one ``.onnx`` file (``external_data=False``, under
ONNX's 2 GB limit) so that it can be written atomically: a temporary file, then ``os.replace``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from deepfake_detector.errors import ModelError
from deepfake_detector.models.registry import ResolvedModel

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
"""Bump when the exported graph's interface changes, so stale cached files are not reused."""
INPUT_NAME = "frames"
OUTPUT_NAMES = ("clip_logit", "frame_logits")
OPSET = 18


class _Scores(nn.Module):
    """Exposes ``network.scores`` as ``forward`` for the exporter."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.network.scores(frames)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter prints progress lines, warnings and log records (e.g. "torchvision is not
    installed") that mean nothing to a user; keep them out of the CLI's output."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def cache_dir() -> Path:
    """``$DFD_CACHE_DIR/onnx`` or ``~/.cache/deepfake-detector/onnx`` (XDG_CACHE_HOME honoured)."""
    base = os.environ.get("DFD_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = str(Path(xdg) / "deepfake-detector")
    return Path(base) / "onnx"


def onnx_filename(resolved: ResolvedModel) -> str:
    c = resolved.config
    return f"{resolved.sha256}-{c.architecture}-{c.input_size}-x{EXPORT_VERSION}.onnx"


def export_onnx(network: nn.Module, input_size: int, path: str | Path) -> Path:
    """Export ``network.scores`` to ``path``, atomically (10–20 s for ResNeXt50 on 2 cores)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Sizes 0 and 1 would be specialised by torch.export: the example uses 2 for both axes.
    example = torch.zeros(2, 2, 3, input_size, input_size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    frames = torch.export.Dim("frames", min=1, max=4096)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".onnx.tmp")
    os.close(fd)
    try:
        with _quiet_exporter(), torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                _Scores(network).eval(),
                (example,),
                tmp,
                dynamo=True,
                external_data=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_shapes=({0: batch, 1: frames},),
                verbose=False,
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared like any cache file
        os.replace(tmp, path)
    except Exception as exc:
        raise ModelError(f"ONNX export failed: {exc}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


_EXPORT_LOCK = threading.Lock()


def cached_onnx(resolved: ResolvedModel, directory: str | Path | None = None) -> Path:
    """The model's ONNX file, exported on first use and reused afterwards (keyed by weights
    sha256, architecture, input size and export version)."""
    path = Path(directory or cache_dir()) / onnx_filename(resolved)
    with _EXPORT_LOCK:
        if not path.is_file():
            log.info("exporting %s to ONNX at %s (once)", resolved.config.name, path)
            export_in_subprocess(resolved, path)
    return path


def export_in_subprocess(resolved: ResolvedModel, path: Path) -> Path:
    """Export ``resolved`` in a fresh interpreter. With torch 2.13, every ``torch.export`` of an
    LSTM after the first one in a process fixes the frames axis to the example's length (the
    LSTM's decomposition adds a guard ``T == 2``), so a second model exported in one process
    would only accept clips of two frames; a new process per export avoids it."""
    origin = resolved.origin.removeprefix("builtin:")
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", __name__, origin, str(path), resolved.sha256]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(f"ONNX export failed: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ModelError(lines[-1] if lines else f"ONNX export failed (status {done.returncode})")
    return path


def _export_main(argv: list[str]) -> int:
    """``python -m deepfake_detector.models.export MODEL PATH SHA256``: what
    :func:`export_in_subprocess` runs."""
    from deepfake_detector.models.registry import resolve_model

    if len(argv) != 3:
        print("usage: python -m deepfake_detector.models.export MODEL PATH SHA256", file=sys.stderr)
        return 2
    model, path, sha256 = argv
    try:
        resolved = resolve_model(model)
        if resolved.sha256 != sha256:
            raise ModelError(f"ONNX export failed: {model} changed while it was being exported")
        export_onnx(resolved.load_network(), resolved.config.input_size, path)
    except ModelError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_export_main(sys.argv[1:]))
