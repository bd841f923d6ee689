"""Whether FFmpeg's CUDA decoding (NVDEC) works with the PyAV wheel on this machine, and what it
saves, one way after the other in one run:

- ``cpu`` / ``cuda``: every frame of a clip decoded and converted to RGB, on the CPU and through
  ``HWAccel("cuda")`` (each frame copied to system memory);
- ``cuda_kept_on_gpu``: the frames left on the GPU (8 converted), as the pipeline leaves those
  it passes over;
- ``sampled``: what the product decodes, the default settings' 32 samples through
  ``iter_sampled_frames`` with ``device="cpu"`` and ``"cuda"`` (``DFD_DECODE_DEVICE``); the CUDA
  way falls back to the CPU, with a warning, where the device does not open (``decoded_on``).

On the H200 the pipeline's CPU work, decoding about 200 frames of 1080p to reach 32 samples and
MTCNN, bounds throughput (docs/speed.md, "On a GPU"). Prints JSON: per way, wall and CPU
seconds, frames per second, and the largest pixel difference from the CPU's frames, each
converted to RGB as the pipeline does (``reader.to_upright_rgb``); ``error`` where a way could
not run (no GPU here: FFmpeg refuses the device).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_nvdec.py [CLIP] [--frames N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.codec.hwaccel import HWAccel, hwdevices_available

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import clipgen  # noqa: E402  (lives beside this file)
from bench_pipeline import emit  # noqa: E402
from deepfake_detector.media.reader import decoding_on, open_video, to_upright_rgb  # noqa: E402
from hostinfo import machine_summary  # noqa: E402

DEFAULT_CLIP = "10s-1080p-g60"


@contextmanager
def _opened(path: Path, way: HWAccel | str | None) -> Iterator[tuple[Any, Any]]:
    """The container and its video stream: ``way`` a device name opens it as the pipeline does
    (``reader.open_video``), an ``HWAccel`` or None through PyAV directly."""
    if isinstance(way, str):
        with open_video(path, way) as opened:
            yield opened
    else:
        with av.open(str(path), hwaccel=way) as container:
            yield container, container.streams.video[0]


def decode_all(
    path: Path, frames: int, way: HWAccel | str | None, convert_all: bool = True
) -> tuple[dict[str, Any], list]:
    """Decode up to ``frames`` frames, each converted to RGB (``convert_all``) or only the first
    8; the timings and the first 8 frames' arrays. ``way``: see :func:`_opened`."""
    t, cpu = time.perf_counter(), time.process_time()
    kept, count = [], 0
    with _opened(path, way) as (container, stream):
        codec = stream.codec_context.name
        for frame in container.decode(stream):
            if convert_all or count < 8:
                image = to_upright_rgb(frame, 0)  # the pipeline's conversion (NV12 split first)
            if count < 8:
                kept.append(image)
            count += 1
            if count >= frames:
                break
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {
        "codec": codec,
        "frames": count,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "frames_per_s": round(count / wall, 1),
        "cpu_ms_per_frame": round(1000 * cpu / max(1, count), 2),
    }, kept


def decode_sampled(path: Path, device: str) -> tuple[dict[str, Any], list]:
    """The default settings' samples of ``path`` decoded on ``device``, as the pipeline does."""
    from deepfake_detector.config import AnalysisSettings
    from deepfake_detector.media import iter_sampled_frames, probe, sample_times

    settings = AnalysisSettings()
    info = probe(str(path))
    times = sample_times(info, settings.frames)
    t, cpu = time.perf_counter(), time.process_time()
    frames = [
        s.image
        for s in iter_sampled_frames(str(path), info, times, settings.sample_snap, 0, device)
    ]
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"samples": len(frames), "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}, frames


def _largest_difference(frames: list, reference: list) -> int:
    return int(
        max(np.abs(a.astype(np.int16) - b).max() for a, b in zip(frames, reference, strict=False))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", nargs="?", type=Path, help=f"default: {DEFAULT_CLIP}, generated")
    parser.add_argument("--frames", type=int, default=300, help="frames to decode (default 300)")
    parser.add_argument("--cache-dir", type=Path, default=HERE / ".cache")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    clip = args.clip or clipgen.ensure_clip(clipgen.CLIPS[DEFAULT_CLIP], args.cache_dir)

    report: dict[str, Any] = {
        "benchmark": "bench_nvdec",
        "machine": machine_summary(),
        "clip": str(clip),
        "pyav": av.__version__,
        "hwdevices_available": list(hwdevices_available()),
    }
    cpu, reference = decode_all(clip, args.frames, None)
    report["cpu"] = cpu
    try:
        hardware = HWAccel("cuda", allow_software_fallback=False)
        report["cuda"], frames = decode_all(clip, args.frames, hardware)
        report["cuda"]["max_pixel_difference"] = _largest_difference(frames, reference)
        report["cuda_over_cpu_frames_per_s"] = round(
            report["cuda"]["frames_per_s"] / cpu["frames_per_s"], 2
        )
        # Opened as the pipeline opens a file for the GPU: frames stay there (in the primary
        # CUDA context, media/cuda_context.py) and only those converted cross to system memory;
        # here the first 8.
        report["cuda_kept_on_gpu"], _ = decode_all(clip, args.frames, "cuda", convert_all=False)
        report["cuda_kept_on_gpu"]["decoded_on"] = decoding_on("cuda")
    except (av.FFmpegError, OSError, RuntimeError, ValueError) as exc:
        report["cuda"] = {"error": f"{type(exc).__name__}: {exc}"}
    decode_sampled(clip, "cpu")  # warm: the keyframe index, the first open
    sampled_cpu, reference = decode_sampled(clip, "cpu")
    sampled_cuda, frames = decode_sampled(clip, "cuda")
    sampled_cuda["max_pixel_difference"] = _largest_difference(frames, reference)
    sampled_cuda["decoded_on"] = decoding_on("cuda")
    report["sampled"] = {"cpu": sampled_cpu, "cuda": sampled_cuda}
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
