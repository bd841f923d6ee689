"""``deepfake-detector submit``: send videos and photos to a running server and collect its results.

The batch runs through the server's queue and workers instead of loading a model here. Each file
is hashed locally first, so that a file whose result is already in ``--output`` is skipped (an
interrupted run resumes where it stopped) and content the server has already analysed is
followed instead of uploaded again. Results are appended as they finish, in ``scan``'s JSON-lines
or CSV form plus the file's ``sha256`` and the server's ``analysis_id``.

Exit status: 0 when every file has a result, 1 when some file was refused, failed or did not
finish in time (the others are still done), 2 for usage errors and a server that cannot be used
(unreachable, not this API, token refused).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import email.utils
import hashlib
import http.client
import json
import mimetypes
import os
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode, urljoin, urlsplit

from deepfake_detector import __version__
from deepfake_detector.analysis.schema import AnalysisResult, Verdict
from deepfake_detector.cli import CSV_FIELDS, expand_inputs, summary_row

EXIT_OK, EXIT_INCOMPLETE, EXIT_UNUSABLE = 0, 1, 2

TOKEN_ENV = "DFD_API_TOKEN"
SUBMIT_CSV_FIELDS = [*CSV_FIELDS, *(k for k in ("sha256", "analysis_id") if k not in CSV_FIELDS)]
API = "/api/v1"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_CHUNK = 1 << 20
_MAX_RETRY_WAIT_S = 60.0
_POLLS_PER_ROUND = 50
"""Jobs are polled in rounds, one round per ``--poll-s``, of at most this many requests (the
longest-unpolled jobs first), so that a large batch does not flood the server."""


class Unusable(Exception):
    """The server cannot be used at all (unreachable, not this API, token refused): the batch
    stops, keeping what it has written."""


class ApiError(Exception):
    """The server refused one request with ``{"error": {...}}``: that file fails, others go on."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Cancelled(Exception):
    """The run was interrupted: background work stops at its next chunk."""


# -- HTTP ---------------------------------------------------------------------------------------


class ApiClient:
    """The server's REST API over ``http.client``, standard library only.

    ``http.client`` rather than ``urllib.request`` because an upload is streamed from disk and a
    server may answer (413) and close before it has read the whole body: ``http.client`` still
    lets us read that answer. Proxy variables are therefore not used. One connection per
    request, so the client is safe to share between threads.
    """

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        timeout_s: float = 60.0,
        retries: int = 5,
        cancel: threading.Event | None = None,
    ) -> None:
        parts = urlsplit(server.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--server must be an http:// or https:// URL, not {server!r}")
        try:
            self.port = parts.port
        except ValueError:
            raise ValueError(f"--server has an invalid port: {server!r}") from None
        self.server = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.scheme, self.host, self.prefix = parts.scheme, parts.hostname, parts.path.rstrip("/")
        self.token, self.timeout_s, self.retries = token, timeout_s, retries
        self.cancel = cancel or threading.Event()

    def url(self, link: str) -> str:
        """An absolute URL for a link the server gave (``/api/v1/...``)."""
        return urljoin(self.server + "/", link)

    def health(self) -> dict[str, Any]:
        """The health document; a degraded server (503) still answers it."""
        status, body = self._exchange("GET", f"{API}/health", retry=False)
        if isinstance(body, dict) and "status" in body and status in (200, 503):
            return body
        raise self._error(status, body)

    def find(self, sha256: str) -> dict[str, Any] | None:
        """The server's newest analysis of this content with its current settings, or ``None``.

        Items are checked against ``file.sha256`` too, so a server that ignores the ``sha256``
        filter (it then lists everything) still gives a right answer, only a less complete one
        (an upload of content it has is de-duplicated there anyway).
        """
        query = urlencode({"sha256": sha256, "settings": "current", "per_page": 100})
        body = self._json("GET", f"{API}/analyses?{query}")
        for item in body.get("items") or []:
            if (item.get("file") or {}).get("sha256") == sha256:
                return dict(item)
        return None

    def get(self, analysis_id: str) -> dict[str, Any]:
        return self._json("GET", f"{API}/analyses/{analysis_id}")

    def upload(self, path: Path, fields: dict[str, str] | None = None) -> dict[str, Any]:
        """``POST /analyses`` with the file streamed in chunks as multipart field ``file``, after
        ``fields`` (the upload's options: ``frames``, ``model``)."""
        boundary = f"dfd-{uuid.uuid4().hex}"
        name = path.name.replace('"', "%22").replace("\r", "").replace("\n", "")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        options = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
            for key, value in (fields or {}).items()
        )
        head = (
            options.encode()
            + (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: {kind}\r\n\r\n"
            ).encode()
        )
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = path.stat().st_size

        def body() -> Iterator[bytes]:
            yield head
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk
            yield tail

        return self._json(
            "POST",
            f"{API}/analyses",
            body=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
            },
        )

    # -- plumbing --

    def _json(
        self,
        method: str,
        path: str,
        body: Callable[[], Iterator[bytes]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        status, answer = self._exchange(method, path, body=body, headers=headers)
        if 200 <= status < 300 and isinstance(answer, dict):
            return answer
        raise self._error(status, answer)

    def _error(self, status: int, body: Any) -> Exception:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("message"):
            code, message = str(error.get("code") or "error"), str(error["message"])
        elif 200 <= status < 300:
            return Unusable(f"{self.server} did not answer as a deepfake-detector server does")
        else:
            code, message = "http_error", f"the server answered HTTP {status}"
        if status == 401:
            return Unusable(
                f"{self.server} refused the token ({message}); set --token or {TOKEN_ENV}"
            )
        if status == 404 and code != "not_found":
            return Unusable(f"{self.server} has no deepfake-detector API at {API} (HTTP 404)")
        return ApiError(status, code, message)

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout_s, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        body: Callable[[], Iterator[bytes]] | None = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
    ) -> tuple[int, Any]:
        """Send one request; retry on 429/502/503/504 (honouring ``Retry-After``) and, for
        requests without a body, on a dropped connection. Returns ``(status, parsed JSON or
        None)``."""
        all_headers = {
            "Accept": "application/json",
            "User-Agent": f"deepfake-detector/{__version__} submit",
            **({"Authorization": f"Bearer {self.token}"} if self.token else {}),
            **(headers or {}),
        }
        attempt = 0
        while True:
            if self.cancel.is_set():
                raise Cancelled
            conn = self._connection()
            try:
                try:
                    conn.connect()
                except OSError as exc:
                    raise Unusable(f"cannot reach {self.server}: {_reason(exc)}") from None
                try:
                    status, raw, retry_after = self._send(conn, method, path, all_headers, body)
                except (OSError, http.client.HTTPException) as exc:
                    if body is not None:  # an upload: that file fails, the batch goes on
                        raise ApiError(
                            0, "connection_lost", f"the upload was cut off ({_reason(exc)})"
                        ) from None
                    if not retry or attempt >= self.retries:
                        raise Unusable(
                            f"lost the connection to {self.server}: {_reason(exc)}"
                        ) from None
                    self._pause(_retry_after(None, attempt))
                    attempt += 1
                    continue
            finally:
                conn.close()
            if status in RETRY_STATUSES and retry and attempt < self.retries:
                self._pause(_retry_after(retry_after, attempt))
                attempt += 1
                continue
            try:
                return status, json.loads(raw) if raw else None
            except ValueError:
                return status, None

    def _send(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Callable[[], Iterator[bytes]] | None,
    ) -> tuple[int, bytes, str | None]:
        conn.putrequest(method, self.prefix + path, skip_accept_encoding=True)
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.endheaders()
        if body is not None:
            try:
                for chunk in body():
                    if self.cancel.is_set():
                        raise Cancelled
                    conn.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early (e.g. 413) and closed: its answer is below
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Retry-After")

    def _pause(self, seconds: float) -> None:
        if self.cancel.wait(seconds):
            raise Cancelled


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)


def _retry_after(header: str | None, attempt: int) -> float:
    """Seconds to wait: the server's ``Retry-After`` (seconds or a date), else 1, 2, 4... s."""
    fallback = min(_MAX_RETRY_WAIT_S, 2.0**attempt)
    if not header:
        return fallback
    try:
        return max(0.0, min(_MAX_RETRY_WAIT_S, float(header)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return fallback
    return max(0.0, min(_MAX_RETRY_WAIT_S, when.timestamp() - time.time()))


def file_sha256(path: Path, cancel: threading.Event | None = None) -> str:
    """The file's sha256, read in chunks (videos can be larger than memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            digest.update(chunk)
    return digest.hexdigest()


# -- output -------------------------------------------------------------------------------------


class OutputError(Exception):
    """``--output`` exists but is not something ``submit`` can resume from."""


def finished_hashes(path: Path, fmt: str) -> set[str]:
    """sha256 of every file that already has a finished result (not ERROR) in ``path``."""
    if not path.exists() or path.stat().st_size == 0:
        return set()
    done: set[str] = set()
    with open(path, newline="" if fmt == "csv" else None, encoding="utf-8") as f:
        if fmt == "csv":
            reader = csv.DictReader(f)
            if reader.fieldnames != SUBMIT_CSV_FIELDS:
                raise OutputError(f"{path} has other columns than submit writes")
            records: Iterator[dict[str, Any]] = iter(reader)
        else:
            records = _json_records(f, path)
        for record in records:
            sha = record.get("sha256")
            if isinstance(sha, str) and sha and record.get("verdict") not in (None, "", "ERROR"):
                done.add(sha)
    return done


def _json_records(lines: TextIO, path: Path) -> Iterator[dict[str, Any]]:
    """Objects from JSON lines; a broken line (a run killed mid-write) is skipped, but a file
    that does not start like an object (a CSV, a table) is refused rather than appended to."""
    first = True
    for line in lines:
        if not line.strip():
            continue
        if first and not line.lstrip().startswith("{"):
            raise OutputError(f"{path} is not a JSON-lines file written by submit")
        first = False
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                yield record


class ResultWriter:
    """Appends one record per finished file, flushed at once, so an interrupted run keeps it."""

    def __init__(self, fmt: str, stream: TextIO, *, header: bool) -> None:
        self.fmt, self.stream = fmt, stream
        self._csv: csv.DictWriter[str] | None = None
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, fieldnames=SUBMIT_CSV_FIELDS)
            if header:
                self._csv.writeheader()
                stream.flush()

    def add(self, result: dict[str, Any], sha256: str | None, extra: dict[str, Any]) -> None:
        if self._csv is not None:
            ids = {"sha256": sha256 or "", "analysis_id": extra.get("analysis_id") or ""}
            self._csv.writerow(summary_row(result) | ids)
        else:
            record = {**result, "sha256": sha256, **extra}
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.stream.flush()


@contextlib.contextmanager
def _open_output(path: Path | None, fmt: str) -> Iterator[ResultWriter]:
    if path is None:
        yield ResultWriter(fmt, sys.stdout, header=True)
        return
    fresh = not path.exists() or path.stat().st_size == 0
    if not fresh:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            cut_short = f.read(1) != b"\n"
    with open(path, "a", encoding="utf-8", newline="" if fmt == "csv" else None) as stream:
        if not fresh and cut_short:
            stream.write("\n")  # a run killed mid-line: start on a line of our own
        yield ResultWriter(fmt, stream, header=fresh)


# -- the batch ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitOptions:
    server: str
    token: str | None = None
    poll_s: float = 1.0
    timeout_s: float | None = None
    parallel: int = 2
    progress: bool = False
    frames: int | None = None
    """Ask the server for this many frames per video (within its ``DFD_ALLOWED_FRAMES_*``)."""
    model: str | None = None
    """Ask the server for this model (one of its ``DFD_ALLOWED_MODELS``)."""

    def fields(self) -> dict[str, str]:
        """The upload's option fields (none: the server's own settings)."""
        chosen = {"frames": self.frames, "model": self.model}
        return {name: str(value) for name, value in chosen.items() if value is not None}


@dataclass
class _Started:
    """What a background task found out about one file."""

    path: Path
    sha256: str | None = None
    skipped: bool = False
    uploaded: bool = False
    analysis: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class _Waiting:
    path: Path
    sha256: str
    analysis_id: str
    polled_at: float = float("-inf")


@dataclass
class _Tally:
    uploaded: int = 0
    reused: int = 0
    skipped: int = 0
    failed: int = 0
    unfinished: int = 0

    def postfix(self) -> str:
        return f"uploaded={self.uploaded} reused={self.reused} failed={self.failed}"


class _Batch:
    """One ``submit`` run: uploads in a thread pool, all polling in the calling thread."""

    def __init__(
        self,
        client: ApiClient,
        options: SubmitOptions,
        writer: ResultWriter,
        done: set[str],
        bar: Any,
    ) -> None:
        self.client = client
        self.options = options
        self.writer = writer
        self.done = done
        self.bar = bar
        self.tally = _Tally()
        self.waiting: list[_Waiting] = []
        self._round_at = float("-inf")

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def start(self, path: Path) -> _Started:
        """Hash, skip, reuse or upload one file (runs in a pool thread)."""
        try:
            sha = file_sha256(path, self.client.cancel)
        except FileNotFoundError:
            return _Started(path, error="no such file")
        except OSError as exc:
            return _Started(path, error=f"cannot read it ({_reason(exc)})")
        if sha in self.done:
            return _Started(path, sha, skipped=True)
        fields = self.options.fields()
        try:
            # With options, the server's "current settings" are not the ones asked for: upload
            # (the server still answers with its analysis of this content and these options).
            found = None if fields else self.client.find(sha)
            if found is not None and found.get("status") != "failed":
                return _Started(path, sha, analysis=found)
            # Uploading again is what retries a failed analysis on the server.
            return _Started(path, sha, uploaded=True, analysis=self.client.upload(path, fields))
        except ApiError as exc:
            return _Started(path, sha, error=exc.message)

    def run(self, paths: list[Path]) -> None:
        timeout_s = self.options.timeout_s
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pool = ThreadPoolExecutor(self.options.parallel, thread_name_prefix="dfd-submit")
        futures: set[Future[_Started]] = set()
        try:
            futures = {pool.submit(self.start, p) for p in paths}
            while futures or self.waiting:
                if deadline is not None and time.monotonic() >= deadline:
                    self.tally.unfinished = len(futures) + len(self.waiting)
                    break
                if futures:
                    finished, futures = wait(
                        futures, timeout=self._next_poll_in(deadline), return_when=FIRST_COMPLETED
                    )
                    for future in finished:
                        self._started(future.result())
                else:
                    time.sleep(self._next_poll_in(deadline))
                self._poll()
        finally:
            self.client.cancel.set()  # stops uploads still running (timeout, Ctrl-C, errors)
            pool.shutdown(wait=True, cancel_futures=True)

    def _next_poll_in(self, deadline: float | None) -> float:
        now = time.monotonic()
        wait_s = max(0.0, self._round_at + self.options.poll_s - now)
        if deadline is not None:
            wait_s = min(wait_s, max(0.0, deadline - now))
        return wait_s

    def _started(self, started: _Started) -> None:
        if started.skipped:
            self.tally.skipped += 1
            self._advance()
            return
        if started.error is not None or started.analysis is None:
            self._failed(started.path, started.sha256, started.error or "no answer", None)
            return
        analysis = started.analysis
        waiting = _Waiting(started.path, started.sha256 or "", str(analysis["id"]))
        if started.uploaded:
            self.tally.uploaded += 1
        else:
            self.tally.reused += 1
        if analysis.get("status") in ("done", "failed") and "result" in analysis:
            self._finished(waiting, analysis)  # the upload's answer is already complete
            return
        if started.uploaded:
            waiting.polled_at = self._round_at  # just queued: first asked at the next round
        self.waiting.append(waiting)

    def _poll(self) -> None:
        now = time.monotonic()
        if now - self._round_at < self.options.poll_s:
            return
        self._round_at = now
        due = sorted(
            (w for w in self.waiting if now - w.polled_at >= self.options.poll_s),
            key=lambda w: w.polled_at,
        )[:_POLLS_PER_ROUND]
        for waiting in due:
            waiting.polled_at = now
            try:
                analysis = self.client.get(waiting.analysis_id)
            except ApiError as exc:
                self.waiting.remove(waiting)
                message = (
                    "the analysis was deleted on the server" if exc.status == 404 else exc.message
                )
                self._failed(waiting.path, waiting.sha256, message, waiting.analysis_id)
                continue
            if analysis.get("status") in ("done", "failed"):
                self.waiting.remove(waiting)
                self._finished(waiting, analysis)

    def _finished(self, waiting: _Waiting, analysis: dict[str, Any]) -> None:
        result = analysis.get("result")
        sha = (analysis.get("file") or {}).get("sha256") or waiting.sha256
        if analysis.get("status") != "done" or not isinstance(result, dict):
            message = analysis.get("error") or "the analysis failed"
            self._failed(waiting.path, sha, str(message), waiting.analysis_id, analysis)
            return
        self.writer.add(
            {**result, "path": str(waiting.path)}, sha, self._extra(waiting.analysis_id, analysis)
        )
        self._advance()

    def _failed(
        self,
        path: Path,
        sha256: str | None,
        message: str,
        analysis_id: str | None,
        analysis: dict[str, Any] | None = None,
    ) -> None:
        """Written like ``scan`` writes a file it could not analyse (verdict ERROR), but not
        counted as finished: the next run with the same output tries it again."""
        self.say(f"{path}: {message}")
        result = (analysis or {}).get("result")
        if not isinstance(result, dict):
            result = AnalysisResult(path=str(path), verdict=Verdict.ERROR, error=message).to_dict()
        record = {**result, "path": str(path), "verdict": Verdict.ERROR.value, "error": message}
        self.writer.add(record, sha256, self._extra(analysis_id, analysis))
        self.tally.failed += 1
        self._advance()

    def _extra(self, analysis_id: str | None, analysis: dict[str, Any] | None) -> dict[str, Any]:
        links = (analysis or {}).get("links") or {}
        wanted = ("self", "page", "report")
        return {
            "analysis_id": analysis_id,
            "links": {k: self.client.url(links[k]) for k in wanted if links.get(k)},
        }

    def _advance(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self.tally.postfix(), refresh=False)
            self.bar.update(1)


def submit(paths: list[Path], options: SubmitOptions, output: Path | None, fmt: str) -> int:
    """Send ``paths`` to the server and write a result per file; returns the exit status."""
    try:
        done = finished_hashes(output, fmt) if output is not None else set()
    except (OutputError, OSError, UnicodeDecodeError) as exc:
        print(f"deepfake-detector: cannot resume from --output: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        client = ApiClient(options.server, options.token)
    except ValueError as exc:
        print(f"deepfake-detector: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        health = client.health()
    except (Unusable, ApiError) as exc:
        print(f"deepfake-detector: {_unusable_message(exc, client)}", file=sys.stderr)
        return EXIT_UNUSABLE
    if not health.get("workers"):
        print(
            "deepfake-detector: warning: the server reports no running worker; analyses wait "
            "in its queue until one starts",
            file=sys.stderr,
        )
    bar = _progress_bar(len(paths), options.progress)
    try:
        with _open_output(output, fmt) as writer:
            batch = _Batch(client, options, writer, done, bar)
            try:
                batch.run(paths)
            except Unusable as exc:
                print(f"deepfake-detector: {exc}", file=sys.stderr)
                return EXIT_UNUSABLE
    except OSError as exc:
        print(f"deepfake-detector: cannot write {output}: {_reason(exc)}", file=sys.stderr)
        return EXIT_UNUSABLE
    finally:
        if bar is not None:
            bar.close()
    tally = batch.tally
    where = f" in {output.name}" if output is not None else ""
    print(
        f"deepfake-detector: {_files(len(paths))}: {tally.uploaded} uploaded, {tally.reused} "
        f"reused from the server, {tally.skipped} already{where}, {tally.failed} failed",
        file=sys.stderr,
    )
    if tally.unfinished:
        print(
            f"deepfake-detector: stopped waiting after {options.timeout_s:g} s with "
            f"{_files(tally.unfinished)} unfinished; their analyses go on on the server: run "
            "again to collect them",
            file=sys.stderr,
        )
    return EXIT_INCOMPLETE if tally.failed or tally.unfinished else EXIT_OK


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _unusable_message(exc: Exception, client: ApiClient) -> str:
    if isinstance(exc, ApiError):
        return f"{client.server} answered HTTP {exc.status}: {exc.message}"
    return str(exc)


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=sys.stderr, dynamic_ncols=True, leave=False)


# -- command line -------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _parallel(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError("must be between 1 and 16")
    return value


def add_submit_parser(sub: Any) -> None:
    """Wire ``submit`` into the main parser (``cli.build_parser`` calls this)."""
    p = sub.add_parser(
        "submit",
        help="send videos and photos to a running server and collect its results",
        description=(
            "Upload videos and photos to a deepfake-detector server, wait for its analyses and "
            "write the results as scan does. Files already finished in --output are skipped; "
            "content the server has analysed is not uploaded again. Exit status: 0 every file "
            "has a result, 1 some were refused or failed, 2 usage or connection error."
        ),
    )
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="video or photo files, folders or globs"
    )
    p.add_argument("--server", required=True, metavar="URL", help="e.g. http://127.0.0.1:8000")
    p.add_argument("--token", help=f"API token sent as a Bearer token (default: ${TOKEN_ENV})")
    p.add_argument(
        "--output", metavar="FILE", help="append results here and resume from it (default stdout)"
    )
    p.add_argument(
        "--format", choices=["json", "csv"], help="json lines (default) or csv (default for .csv)"
    )
    p.add_argument("--poll-s", type=_positive_float, default=1.0, help="seconds between polls")
    p.add_argument(
        "--timeout-s", type=_positive_float, help="stop waiting for results after this long"
    )
    p.add_argument("--parallel", type=_parallel, default=2, help="uploads at a time (default 2)")
    p.add_argument(
        "--frames",
        type=int,
        metavar="N",
        help="ask for N frames per video instead of the server's default (the server allows a "
        "range: DFD_ALLOWED_FRAMES_MIN..MAX)",
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        help="ask for this model instead of the server's default (one of its DFD_ALLOWED_MODELS)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=submit_command)


def submit_command(args: argparse.Namespace) -> int:
    paths = list(expand_inputs(args.paths))
    if not paths:
        print(
            "deepfake-detector: no video or photo files found in the given paths", file=sys.stderr
        )
        return EXIT_UNUSABLE
    output = Path(args.output) if args.output else None
    fmt = args.format or ("csv" if output is not None and output.suffix == ".csv" else "json")
    options = SubmitOptions(
        server=args.server,
        token=args.token or os.environ.get(TOKEN_ENV) or None,
        poll_s=args.poll_s,
        timeout_s=args.timeout_s,
        parallel=args.parallel,
        progress=not args.no_progress and sys.stderr.isatty(),
        frames=args.frames,
        model=args.model,
    )
    return submit(paths, options, output, fmt)
