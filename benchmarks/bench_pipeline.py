"""End-to-end speed and memory of our pipeline against the seed project's, on the same clips.

Prints one JSON document on stdout (progress goes to stderr): for each generated clip (10 s and
60 s, 720p and 1080p, 30 fps H.264), the time to verdict per stage and in total and the peak RSS,
for our ``Analyzer`` (model loaded and warmed up before the clock starts) and for a faithful
re-creation of the seed's request path (``seed_baseline.py``), the ratio baseline/ours, and the
issue's targets as booleans: under 5 s for the 60 s 1080p clip, at least 10x faster than the
baseline, peak RSS under 1.5 GB.

Every measurement runs in its own subprocess, so each peak RSS belongs to one case alone and a
baseline that decodes a whole 1080p video into memory (about 11 GB for 60 s) cannot take the
parent down with it. Before a baseline case starts, the memory it will need is checked against
what the machine has available, and while any case runs the parent kills it if the machine's
available memory falls under a floor (the machine is shared: never push it into swap or OOM).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_pipeline.py --quick
    PYTHONPATH=src .venv/bin/python benchmarks/bench_pipeline.py --out benchmarks/results/run.json
    PYTHONPATH=src .venv/bin/python benchmarks/bench_pipeline.py --cases 60s-1080p-g60 \
        --skip-baseline --repeat 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:  # when imported by the tests rather than run as a script
    sys.path.insert(0, str(HERE))

import clipgen  # noqa: E402  (sibling module, path set above)
from deepfake_detector.hostinfo import cpu_model_and_flags, usable_cores  # noqa: E402

DEFAULT_CACHE = HERE / ".cache"
CHECKPOINT_NAME = "seed-format-random-init.pt"
FRAMES = 32
SMOKE_FRAMES = 4

TARGET_TOTAL_S = 5.0
TARGET_SPEEDUP = 10.0
TARGET_PEAK_RSS_MB = 1536.0
TARGET_GPU_VIDEOS_PER_S = 5.0
THROUGHPUT_CLIP = "10s-1080p-g60"
THROUGHPUT_HALVES = ("one_at_a_time", "batched", "processes")

MEMORY_FLOOR_MB = 1024
"""A running case is killed if the machine's available memory falls below this."""
BASELINE_OVERHEAD_GB = 2.0
"""Besides the decoded frames: interpreter, torch, two copies of the model while loading."""
_POLL_S = 0.05

JsonDict = dict[str, Any]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--quick", action="store_true", help=f"only {' and '.join(clipgen.QUICK)}")
    which.add_argument(
        "--cases", help=f"comma-separated clip names; all of: {','.join(clipgen.CLIPS)}"
    )
    which.add_argument(
        "--smoke",
        action="store_true",
        help=f"one tiny clip ({clipgen.SMOKE.name}), {SMOKE_FRAMES} frames, one run each (tests)",
    )
    parser.add_argument("--frames", type=int, help=f"frames per video (default {FRAMES})")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours per clip (median)")
    parser.add_argument(
        "--baseline-repeat", type=int, default=1, help="runs of the baseline per clip (median)"
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--web",
        action="store_true",
        help="also time upload-to-verdict through a real `serve` (embedded) on each clip",
    )
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument(
        "--ours-model",
        help="AnalysisSettings.model for ours (default: the settings' default); "
        "'seed-checkpoint' = the same checkpoint file the baseline loads",
    )
    parser.add_argument("--ours-backend", help="AnalysisSettings.backend for ours")
    parser.add_argument("--ours-detector", help="AnalysisSettings.detector for ours")
    parser.add_argument(
        "--ours-sample-snap",
        type=float,
        help="AnalysisSettings.sample_snap for ours (default: the settings' default)",
    )
    parser.add_argument(
        "--device", help="AnalysisSettings.device for ours: auto, cpu, cuda (default: settings)"
    )
    parser.add_argument(
        "--throughput",
        type=int,
        metavar="N",
        help=f"instead of the cases: videos per second over N copies of {THROUGHPUT_CLIP}, one "
        "job at a time and then --job-threads jobs at once sharing one batched model",
    )
    parser.add_argument(
        "--job-threads",
        type=int,
        default=8,
        help="jobs at once in the batched half of --throughput (default 8)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="also a third half of --throughput: this many job processes, each with its own "
        "model and an equal share of the cores, one job at a time each, as `worker "
        "--concurrency` runs them (default 0: not run)",
    )
    parser.add_argument(
        "--halves",
        default="one_at_a_time,batched,processes",
        help="which of --throughput's halves to run, comma-separated (default all: processes "
        "only with --processes)",
    )
    parser.add_argument(
        "--max-batch-frames",
        type=int,
        default=512,
        help="largest batch the shared model scores at once in --throughput (default 512)",
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per subprocess")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.frames is None:
        args.frames = SMOKE_FRAMES if args.smoke else FRAMES
    if args.smoke:
        args.repeat = args.baseline_repeat = 1
    if args.repeat < 1 or args.baseline_repeat < 1 or args.frames < 1:
        parser.error("--repeat, --baseline-repeat and --frames must be at least 1")
    if args.throughput is not None and (args.throughput < 1 or args.job_threads < 1):
        parser.error("--throughput and --job-threads must be at least 1")
    if args.processes < 0:
        parser.error("--processes must be 0 (not run) or more")
    args.halves = [h.strip() for h in args.halves.split(",") if h.strip()]
    unknown = set(args.halves) - set(THROUGHPUT_HALVES)
    if unknown or not args.halves:
        parser.error(f"--halves: choose from {', '.join(THROUGHPUT_HALVES)}")
    return args


def selected_clips(args: argparse.Namespace) -> list[clipgen.ClipSpec]:
    if args.smoke:
        return [clipgen.SMOKE]
    if args.quick:
        names = list(clipgen.QUICK)
    elif args.cases:
        names = [n.strip() for n in args.cases.split(",") if n.strip()]
    else:
        names = list(clipgen.CLIPS)
    unknown = [n for n in names if n not in clipgen.CLIPS]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; known: {', '.join(clipgen.CLIPS)}")
    specs = [clipgen.CLIPS[n] for n in names]
    for spec in specs:
        if not spec.available:
            log(f"{spec.name}: skipped, its footage is not here ({spec.source})")
    return [spec for spec in specs if spec.available]


# -- parent: orchestration ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every measurement that was asked for produced a result."""
    args = parse_args(argv)
    if args.child is not None:
        return _child_main(args.child)

    if args.throughput is not None:
        return run_throughput(args)
    clips = selected_clips(args)
    cache: Path = args.cache_dir
    started = time.perf_counter()
    machine = machine_info()
    log(f"clips: {', '.join(c.name for c in clips)}; cache {cache}")
    warmup = clipgen.ensure_clip(clipgen.SMOKE, cache)
    paths = {spec.name: clipgen.ensure_clip(spec, cache) for spec in clips}

    checkpoint = cache / CHECKPOINT_NAME
    needs_checkpoint = not args.skip_baseline or args.ours_model == "seed-checkpoint"
    if needs_checkpoint and not checkpoint.exists():
        log("writing a random-init checkpoint in the seed's format (once)")
        made = run_child({"kind": "checkpoint", "checkpoint": str(checkpoint)}, args.timeout)
        if "error" in made:
            raise SystemExit(f"could not write the baseline checkpoint: {made['error']}")

    cases = []
    for spec in clips:
        cases.append(run_case(spec, paths[spec.name], warmup, checkpoint, args))

    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    for case in cases:  # torch's thread count as the children saw it
        for side in ("ours", "baseline"):
            threads = (case.get(side) or {}).get("torch_threads")
            if threads is not None:
                machine.setdefault("torch_threads", threads)
    report: JsonDict = {
        "benchmark": "bench_pipeline",
        "machine": machine,
        "settings": {
            "frames": args.frames,
            "repeat_ours": args.repeat,
            "repeat_baseline": args.baseline_repeat,
            "ours_model": args.ours_model,
            "ours_backend": args.ours_backend,
            "ours_detector": args.ours_detector,
            "device": args.device,
            "ours_sample_snap": args.ours_sample_snap,
            "smoke": args.smoke,
            "clip_generator_version": clipgen.GENERATOR_VERSION,
        },
        "code": code_version(),
        "cases": cases,
        "targets": summarize_targets(cases),
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }
    emit(report, args.out)
    failed = [
        f"{case['clip']['name']}/{side}"
        for case in cases
        for side in ("ours", "baseline")
        if case.get(side) is not None and "error" in case[side]
    ]
    if failed:
        log(f"no result for: {', '.join(failed)}")
    return 1 if failed else 0


def run_throughput(args: argparse.Namespace) -> int:
    """``--throughput N``: N analyses of the same 10 s 1080p clip, first one job at a time (the
    plain ``Analyzer``), then ``--job-threads`` at once sharing one ``BatchingClassifier`` (as
    ``worker --job-threads`` runs them), each in its own subprocess; videos per second and the
    ratio."""
    started = time.perf_counter()
    machine = machine_info()
    spec = clipgen.SMOKE if args.smoke else clipgen.CLIPS[THROUGHPUT_CLIP]
    clip = clipgen.ensure_clip(spec, args.cache_dir)
    warmup = clipgen.ensure_clip(clipgen.SMOKE, args.cache_dir)
    common = {
        "kind": "throughput",
        "clip": str(clip),
        "warmup": str(warmup),
        "frames": args.frames,
        "videos": args.throughput,
        "device": args.device,
        "backend": args.ours_backend,
        "detector": args.ours_detector,
        "model": args.ours_model,
        "max_batch_frames": args.max_batch_frames,
    }
    runs: JsonDict = {}
    halves = [("one_at_a_time", 1, 0), ("batched", args.job_threads, 0)]
    if args.processes:
        halves.append(("processes", 1, args.processes))
    for name, threads, processes in halves:
        if name not in args.halves:
            continue
        how = f"{processes} job processes" if processes else f"{threads} job thread(s)"
        log(f"throughput: {args.throughput} videos, {name} ({how})...")
        request = {**common, "job_threads": threads, "processes": processes}
        runs[name] = run_child(request, args.timeout)
        log(f"throughput: {name}: {runs[name].get('videos_per_s', runs[name].get('error'))}")
    one = runs.get("one_at_a_time", {})
    ratios = {
        f"{name}_over_one_at_a_time": round(runs[name]["videos_per_s"] / one["videos_per_s"], 2)
        for name in runs
        if name != "one_at_a_time" and "videos_per_s" in runs[name] and "videos_per_s" in one
    }
    best = max((r.get("videos_per_s", 0) for r in runs.values()), default=0)
    device = next((run["device"] for run in runs.values() if "device" in run), None)
    report: JsonDict = {
        "benchmark": "bench_pipeline --throughput",
        "machine": machine,
        "clip": clipgen.describe_clip(spec, clip),
        "settings": {key: common[key] for key in common if key not in ("kind", "clip", "warmup")}
        | {"job_threads": args.job_threads, "processes": args.processes},
        "code": code_version(),
        **runs,
        **ratios,
        "targets": {
            "videos_per_s_at_least_5_on_a_gpu": (
                best >= TARGET_GPU_VIDEOS_PER_S if str(device).startswith("cuda") else None
            ),
        },
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }
    emit(report, args.out)
    return 0 if all("error" not in run for run in runs.values()) else 1


def emit(report: JsonDict, out: Path | None) -> None:
    """The report on stdout, and in ``out`` too when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def run_case(
    spec: clipgen.ClipSpec,
    clip: Path,
    warmup: Path,
    checkpoint: Path,
    args: argparse.Namespace,
) -> JsonDict:
    """Both pipelines on one clip, each in its own subprocess, and the comparison."""
    case: JsonDict = {
        "clip": clipgen.describe_clip(spec, clip),
        # The machine is shared: a 1-minute load above the core count means the wall times
        # below include waiting for a CPU (cpu_s, CPU seconds used, is less sensitive to it).
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        "ours": None,
        "baseline": None,
    }
    common = {"clip": str(clip), "warmup": str(warmup), "frames": args.frames}

    if not args.skip_ours:
        log(f"{spec.name}: ours ({args.repeat} run(s))...")
        case["ours"] = run_child(
            {
                **common,
                "kind": "ours",
                "repeat": args.repeat,
                "model": str(checkpoint)
                if args.ours_model == "seed-checkpoint"
                else args.ours_model,
                "backend": args.ours_backend,
                "device": args.device,
                "detector": args.ours_detector,
                "sample_snap": args.ours_sample_snap,
            },
            args.timeout,
        )
        log(f"{spec.name}: ours {_brief(case['ours'])}")

    if not args.skip_baseline:
        need_gb = spec.frame_count * spec.width * spec.height * 3 * 1.2 / 1e9 + BASELINE_OVERHEAD_GB
        available_gb = psutil.virtual_memory().available / 1e9
        if need_gb > available_gb:
            case["baseline"] = {
                "skipped": f"needs {need_gb:.1f} GB, {available_gb:.1f} GB available"
            }
        else:
            log(f"{spec.name}: baseline (needs ~{need_gb:.1f} GB of {available_gb:.1f} GB free)...")
            case["baseline"] = run_child(
                {
                    **common,
                    "kind": "baseline",
                    "repeat": args.baseline_repeat,
                    "checkpoint": str(checkpoint),
                },
                args.timeout,
            )
        log(f"{spec.name}: baseline {_brief(case['baseline'])}")

    if args.web:
        log(f"{spec.name}: web ({args.repeat} upload(s))...")
        case["web"] = measure_web(clip, warmup, args)
        ours_total = (case["ours"] or {}).get("total_s")
        verdict_s = case["web"].get("upload_to_verdict_s")
        if ours_total is not None and verdict_s is not None:
            case["web"]["minus_cli_s"] = round(verdict_s - ours_total, 3)
        log(f"{spec.name}: web {case['web']}")

    ours, base = case["ours"] or {}, case["baseline"] or {}
    if "total_s" in ours and "total_s" in base and ours["total_s"] > 0:
        case["speedup"] = round(base["total_s"] / ours["total_s"], 2)
        warm_base = base["total_s"] - base["stages_s"].get("model_load", 0.0)
        case["speedup_excluding_baseline_model_load"] = round(warm_base / ours["total_s"], 2)
        if ours.get("cpu_s") and base.get("cpu_s"):  # less sensitive to a busy machine
            case["speedup_cpu_s"] = round(base["cpu_s"] / ours["cpu_s"], 2)
    else:
        case["speedup"] = None
    case["targets"] = case_targets(spec, case)
    if case["speedup"] is not None:
        log(f"{spec.name}: speedup {case['speedup']}x")
    return case


WEB_POLL_S = 0.2
"""How often ``--web`` asks for the job's state. A verdict is seen up to this late (0.1 s on
average); the result page asks every 0.6 s. Asking every 0.05 s, as before 2026-12-04, cost the
worker sharing the 2-core host about 0.8 s of a 10 s analysis of the 20-face clip in one-off
runs (each answer is a request through Flask and the database)."""


def measure_web(clip: Path, warmup: Path, args: argparse.Namespace) -> JsonDict:
    """Upload-to-verdict through a real ``serve`` (embedded: web and worker in one process, as
    ``serve`` runs by default) on a fresh data folder: the warm-up clip first (the model loaded
    and warm), then ``clip`` ``args.repeat`` times, each deleted before the next so that the
    upload is analysed again. The verdict is there when the job is ``done``; heatmaps follow."""
    import load_test

    payload = clip.read_bytes()
    verdicts: list[float] = []
    heatmaps: list[float] = []
    timings: list[JsonDict] = []  # each run's analysis stages, as the web job timed them
    with tempfile.TemporaryDirectory(prefix="dfd-bench-web-") as tmp:
        data = Path(tmp) / "data"
        with load_test.serve("embedded", data, args.frames) as (port, _process, _log):

            def analysed(body: bytes, name: str) -> tuple[str, float, float]:
                started = time.perf_counter()
                reply = load_test.upload(port, name, body)
                if reply.status not in (200, 202):
                    raise RuntimeError(f"upload refused: {reply.status} {reply.body}")
                path = f"{load_test.ANALYSES}/{reply.body['id']}"
                verdict_at = heatmaps_at = None
                deadline = started + args.timeout
                while time.perf_counter() < deadline:
                    state = load_test.request(port, "GET", path, kind="poll").body
                    now = time.perf_counter()
                    if state.get("status") == "failed":
                        raise RuntimeError(f"analysis failed: {state.get('error')}")
                    if state.get("status") == "done" and verdict_at is None:
                        verdict_at = now
                        timings.append((state.get("result") or {}).get("timings") or {})
                    if verdict_at is not None and state.get("heatmaps_state") != "pending":
                        heatmaps_at = now
                        break
                    time.sleep(WEB_POLL_S)
                if verdict_at is None or heatmaps_at is None:
                    raise RuntimeError(f"no verdict within {args.timeout:g} s")
                return str(reply.body["id"]), verdict_at - started, heatmaps_at - started

            try:
                warm_id, _, _ = analysed(warmup.read_bytes(), "warmup.mp4")
                # Deleted, so that the same bytes (the smoke case) are analysed again.
                load_test.request(port, "DELETE", f"{load_test.ANALYSES}/{warm_id}", kind="del")
                for i in range(args.repeat):
                    job_id, verdict_s, heatmaps_s = analysed(payload, f"clip-{i}.mp4")
                    verdicts.append(verdict_s)
                    heatmaps.append(heatmaps_s)
                    load_test.request(port, "DELETE", f"{load_test.ANALYSES}/{job_id}", kind="del")
            except RuntimeError as exc:
                return {"error": str(exc)}
    return {
        "upload_to_verdict_s": round(statistics.median(verdicts), 3),
        "upload_to_heatmaps_s": round(statistics.median(heatmaps), 3),
        "runs_upload_to_verdict_s": [round(v, 3) for v in verdicts],
        "upload_mb": round(len(payload) / 1e6, 2),
        # What of upload-to-verdict was the analysis itself, and of that the evidence JPEGs
        # (the rest: upload, queue, polling); the warm-up's run is not counted.
        "analysis_s": _median_stage(timings[1:], "total"),
        "evidence_s": _median_stage(timings[1:], "evidence"),
    }


def _median_stage(timings: list[JsonDict], stage: str) -> float | None:
    seconds = [float(t[stage]) for t in timings if isinstance(t.get(stage), int | float)]
    return round(statistics.median(seconds), 3) if seconds else None


def _brief(result: JsonDict | None) -> str:
    if not result:
        return "not run"
    if "total_s" in result:
        return (
            f"{result['total_s']:.2f} s, peak RSS {result.get('peak_rss_mb')} MB, "
            f"verdict {result.get('verdict')}"
        )
    return str(result.get("error") or result.get("skipped") or result)


def case_targets(spec: clipgen.ClipSpec, case: JsonDict) -> JsonDict:
    """The issue's targets for one clip. They apply to the 2 s GOP clips of one face (the crowd
    clip is reported, not held to them); the time target is stated for the 60 s 1080p one only
    (``None`` = not applicable or not measured)."""
    ours, speedup = case["ours"] or {}, case["speedup"]
    total, rss = ours.get("total_s"), ours.get("peak_rss_mb")
    return {
        "applies": spec.gop == 60 and spec.faces == 1 and spec.name in clipgen.CLIPS,
        "ours_total_s_lt_5": (
            total < TARGET_TOTAL_S if spec.name == clipgen.HEADLINE and total is not None else None
        ),
        "speedup_ge_10": speedup >= TARGET_SPEEDUP if speedup is not None else None,
        "peak_rss_lt_1536_mb": rss < TARGET_PEAK_RSS_MB if rss is not None else None,
    }


def summarize_targets(cases: list[JsonDict]) -> JsonDict:
    """Headline: time and speedup on the 60 s 1080p 2 s-GOP clip, RSS on every 2 s-GOP clip."""
    applicable = [c for c in cases if c["targets"]["applies"]]
    headline = next((c for c in applicable if c["clip"]["name"] == clipgen.HEADLINE), None)
    rss = [c["targets"]["peak_rss_lt_1536_mb"] for c in applicable]
    summary: JsonDict = {
        "clip": clipgen.HEADLINE,
        "ours_total_s_lt_5": headline["targets"]["ours_total_s_lt_5"] if headline else None,
        "speedup_ge_10": headline["targets"]["speedup_ge_10"] if headline else None,
        "peak_rss_lt_1536_mb_all_clips": (
            all(rss) if rss and all(r is not None for r in rss) else None
        ),
    }
    values = [v for k, v in summary.items() if k != "clip"]
    summary["all_met"] = all(v is True for v in values) if headline else None
    return summary


def run_child(payload: JsonDict, timeout: float) -> JsonDict:
    """Run one measurement in a fresh interpreter and return what it reported.

    The parent samples the child's RSS (a cross-check of the child's own high-water mark) and
    kills it if it overruns ``timeout`` or the machine's available memory falls below the floor.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        request, response = Path(tmp) / "request.json", Path(tmp) / "response.json"
        request.write_text(json.dumps({**payload, "response": str(response)}))
        # stdout=2: anything a library prints goes to our stderr, never into the JSON on stdout.
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(request)],
            stdout=2,
            env=env,
        )
        peak, killed = 0, None
        deadline = time.monotonic() + timeout
        proc = psutil.Process(child.pid)
        while child.poll() is None:
            with contextlib.suppress(psutil.Error):  # it may exit between poll() and here
                peak = max(peak, proc.memory_info().rss)
            available_mb = psutil.virtual_memory().available / 2**20
            if available_mb < MEMORY_FLOOR_MB:
                killed = f"killed: machine's available memory fell to {available_mb:.0f} MB"
            elif time.monotonic() > deadline:
                killed = f"killed: ran past {timeout:.0f} s"
            if killed:
                child.kill()
                child.wait()
                break
            time.sleep(_POLL_S)
        if killed:
            return {"error": killed, "peak_rss_sampled_mb": round(peak / 2**20, 1)}
        if not response.exists():
            return {"error": f"child exited with status {child.returncode} and no result"}
        result: JsonDict = json.loads(response.read_text())
    if peak:
        result["peak_rss_sampled_mb"] = round(peak / 2**20, 1)
    return result


def code_version() -> JsonDict:
    """Which code was measured: the commit, and whether the working tree differed from it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def _rusage() -> tuple[float, int]:
    """This process's kernel CPU seconds (all threads) and minor page faults so far. The
    baseline keeps every decoded frame (11.6 GB for 60 s of 1080p), and on the virtual
    machines here the kernel's time to back that fresh memory has ranged from a small part of
    its run to most of it (docs/speed.md): each run reports both, so that a ratio can be read
    against them."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_stime, usage.ru_minflt


def machine_info() -> JsonDict:
    """What the numbers were measured on; torch is not imported here (children report threads)."""
    cpu_model, flags = cpu_model_and_flags()
    versions = {}
    for dist in ("torch", "numpy", "av", "opencv-python-headless", "dlib-bin", "pillow", "psutil"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    memory = psutil.virtual_memory()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable_cores(),
        "cpu_model": cpu_model,
        # bf16 speed-ups differ a lot with these (AMX above all): say which this CPU has.
        "cpu_flags": sorted(f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512f"))),
        "memory_total_gb": round(memory.total / 1e9, 1),
        "memory_available_gb_start": round(memory.available / 1e9, 1),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "thread_env": {
            k: os.environ[k]
            for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
            if k in os.environ
        },
    }


# -- child: one measurement in a fresh process ------------------------------------------------


def _child_main(request_path: Path) -> int:
    """Entry point of a measurement subprocess: read the request, measure, write the response."""
    request = json.loads(request_path.read_text())
    response = Path(request["response"])
    try:
        kind = request["kind"]
        if kind == "ours":
            result = _measure_ours(request)
        elif kind == "baseline":
            result = _measure_baseline(request)
        elif kind == "throughput":
            result = _measure_throughput(request)
        elif kind == "checkpoint":
            import seed_baseline

            seed_baseline.write_checkpoint(Path(request["checkpoint"]))
            result = {"checkpoint": request["checkpoint"]}
        else:
            raise ValueError(f"unknown child kind {kind!r}")
    except Exception as exc:  # reported in the JSON instead of crashing the whole benchmark
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["peak_rss_mb"] = _peak_rss_mb()
    response.write_text(json.dumps(result))
    return 0


def _peak_rss_mb() -> float:
    """This process's high-water RSS (VmHWM: per address space, so unaffected by the parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _median_run(runs: list[JsonDict]) -> JsonDict:
    """The run with the median total (lower middle for an even count), so its stages add up."""
    return sorted(runs, key=lambda r: r["total_s"])[(len(runs) - 1) // 2]


def _measure_ours(request: JsonDict) -> JsonDict:
    """Our Analyzer: loaded and warmed up on a tiny clip, then timed per video."""
    from dataclasses import asdict, replace

    import torch

    from deepfake_detector.analysis.pipeline import Analyzer
    from deepfake_detector.config import settings_from_env

    overrides: JsonDict = {"frames": request["frames"]}
    if request.get("model"):
        overrides["model"] = request["model"]
    if request.get("backend"):
        overrides["backend"] = request["backend"]
    if request.get("device"):
        overrides["device"] = request["device"]
    if request.get("detector"):
        overrides["detector"] = request["detector"]
    if request.get("sample_snap") is not None:
        overrides["sample_snap"] = request["sample_snap"]
    settings = replace(settings_from_env(), **overrides)

    t = time.perf_counter()
    analyzer = Analyzer(settings)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    warm = analyzer.analyze(request["warmup"])
    warmup_s = time.perf_counter() - t
    rss_ready = _rss_mb()

    runs = []
    for _ in range(request["repeat"]):
        t, cpu, (system, faults) = time.perf_counter(), time.process_time(), _rusage()
        result = analyzer.analyze(request["clip"])
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        system_after, faults_after = _rusage()
        runs.append(
            {
                "total_s": round(wall, 4),
                "cpu_s": round(cpu, 4),
                "system_cpu_s": round(system_after - system, 4),
                "minor_page_faults": faults_after - faults,
                "stages_s": dict(result.timings),
                "verdict": str(result.verdict),
                "fake_probability": result.fake_probability,
                "people": len(result.faces),
                "face_crops": sum(len(face.frames) for face in result.faces),
                "frames_analyzed": result.frames_analyzed,
                "error": result.error,
                "reason": result.reason,
            }
        )
    median = _median_run(runs)
    out: JsonDict = {
        "total_s": median["total_s"],
        "stages_s": median["stages_s"],
        "runs_total_s": [r["total_s"] for r in runs],
        "load_s": round(load_s, 4),
        "warmup_s": round(warmup_s, 4),
        "warmup_verdict": str(warm.verdict),
        "rss_after_load_and_warmup_mb": rss_ready,
        **{k: median[k] for k in median if k not in ("total_s", "stages_s")},
        "model": (result.model or {}),
        "settings": asdict(settings),
        "torch_threads": torch.get_num_threads(),
    }
    if median["error"] is None:
        out.pop("error")
    else:  # a result with verdict ERROR is not a measurement of the pipeline
        out["error"] = f"verdict ERROR: {median['error']}"
    if median["reason"] is None:
        out.pop("reason")
    return out


def _analysis_settings(request: JsonDict) -> Any:
    """The settings a throughput request analyses with: the environment's, and its overrides."""
    from dataclasses import replace

    from deepfake_detector.config import settings_from_env

    overrides: JsonDict = {"frames": request["frames"]}
    for key in ("model", "backend", "device", "detector"):
        if request.get(key):
            overrides[key] = request[key]
    return replace(settings_from_env(), **overrides)


def _stage_devices(settings: Any) -> JsonDict:
    """Where detection and decoding ran: ``decoded_on`` is ``cpu`` where the decode device
    asked for did not open (the decoder fell back, see ``media/reader.py``); ``cuda_wait``, how
    GPU 0's context waits as its driver reports it (``DFD_CUDA_WAIT``), None without one."""
    from deepfake_detector.media.cuda_context import wait_mode
    from deepfake_detector.media.reader import decoding_on

    try:
        waits = wait_mode(0)
    except OSError:  # no CUDA driver: nothing waits for a GPU
        waits = None
    return {
        "detect_device": settings.detect_device,
        "decode_device": settings.decode_device,
        "decoded_on": decoding_on(settings.decode_device),
        "cuda_wait": waits,
    }


_PROCESS_WAIT_S = 600.0
"""Longest a job process waits for the start, or the parent for one step of a job process."""


def _job_process(request: JsonDict, cores: int, ready: Any, go: Any, todo: Any, done: Any) -> None:
    """One of ``--processes`` job processes: its share of the cores, its own model, warmed up
    before the start line; then videos from ``todo`` until a None, one at a time."""
    import resource
    from collections import Counter

    from deepfake_detector.analysis.pipeline import Analyzer
    from deepfake_detector.hostinfo import share_cores

    share_cores(cores)
    settings = _analysis_settings(request)
    analyzer = Analyzer(settings)
    analyzer.analyze(request["warmup"])
    ready.put(True)
    if not go.wait(_PROCESS_WAIT_S):
        return
    cpu, main_cpu = time.process_time(), time.thread_time()
    verdicts, errors, stages = Counter(), [], Counter()
    while (item := todo.get(timeout=_PROCESS_WAIT_S)) is not None:
        result = analyzer.analyze(request["clip"])
        verdicts[str(result.verdict)] += 1
        stages.update(result.timings)
        if result.error:
            errors.append(f"video {item}: {result.error}")
    done.put(
        {
            "cpu_s": time.process_time() - cpu,
            "main_thread_cpu_s": time.thread_time() - main_cpu,
            "stages_s": dict(stages),
            "verdicts": dict(verdicts),
            "errors": errors,
            "device": analyzer.classifier.device,
            "backend": analyzer.classifier.backend,
            **_stage_devices(settings),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def _measure_processes(request: JsonDict) -> JsonDict:
    """``request["videos"]`` analyses by ``request["processes"]`` job processes (spawned, as
    ``worker --concurrency`` starts fresh interpreters), timed from when every one has warmed
    up; CPU-seconds and peak RSS are the processes' own, summed."""
    import multiprocessing
    import queue as queue_module
    from collections import Counter

    from deepfake_detector.hostinfo import equal_share

    processes = int(request["processes"])
    cores = equal_share(processes)
    context = multiprocessing.get_context("spawn")
    ready, go, todo, done = context.Queue(), context.Event(), context.Queue(), context.Queue()
    for i in range(int(request["videos"])):
        todo.put(i)
    for _ in range(processes):
        todo.put(None)
    t = time.perf_counter()
    pool = [
        context.Process(target=_job_process, args=(request, cores, ready, go, todo, done))
        for _ in range(processes)
    ]
    for process in pool:
        process.daemon = True  # gone with this process, whatever happens to it
        process.start()

    def collect(results: Any, what: str, limit_s: float) -> list[Any]:
        """One item per job process from ``results``; a process that died first is an error."""
        items: list[Any] = []
        deadline = time.monotonic() + limit_s
        while len(items) < processes:
            try:
                items.append(results.get(timeout=0.5))
            except queue_module.Empty:
                dead = [p.exitcode for p in pool if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    for process in pool:
                        process.terminate()
                    why = f"exit status {dead[0]}" if dead else "no answer"
                    raise RuntimeError(f"a job process failed while {what}: {why}") from None
        return items

    collect(ready, "loading and warming up", _PROCESS_WAIT_S)
    load_s, t = time.perf_counter() - t, time.perf_counter()
    go.set()
    reports = collect(done, "analysing", 6 * _PROCESS_WAIT_S)
    wall = time.perf_counter() - t
    for process in pool:
        process.join(60)
    verdicts: Counter[str] = Counter()
    for report in reports:
        verdicts.update(report["verdicts"])
    errors = [e for report in reports for e in report["errors"]]
    videos = int(request["videos"])
    out: JsonDict = {
        "processes": processes,
        "cores_per_process": cores,
        "videos": videos,
        "wall_s": round(wall, 3),
        "videos_per_s": round(videos / wall, 3),
        "cpu_s_per_video": round(sum(r["cpu_s"] for r in reports) / videos, 3),
        # The job thread's share (detection, crops, scoring, evidence); the rest is decoding's
        # thread and the libraries' own threads.
        "main_thread_cpu_s_per_video": round(
            sum(r["main_thread_cpu_s"] for r in reports) / videos, 3
        ),
        "stages_s_per_video": {
            stage: round(sum(r["stages_s"].get(stage, 0.0) for r in reports) / videos, 3)
            for stage in sorted({stage for r in reports for stage in r["stages_s"]})
        },
        "load_and_warmup_s": round(load_s, 2),
        "verdicts": dict(verdicts),
        "device": reports[0]["device"],
        "backend": reports[0]["backend"],
        **{key: reports[0][key] for key in ("detect_device", "decode_device")},
        "decoded_on": sorted({r["decoded_on"] for r in reports}),
        "cuda_wait": sorted({str(r["cuda_wait"]) for r in reports}),
        "peak_rss_mb_all_processes": round(sum(r["peak_rss_mb"] for r in reports), 1),
    }
    if errors:
        out["error"] = f"{len(errors)} analyses failed, e.g. {errors[0]}"
    return out


def _measure_throughput(request: JsonDict) -> JsonDict:
    """``request["videos"]`` analyses by ``request["job_threads"]`` threads; with more than one,
    the threads share one ``BatchingClassifier`` as ``worker --job-threads`` does. With
    ``request["processes"]``, by that many job processes instead (:func:`_measure_processes`)."""
    if request.get("processes"):
        return _measure_processes(request)
    import queue as queue_module
    import threading
    from collections import Counter

    from deepfake_detector.analysis.pipeline import Analyzer
    from deepfake_detector.models import load_classifier
    from deepfake_detector.models.batching import BatchingClassifier, BatchStats

    settings = _analysis_settings(request)
    threads = int(request["job_threads"])
    t = time.perf_counter()
    shared = None
    if threads > 1:
        inner = load_classifier(settings.model, device=settings.device, backend=settings.backend)
        shared = BatchingClassifier(inner, max_batch_frames=int(request["max_batch_frames"]))
    analyzers = [
        Analyzer(settings, classifier=shared, members=True) if shared else Analyzer(settings)
        for _ in range(threads)
    ]
    for analyzer in analyzers:  # models, detectors and kernels warmed up before the clock
        analyzer.analyze(request["warmup"])
    load_s = time.perf_counter() - t
    if shared is not None:
        shared.stats = BatchStats()  # count the timed videos only

    todo: queue_module.Queue[int] = queue_module.Queue()
    for i in range(int(request["videos"])):
        todo.put(i)
    verdicts: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def work(analyzer: Analyzer) -> None:
        while True:
            try:
                todo.get_nowait()
            except queue_module.Empty:
                return
            result = analyzer.analyze(request["clip"])
            with lock:
                verdicts[str(result.verdict)] += 1
                if result.error:
                    errors.append(result.error)

    t, cpu = time.perf_counter(), time.process_time()
    pool = [threading.Thread(target=work, args=(a,)) for a in analyzers]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    classifier = analyzers[0].classifier
    out: JsonDict = {
        "job_threads": threads,
        "videos": int(request["videos"]),
        "wall_s": round(wall, 3),
        "videos_per_s": round(int(request["videos"]) / wall, 3),
        "cpu_s_per_video": round(cpu / int(request["videos"]), 3),
        "load_and_warmup_s": round(load_s, 2),
        "verdicts": dict(verdicts),
        "device": classifier.device,
        "backend": classifier.backend,
        **_stage_devices(settings),
    }
    if shared is not None:
        stats = shared.stats
        out["batches"] = {
            "count": stats.batches,
            "clips": stats.clips,
            "frames": stats.frames,
            "mean_jobs_per_batch": round(
                sum(stats.requests_per_batch) / max(1, len(stats.requests_per_batch)), 2
            ),
            "largest_batch_clips": stats.largest_batch_clips,
        }
        shared.close()
    if errors:
        out["error"] = f"{len(errors)} analyses failed, e.g. {errors[0]}"
    return out


def _measure_baseline(request: JsonDict) -> JsonDict:
    """The seed's request path, warmed once on the tiny clip (as a running server would be)."""
    import torch

    import seed_baseline

    checkpoint = Path(request["checkpoint"])
    t = time.perf_counter()
    seed_baseline.analyse(Path(request["warmup"]), checkpoint, request["frames"])
    warmup_s = time.perf_counter() - t
    runs = []
    for _ in range(request["repeat"]):
        cpu, (system, faults) = time.process_time(), _rusage()
        run = seed_baseline.analyse(Path(request["clip"]), checkpoint, request["frames"])
        system_after, faults_after = _rusage()
        runs.append(
            {
                **run,
                "cpu_s": round(time.process_time() - cpu, 4),
                "system_cpu_s": round(system_after - system, 4),
                "minor_page_faults": faults_after - faults,
            }
        )
    median = _median_run(runs)
    return {
        **median,
        "runs_total_s": [r["total_s"] for r in runs],
        "warmup_s": round(warmup_s, 4),
        "torch_threads": torch.get_num_threads(),
    }


if __name__ == "__main__":
    sys.exit(main())
