"""How long sampling 32 frames from a 60 s 1080p H.264 video takes, per decoding strategy.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_decode.py [--repeats 3] [--samples 32]
        [--clip NAME] [--config NAME] [--path VIDEO]

Generates (once, cached under ``benchmarks/.cache/``) 60 s 1080p 30 fps H.264 clips: x264
ultrafast with a keyframe every 2 s (``g=60``) and with x264's default keyframe interval (250), an
MPEG-TS copy of the first (no index: keyframes found by a demux pass, reached by reading without
decoding), and x264 veryfast (B-frames, default interval).
Each configuration runs in its own process so that its peak RSS is its own. Prints JSON: the
median wall and CPU time of ``repeats`` runs, frames decoded, seeks and peak RSS per
configuration. The machines are shared: compare frames decoded and CPU time when the load average
(reported) is high, wall time only on a quiet machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data

from deepfake_detector.media import probe, sample_times
from deepfake_detector.media.decoder import DecodeStats, decode_samples
from deepfake_detector.media.plan import Strategy

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
SIZE = (1920, 1080)
FPS = 30
DURATION_S = 60

CLIPS = {
    # x264 ultrafast: no B-frames, two slices per frame (its sliced threads)
    "h264_g60.mp4": {"g": "60"},
    "h264_g250.mp4": {},  # x264's default keyframe interval
    "h264_g60.ts": None,  # remuxed copy of h264_g60.mp4: no index
    # x264 veryfast: B-frames (3, pyramid) and one slice per frame, as most encoders make them
    "h264_g250_bframes.mp4": {"preset": "veryfast"},
}


@dataclass(frozen=True)
class Config:
    strategy: Strategy
    frame_threads: bool = False
    skip_nonref: bool = False
    tolerance: float = 0.0
    """Fraction of the spacing between samples a sample may move (0: exact frames)."""
    drain: bool = False
    """End a run followed by a seek by draining the decoder (``decode_samples(drain=...)``)."""

    @property
    def name(self) -> str:
        parts = [self.strategy]
        parts += ["frame_threads"] if self.frame_threads else []
        parts += ["skip_nonref"] if self.skip_nonref else []
        parts += [f"near{self.tolerance}"] if self.tolerance else []
        parts += ["drain"] if self.drain else []
        return "+".join(parts)


CONFIGS = [
    Config("straight"),
    Config("straight", frame_threads=True),
    Config("seek"),
    Config("seek", frame_threads=True),
    Config("auto"),
    Config("auto", frame_threads=True),
    Config("auto", skip_nonref=True),
    Config("auto", skip_nonref=True, drain=True),  # the product's frame-exact sampling
    Config("straight", skip_nonref=True),
    Config("auto", skip_nonref=True, tolerance=0.25),
    Config("auto", skip_nonref=True, tolerance=0.25, drain=True),  # the product's default
    Config("auto", skip_nonref=True, tolerance=0.45),
    Config("auto", skip_nonref=True, tolerance=0.45, drain=True),
]


def _frames(n: int) -> Iterator[np.ndarray]:
    """A camera-like scene: two photos moving over a gradient, with grain (so every frame
    changes and P-frames carry real data)."""
    w, h = SIZE
    yy = np.linspace(30, 120, h, dtype=np.float32)[:, None]
    xx = np.linspace(0, 60, w, dtype=np.float32)[None, :]
    base = (yy + xx).astype(np.uint8)
    background = np.dstack([base, base + 10, base + 30])
    face = cv2.resize(skimage.data.astronaut(), (900, 900))
    cup = cv2.resize(skimage.data.coffee(), (600, 400))
    rng = np.random.default_rng(0)
    grain = [rng.integers(0, 12, (h, w, 1), dtype=np.uint8) for _ in range(7)]
    for i in range(n):
        t = i / FPS
        img = background.copy()
        x = int(100 + 600 * (t % 20) / 20)
        img[80:980, x : x + 900] = face
        y = int(300 + 200 * np.sin(t))
        img[y : y + 400, 1250:1850] = cup
        img += grain[i % len(grain)]
        yield img


def _encode(path: Path, options: dict[str, str]) -> None:
    tmp = path.with_suffix(".part" + path.suffix)
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", **options})
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for i, image in enumerate(_frames(DURATION_S * FPS)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    tmp.replace(path)


def _remux(src: Path, dst: Path) -> None:
    tmp = dst.with_suffix(".part" + dst.suffix)
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mpegts") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
    tmp.replace(dst)


def ensure_clips(cache: Path) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, options in CLIPS.items():
        path = cache / name
        if not path.exists():
            t = time.perf_counter()
            if options is None:
                _remux(cache / "h264_g60.mp4", path)
            else:
                _encode(path, options)
            print(f"generated {name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        paths[name] = path
    return paths


def _peak_rss_kb() -> int:
    """This process's peak RSS. (``ru_maxrss`` would not do: a child keeps its parent's peak.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_one(path: Path, config: Config, samples: int, repeats: int) -> dict[str, object]:
    """Time one configuration in this process (called in a child process)."""
    t = time.perf_counter()
    info = probe(str(path))
    probe_s = time.perf_counter() - t
    times = sample_times(info, count=samples)
    tolerance_s = config.tolerance * info.duration_s / len(times)
    walls, cpus, stats = [], [], DecodeStats()
    for _ in range(repeats):
        stats = DecodeStats()
        t, c = time.perf_counter(), time.process_time()
        frames = decode_samples(
            str(path),
            info,
            times,
            strategy=config.strategy,
            frame_threads=config.frame_threads,
            skip_nonref=config.skip_nonref,
            tolerance_s=tolerance_s,
            drain=config.drain,
            stats=stats,
        )
        got = sum(1 for _ in frames)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        assert got == len(times), (got, len(times))
    return {
        "median_s": round(statistics.median(walls), 3),
        "runs_s": [round(w, 3) for w in walls],
        "median_cpu_s": round(statistics.median(cpus), 3),
        "probe_s": round(probe_s, 3),
        "frames_decoded": stats.decoded_frames,
        "packets_sent": stats.sent_packets,
        "packets_skipped": stats.skipped_packets,
        "seeks": stats.seeks,
        "drained_runs": stats.drained_runs,
        "timeline": stats.timeline,
        "peak_rss_mb": round(_peak_rss_kb() / 1024, 1),
    }


def seek_cost(path: Path, frame_threads: bool, repeats: int = 3) -> dict[str, float]:
    """What a seek costs, in frames: (seek + decode its keyframe) / (decode one more frame) - 1.
    The planner's ``SEEK_COST_FRAMES`` constants come from this."""

    def per_frame() -> float:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO" if frame_threads else "SLICE"
            frames = container.decode(stream)
            next(frames)
            t = time.perf_counter()
            for _ in itertools.islice(frames, 240):
                pass
            return (time.perf_counter() - t) / 240

    def per_seek() -> float:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO" if frame_threads else "SLICE"
            next(container.decode(stream))
            t = time.perf_counter()
            for k in range(1, 21):  # lands on keyframes 2.5 s apart
                container.seek(int(k * 2.5 / stream.time_base), stream=stream)
                next(container.decode(stream))
            return (time.perf_counter() - t) / 20

    frame = statistics.median(per_frame() for _ in range(repeats))
    seek = statistics.median(per_seek() for _ in range(repeats))
    return {
        "frame_ms": round(frame * 1e3, 2),
        "seek_ms": round(seek * 1e3, 2),
        "seek_cost_frames": round(seek / frame - 1, 1),
    }


def decoder_option_cost(path: Path, frames: int = 30, repeats: int = 3) -> dict[str, object]:
    """What FFmpeg's H.264 decoder options could save, without the product using them: CPU ms
    a keyframe (what snapped samples mostly are) and a frame, over the first ``frames`` of each,
    with the deblocking filter run and skipped (``skip_loop_filter``), how far skipping it moves
    the RGB pixels, and whether ``lowres`` (decoding at a reduced size) takes effect."""

    def decode(options: dict[str, str], keyframes_only: bool) -> tuple[float, list[np.ndarray]]:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"  # one thread: CPU time per frame, not spread
            stream.codec_context.options = options
            if keyframes_only:
                stream.codec_context.skip_frame = "NONKEY"
            images, c = [], time.process_time()
            for frame in itertools.islice(container.decode(stream), frames):
                images.append(frame.to_ndarray(format="rgb24"))
            return (time.process_time() - c) / max(len(images), 1) * 1e3, images

    report: dict[str, object] = {}
    for keyframes_only in (True, False):
        runs = {
            label: [decode(options, keyframes_only) for _ in range(repeats)]
            for label, options in (("filtered", {}), ("unfiltered", {"skip_loop_filter": "all"}))
        }
        ms = {label: statistics.median(r[0] for r in results) for label, results in runs.items()}
        diff = [
            np.abs(a.astype(np.int16) - b.astype(np.int16))
            for a, b in zip(runs["filtered"][0][1], runs["unfiltered"][0][1], strict=True)
        ]
        report["keyframes" if keyframes_only else "all_frames"] = {
            "frames": len(runs["filtered"][0][1]),
            "ms_per_frame": round(ms["filtered"], 2),
            "ms_per_frame_skip_loop_filter": round(ms["unfiltered"], 2),
            "ratio": round(ms["unfiltered"] / ms["filtered"], 3),
            "mean_abs_level_change": round(float(np.mean([d.mean() for d in diff])), 3),
            "max_level_change": int(max(d.max() for d in diff)),
        }
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"lowres": "1"}
        frame = next(container.decode(stream))
        report["lowres_1_frame_size"] = f"{frame.width}x{frame.height}"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--clip", action="append", help="only these clip names")
    parser.add_argument(
        "--path",
        action="append",
        type=Path,
        default=[],
        help="also this video (e.g. a clip bench_pipeline.py rendered into benchmarks/.cache)",
    )
    parser.add_argument("--config", action="append", help="only these configuration names")
    parser.add_argument(
        "--decoder-options",
        action="store_true",
        help="only measure decoder options (skip_loop_filter, lowres) on each clip",
    )
    parser.add_argument("--one", nargs=2, metavar=("PATH", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        path, config = args.one
        result = run_one(Path(path), Config(**json.loads(config)), args.samples, args.repeats)
        print(json.dumps(result))
        return 0

    clips = ensure_clips(args.cache)
    clips.update({path.name: path for path in args.path})
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    clips_report: dict[str, object] = {}
    report: dict[str, object] = {
        "samples": args.samples,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "clips": clips_report,
    }
    if args.decoder_options:
        for name, path in clips.items():
            if args.clip and name not in args.clip and path not in args.path:
                continue
            clips_report[name] = decoder_option_cost(path)
            print(f"{name}: {clips_report[name]}", file=sys.stderr)
        print(json.dumps(report, indent=2))
        return 0
    report["seek_cost_h264_g60"] = {
        "slice_threads": seek_cost(clips["h264_g60.mp4"], frame_threads=False),
        "frame_threads": seek_cost(clips["h264_g60.mp4"], frame_threads=True),
    }
    for name, path in clips.items():
        if args.clip and name not in args.clip and path not in args.path:
            continue
        results: dict[str, object] = {"size_mb": round(path.stat().st_size / 2**20, 1)}
        for config in CONFIGS:
            if args.config and config.name not in args.config:
                continue
            cmd = [sys.executable, __file__, "--one", str(path), json.dumps(asdict(config))]
            cmd += ["--samples", str(args.samples), "--repeats", str(args.repeats)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results[config.name] = result
            print(f"{name} {config.name}: {result['median_s']} s", file=sys.stderr)
        clips_report[name] = results
    report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
