"""Throughput and latency of the job service with 1 and 2 worker processes, on the embedded
backends (SQLite + SQLite queue + local folder) and on Redis + PostgreSQL (+ the same folder,
as a shared mount would be), all in one run on one host.

For each (backend, worker count) it starts from a fresh database, queue and storage folder,
starts that many ``worker`` processes (``python -m deepfake_detector.service.cli_serve worker``,
configured by ``DFD_*`` variables as a deployment would be), waits until every one is registered,
has loaded its model and has run one throw-away job (so neither model loading nor first-call
warm-up is counted), then stores and enqueues every video at once through ``accept_upload`` (what
the REST API calls) and polls the job store until all are finished. Reported per configuration:

- throughput: videos / (last ``finished_at`` - first ``created_at``), per minute;
- queue latency ``started_at - created_at`` (median, p95; all uploads arrive at once, so this is
  mostly waiting behind earlier jobs) and the first job's pick-up time on idle workers;
- end-to-end latency ``finished_at - created_at`` (median, p95);
- CPU seconds of the worker processes per video (user + system, measured between the end of the
  warm-up and the last job; psutil), and the upload cost in this process per video.

Then the ratios (2 workers / 1 worker; Redis+PostgreSQL / embedded) and estimates "on paper" of
what many machines would need, derived from these measurements: database writes per job (counted
by PostgreSQL's statistics, and estimated from the job duration), the PostgreSQL and Redis CPU
used per job during the run, storage traffic per job, and SQLite's one-writer rate on this host.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_scaleout.py                     # ~3 min
    PYTHONPATH=src .venv/bin/python benchmarks/bench_scaleout.py --videos 4 --workers 1 \
        --backends embedded                                                           # smoke

Redis + PostgreSQL need ``redis-server`` and the PostgreSQL server binaries (started on free
loopback ports by ``deepfake_detector.devservers``; nothing is configured system-wide).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_TESTS = ROOT / "tests"
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

from deepfake_detector.config import ServiceSettings, settings_from_env  # noqa: E402
from deepfake_detector.devservers import PostgresServer, RedisServer, redis_command  # noqa: E402
from deepfake_detector.service.backends import Backends, connect  # noqa: E402
from deepfake_detector.service.db import JobStatus  # noqa: E402
from deepfake_detector.service.jobstore import JobStore  # noqa: E402
from deepfake_detector.service.runner import PROGRESS_EVERY_S  # noqa: E402
from deepfake_detector.service.settings_key import settings_key  # noqa: E402
from deepfake_detector.service.supervisor import die_with_parent  # noqa: E402
from deepfake_detector.service.uploads import accept_upload  # noqa: E402
from hostinfo import machine_summary  # noqa: E402  (a sibling module)

import video_factory  # noqa: E402  (lives in tests/, put on the path above)

BACKENDS = ("embedded", "redis-postgres")
KINDS = ("face", "noface", "mixed")
VIDEO_S = 3.0
WARMUP_S = 1.2
WARMUP_ROUNDS = 3
HEARTBEAT_S = ServiceSettings().worker_heartbeat_s
LEASE_S = ServiceSettings().worker_lease_s
START_TIMEOUT_S = 240.0
POLL_S = 0.5
"""Job-store poll interval (a count by status): rare, so the benchmark barely loads the database."""
PROBE_S = 1.5
"""How long SQLite's one-writer rate is measured."""
IDLE_S = 5.0
"""How long the servers' CPU is measured with idle workers, to tell it from the jobs' cost."""
NOISY_CORES = 0.25
"""Above this many cores busy with other work during a run, the table says so."""
BUSY_ENOUGH = 0.8
"""Share of the host's cores the workers must use for worker CPU to count as the limit."""
LINK_MB_S = 117.0
"""Assumed shared-storage link for the estimates: 1 Gbit/s (an NFS mount), in MB/s."""

JsonDict = dict[str, Any]


def log(message: str) -> None:
    print(f"[scaleout] {message}", file=sys.stderr, flush=True)


# -- command line -------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("worker counts are integers of at least 1, e.g. 1,2")
    return values


def _backend_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in BACKENDS]
    if not values or unknown:
        raise argparse.ArgumentTypeError(f"backends are among {', '.join(BACKENDS)}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=24, help="videos per configuration")
    parser.add_argument("--frames", type=int, default=16, help="frames sampled per video")
    parser.add_argument(
        "--kind",
        choices=KINDS,
        default="mixed",
        help="panning face, no face, or half each (3 s, 640x360)",
    )
    parser.add_argument("--workers", type=_int_list, default=[1, 2], help="e.g. 1,2")
    parser.add_argument(
        "--backends", type=_backend_list, default=list(BACKENDS), help=",".join(BACKENDS)
    )
    parser.add_argument("--heatmaps", action="store_true", help="make Grad-CAM heatmaps too")
    parser.add_argument(
        "--link-mb-s",
        type=float,
        default=LINK_MB_S,
        help="assumed shared-storage bandwidth for the estimates (MB/s; default 1 Gbit/s)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.videos < 1 or args.frames < 1:
        parser.error("--videos and --frames must be at least 1")
    return args


# -- videos -------------------------------------------------------------------------------------


def build_videos(folder: Path, n: int, kind: str, warmups: int) -> tuple[list[Path], list[Path]]:
    """``n`` distinct clips (durations differ by 40 ms) and ``warmups`` short face clips."""
    clips = []
    for i in range(n):
        face = kind == "face" or (kind == "mixed" and i % 2 == 0)
        duration = VIDEO_S + 0.04 * i
        if face:
            clips.append(video_factory.panning_face(folder / f"face-{i:03d}.mp4", duration))
        else:
            clips.append(video_factory.no_face(folder / f"noface-{i:03d}.mp4", duration))
    warm = [
        video_factory.panning_face(folder / f"warmup-{i:02d}.mp4", WARMUP_S + 0.04 * i)
        for i in range(warmups)
    ]
    return clips, warm


# -- workers ------------------------------------------------------------------------------------


class WorkerProcess:
    """One ``worker`` process (concurrency 1) in its own working directory, logging JSON."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        home.mkdir(parents=True)
        self.log = home / "worker.log"
        command = [sys.executable, "-m", "deepfake_detector.service.cli_serve", "worker"]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=home,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # no worker outlives an interrupted benchmark
            )
        self.ps = psutil.Process(self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    def messages(self) -> list[str]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(str(json.loads(line).get("message", "")))
        return found

    def model_loaded(self) -> bool:
        return any(m.startswith("model loaded") for m in self.messages())

    def cpu_s(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system + times.children_user + times.children_system)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"worker {self.pid} exited with {self.process.returncode}; its log:\n" + self.tail()
            )

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (the worker stops at once), then wait; SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


# -- one configuration --------------------------------------------------------------------------


@dataclass
class Setup:
    """Where one configuration keeps its state, and the worker processes' environment."""

    backend: str
    workers: int
    base: Path
    settings: ServiceSettings
    env: dict[str, str]
    pg_database: str | None = None
    cleanup: list[Any] = field(default_factory=list)


class Servers:
    """Redis and PostgreSQL, started once for the whole run (only when needed)."""

    def __init__(self) -> None:
        self.redis: RedisServer | None = None
        self.pg: PostgresServer | None = None
        self.baseline: dict[str, float] = {}
        self._names = iter(range(1, 1_000_000))

    def start(self) -> None:
        for server in (RedisServer, PostgresServer):
            reason = server.unavailable_reason()
            if reason:
                raise SystemExit(f"redis-postgres: {reason} (or run with --backends embedded)")
        log("starting Redis and PostgreSQL on loopback")
        self.redis = RedisServer().start()
        self.pg = PostgresServer().start()
        before, t0 = self.cpu_s(), time.monotonic()
        time.sleep(IDLE_S)
        after, elapsed = self.cpu_s(), time.monotonic() - t0
        # Their own housekeeping with nobody connected: paid once, whatever the machine count.
        self.baseline = {k: max(0.0, v - before.get(k, v)) / elapsed for k, v in after.items()}

    def stop(self) -> None:
        if self.pg is not None:
            self.pg.stop()
        if self.redis is not None:
            self.redis.stop()

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each server: PostgreSQL's postmaster, the
        backends it has reaped and those still running; Redis's one process."""
        found: dict[str, float] = {}
        if self.pg is not None and self.pg.port is not None:
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                pid = int((self.pg.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
                main = psutil.Process(pid)
                t = main.cpu_times()
                total = t.user + t.system + t.children_user + t.children_system
                for child in main.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        c = child.cpu_times()
                        total += c.user + c.system
                found["postgres"] = total
        if self.redis is not None and self.redis.port is not None:
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                info = redis_command(self.redis.port, "INFO", "server").decode()
                pid = int(info.split("process_id:", 1)[1].split()[0])
                t = psutil.Process(pid).cpu_times()
                found["redis"] = t.user + t.system
        return found

    def fresh(self, prefix: str) -> tuple[str, str, str]:
        """A new database (its name and URL) and an emptied Redis db number (its URL)."""
        assert self.redis is not None and self.pg is not None
        n = next(self._names)
        name = f"{prefix}_{n}"
        url = self.pg.new_database(name)
        queue_url = self.redis.url.rsplit("/", 1)[0] + f"/{n % 15 + 1}"  # 1..15; 0 is unused
        import redis

        client = redis.Redis.from_url(queue_url)
        client.flushdb()
        client.close()
        return name, url, queue_url


def make_setup(backend: str, workers: int, servers: Servers, heatmaps: bool, frames: int) -> Setup:
    base = Path(tempfile.mkdtemp(prefix=f"dfd-scaleout-{backend}-{workers}w-"))
    storage = base / "storage"
    common = {
        "DFD_STORAGE_DIR": str(storage),
        "DFD_FRAMES": str(frames),
        "DFD_HEATMAPS": "true" if heatmaps else "false",
        "DFD_WORKER_CONCURRENCY": "1",
        "DFD_WORKER_HEARTBEAT_S": str(HEARTBEAT_S),
        "DFD_WORKER_LEASE_S": str(LEASE_S),
        "DFD_LOG_FORMAT": "json",
    }
    if backend == "embedded":
        # As `serve --production` runs its workers: one data dir (SQLite database and queue).
        data = base / "data"
        settings = ServiceSettings(data_dir=str(data), storage_dir=str(storage), heatmaps=heatmaps)
        env = {**common, "DFD_DATA_DIR": str(data), "DFD_DATABASE_URL": "", "DFD_QUEUE_URL": ""}
        return Setup(backend, workers, base, settings, worker_env(env))
    name, url, queue_url = servers.fresh("scaleout")
    settings = ServiceSettings(
        data_dir=str(base / "web"),
        database_url=url,
        queue_url=queue_url,
        storage_dir=str(storage),
        heatmaps=heatmaps,
    )
    env = {**common, "DFD_DATABASE_URL": url, "DFD_QUEUE_URL": queue_url}
    return Setup(backend, workers, base, settings, worker_env(env), pg_database=name)


def upload(backends: Backends, setup: Setup, key: str, path: Path) -> str:
    with open(path, "rb") as stream:
        accepted = accept_upload(
            stream, path.name, backends=backends, service=setup.settings, settings_key=key
        )
    if accepted.deduplicated:
        raise RuntimeError(f"{path.name} was deduplicated: the clips are not distinct")
    return accepted.analysis.id


def wait_finished(
    backends: Backends, total: int, workers: list[WorkerProcess], timeout: float
) -> None:
    """Poll the job store (a cheap count by status) until ``total`` jobs are DONE or FAILED."""
    deadline = time.monotonic() + timeout
    while True:
        counts = backends.jobs.counts()
        if counts[JobStatus.DONE.value] + counts[JobStatus.FAILED.value] >= total:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs not finished after {timeout:.0f} s: {counts}")
        for w in workers:
            w.check_alive()
        time.sleep(POLL_S)


def wait_ready(setup: Setup, backends: Backends, procs: list[WorkerProcess]) -> None:
    """Until every worker is registered (live) and has loaded its model."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        for w in procs:
            w.check_alive()
        live = backends.jobs.live_worker_count(LEASE_S)
        if live == setup.workers and all(w.model_loaded() for w in procs):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"after {START_TIMEOUT_S:.0f} s: {live} live worker(s) of {setup.workers}, "
                f"models loaded: {[w.model_loaded() for w in procs]}"
            )
        time.sleep(POLL_S)


def warm_up(
    setup: Setup, backends: Backends, key: str, procs: list[WorkerProcess], clips: list[Path]
) -> int:
    """Throw-away jobs until every worker has finished one; returns how many were run."""
    pending = list(clips)
    used = 0
    warmed: set[int] = set()
    for _ in range(WARMUP_ROUNDS):
        batch, pending = pending[: setup.workers], pending[setup.workers :]
        ids = [upload(backends, setup, key, clip) for clip in batch]
        used += len(ids)
        wait_finished(backends, used, procs, START_TIMEOUT_S)
        for job_id in ids:
            found = backends.jobs.get(job_id)
            if found is not None and found[0].worker:
                warmed.add(int(found[0].worker.split(":")[1]))
        if {w.pid for w in procs} <= warmed:
            return used
    raise RuntimeError(f"after {WARMUP_ROUNDS} rounds, workers {warmed} ran a warm-up job")


def idle_server_cpu(setup: Setup, servers: Servers, backends: Backends) -> dict[str, float]:
    """CPU seconds per second that PostgreSQL and Redis spend while the workers wait for jobs
    (heartbeats, blocking queue reads, this benchmark's poll), measured over IDLE_S."""
    if setup.backend != "redis-postgres":
        return {}
    before, t0 = servers.cpu_s(), time.monotonic()
    while time.monotonic() - t0 < IDLE_S:
        backends.jobs.counts()  # the same poll as while the jobs run
        time.sleep(POLL_S)
    after, elapsed = servers.cpu_s(), time.monotonic() - t0
    return {k: max(0.0, v - before.get(k, v)) / elapsed for k, v in after.items()}


def _host_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot: not idle, not waiting for I/O, and
    including steal (time a virtual machine's CPUs were given to other machines)."""
    t = psutil.cpu_times()
    # Linux counts guest time inside user time already.
    skip = ("idle", "iowait", "guest", "guest_nice")
    return float(sum(v for k, v in t._asdict().items() if k not in skip))


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def pg_table_stats(pg: PostgresServer, database: str) -> dict[str, dict[str, int]]:
    """Rows inserted/updated/deleted per table since the database was created (read once every
    other connection has closed, so every backend has flushed its statistics)."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=pg.port, user=pg.USER, dbname=database, autocommit=True
    ) as conn:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                "pg_backend_pid()",
                (database,),
            ).fetchone()
            if not others or not others[0]:
                break
            time.sleep(0.05)
        time.sleep(0.2)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
        ).fetchall()
    return {str(r[0]): {"ins": int(r[1]), "upd": int(r[2]), "del": int(r[3])} for r in rows}


def run_config(
    setup: Setup,
    servers: Servers,
    key: str,
    clips: list[Path],
    warm_clips: list[Path],
) -> JsonDict:
    label = f"{setup.backend}, {setup.workers} worker(s)"
    log(f"{label}: starting workers")
    backends = connect(setup.settings, migrate=True)
    procs: list[WorkerProcess] = []
    started = time.monotonic()
    try:
        for i in range(setup.workers):
            procs.append(WorkerProcess(setup.base / f"worker-{i}", setup.env))
        wait_ready(setup, backends, procs)
        log(f"{label}: models loaded in {time.monotonic() - started:.1f} s; warming up")
        warmups = warm_up(setup, backends, key, procs, warm_clips)
        idle_rate = idle_server_cpu(setup, servers, backends)
        cpu_before = {w.pid: w.cpu_s() for w in procs}
        servers_before = servers.cpu_s()
        host_before = _host_busy_s()
        own_cpu = time.process_time()
        t0 = time.monotonic()
        ids = [upload(backends, setup, key, clip) for clip in clips]
        upload_s = time.monotonic() - t0
        upload_cpu_s = time.process_time() - own_cpu
        log(f"{label}: {len(ids)} uploaded in {upload_s:.1f} s; waiting for the workers")
        timeout = 120 + 30 * len(ids) / setup.workers
        wait_finished(backends, warmups + len(ids), procs, timeout)
        cpu_now = {w.pid: w.cpu_s() for w in procs}
        window_s = time.monotonic() - t0
        host_busy = _host_busy_s() - host_before
        own_cpu = time.process_time() - own_cpu
        servers_now = servers.cpu_s()
        worker_cpu = sum(cpu_now[pid] - cpu_before[pid] for pid in cpu_now)
        server_cpu = {k: v - servers_before.get(k, v) for k, v in servers_now.items()}
        if setup.backend != "redis-postgres":
            server_cpu = {}  # idle servers of the other backend: not this configuration's
        # What the jobs cost the servers, beyond what idle workers (and this poll) cost them.
        job_server_cpu = {
            k: max(0.0, v - idle_rate.get(k, 0.0) * window_s) for k, v in server_cpu.items()
        }
        log(f"{label}: all finished; stopping workers")
    except BaseException:
        for w in procs:
            w.stop()
            log(f"worker {w.pid} log tail:\n{w.tail()}")
        backends.close()
        raise
    for w in procs:
        w.stop()

    rows = {}
    try:
        for job_id in ids:
            found = backends.jobs.get(job_id)
            if found is None:
                raise RuntimeError(f"{label}: job {job_id} disappeared")
            rows[job_id] = found
    finally:
        backends.close()  # before reading PostgreSQL's statistics: every connection flushed
    bad = {i: (a.status, a.error) for i, (a, _) in rows.items() if a.status != JobStatus.DONE}
    if bad:
        raise RuntimeError(f"{label}: {len(bad)} job(s) not done: {bad}")
    analyses = [a for a, _ in rows.values()]
    created = [a.created_at for a in analyses]
    span = (max(a.finished_at for a in analyses) - min(created)).total_seconds()  # type: ignore[type-var]
    queue_lat = [(a.started_at - a.created_at).total_seconds() for a in analyses]  # type: ignore[operator]
    e2e = [(a.finished_at - a.created_at).total_seconds() for a in analyses]  # type: ignore[operator]
    run_s = [(a.finished_at - a.started_at).total_seconds() for a in analyses]  # type: ignore[operator]
    first = min(analyses, key=lambda a: a.created_at)
    timings = [
        len([k for k in (a.result or {}).get("timings", {}) if k != "total"]) for a in analyses
    ]
    storage = Path(setup.settings.resolved_storage_dir())
    evidence = [folder_bytes(storage / str(a.evidence_prefix)) for a in analyses]
    video_bytes = [v.size_bytes for _, v in rows.values()]
    per_worker = {w.pid: 0 for w in procs}
    for a in analyses:
        pid = int(str(a.worker).split(":")[1])
        per_worker[pid] = per_worker.get(pid, 0) + 1

    result: JsonDict = {
        "backend": setup.backend,
        "workers": setup.workers,
        "videos": len(ids),
        "warmup_jobs": warmups,
        "span_s": round(span, 3),
        "videos_per_min": round(60 * len(ids) / span, 2),
        "queue_latency_s": {
            "median": round(statistics.median(queue_lat), 3),
            "p95": round(percentile(queue_lat, 0.95), 3),
            "first_pickup": round((first.started_at - first.created_at).total_seconds(), 3),  # type: ignore[operator]
        },
        "e2e_latency_s": {
            "median": round(statistics.median(e2e), 3),
            "p95": round(percentile(e2e, 0.95), 3),
        },
        "run_s_median": round(statistics.median(run_s), 3),
        "run_s_mean": round(statistics.fmean(run_s), 3),
        "worker_cpu_s_per_video": round(worker_cpu / len(ids), 3),
        "worker_cores_busy": round(worker_cpu / window_s, 2),
        "worker_cpu_s_total_with_model_load": round(sum(cpu_now.values()), 1),
        "upload_s_per_video": round(upload_s / len(ids), 4),
        "upload_cpu_s_per_video": round(upload_cpu_s / len(ids), 4),
        "server_cpu_s_per_video": {k: round(v / len(ids), 4) for k, v in job_server_cpu.items()},
        "server_idle_cpu_s_per_s": {k: round(v, 4) for k, v in idle_rate.items()},
        "server_baseline_cpu_s_per_s": {k: round(v, 4) for k, v in servers.baseline.items()},
        "bench_process_cpu_s": round(own_cpu, 2),
        # Cores kept busy by everything else during the window (other users of the machine,
        # the kernel; the servers of the other backend): the noise in these numbers.
        "other_cores_busy": round(
            max(0.0, host_busy - worker_cpu - own_cpu - sum(server_cpu.values())) / window_s, 2
        ),
        "jobs_per_worker": sorted(per_worker.values(), reverse=True),
        "stage_timings_per_job": round(statistics.fmean(timings), 2),
        "video_bytes_mean": round(statistics.fmean(video_bytes)),
        "evidence_bytes_mean": round(statistics.fmean(evidence)),
        "verdicts": dict(sorted(Counter(str(a.verdict) for a in analyses).items())),
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
    }
    if setup.pg_database is not None and servers.pg is not None:
        stats = pg_table_stats(servers.pg, setup.pg_database)
        jobs = len(ids) + warmups
        a = stats.get("analyses", {})
        m = stats.get("metric_buckets", {})
        w = stats.get("workers", {})
        result["pg_rows_per_job"] = {
            "analyses_updates": round(a.get("upd", 0) / jobs, 2),
            "inserts": round((a.get("ins", 0) + stats.get("videos", {}).get("ins", 0)) / jobs, 2),
            "metric_upserts": round((m.get("ins", 0) + m.get("upd", 0)) / jobs, 2),
            "worker_heartbeat_updates": w.get("upd", 0),
            "jobs_counted": jobs,
        }
    return result


# -- SQLite's one-writer rate (for the estimates) ----------------------------------------------


def sqlite_write_rate() -> float:
    """Progress UPDATEs per second from one client on one job row of a fresh SQLite database
    (each its own transaction): SQLite takes one writer at a time, so this is its ceiling."""
    with tempfile.TemporaryDirectory(prefix="dfd-scaleout-probe-") as tmp:
        jobs = JobStore.from_url(f"sqlite:///{tmp}/db.sqlite3", migrate=True)
        try:
            sha = uuid.uuid4().hex * 2
            jobs.add_video(sha, 1, "video.mp4", "video/mp4", {})
            analysis, _ = jobs.create_or_reuse(sha, "probe", "probe.mp4")
            claim = jobs.claim(analysis.id, "probe")
            assert claim is not None
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < PROBE_S:
                jobs.progress(claim, "frames", min(1.0, n / 1e6))
                n += 1
            return n / (time.perf_counter() - t0)
        finally:
            jobs.close()


# -- report -------------------------------------------------------------------------------------


def print_table(results: list[JsonDict]) -> None:
    print(
        f"{'':<22}{'videos':>7}{'-- queue latency --':>21}{'-- end to end --':>17}"
        f"{'run':>6}{'-- CPU s/video --':>19}{'busy cores':>12}{'upload':>8}"
    )
    head = (
        f"{'backend':<15}{'workers':>7}{'/min':>7}{'median':>8}{'p95':>7}{'first':>6}"
        f"{'median':>9}{'p95':>8}{'median':>7}{'workers':>9}{'servers':>9}{'workers':>8}"
        f"{'other':>6}{'s/video':>8}  jobs/worker"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        q, e = r["queue_latency_s"], r["e2e_latency_s"]
        server = r["server_cpu_s_per_video"]
        srv = f"{sum(server.values()):.3f}" if server else "-"
        print(
            f"{r['backend']:<15}{r['workers']:>7}{r['videos_per_min']:>7.1f}"
            f"{q['median']:>8.2f}{q['p95']:>7.2f}{q['first_pickup']:>6.2f}"
            f"{e['median']:>9.2f}{e['p95']:>8.2f}{r['run_s_median']:>7.2f}"
            f"{r['worker_cpu_s_per_video']:>9.2f}{srv:>9}{r['worker_cores_busy']:>8.2f}"
            f"{r['other_cores_busy']:>6.2f}{r['upload_s_per_video']:>8.3f}  "
            f"{'/'.join(str(n) for n in r['jobs_per_worker'])}"
        )
    print(
        "(seconds. queue latency = started - created, the first = the first job's pick-up by idle"
    )
    print(
        " workers; end to end = finished - created; run = finished - started. CPU s/video: worker"
    )
    print(" processes (user + system, after their warm-up) and PostgreSQL + Redis. busy cores: the")
    print(" workers' CPU-s per second of the run, and everything else (other users, the kernel,")
    print(
        " this process, a hypervisor's steal): the noise in these numbers. upload = this process's"
    )
    print(" accept_upload per video: store, hash, probe, insert, enqueue)")
    noisy = [r for r in results if r["other_cores_busy"] > NOISY_CORES]
    if noisy:
        worst = max(r["other_cores_busy"] for r in noisy)
        print(
            f"WARNING: other work kept up to {worst:.2f} cores of this host busy during "
            f"{len(noisy)} of {len(results)} runs:"
        )
        print(
            "  throughput and latencies are understated there; CPU s/video is the steadier figure"
        )


def ratios(results: list[JsonDict]) -> JsonDict:
    by = {(r["backend"], r["workers"]): r["videos_per_min"] for r in results}
    found: JsonDict = {"workers": {}, "backend": {}}
    counts = sorted({r["workers"] for r in results})
    for backend in dict.fromkeys(r["backend"] for r in results):
        if (backend, 1) in by:
            for n in counts:
                if n > 1 and (backend, n) in by:
                    found["workers"][f"{backend} {n}w/1w"] = round(
                        by[(backend, n)] / by[(backend, 1)], 2
                    )
    for n in counts:
        if ("embedded", n) in by and ("redis-postgres", n) in by:
            ratio = by[("redis-postgres", n)] / by[("embedded", n)]
            found["backend"][f"{n}w redis-postgres/embedded"] = round(ratio, 2)
    return found


def print_ratios(found: JsonDict, results: list[JsonDict], cores: int) -> None:
    print()
    print("Throughput ratios")
    if not found["workers"] and not found["backend"]:
        print("  (none: they need 1 and more workers, or both backends, in one run)")
    for name, value in {**found["workers"], **found["backend"]}.items():
        print(f"  {name:<36}{value:>6.2f}")
    single = [r["worker_cores_busy"] for r in results if r["workers"] == 1]
    if found["workers"] and single:
        busy = statistics.fmean(single)
        print(
            f"  (one worker process alone kept {busy:.2f} of the {cores} cores busy, its model's "
            "threads included:"
        )
        print("   more worker processes on this host can only add what is left)")


def estimates(
    results: list[JsonDict], sqlite_writes_per_s: float, machine: JsonDict, link_mb_s: float
) -> JsonDict:
    """What N machines like this one would need, from the measured numbers (see the printout)."""
    # One machine of the scaled-out form: the best Redis+PostgreSQL configuration when measured.
    scaled = [r for r in results if r["backend"] == "redis-postgres"] or results
    best = max(scaled, key=lambda r: r["videos_per_min"])
    jobs_per_s = best["videos_per_min"] / 60
    cores = machine["cpus_usable"]
    pg = [r for r in results if "pg_rows_per_job" in r]
    basis = pg or results
    run_s = statistics.fmean(r["run_s_mean"] for r in basis)
    stage_timings = statistics.fmean(r["stage_timings_per_job"] for r in basis)
    # One write per stage change (loading model, probe, frames, classify, analysed), then at most
    # one per PROGRESS_EVERY_S while a stage lasts, plus the claim and the finish; the finish's
    # transaction also upserts 2 metric rows for the latency, the run time and each stage timing.
    est_updates = 1 + 5 + run_s / PROGRESS_EVERY_S + 1
    est_metric = 2 * (2 + stage_timings)
    counted = statistics.fmean(r["pg_rows_per_job"]["analyses_updates"] for r in pg) if pg else None
    metric = statistics.fmean(r["pg_rows_per_job"]["metric_upserts"] for r in pg) if pg else None
    updates = counted if counted is not None else est_updates
    tx_per_job = updates + 2  # each UPDATE and each insert (video, analysis) is a transaction
    rows_per_job = tx_per_job + (metric if metric is not None else est_metric)
    heartbeats_per_s = best["workers"] / HEARTBEAT_S
    tx_per_s = jobs_per_s * tx_per_job + heartbeats_per_s
    bytes_per_job = 2 * best["video_bytes_mean"] + best["evidence_bytes_mean"]
    mb_s = jobs_per_s * bytes_per_job / 1e6
    server = best.get("server_cpu_s_per_video", {})
    # What idle workers add to the servers' own housekeeping (measured with nobody connected).
    baseline = best.get("server_baseline_cpu_s_per_s", {})
    idle = {
        k: max(0.0, v - baseline.get(k, 0.0))
        for k, v in best.get("server_idle_cpu_s_per_s", {}).items()
    }
    # Server cores one machine keeps busy: its jobs, plus its idle workers' heartbeats and reads.
    pg_cores = jobs_per_s * server["postgres"] + idle["postgres"] if "postgres" in server else 0
    redis_cores = jobs_per_s * server["redis"] + idle["redis"] if "redis" in server else 0
    limits: dict[str, float] = {}
    if pg_cores:
        limits["PostgreSQL, per core"] = 1 / pg_cores
    if redis_cores:
        limits["Redis (one core)"] = 1 / redis_cores
    if mb_s:
        limits["shared storage link"] = link_mb_s / mb_s
    scale = []
    for n in (1, 10, 100, 1000):
        scale.append(
            {
                "machines": n,
                "videos_per_min": round(n * best["videos_per_min"], 1),
                "db_transactions_per_s": round(n * tx_per_s, 1),
                "db_rows_written_per_s": round(n * (jobs_per_s * rows_per_job + heartbeats_per_s)),
                "postgres_cores": round(n * pg_cores, 2) if pg_cores else None,
                "redis_core_share": round(n * redis_cores, 3) if redis_cores else None,
                "queue_ops_per_s": round(n * jobs_per_s * 2, 1),
                "storage_mb_s": round(n * mb_s, 2),
            }
        )
    return {
        "per_machine": {
            "config": f"{best['backend']}, {best['workers']} worker(s)",
            "videos_per_min": best["videos_per_min"],
            "cores": cores,
            "worker_cpu_s_per_video": best["worker_cpu_s_per_video"],
            "worker_core_use": round(best["worker_cpu_s_per_video"] * jobs_per_s / cores, 2),
            "other_cores_busy": best["other_cores_busy"],
        },
        "job_run_s_mean": round(run_s, 2),
        "updates_per_job_estimated": round(est_updates, 1),
        "updates_per_job_counted_pg": counted,
        "metric_upserts_per_job_estimated": round(est_metric, 1),
        "metric_upserts_per_job_counted_pg": metric,
        "db_transactions_per_job": round(tx_per_job, 1),
        "db_rows_written_per_job": round(rows_per_job, 1),
        "db_heartbeats_per_s_per_machine": heartbeats_per_s,
        "server_cpu_s_per_job": server,
        "server_idle_cpu_s_per_s": idle,
        "sqlite_one_writer_writes_per_s": round(sqlite_writes_per_s) or None,
        "storage_bytes_per_job": round(bytes_per_job),
        "assumed_link_mb_s": link_mb_s,
        "scale": scale,
        "machines_until_saturated": {k: round(v) for k, v in limits.items()},
    }


def print_estimates(est: JsonDict) -> None:
    pm = est["per_machine"]
    one = est["scale"][0]
    print()
    print("On paper: ESTIMATES derived from the measurements above (nothing measured at scale)")
    print(
        f"  one machine = this host ({pm['cores']} cores) as {pm['config']}: "
        f"{pm['videos_per_min']:.1f} videos/min;"
    )
    use = pm["worker_core_use"]
    print(
        f"    its workers use {pm['worker_cpu_s_per_video']:.2f} CPU-s per video = "
        f"{100 * use:.0f}% of its cores:"
    )
    if use >= BUSY_ENOUGH:
        print("    worker CPU is what limits one machine")
    elif pm["other_cores_busy"] > NOISY_CORES:
        print(f"    other work on the host ({pm['other_cores_busy']:.2f} cores) held them back")
    else:
        print("    they left cores idle: more worker processes per machine would use them")
    counted = est["updates_per_job_counted_pg"]
    if counted is not None:
        print(
            f"  database writes per job: {counted:.1f} UPDATEs of the job row (PostgreSQL's count)"
        )
        print(
            f"    against at most {est['updates_per_job_estimated']:.1f} estimated from the "
            f"{est['job_run_s_mean']:.1f} s mean run"
        )
    else:
        print(
            f"  database writes per job: at most {est['updates_per_job_estimated']:.1f} UPDATEs of"
            f" the job row, estimated from the {est['job_run_s_mean']:.1f} s mean run"
        )
    print(
        f"    (claim + ~5 stage changes + one per {PROGRESS_EVERY_S} s within a stage + finish), "
        f"+ 2 inserts = {est['db_transactions_per_job']:.1f} transactions;"
    )
    metric = est["metric_upserts_per_job_counted_pg"]
    metric_text = f"{metric:.1f} counted, " if metric is not None else ""
    print(
        f"    + metric upserts in the finish ({metric_text}"
        f"{est['metric_upserts_per_job_estimated']:.0f} estimated) = "
        f"{est['db_rows_written_per_job']:.0f} rows written per job"
    )
    print(
        f"  per machine: {one['db_transactions_per_s']:.1f} database transactions/s (with "
        f"{est['db_heartbeats_per_s_per_machine']:.1f}/s of heartbeats), "
        f"{one['queue_ops_per_s']:.1f} queue operations/s,"
    )
    print(
        f"    {one['storage_mb_s']:.2f} MB/s of storage ({est['storage_bytes_per_job'] / 1e6:.2f} "
        "MB per job: the upload written and read once, the evidence written)"
    )
    server, idle = est["server_cpu_s_per_job"], est["server_idle_cpu_s_per_s"]
    if server:
        parts = [f"{name} {1000 * s:.1f} ms" for name, s in server.items()]
        print(f"  server CPU per job (measured, less the idle rate): {', '.join(parts)};")
        parts = [f"{name} {1000 * s:.1f} ms/s" for name, s in idle.items()]
        print("    added by one machine's idle workers (heartbeats, blocking queue reads) and this")
        print(f"    benchmark's job-store poll every {POLL_S} s: {', '.join(parts)}")
        print(
            "    (the kernel counts CPU time in 10 ms ticks: a value near 0 is too small to "
            "measure here)"
        )
    if est["sqlite_one_writer_writes_per_s"]:
        print(
            f"  SQLite (embedded) takes ~{est['sqlite_one_writer_writes_per_s']} writes/s from one "
            "writer here: ample for one machine,"
        )
        print("    and it is not shared between machines")
    print()
    head = (
        f"  {'machines':>8}{'videos/min':>12}{'DB tx/s':>10}{'DB rows/s':>11}{'PG cores':>10}"
        f"{'Redis core':>12}{'queue ops/s':>13}{'storage MB/s':>14}"
    )
    print(head)
    for row in est["scale"]:
        pg = "-" if row["postgres_cores"] is None else f"{row['postgres_cores']:.2f}"
        rd = "-" if row["redis_core_share"] is None else f"{row['redis_core_share']:.3f}"
        print(
            f"  {row['machines']:>8}{row['videos_per_min']:>12,.0f}"
            f"{row['db_transactions_per_s']:>10,.0f}{row['db_rows_written_per_s']:>11,}"
            f"{pg:>10}{rd:>12}{row['queue_ops_per_s']:>13,.0f}{row['storage_mb_s']:>14,.1f}"
        )
    limits = sorted(est["machines_until_saturated"].items(), key=lambda kv: kv[1])
    if limits:
        notes = {
            "PostgreSQL, per core": "fsync off here; a durable server also waits on WAL flushes",
            "Redis (one core)": "Redis runs commands on one core",
            "shared storage link": f"assumed link of {est['assumed_link_mb_s']:.0f} MB/s",
        }
        print("  machines like this one until a shared part is saturated (lowest first):")
        for name, machines in limits:
            print(f"    {name:<22} ~{machines:>7,}  ({notes[name]})")
        print("  bottleneck as machines are added: worker CPU (each machine brings its own), then")
        print("    " + ", then ".join(name for name, _ in limits))
    if not est["server_cpu_s_per_job"]:
        print("  (embedded only: its database and queue serve one machine; measure redis-postgres")
        print("   for the limits of the shared ones)")
    print("  (estimates: linear extrapolation from one host; no contention between machines)")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wall = time.monotonic()
    machine = machine_summary()
    analysis = replace(settings_from_env(), frames=args.frames)
    os.environ["DFD_FRAMES"] = str(args.frames)  # settings_key and the workers agree
    key = settings_key(analysis)
    servers = Servers()
    results: list[JsonDict] = []
    with tempfile.TemporaryDirectory(prefix="dfd-scaleout-videos-") as tmp:
        log(f"building {args.videos} {args.kind} clips")
        t = time.monotonic()
        clips, warm = build_videos(
            Path(tmp), args.videos, args.kind, WARMUP_ROUNDS * max(args.workers)
        )
        log(f"clips built in {time.monotonic() - t:.1f} s")
        try:
            if "redis-postgres" in args.backends:
                servers.start()
            for backend in args.backends:
                for n in args.workers:
                    setup = make_setup(backend, n, servers, args.heatmaps, args.frames)
                    try:
                        results.append(run_config(setup, servers, key, clips, warm))
                    finally:
                        shutil.rmtree(setup.base, ignore_errors=True)
                    r = results[-1]
                    log(f"{backend}, {n} worker(s): {r['videos_per_min']:.1f} videos/min")
            sqlite_rate = sqlite_write_rate() if "embedded" in args.backends else 0.0
        finally:
            servers.stop()

    commit = _git("rev-parse", "--short", "HEAD")
    dirty = " (working tree differs)" if _git("status", "--porcelain", "-uno") else ""
    print(f"Scale-out benchmark, {machine['date']}, commit {commit}{dirty}")
    print(
        f"CPU: {machine['cpu_model']}, AVX-512 {'yes' if machine['avx512f'] else 'no'}, "
        f"{machine['cpus_usable']} usable cores ({machine['cpu_count']} online), "
        f"{machine['memory_gb']} GB, load {machine['loadavg_start'][0]} at start"
    )
    print(
        f"{args.videos} videos per configuration ({args.kind}, 640x360, {VIDEO_S:.0f}-"
        f"{VIDEO_S + 0.04 * (args.videos - 1):.2f} s), {args.frames} frames each, heatmaps "
        f"{'on' if args.heatmaps else 'off'};"
    )
    print(
        "all uploaded at once, after every worker loaded its model and ran one warm-up job; "
        f"heartbeat {HEARTBEAT_S:g} s"
    )
    print()
    print_table(results)
    found = ratios(results)
    print_ratios(found, results, machine["cpus_usable"])
    est = estimates(results, sqlite_rate, machine, args.link_mb_s)
    print_estimates(est)
    print()
    print(f"benchmark wall time {time.monotonic() - wall:.0f} s")

    if args.json is not None:
        report = {
            "benchmark": "bench_scaleout",
            "machine": machine,
            "commit": _git("rev-parse", "HEAD"),
            "settings": {
                "videos": args.videos,
                "frames": args.frames,
                "kind": args.kind,
                "workers": args.workers,
                "backends": args.backends,
                "heatmaps": args.heatmaps,
                "worker_heartbeat_s": HEARTBEAT_S,
                "worker_lease_s": LEASE_S,
            },
            "results": results,
            "ratios": found,
            "estimates": est,
            "bench_wall_s": round(time.monotonic() - wall, 1),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
