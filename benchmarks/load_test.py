"""Load on a real ``serve`` over loopback: concurrent uploads and reads, then every job followed
to its end. Reports what a user would ask of the service under load: how many uploads were
accepted or refused (by status), whether any accepted upload was lost (no job, or a job that never
ended) or duplicated (two jobs for the same content), latency of uploads and reads (p50/p95), the
time until the queue drained, and that no request got a 5xx.

    PYTHONPATH=src .venv/bin/python benchmarks/load_test.py                  # both modes, ~4 min
    PYTHONPATH=src .venv/bin/python benchmarks/load_test.py --modes embedded --uploads 8 --gets 20

For each mode (``embedded``: ``serve``, one process, its worker in a thread; ``production``:
``serve --production``, gunicorn web processes and a separate worker process), a fresh data
folder and a free port; ``--uploads`` requests are released at once by a barrier, each from its own
thread, while ``--gets`` reads (health, the list, an analysis, the upload page) run from
``--readers`` threads. ``--duplicates`` of the uploads repeat an earlier clip's bytes: the
service should answer them with the same analysis, not a second job. Not a timed test: the
figures depend on the host, so they go to the README with the CPU they came from.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_TESTS = ROOT / "tests"
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

from hostinfo import machine_summary  # noqa: E402  (a sibling module)

import video_factory  # noqa: E402  (lives in tests/, put on the path above)

MODES = ("embedded", "production")
ANALYSES = "/api/v1/analyses"
FINAL = {"done", "failed"}
JsonDict = dict[str, Any]


@dataclass
class Reply:
    """One request's outcome: HTTP status (0 when the connection failed) and its latency."""

    kind: str
    status: int
    seconds: float
    body: JsonDict = field(default_factory=dict)
    error: str = ""


# -- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(mode: str, data_dir: Path, frames: int, timeout_s: float = 240.0) -> Any:
    """A real ``serve`` (``--production`` in that mode), healthy with a live worker; stopped with
    SIGTERM afterwards (SIGKILL to its whole session if it does not stop)."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "DFD_DATA_DIR": str(data_dir),
        "DFD_FRAMES": str(frames),
    }
    command = [sys.executable, "-m", "deepfake_detector.service.cli_serve", "serve"]
    command += ["--port", str(port)] + (["--production"] if mode == "production" else [])
    log_path = data_dir.parent / f"{mode}-serve.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}: see {log_path}")
            reply = request(port, "GET", "/api/v1/health", kind="health")
            if reply.status == 200 and reply.body.get("workers", 0) >= 1:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve was not healthy within {timeout_s:g} s: {log_path}")
            time.sleep(0.25)
        yield port, process, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


# -- requests ---------------------------------------------------------------------------------


def request(
    port: int,
    method: str,
    path: str,
    *,
    kind: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 300.0,
) -> Reply:
    """One request on a new connection (as separate clients would make them)."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
        seconds = time.perf_counter() - start
        parsed: JsonDict = {}
        if response.getheader("Content-Type", "").startswith("application/json"):
            with contextlib.suppress(ValueError):
                parsed = json.loads(raw)
        return Reply(kind, response.status, seconds, parsed)
    except OSError as exc:
        return Reply(kind, 0, time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def multipart(name: str, payload: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    return head + payload + f"\r\n--{boundary}--\r\n".encode(), boundary


def upload(port: int, name: str, payload: bytes) -> Reply:
    body, boundary = multipart(name, payload)
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return request(port, "POST", ANALYSES, kind="upload", body=body, headers=headers)


# -- one mode -----------------------------------------------------------------------------------


def build_clips(folder: Path, distinct: int, seconds: float) -> list[Path]:
    """``distinct`` short clips with different bytes (half a face, half none; sizes differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(distinct):
        size = (480 + 16 * (i % 8), 270 + 8 * (i // 8))
        maker = video_factory.panning_face if i % 2 == 0 else video_factory.no_face
        clips.append(maker(folder / f"clip-{i:03d}.mp4", seconds, size=size))
    return clips


def run_mode(mode: str, clips: list[Path], args: argparse.Namespace, base: Path) -> JsonDict:
    # Each upload: a clip's bytes; the last ``duplicates`` repeat earlier clips.
    payloads = [clip.read_bytes() for clip in clips]
    plan = [payloads[i % len(payloads)] for i in range(args.uploads)]
    digests = [hashlib.sha256(p).hexdigest() for p in plan]
    with serve(mode, base / f"{mode}-data", args.frames) as (port, process, log_path):
        uploads: list[Reply | None] = [None] * len(plan)
        reads: list[Reply] = []
        accepted_ids: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(len(plan) + 1)

        def send(i: int) -> None:
            barrier.wait()
            uploads[i] = upload(port, f"load-{i:03d}.mp4", plan[i])

        def read(n_reads: int) -> None:
            for n in range(n_reads):
                with lock:
                    some_id = accepted_ids[n % len(accepted_ids)] if accepted_ids else None
                choice = n % 4
                if choice == 0:
                    reply = request(port, "GET", "/api/v1/health", kind="get")
                elif choice == 1:
                    reply = request(port, "GET", f"{ANALYSES}?page=1", kind="get")
                elif choice == 2 and some_id:
                    reply = request(port, "GET", f"{ANALYSES}/{some_id}", kind="get")
                else:
                    reply = request(port, "GET", "/", kind="get")
                with lock:
                    reads.append(reply)

        senders = [threading.Thread(target=send, args=(i,)) for i in range(len(plan))]
        per_reader = [args.gets // args.readers] * args.readers
        per_reader[0] += args.gets - sum(per_reader)
        readers = [threading.Thread(target=read, args=(n,)) for n in per_reader]
        for thread in senders:
            thread.start()
        barrier.wait()
        started = time.monotonic()
        for thread in readers:
            thread.start()
        for thread in senders:
            thread.join()
            with lock:
                accepted_ids[:] = [
                    str(r.body["id"]) for r in uploads if r and r.status in (200, 202)
                ]
        uploads_done = time.monotonic() - started
        for thread in readers:
            thread.join()

        # Follow every accepted job to its end (or the drain timeout).
        final: dict[str, str] = {}
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline:
            pending = [i for i in set(accepted_ids) if final.get(i) not in FINAL]
            if not pending:
                break
            for job_id in pending:
                reply = request(port, "GET", f"{ANALYSES}/{job_id}", kind="poll")
                final[job_id] = str(reply.body.get("status", f"http {reply.status}"))
            time.sleep(0.5)
        drained = time.monotonic() - started
        alive = process.poll() is None
        log_text = log_path.read_text(errors="replace")

    done_uploads = [r for r in uploads if r is not None]
    statuses = Counter(r.status for r in done_uploads)
    accepted = [
        (d, r) for d, r in zip(digests, uploads, strict=True) if r and r.status in (200, 202)
    ]
    ids_by_digest: dict[str, set[str]] = {}
    for digest, reply in accepted:
        ids_by_digest.setdefault(digest, set()).add(str(reply.body["id"]))
    job_ends = Counter(final.get(i, "never polled") for i in set(accepted_ids))
    lost = sum(n for status, n in job_ends.items() if status not in FINAL)
    upload_s = [r.seconds for r in done_uploads]
    get_s = [r.seconds for r in reads]
    server_errors = sum(1 for r in [*done_uploads, *reads] if r.status >= 500)
    return {
        "mode": mode,
        "uploads": len(plan),
        "distinct_contents": len(set(digests)),
        "accepted": len(accepted),
        "refused": {str(k): v for k, v in sorted(statuses.items()) if k not in (200, 202)},
        "jobs": len(set(accepted_ids)),
        "duplicated": sum(len(ids) - 1 for ids in ids_by_digest.values()),
        "lost": lost,
        "job_ends": dict(job_ends),
        "gets": len(reads),
        "gets_by_status": {str(k): v for k, v in sorted(Counter(r.status for r in reads).items())},
        "server_errors_5xx": server_errors,
        "upload_latency_s": summary(upload_s),
        "get_latency_s": summary(get_s),
        "uploads_answered_s": round(uploads_done, 2),
        "drain_s": round(drained, 1),
        "drain_timeout_hit": lost > 0,
        "server_alive_after": alive,
        "tracebacks_in_log": log_text.count("Traceback"),
    }


def summary(values: list[float]) -> JsonDict:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "max": round(ordered[-1], 3),
    }


# -- report -------------------------------------------------------------------------------------


def print_report(report: JsonDict) -> None:
    m = report["machine"]
    s = report["settings"]
    print(f"Load test, {m['date']}")
    print(
        f"CPU: {m['cpu_model']}, AVX-512 {'yes' if m['avx512f'] else 'no'}, "
        f"{m['cpus_usable']} usable cores, load {m['loadavg_start'][0]} at start"
    )
    print(
        f"{s['uploads']} uploads at once ({s['distinct']} distinct clips of {s['clip_s']:g} s, "
        f"480x270 and up), "
        f"{s['gets']} GETs from {s['readers']} threads meanwhile, {s['frames']} frames per video"
    )
    print()
    header = (
        f"{'mode':<11}{'accepted':>9}{'refused':>9}{'jobs':>6}{'lost':>6}{'dup':>5}{'5xx':>5}"
        f"{'upload p50/p95 s':>18}{'GET p50/p95 s':>16}{'answered s':>12}{'drained s':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in report["results"]:
        up, get = r["upload_latency_s"], r["get_latency_s"]
        print(
            f"{r['mode']:<11}{r['accepted']:>9}{sum(r['refused'].values()):>9}{r['jobs']:>6}"
            f"{r['lost']:>6}{r['duplicated']:>5}{r['server_errors_5xx']:>5}"
            f"{up['p50']:>10.2f} /{up['p95']:>6.2f}{get['p50']:>9.3f} /{get['p95']:>6.3f}"
            f"{r['uploads_answered_s']:>12.1f}{r['drain_s']:>11.1f}"
        )
    for r in report["results"]:
        notes = []
        if r["refused"]:
            notes.append(f"refused by status {r['refused']}")
        if r["lost"]:
            notes.append(f"jobs not ended: {r['job_ends']}")
        if not r["server_alive_after"]:
            notes.append("the server died")
        if r["tracebacks_in_log"]:
            notes.append(f"{r['tracebacks_in_log']} traceback(s) in its log")
        print(f"{r['mode']}: job ends {r['job_ends']}" + ("; " + "; ".join(notes) if notes else ""))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", type=lambda v: v.split(","), default=list(MODES))
    parser.add_argument("--uploads", type=int, default=50, help="uploads sent at once")
    parser.add_argument(
        "--duplicates", type=int, default=10, help="of the uploads, how many repeat a clip"
    )
    parser.add_argument("--gets", type=int, default=200, help="GET requests meanwhile")
    parser.add_argument("--readers", type=int, default=10, help="threads sending the GETs")
    parser.add_argument(
        "--frames", type=int, default=32, help="frames sampled per video (the service's default)"
    )
    parser.add_argument("--clip-s", type=float, default=2.0, help="length of each clip")
    parser.add_argument("--drain-timeout", type=float, default=900.0, help="seconds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    unknown = set(args.modes) - set(MODES)
    if unknown:
        parser.error(f"unknown mode(s) {sorted(unknown)}; choose from {MODES}")
    if not 0 <= args.duplicates < args.uploads:
        parser.error("--duplicates must be at least 0 and fewer than --uploads")
    if args.readers < 1 or args.gets < args.readers:
        parser.error("--gets must be at least --readers, which must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_summary()
    distinct = args.uploads - args.duplicates
    results = []
    with tempfile.TemporaryDirectory(prefix="dfd-load-") as tmp:
        base = Path(tmp)
        print(f"building {distinct} clips", file=sys.stderr)
        clips = build_clips(base / "clips", distinct, args.clip_s)
        for mode in args.modes:
            print(f"{mode}: starting serve", file=sys.stderr)
            results.append(run_mode(mode, clips, args, base))
            print(f"{mode}: drained in {results[-1]['drain_s']} s", file=sys.stderr)
    report = {
        "benchmark": "load_test",
        "machine": info,
        "settings": {
            "uploads": args.uploads,
            "distinct": distinct,
            "gets": args.gets,
            "readers": args.readers,
            "frames": args.frames,
            "clip_s": args.clip_s,
        },
        "results": results,
    }
    print_report(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    healthy = all(
        r["lost"] == 0 and r["duplicated"] == 0 and r["server_errors_5xx"] == 0 for r in results
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
