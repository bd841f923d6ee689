"""All tunable settings in one place, read from the environment (``DFD_*``) with sane defaults.

Library callers pass an ``AnalysisSettings`` explicitly; the CLI and the service build one from the
environment with :func:`settings_from_env` and then apply their own flags on top.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

ENV_PREFIX = "DFD_"


class SettingsError(ValueError):
    """A setting (a ``DFD_*`` variable) whose value cannot be used; the message names it, so the
    commands can say it in one line."""


_S = TypeVar("_S")


@dataclass(frozen=True)
class AnalysisSettings:
    """How one video is analysed. Model-specific preprocessing (crop size, margin, colour order)
    belongs to the model's own config, not here, so training and serving cannot drift apart."""

    frames: int = 32
    """Frames sampled evenly across the whole video (ignored when ``frames_per_second`` is set)."""
    frames_per_second: float | None = None
    """Alternative to ``frames``: sample this many frames per second of video."""
    max_frames: int = 256
    """Upper bound on sampled frames whatever the rate asks for (memory and time stay bounded)."""
    sample_snap: float = 0.25
    """How far each sample may move to a frame that is cheaper to decode (a keyframe when one is
    in reach), as a fraction of the spacing between samples: 0 takes the frame exactly at each
    evenly spaced time; at most 0.5, so that samples stay distinct and in order. 0.25 decodes a
    60 s 1080p video in about 0.6 of the time and moves scores no more than moving the exact
    samples a quarter of their spacing does (docs/speed.md)."""
    detector: str = "mtcnn"
    """Registered face detector name."""
    detect_device: str = "cpu"
    """Where the face detector's networks run: ``cpu``, or ``cuda`` / ``cuda:N`` / ``auto`` (the
    first GPU when CUDA works) for MTCNN's networks through PyTorch on the GPU, same weights and
    results (``faces/onnx_torch.py``). The other detectors run on the CPU only."""
    decode_device: str = "cpu"
    """Where videos are decoded: ``cpu``, or ``cuda`` / ``cuda:N`` for FFmpeg's NVDEC decoding on
    an NVIDIA GPU (the samples come back with the CPU's pixels; codecs the GPU cannot decode
    fall back to the CPU inside FFmpeg). Where no CUDA device opens, decoding stays on the CPU
    and the worker logs it once. NVDEC shares the GPU with a model PyTorch runs there. It halves
    a video's CPU-seconds, which is what bounds a GPU worker running jobs side by side (5.3
    against 3.1 videos/s with 16 job processes on an H200); one video alone decodes sooner on
    the CPU's cores (docs/speed.md, "On a GPU")."""
    full_detect_every: int = 4
    """In a video, search the whole frame for faces in every this many samples (the first one
    included) and, in the samples between, only near the faces seen in the last this many
    samples, for faces no smaller than half of theirs; a face of the previous sample not found
    again there makes that sample a whole search (``faces/guided.py``). 1 searches every sample
    whole. A new face can be found up to this many samples minus one late. 4 is 0.75 of the
    time on 10 s 1080p, with scores within re-sampling noise (docs/speed.md)."""
    detect_max_side: int = 640
    """Frames are downscaled so their longer side is at most this before detection."""
    detect_min_score: float = 0.9
    """Detections below this confidence are dropped."""
    min_face_px: int = 24
    """Faces smaller than this (shorter side, in original frame pixels) are ignored."""
    track_iou: float = 0.3
    """Overlap at which a detection continues a track outright; below it, a detection may still
    continue one if it is close enough for the time elapsed and of similar size."""
    min_track_fraction: float = 0.15
    """Tracks seen in fewer than this fraction of sampled frames are dropped as spurious."""
    model: str = "default"
    """Registered model name, or a path (seed ``.pt``, ``.safetensors`` or a model folder)."""
    device: str = "auto"
    """``auto`` | ``cpu`` | ``cuda``."""
    backend: str = "auto"
    """``auto`` | ``torch`` | ``onnxruntime`` | ``openvino``. ``auto``: PyTorch on a GPU, else the
    one measured fastest for the model on this CPU (once per machine, then remembered in the
    cache folder: ``DFD_CACHE_DIR``, default ``~/.cache/deepfake-detector``)."""
    max_pixels: int = 8192 * 8192
    """Videos whose declared frame area exceeds this are refused before decoding."""
    max_decode_megapixels: float = 100_000.0
    """A video whose sampling would decode more than this (planned from its keyframe index,
    before decoding: huge frames with keyframes minutes apart) is refused with a message. About
    80 times what 32 samples of a 1080p H.264 video with a keyframe every 2 s cost (~18 decoded
    frames a sample, of 2.1 megapixels: ``benchmarks/bench_decode.py``). 0 means no limit."""

    def frame_exact(self) -> AnalysisSettings:
        """These settings without the serving shortcuts: samples at their exact times (no
        keyframe snapping) and every sample searched whole for faces. For training crops and
        the codec check, where the same frames and faces must come back every time."""
        return replace(self, sample_snap=0.0, full_detect_every=1)

    @property
    def is_frame_exact(self) -> bool:
        """True when :meth:`frame_exact` would change nothing."""
        return self.sample_snap == 0 and self.full_detect_every == 1

    def __post_init__(self) -> None:
        if self.full_detect_every < 1:
            raise SettingsError(
                f"DFD_FULL_DETECT_EVERY must be a whole number of at least 1, "
                f"not {self.full_detect_every}"
            )
        if not _is_device(self.decode_device):
            raise SettingsError(
                f"DFD_DECODE_DEVICE must be cpu, cuda or cuda:N, not {self.decode_device!r}"
            )
        if not 0.0 <= self.sample_snap <= 0.5:
            raise SettingsError(
                f"DFD_SAMPLE_SNAP must be between 0 and 0.5, not {self.sample_snap}"
            )


def _is_device(name: str) -> bool:
    """``cpu``, ``cuda`` or ``cuda:N``."""
    kind, sep, index = name.partition(":")
    if kind == "cpu":
        return not sep
    return kind == "cuda" and (not sep or index.isdigit())


def _coerce(value: str, current: Any) -> Any:
    if isinstance(current, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float) or current is None:
        return float(value) if value.strip() else None
    return value


def _from_env(cls: type[_S], environ: Mapping[str, str] | None) -> _S:
    """An instance of the settings dataclass ``cls`` with ``DFD_<FIELD>`` overrides applied."""
    env = os.environ if environ is None else environ
    base = cls()
    overrides: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            current = getattr(base, f.name)
            try:
                overrides[f.name] = _coerce(raw, current)
            except ValueError:
                kind = "a whole number" if isinstance(current, int) else "a number"
                raise SettingsError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not {kind}") from None
    try:
        return replace(base, **overrides)  # type: ignore[type-var]
    except SettingsError:
        raise
    except ValueError as exc:  # a check in the dataclass itself
        raise SettingsError(str(exc)) from None


EXECUTION_SETTINGS = frozenset({"device", "backend", "detect_device", "decode_device"})
"""``AnalysisSettings`` fields that say where and how an analysis runs, not what it computes: the
same frames, faces and scores up to float rounding (tests hold NVDEC to the CPU's pixels, MTCNN
on the GPU to its CPU detections and every backend to PyTorch's scores). The de-duplication key
(``service/settings_key.py``) leaves them out, so that a video analysed by a GPU worker is not
analysed again because the web server that took the re-upload is configured for the CPU."""


CUDA_WAITS = ("auto", "spin", "yield", "block")
"""How a thread waits for its GPU work, CUDA's scheduling flags (``media/cuda_context.py``)."""


def cuda_wait_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``DFD_CUDA_WAIT``: how a thread that waits for the GPU spends that time, for every GPU this
    process uses. ``auto`` is CUDA's own choice: spinning on a CPU core while there are fewer
    contexts in the process than cores, which is what a worker running one job process per core
    next to others gets; ``yield`` spins but gives the core up to other threads; ``block``
    sleeps until the GPU is done. Not an analysis setting: the flags belong to the process's
    CUDA context, which every analyzer in it shares, and they change no result."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_PREFIX + "CUDA_WAIT", "auto").strip().lower() or "auto"
    if value not in CUDA_WAITS:
        raise SettingsError(
            f"{ENV_PREFIX}CUDA_WAIT must be one of {', '.join(CUDA_WAITS)}, not {value!r}"
        )
    return value


def settings_from_env(environ: Mapping[str, str] | None = None) -> AnalysisSettings:
    """Build analysis settings from ``DFD_<FIELD>`` variables, e.g. ``DFD_FRAMES=48``. Also checks
    ``DFD_CUDA_WAIT``, read where a GPU starts, so that a bad value is refused up front on any
    machine rather than on a GPU's first job."""
    cuda_wait_from_env(environ)
    return _from_env(AnalysisSettings, environ)


@dataclass(frozen=True)
class ServiceSettings:
    """How the web service runs: where it keeps things and what it accepts.

    Read from ``DFD_*`` like :class:`AnalysisSettings` (e.g. ``DFD_PORT=8080``); empty paths
    derive from ``data_dir``."""

    data_dir: str = "instance"
    """Root folder for the embedded database, queue, uploads and evidence (relative to the CWD)."""
    database_url: str = ""
    """SQLAlchemy URL (``postgresql+psycopg://user:pass@host/db`` to scale out); empty means
    ``sqlite:///<data_dir>/deepfake-detector.sqlite3``."""
    storage_dir: str = ""
    """Uploaded videos and their evidence; empty means ``<data_dir>/files``. With several
    machines, a folder shared by all of them (an NFS mount, say)."""
    storage_url: str = ""
    """The blob store as a URL, ``file:///path`` (what ``storage_dir`` means); wins over
    ``storage_dir`` when set."""
    queue_url: str = ""
    """Job queue: ``redis://host:6379/0`` to scale out; empty means
    ``sqlite:///<data_dir>/queue.sqlite3`` (huey's SqliteHuey)."""
    worker_concurrency: int = 1
    """Job processes per ``worker`` command (each loads the model once and runs one job at a
    time)."""
    worker_job_threads: int = 1
    """Jobs one worker process runs at once, in threads that decode and find faces in parallel
    and share the process's one model: their people's clips are scored in common batches
    (``BatchingClassifier``). Above 1 pays off on a GPU; on a CPU, prefer
    ``worker_concurrency``."""
    worker_cores: int = 0
    """Cores the thread pools of one job process use (OpenCV, PyTorch, ONNX Runtime, FFmpeg's
    decoding). 0: all the process may run on, except under ``worker_concurrency`` N above 1,
    where each of the N processes gets an equal share, so that N processes do not each start a
    thread per core and fight over them."""
    worker_heartbeat_s: float = 5.0
    """How often a worker renews its lease and looks for jobs of dead workers."""
    worker_lease_s: float = 30.0
    """A worker silent for this long is taken for dead: its running jobs are queued again, so
    they restart within ``worker_lease_s + worker_heartbeat_s`` of its death."""
    log_format: str = "text"
    """``text`` or ``json`` (one JSON object per line, with the job id, for log collectors)."""
    upload_max_mb: float = 200.0
    """Largest upload accepted, in megabytes (10^6 bytes)."""
    upload_max_duration_s: float = 600.0
    """Longest video accepted, in seconds (probed from the content)."""
    upload_max_side: int = 4096
    """Largest accepted width or height of the displayed frame, in pixels (probed)."""
    secret_key: str = ""
    """Signs session cookies (CSRF tokens). Empty: a random key is created once and kept in
    ``<data_dir>/secret_key`` (mode 0600), so nothing secret is ever hard-coded."""
    auth: str = ""
    """``required``: every API call, page and ``/metrics`` needs an API token (``deepfake-detector
    tokens create``); always so when ``host`` is not a loopback address (127.0.0.0/8, ::1,
    localhost). ``optional``: no request needs one (behind a proxy that authenticates people).
    Empty, on a loopback ``host``: requests straight from this machine need none, requests from
    elsewhere (another address, or through a reverse proxy) do. A token that is sent is always
    checked."""
    rate_limit_uploads: str = "30/minute;500/day"
    """Uploads (API and page) per token, or per client address without one, e.g.
    ``10/minute;200/day``; empty: no limit. Counted in Redis when the queue is Redis, else in
    each web process's memory. Requests straight from this machine that need no token are not
    counted."""
    rate_limit_api: str = "600/minute"
    """Requests of any kind (API calls, pages, ``/metrics``; not static files, health or the
    OpenAPI document) per token, or per client address without one; empty: no limit."""
    host: str = "127.0.0.1"
    port: int = 3000
    allowed_hosts: str = ""
    """Host names the server answers to (the ``Host`` header; comma-separated, any port unless
    one is given as ``name:port``, ``.example.com`` for a domain and its subdomains, ``*`` for
    any). Anything else gets 400 ``bad_host``, which stops DNS-rebinding attacks. Empty: the
    loopback names (``127.0.0.1``, ``localhost``, ``[::1]``) when ``host`` is a loopback
    address; with any other ``host`` it must be set, or ``serve`` refuses to start."""
    min_free_mb: float = 500.0
    """Uploads are refused (507) when the storage filesystem would have less than this many
    megabytes (10^6 bytes) free after receiving them."""
    max_connections: int = 64
    """Connections the embedded ``serve`` handles at once (one thread each); more wait in the
    listen backlog."""
    request_timeout_s: float = 30.0
    """The embedded ``serve`` closes a connection that sends or accepts nothing for this long
    (slow or idle clients cannot hold a thread)."""
    web_workers: int = 2
    """gunicorn worker processes in ``serve --production``."""
    heatmaps: bool = True
    """Make Grad-CAM heatmap overlays of the face crops after each analysis (costs ~0.3 s per
    crop on a CPU), after its verdict is recorded."""
    heatmaps_budget: float = 1.0
    """Heatmaps may take this many times the analysis's own time (people take turns, so each
    gets its first ones); 0 means no limit."""
    preview: bool = True
    """Make a browser-playable copy (H.264 + AAC MP4) of each upload browsers cannot play
    (MPEG-4 Part 2, MPEG-2, HEVC, ProRes, AVI, Matroska...) after its verdict is recorded, for
    the page's player."""
    preview_max_side: int = 720
    """Longer side of the playable copies, in pixels (smaller videos keep their size)."""
    preview_max_mb: float = 100.0
    """Largest playable copy, in megabytes: a longer one stops there (the page says so)."""
    preview_budget_s: float = 300.0
    """Seconds making one playable copy may take before it stops where it got to; 0: no limit."""
    job_cpu_budget_s: float = 300.0
    """CPU seconds one analysis may use before it is stopped and failed with a message (a
    pathological file: huge frames, one keyframe for minutes); 0 means no limit."""
    retention_days: float = 0.0
    """Uploads and evidence older than this many days are removed (by the workers, hourly, and
    by ``deepfake-detector cleanup``); 0 keeps them forever."""
    retention_keep_results: bool = True
    """With retention: keep each analysis's result (verdict, scores) after its files are
    removed; false removes the analysis entirely."""
    allowed_models: str = ""
    """Models an API upload may ask for (its ``model`` field), comma-separated names or paths;
    the server's own ``DFD_MODEL`` is always allowed. Empty: only that one."""
    allowed_frames_min: int = 8
    """Smallest ``frames`` an API upload may ask for."""
    allowed_frames_max: int = 0
    """Largest ``frames`` an API upload may ask for; 0 means the analysis's ``max_frames``."""
    idempotency_ttl_s: float = 86400.0
    """How long an ``Idempotency-Key`` is remembered (its first answer replayed) after its first
    use; later it is free again."""
    webhook_hosts: str = ""
    """Hosts an API upload's ``callback_url`` may point at, comma-separated: ``name`` or
    ``name:port`` (https only), or ``http://name[:port]`` to allow plain http to that host (for a
    receiver on the same machine or network). Empty: ``callback_url`` is refused."""
    webhook_secret: str = ""
    """Key of the HMAC-SHA256 signature on every webhook (``X-DFD-Signature``); webhooks are
    refused while it is empty. Web and worker processes need the same value."""
    webhook_retries: int = 5
    """Further tries of a webhook after a connection error, a timeout, 408, 429 or a 5xx."""
    webhook_backoff_s: float = 1.0
    """Wait before the first retry; each later one waits twice as long (1, 2, 4, 8, 16 s)."""
    webhook_timeout_s: float = 10.0
    """Connect and read timeout of one webhook request."""
    environment: str = "production"
    """``production`` or ``development`` (templates reload; still never Flask debug mode)."""

    @property
    def upload_max_bytes(self) -> int:
        return int(self.upload_max_mb * 1_000_000)

    def resolved_storage_dir(self) -> str:
        return self.storage_dir or os.path.join(self.data_dir, "files")

    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return "file://" + os.path.abspath(self.resolved_storage_dir())

    def resolved_queue_url(self) -> str:
        if self.queue_url:
            return self.queue_url
        return "sqlite:///" + os.path.abspath(os.path.join(self.data_dir, "queue.sqlite3"))

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        path = os.path.abspath(os.path.join(self.data_dir, "deepfake-detector.sqlite3"))
        return f"sqlite:///{path}"


def service_settings_from_env(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """Build service settings from ``DFD_<FIELD>`` variables, e.g. ``DFD_UPLOAD_MAX_MB=50``."""
    return _from_env(ServiceSettings, environ)
