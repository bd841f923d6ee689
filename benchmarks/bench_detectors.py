"""Speed and agreement of the registered face detectors, on the same frames, in one run.

For each detector: milliseconds per frame (median of the per-frame times, after one warm-up
frame) and, against MTCNN (the default, the reference), how many of MTCNN's faces it finds
(IoU >= 0.5), how many it misses and how many faces it finds that MTCNN does not. Frames:

- ``fixtures``: the test suite's scenes made from photos inside scikit-image (two faces at
  640x360, 1280x720 and 1920x1080; the astronaut; a face-free scene);
- ``real-1080p``: 32 evenly spaced frames of the benchmark's real-footage clip (6 people talking,
  ``60s-1080p-real``; skipped without ``../shared/data``);
- ``dev_eval``: 8 evenly spaced frames of every ``../shared/data/dev_eval/videos`` video
  (skipped without it).

Frames are decoded once, before any timing, and every detector sees the same ones at the
pipeline's settings (longer side scaled to 640, the retry at 960 when nothing is found);
``--detectors mtcnn,mtcnn@480`` compares MTCNN with itself on frames scaled to 480 (its retry at
720); ``--detectors mtcnn,mtcnn#torch-cpu`` with its networks run by PyTorch (``mtcnn#cuda`` on a
GPU); ``--detectors mtcnn,mtcnn#onnxruntime`` with them run by ONNX Runtime on the CPU (a lever
the speed issue named; not a product setting, as it was slower here: docs/speed.md).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_detectors.py \\
        --out docs/benchmark-2026-12-03-detectors.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for extra in (HERE, ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import clipgen  # noqa: E402  (sibling module, path set above)
from bench_pipeline import emit  # noqa: E402
from deepfake_detector.faces import create_detector  # noqa: E402
from deepfake_detector.faces.tracking import box_iou  # noqa: E402
from deepfake_detector.media import probe, sample_times  # noqa: E402
from deepfake_detector.media.decoder import decode_samples  # noqa: E402
from hostinfo import machine_summary  # noqa: E402

DETECTORS = ("mtcnn", "retinaface", "haar")
REFERENCE = "mtcnn"
MATCH_IOU = 0.5
DEV_EVAL = ROOT.parent / "shared" / "data" / "dev_eval"


def fixture_frames() -> list[np.ndarray]:
    import video_factory as vf

    frames = [
        vf.render_scene(size, vf.scaled_layers(vf.two_faces_layers(), size[0] / 640), 0.7)
        for size in ((640, 360), (1280, 720), (1920, 1080))
    ]
    return [*frames, vf.astronaut(), vf.face_free()]


def video_frames(path: Path, count: int) -> list[np.ndarray]:
    info = probe(str(path))
    return [s.image for s in decode_samples(str(path), info, sample_times(info, count))]


def run_detector(spec: str, frames: list[np.ndarray]) -> tuple[list[list[Any]], list[float]]:
    """``spec``: a detector name; ``name@N`` for that detector on frames scaled to a longer side
    of N instead of the pipeline's 640 (``DFD_DETECT_MAX_SIDE``); ``name#DEVICE`` for its
    networks on DEVICE (``DFD_DETECT_DEVICE``, e.g. ``mtcnn#cuda``), where ``#torch-cpu`` runs
    MTCNN's networks through PyTorch on the CPU (the GPU path's code, on the CPU) and
    ``#onnxruntime`` through ONNX Runtime's CPU provider."""
    spec, _, device = spec.partition("#")
    name, _, side = spec.partition("@")
    options: dict[str, Any] = {"max_side": int(side)} if side else {}
    if device and device not in ("torch-cpu", "onnxruntime"):
        options["device"] = device
    detector = create_detector(name, **options)
    if device == "torch-cpu":
        detector.run_networks_on(torch.device("cpu"))
    if device == "onnxruntime":
        detector.replace_networks(_OrtGraph)
    detector.detect(frames[0])  # warm-up (first-call allocations)
    found, times = [], []
    for frame in frames:
        t = time.perf_counter()
        found.append(detector.detect(frame))
        times.append((time.perf_counter() - t) * 1000.0)
    return found, times


class _OrtGraph:
    """One of MTCNN's ONNX files as an ONNX Runtime session (its default threads, as
    ``cv2.dnn`` uses its own), run the way ``faces.onnx_torch.DnnNet`` runs a graph."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, data: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        feed = {self.input_name: np.ascontiguousarray(data, dtype=np.float32)}
        return self.session.run(list(outputs), feed)


def compare(reference: list[list[Any]], other: list[list[Any]]) -> dict[str, int]:
    matched = missed = extra = 0
    for ref, got in zip(reference, other, strict=True):
        used: set[int] = set()
        for r in ref:
            best = max(
                ((box_iou(r.box, g.box), k) for k, g in enumerate(got) if k not in used),
                default=(0.0, -1),
            )
            if best[0] >= MATCH_IOU:
                matched += 1
                used.add(best[1])
            else:
                missed += 1
        extra += len(got) - len(used)
    return {"matched": matched, "missed": missed, "extra": extra}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument("--cache-dir", type=Path, default=HERE / ".cache")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    if REFERENCE not in names:
        names.insert(0, REFERENCE)

    sets: dict[str, list[np.ndarray]] = {"fixtures": fixture_frames()}
    real = clipgen.CLIPS["60s-1080p-real"]
    if real.available:
        sets["real-1080p"] = video_frames(clipgen.ensure_clip(real, args.cache_dir), 32)
    if DEV_EVAL.is_dir():
        videos = sorted(p for p in (DEV_EVAL / "videos").rglob("*") if p.suffix.lower() == ".mp4")
        sets["dev_eval"] = [f for v in videos for f in video_frames(v, 8)]

    report: dict[str, Any] = {"benchmark": "bench_detectors", "machine": machine_summary()}
    for set_name, frames in sets.items():
        print(f"[bench] {set_name}: {len(frames)} frames", file=sys.stderr, flush=True)
        results = {name: run_detector(name, frames) for name in names}
        reference = results[REFERENCE][0]
        report[set_name] = {
            "frames": len(frames),
            "sizes": sorted({f"{f.shape[1]}x{f.shape[0]}" for f in frames}),
            "detectors": {
                name: {
                    "ms_per_frame_median": round(statistics.median(times), 1),
                    "ms_total": round(sum(times), 1),
                    "faces": sum(len(f) for f in found),
                    f"vs_{REFERENCE}": compare(reference, found),
                }
                for name, (found, times) in results.items()
            },
        }
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
