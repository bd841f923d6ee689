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
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from deepfake_detector.config import ServiceSettings, service_settings_from_env, settings_from_env

log = logging.getLogger("deepfake_detector.service")


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
    w.set_defaults(handler=run_worker)


def _apply_overrides(args: argparse.Namespace) -> ServiceSettings:
    """Flags win over the environment; they are written back to it so that child processes
    (gunicorn workers, the job worker) see the same settings."""
    for flag, name in (("host", "HOST"), ("port", "PORT"), ("data_dir", "DATA_DIR")):
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[f"DFD_{name}"] = str(value)
    if getattr(args, "web_workers", None) is not None:
        os.environ["DFD_WEB_WORKERS"] = str(args.web_workers)
    # Make relative paths absolute once, so children started elsewhere agree.
    settings = service_settings_from_env()
    os.environ["DFD_DATA_DIR"] = str(Path(settings.data_dir).resolve())
    return service_settings_from_env()


def _show_info() -> None:
    package = logging.getLogger("deepfake_detector")
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")


def _prepare(settings: ServiceSettings) -> None:
    """Create the database tables and the secret key once, before any child process races."""
    from deepfake_detector.service.security import load_secret_key
    from deepfake_detector.service.storage import Store

    load_secret_key(settings.secret_key, settings.data_dir)
    store = Store(settings.resolved_database_url(), settings.resolved_storage_dir())
    store.engine.dispose()


def run_serve(args: argparse.Namespace) -> int:
    """Run the web application (and, unless ``--no-worker``, the job worker)."""
    settings = _apply_overrides(args)
    _show_info()
    _prepare(settings)
    if args.production:
        return _serve_production(settings, with_worker=not args.no_worker)
    return _serve_embedded(settings, with_worker=not args.no_worker)


def _serve_embedded(settings: ServiceSettings, *, with_worker: bool) -> int:
    from werkzeug.serving import make_server

    from deepfake_detector.service.app import create_app
    from deepfake_detector.service.context import EXTENSION_KEY
    from deepfake_detector.service.jobs import start_worker

    app = create_app(settings)
    ctx = app.extensions[EXTENSION_KEY]
    server = make_server(settings.host, settings.port, app, threaded=True)
    handle = None
    if with_worker:
        handle = start_worker(
            ctx.store,
            ctx.queue,
            ctx.analysis_settings,
            embedded=True,
            make_heatmaps=settings.heatmaps,
        )

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


class _Supervisor:
    """Keeps one ``worker`` child process running beside gunicorn."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "deepfake_detector.service.cli_serve", "worker"]
        self.process = subprocess.Popen(command, env=os.environ.copy())
        log.info("job worker started (pid %d)", self.process.pid)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            if self.process is not None and self.process.poll() is not None:
                log.warning("job worker exited with %s; restarting it", self.process.returncode)
                time.sleep(1.0)
                if not self._stopping.is_set():
                    self._spawn()

    def stop(self, timeout: float = 20.0) -> None:
        self._stopping.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # finish the running job if it is quick
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()


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

            return create_app()

    supervisor = _Supervisor() if with_worker else None
    if supervisor is not None:
        supervisor.start()
    log.info("serving with gunicorn on http://%s:%d", settings.host, settings.port)
    try:
        Gunicorn().run()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0


def run_worker(args: argparse.Namespace) -> int:
    """Consume jobs until stopped (SIGINT: after the running job; SIGTERM: at once)."""
    from deepfake_detector.service.jobs import JobQueue, run_worker_forever, start_worker
    from deepfake_detector.service.storage import Store

    settings = _apply_overrides(args)
    _show_info()
    store = Store(settings.resolved_database_url(), settings.resolved_storage_dir())
    queue = JobQueue(settings)
    handle = start_worker(
        store,
        queue,
        settings_from_env(),
        embedded=False,
        make_heatmaps=settings.heatmaps,
    )
    log.info("job worker running (queue %s)", settings.resolved_queue_path())
    run_worker_forever(handle)
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
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
