"""``deepfake-detector serve`` and ``deepfake-detector worker``.

- ``serve`` (the embedded default): one process, nothing else to install. Werkzeug's threaded
  HTTP server (never in debug mode) plus a job consumer thread, on SQLite and local files. Made
  for one machine and a handful of users, bound to 127.0.0.1 unless told otherwise.
- ``serve --production``: gunicorn (``gthread`` workers) for the web, plus one ``worker`` child
  process that runs the jobs (restarted if it dies). Web workers never load the model.
- ``worker``: only the job consumer, for a separate process or machine sharing the queue.

The lead's ``cli.py`` wires these in with ``add_serve_parser(subparsers)``; the module also runs
alone: ``python -m deepfake_detector.service.cli_serve serve``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from deepfake_detector.config import (
    ServiceSettings,
    SettingsError,
    service_settings_from_env,
    settings_from_env,
)
from deepfake_detector.hostinfo import equal_share, share_cores, usable_cores
from deepfake_detector.service.supervisor import Supervisor

log = logging.getLogger("deepfake_detector.service")

PRIVATE_UMASK = 0o077
"""Every command creates its files (database, queue, uploads, evidence) readable by its own
user only: 0600 files, 0700 folders."""
SERVER_HEADER = "deepfake-detector"
"""The ``Server`` header of both HTTP servers: no program versions for an attacker to match."""


def add_serve_parser(subparsers: Any) -> None:
    """Add the ``serve`` and ``worker`` subcommands (each sets ``handler``)."""
    p = subparsers.add_parser(
        "serve",
        help="run the web application and its job worker (http://127.0.0.1:3000)",
        description="Run the web application with a job worker, on SQLite and local files "
        "(DFD_* environment variables configure it; see docs/web.md).",
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1, DFD_HOST)")
    p.add_argument("--port", type=int, help="port to listen on (default 3000, DFD_PORT)")
    p.add_argument("--data-dir", help="folder for the database, queue and files (DFD_DATA_DIR)")
    p.add_argument(
        "--production",
        action="store_true",
        help="serve with gunicorn and run jobs in a separate worker process",
    )
    p.add_argument(
        "--web-workers", type=int, help="gunicorn worker processes (--production; default 2)"
    )
    p.add_argument("--no-worker", action="store_true", help="do not run jobs in this installation")
    p.set_defaults(handler=run_serve)

    w = subparsers.add_parser(
        "worker",
        help="run analysis jobs from the queue (no web server)",
        description="Consume analysis jobs; SIGINT finishes the running job first, SIGTERM stops "
        "at once (an interrupted job is queued again at the next start).",
    )
    w.add_argument("--data-dir", help="folder for the database, queue and files (DFD_DATA_DIR)")
    w.add_argument(
        "--concurrency",
        type=int,
        help="job processes on this machine, each with its own model (default 1, "
        "DFD_WORKER_CONCURRENCY)",
    )
    w.add_argument(
        "--cores",
        type=int,
        help="cores the thread pools of each job process use (default 0: all, or an equal share "
        "of them under --concurrency; DFD_WORKER_CORES)",
    )
    w.add_argument(
        "--job-threads",
        type=int,
        help="jobs each process runs at once, sharing its model; their face clips are scored "
        "in common batches: for a GPU (default 1, DFD_WORKER_JOB_THREADS)",
    )
    w.set_defaults(handler=run_worker)

    d = subparsers.add_parser(
        "db",
        help="database schema: upgrade it, or show its revision",
        description="Migrate the service database (DFD_DATABASE_URL, default the SQLite file in "
        "DFD_DATA_DIR) with its Alembic migrations. Run `db upgrade` once after installing a new "
        "release when the database is shared (PostgreSQL); the embedded `serve` does it itself.",
    )
    d.add_argument(
        "action",
        choices=["upgrade", "current"],
        help="upgrade to the newest schema, or print the current revision",
    )
    d.add_argument("--data-dir", help="folder for the embedded database (DFD_DATA_DIR)")
    d.set_defaults(handler=run_db)

    c = subparsers.add_parser(
        "cleanup",
        help="remove uploads and evidence older than the retention period",
        description="Remove the uploaded videos and evidence of analyses finished more than "
        "--days days ago (default DFD_RETENTION_DAYS); results are kept unless "
        "DFD_RETENTION_KEEP_RESULTS=false. Workers also do this every hour.",
    )
    c.add_argument("--days", type=float, help="retention in days (default DFD_RETENTION_DAYS)")
    c.add_argument("--dry-run", action="store_true", help="only count what would be removed")
    c.add_argument("--data-dir", help="folder for the embedded database (DFD_DATA_DIR)")
    c.set_defaults(handler=run_cleanup)


def _apply_overrides(args: argparse.Namespace) -> ServiceSettings:
    """Flags win over the environment; they are written back to it so that child processes
    (gunicorn workers, the job worker) see the same settings. Every command starts here, so
    this is also where the process's umask is set (its children inherit it)."""
    os.umask(PRIVATE_UMASK)
    for flag, name in (
        ("host", "HOST"),
        ("port", "PORT"),
        ("data_dir", "DATA_DIR"),
        ("concurrency", "WORKER_CONCURRENCY"),
        ("job_threads", "WORKER_JOB_THREADS"),
        ("cores", "WORKER_CORES"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[f"DFD_{name}"] = str(value)
    if getattr(args, "web_workers", None) is not None:
        os.environ["DFD_WEB_WORKERS"] = str(args.web_workers)
    # Make relative paths absolute once, so children started elsewhere agree.
    settings = service_settings_from_env()
    os.environ["DFD_DATA_DIR"] = str(Path(settings.data_dir).resolve())
    return service_settings_from_env()


def _show_info(settings: ServiceSettings) -> None:
    from deepfake_detector.service.logs import configure_logging

    configure_logging(settings.log_format)


def _prepare(settings: ServiceSettings) -> None:
    """Migrate the database and create the secret key once, before any child process races."""
    from deepfake_detector.service.blobs import make_blob_store
    from deepfake_detector.service.db import make_engine, upgrade
    from deepfake_detector.service.security import load_secret_key

    load_secret_key(settings.secret_key, settings.data_dir)
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    swept = make_blob_store(settings.resolved_storage_url()).sweep_staging()
    if swept:
        log.info("removed %d upload(s) left half-received by a process that died", swept)


def run_serve(args: argparse.Namespace) -> int:
    """Run the web application (and, unless ``--no-worker``, the job worker)."""
    from deepfake_detector.service import limits
    from deepfake_detector.service.auth import auth_mode
    from deepfake_detector.service.security import allowed_hosts

    settings = _apply_overrides(args)
    _show_info(settings)
    # Settings that can never work raise SettingsError before anything starts (said by main).
    allowed_hosts(settings)
    auth_mode(settings)
    limits.check_settings(settings)
    try:  # unreachable database, full or read-only disk: one line, no traceback
        _prepare(settings)
    except Exception as exc:
        print(f"serve: cannot start: {_one_line(exc)}", file=sys.stderr)
        return 1
    if args.production:
        return _serve_production(settings, with_worker=not args.no_worker)
    return _serve_embedded(settings, with_worker=not args.no_worker)


def _embedded_server(settings: ServiceSettings, app: Any) -> Any:
    """Werkzeug's threaded server with at most ``DFD_MAX_CONNECTIONS`` connections (threads)
    at once, each closed after ``DFD_REQUEST_TIMEOUT_S`` without traffic, and a ``Server``
    header without versions. Werkzeug's own starts a thread per connection, without bound."""
    import threading

    from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        server_version = SERVER_HEADER  # type: ignore[assignment]  # Werkzeug's is a property
        timeout = settings.request_timeout_s  # the socket's: idle readers and writers end

        def version_string(self) -> str:  # the Server header (no "Python/x.y" after it)
            return SERVER_HEADER

    class BoundedServer(ThreadedWSGIServer):
        def __init__(self) -> None:
            self.slots = threading.BoundedSemaphore(max(1, settings.max_connections))
            self.stopping = threading.Event()
            super().__init__(settings.host, settings.port, app, Handler)

        def shutdown(self) -> None:
            self.stopping.set()  # a request waiting for a slot gives up
            super().shutdown()

        def process_request(self, request: Any, client_address: Any) -> None:
            # Wait for a free slot before starting a thread: meanwhile new connections wait in
            # the kernel's listen backlog instead of each getting a thread.
            while not self.slots.acquire(timeout=0.5):
                if self.stopping.is_set():
                    self.shutdown_request(request)
                    return
            try:
                super().process_request(request, client_address)
            except BaseException:
                self.slots.release()
                raise

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                self.slots.release()

    return BoundedServer()


def _serve_embedded(settings: ServiceSettings, *, with_worker: bool) -> int:
    from deepfake_detector.service.app import create_app
    from deepfake_detector.service.context import EXTENSION_KEY
    from deepfake_detector.service.worker import start_worker

    app = create_app(settings, migrate=False)  # migrated by _prepare
    ctx = app.extensions[EXTENSION_KEY]
    server = _embedded_server(settings, app)
    handle = None
    if with_worker:
        handle = start_worker(ctx.backends, ctx.analysis_settings, settings, embedded=True)

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    log.info("serving on http://%s:%d (data in %s)", settings.host, server.port, settings.data_dir)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        if handle is not None:
            handle.stop(graceful=False)
    return 0


def _plain_gunicorn_server_header() -> None:
    """gunicorn writes ``Server: gunicorn`` itself (an app's own ``Server`` header would be a
    second one); the name it writes is a module global, read by each response."""
    import gunicorn.http.wsgi

    gunicorn.http.wsgi.SERVER = SERVER_HEADER  # type: ignore[attr-defined]


def _serve_production(settings: ServiceSettings, *, with_worker: bool) -> int:
    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": max(1, settings.web_workers),
                "worker_class": "gthread",
                "threads": 4,
                "timeout": 120,
                "graceful_timeout": 20,
                "accesslog": "-",
                "proc_name": "deepfake-detector",
                # No control socket in ~/.gunicorn: several servers on one machine would share it.
                "control_socket_disable": True,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from deepfake_detector.service.app import create_app

            return create_app(migrate=False)  # migrated once by _prepare

    if with_worker and settings.worker_concurrency > 1:
        _share_cores_among(settings.worker_concurrency, settings.worker_cores)
    supervisor = (
        Supervisor(_worker_command(1), settings.worker_concurrency) if with_worker else None
    )
    if supervisor is not None:
        supervisor.start()
    _plain_gunicorn_server_header()
    log.info("serving with gunicorn on http://%s:%d", settings.host, settings.port)
    try:
        Gunicorn().run()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0


def _worker_command(concurrency: int) -> list[str]:
    module = "deepfake_detector.service.cli_serve"
    return [sys.executable, "-m", module, "worker", "--concurrency", str(concurrency)]


def _share_cores_among(processes: int, cores: int) -> int:
    """Before ``processes`` job processes start: the cores each one's thread pools use (``cores``
    where set, else an equal share of this machine's), in the environment they inherit."""
    share = cores if cores > 0 else equal_share(processes)
    os.environ["DFD_WORKER_CORES"] = str(share)
    return share


def run_worker(args: argparse.Namespace) -> int:
    """Consume jobs until stopped (SIGINT: after the running job; SIGTERM: at once). With
    ``--concurrency N`` above 1, supervise N single worker processes instead."""
    from deepfake_detector.service.backends import connect
    from deepfake_detector.service.db import current_revision, head_revision, upgrade
    from deepfake_detector.service.queue import redact
    from deepfake_detector.service.worker import run_worker_forever, start_worker

    settings = _apply_overrides(args)
    _show_info(settings)
    if settings.worker_concurrency < 1 or settings.worker_job_threads < 1:
        print("worker: --concurrency and --job-threads must be at least 1", file=sys.stderr)
        return 2
    if settings.worker_cores < 0:
        print("worker: --cores must be 0 (all) or more", file=sys.stderr)
        return 2
    if settings.worker_concurrency > 1:
        return _supervise_workers(settings)
    if settings.worker_cores:
        share_cores(settings.worker_cores)
    try:  # unreachable database or queue, full or read-only disk: one line, no traceback
        backends = connect(settings)
        embedded_database = not settings.database_url
        if embedded_database:  # one machine, nothing shared: migrate as serve would
            upgrade(backends.jobs.engine)
        elif current_revision(backends.jobs.engine) != head_revision():
            print(
                "worker: the database schema is not up to date; run `deepfake-detector db "
                "upgrade` once (with the same DFD_DATABASE_URL) and start the worker again",
                file=sys.stderr,
            )
            return 2
        handle = start_worker(backends, settings_from_env(), settings, embedded=False)
    except SettingsError:
        raise  # said in one line by main, as for every command
    except Exception as exc:
        print(f"worker: cannot start: {_one_line(exc)}", file=sys.stderr)
        return 1
    log.info(
        "job worker %s running (queue %s, %d cores)",
        handle.token,
        redact(backends.queue.url),
        usable_cores(),
    )
    run_worker_forever(handle)
    return 0


def _supervise_workers(settings: ServiceSettings) -> int:

    cores = _share_cores_among(settings.worker_concurrency, settings.worker_cores)
    supervisor = Supervisor(_worker_command(1), settings.worker_concurrency)

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    supervisor.start()
    log.info("supervising %d job workers, %d cores each", settings.worker_concurrency, cores)
    try:
        supervisor.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        supervisor.stop()
    return 0


def run_db(args: argparse.Namespace) -> int:
    """``db upgrade`` / ``db current``."""
    from deepfake_detector.service.db import current_revision, head_revision, make_engine, upgrade

    settings = _apply_overrides(args)
    _show_info(settings)
    engine = None
    try:
        engine = make_engine(settings.resolved_database_url())  # a malformed URL raises here
        if args.action == "upgrade":
            before = current_revision(engine)
            upgrade(engine)
            print(f"database at revision {current_revision(engine)} (was {before or 'empty'})")
        else:
            revision = current_revision(engine)
            state = "up to date" if revision == head_revision() else f"head is {head_revision()}"
            print(f"{revision or 'empty'} ({state})")
    except Exception as exc:  # unreachable server, bad URL, permission: one clear line
        print(f"db {args.action}: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        if engine is not None:
            engine.dispose()
    return 0


def _one_line(exc: Exception) -> str:
    """The error on one line: the driver's own message (SQLAlchemy wraps it with the statement
    and a "Background on this error" link on further lines), its lines joined."""
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {' '.join(str(cause).split())}"


def run_cleanup(args: argparse.Namespace) -> int:
    """``cleanup``: apply the retention period now."""
    from deepfake_detector.service.backends import connect
    from deepfake_detector.service.retention import cleanup

    settings = _apply_overrides(args)
    _show_info(settings)
    days = settings.retention_days if args.days is None else args.days
    if days <= 0:
        print("cleanup: no retention period (set --days or DFD_RETENTION_DAYS)", file=sys.stderr)
        return 2
    try:
        backends = connect(settings, migrate=not settings.database_url)
    except Exception as exc:
        print(f"cleanup: {_one_line(exc)}", file=sys.stderr)
        return 1
    try:
        report = cleanup(
            backends, days, keep_results=settings.retention_keep_results, dry_run=args.dry_run
        )
    finally:
        backends.close()
    verb = "would remove" if args.dry_run else "removed"
    kept = "results kept" if settings.retention_keep_results else "results removed too"
    print(
        f"{verb} the files of {report.analyses} analyses and {report.videos} videos finished "
        f"more than {days:g} days ago ({kept})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m deepfake_detector.service.cli_serve``)."""
    parser = argparse.ArgumentParser(prog="deepfake-detector")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except SettingsError as exc:
        print(f"deepfake-detector: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
