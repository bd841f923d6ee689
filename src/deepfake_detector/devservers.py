"""Throwaway Redis and PostgreSQL servers for tests, benchmarks and local trials.

The service can keep its queue in Redis and its jobs in PostgreSQL; mocks or SQLite stand-ins
would hide exactly the behaviour that differs (locking, transactions, connection loss), so the
tests and benchmarks start real servers. Each server lives in its own temporary directory, listens
only on a free port of 127.0.0.1, keeps nothing on disk that matters (no fsync, no snapshots),
and is removed, directory and all, by ``stop()``::

    with RedisServer() as redis, PostgresServer() as pg:
        huey = RedisHuey("jobs", url=redis.url)
        engine = create_engine(pg.url)

Only the server binaries are needed (Debian: ``redis-server``, ``postgresql``); nothing is
installed or configured system-wide. PostgreSQL refuses to run as root, so as root its commands
run as the ``postgres`` system user (``nobody`` where there is none).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresServer", "RedisServer", "ServerStartError", "free_port"]

#: Longest wait for a server to answer, and for a command (initdb, pg_ctl) to finish.
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_LOG_TAIL_LINES = 30
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class ServerStartError(RuntimeError):
    """The server did not come up; the message carries the command and the log's last lines."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now (the OS picks it).

    Another process may take it before the server binds it; the servers retry once with a new one.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


def _port_taken(log: str) -> bool:
    """Whether a server's log says it could not bind its port (someone took it meanwhile)."""
    return "address already in use" in log.lower()


def _clean_env() -> dict[str, str]:
    """This environment without PG* variables (PGPORT, PGDATA, ... would override ours)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


# --------------------------------------------------------------------------------------- Redis


def _read_line(f: IO[bytes]) -> bytes:
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed mid-reply")
    return bytes(line[:-2])


def redis_command(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """Send one command to the Redis server on 127.0.0.1:``port`` and return its reply.

    Just enough RESP for PING and INFO (simple, error and bulk string replies), so that waiting for
    the server needs no client library.
    """
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        with sock.makefile("rb") as f:
            line = _read_line(f)
            kind, rest = line[:1], line[1:]
            if kind == b"+":
                return rest
            if kind == b"-":
                raise ConnectionError(f"Redis error: {rest.decode(errors='replace')}")
            if kind == b"$":
                size = int(rest)
                if size < 0:
                    return b""
                data = f.read(size + 2)
                if len(data) != size + 2:
                    raise ConnectionError("connection closed mid-reply")
                return bytes(data[:size])
            raise ConnectionError(f"unexpected Redis reply {line[:40]!r}")


class _Managed:
    """``with Server() as server:`` starts it and stops it whatever happens inside."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why no server can be started here (None when it can)."""
        raise NotImplementedError

    @classmethod
    def available(cls) -> bool:
        return cls.unavailable_reason() is None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RedisServer(_Managed):
    """A private ``redis-server`` on a free port of 127.0.0.1, no persistence, in a temp dir.

    Use as a context manager, or call ``start()`` and ``stop()``. ``url`` is what redis-py and
    huey's ``RedisHuey(url=...)`` take.
    """

    def __init__(self, *, timeout: float = START_TIMEOUT_S) -> None:
        self.timeout = timeout
        self.port: int | None = None
        self.dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- discovery

    @staticmethod
    def binary() -> str | None:
        return shutil.which("redis-server")

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why no server can be started here (None when it can): the binary is not installed."""
        if cls.binary() is None:
            return "redis-server is not on PATH (Debian: apt-get install redis-server)"
        return None

    # ---- lifecycle

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("RedisServer is not running; call start() first")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        if self.dir is None:
            raise RuntimeError("RedisServer has no directory; call start() first")
        return self.dir / "redis.log"

    def start(self) -> Self:
        """Start the server and wait until it answers PING; retry once if the port was taken."""
        if self._proc is not None:
            return self
        reason = self.unavailable_reason()
        if reason:
            raise ServerStartError(reason)
        self.dir = Path(tempfile.mkdtemp(prefix="dfd-redis-"))
        atexit.register(self.stop)
        try:
            for attempt in (1, 2):
                if self._start_once(free_port(), last=attempt == 2):
                    return self
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def _start_once(self, port: int, *, last: bool) -> bool:
        """True when started; False when the port was taken and another try may succeed."""
        assert self.dir is not None
        binary = self.binary()
        assert binary is not None
        # An empty string argument reaches redis-server intact (no shell), so "--save ''" works.
        cmd = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.dir),
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir
            )
        self._proc, self.port = proc, port
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                pong = redis_command(port, "PING", timeout=0.25)
            except OSError:
                time.sleep(0.02)
                continue
            if pong == b"PONG" and self._answered_by_us(port):
                return True
            # Someone else answers on this port: ours failed to bind it (or is about to).
            self._terminate()
            if not last:
                return False
            raise ServerStartError(
                f"another server answers on 127.0.0.1:{port}; redis-server log:\n"
                f"{_log_tail(self.log_path)}"
            )
        code = proc.poll()
        self._terminate()
        log = _log_tail(self.log_path)
        if code is not None and _port_taken(log) and not last:
            return False
        if code is not None:
            what = f"exited with status {code}"
        else:
            what = f"did not answer PING within {self.timeout:.0f} s"
        raise ServerStartError(
            f"redis-server on 127.0.0.1:{port} {what}.\n"
            f"command: {shlex.join(cmd)}\nlog ({self.log_path}):\n{log}"
        )

    def _answered_by_us(self, port: int) -> bool:
        assert self._proc is not None
        try:
            info = redis_command(port, "INFO", "server").decode(errors="replace")
        except OSError:
            return False
        match = re.search(r"^process_id:(\d+)", info, re.MULTILINE)
        return match is not None and int(match.group(1)) == self._proc.pid

    def _terminate(self) -> None:
        proc, self._proc, self.port = self._proc, None, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Terminate the server, wait for it, and remove its directory. Safe to call twice."""
        atexit.unregister(self.stop)
        self._terminate()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __repr__(self) -> str:
        state = self.url if self.port is not None else "stopped"
        return f"<RedisServer {state}>"


# ---------------------------------------------------------------------------------- PostgreSQL


def _unreachable_parent(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first directory above ``path`` that ``user`` may not enter, if any.

    As root, the server runs as ``user`` with only its primary group, so a temp dir under a
    private parent (say TMPDIR=/root/tmp) fails deep inside initdb; this names the culprit first.
    """
    for d in path.parents:
        st = d.stat()
        if st.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return d
    return None


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin, so that 15 sorts above 9.6."""
    return tuple(int(p) for p in re.findall(r"\d+", bin_dir.parent.name)) or (-1,)


class PostgresServer(_Managed):
    """A private PostgreSQL cluster on a free port of 127.0.0.1, in a temp dir, no durability.

    The superuser is ``dfd`` with trust authentication, no password: it listens on loopback only,
    but any local user can connect, so it is for tests and trials, never for data that matters.
    ``url`` points at its database ``dfd`` through SQLAlchemy's psycopg 3 driver. Tests that must
    not share state take a database each from ``new_database()``.
    """

    USER = "dfd"
    DATABASE = "dfd"
    _PROGRAMS = ("initdb", "pg_ctl", "postgres")

    def __init__(self, *, timeout: float = START_TIMEOUT_S) -> None:
        self.timeout = timeout
        self.port: int | None = None
        self.dir: Path | None = None
        self._bin_dir: Path | None = None
        self._running = False

    # ---- discovery

    @classmethod
    def bin_dir(cls) -> Path | None:
        """The directory holding initdb, pg_ctl and postgres: PATH's first, else Debian's newest.

        Debian keeps them off PATH in /usr/lib/postgresql/<version>/bin.
        """
        on_path = shutil.which("initdb")
        candidates = [Path(on_path).resolve().parent] if on_path else []
        candidates += sorted(
            (p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.is_dir()),
            key=_version_key,
            reverse=True,
        )
        for d in candidates:
            if all(os.access(d / prog, os.X_OK) for prog in cls._PROGRAMS):
                return d
        return None

    @staticmethod
    def _run_as() -> pwd.struct_passwd | None:
        """The unprivileged account for the server when this process is root, else None."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
        raise ServerStartError("running as root and there is no 'postgres' or 'nobody' user")

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why no server can be started here (None when it can): the binaries are not installed."""
        if cls.bin_dir() is None:
            return (
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) are neither on PATH nor in "
                "/usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)"
            )
        try:
            cls._run_as()
        except ServerStartError as e:
            return str(e)
        return None

    # ---- lifecycle

    @property
    def url(self) -> str:
        return self.database_url(self.DATABASE)

    def database_url(self, name: str) -> str:
        """The SQLAlchemy URL of database ``name`` on this server."""
        if not self._running or self.port is None:
            raise RuntimeError("PostgresServer is not running; call start() first")
        return f"postgresql+psycopg://{self.USER}@127.0.0.1:{self.port}/{name}"

    @property
    def data_dir(self) -> Path:
        if self.dir is None:
            raise RuntimeError("PostgresServer has no directory; call start() first")
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        if self.dir is None:
            raise RuntimeError("PostgresServer has no directory; call start() first")
        return self.dir / "postgres.log"

    def _run(self, *args: str, log_name: str) -> subprocess.CompletedProcess[str]:
        """Run a server program (as the unprivileged user when root); raise with its output."""
        assert self._bin_dir is not None and self.dir is not None
        cmd = [str(self._bin_dir / args[0]), *args[1:]]
        user = self._run_as()
        as_user: dict[str, object] = {}
        if user is not None:
            as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        try:
            done = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                cwd=self.dir,
                env=_clean_env(),
                timeout=self.timeout + 5,
                check=False,
                **as_user,  # type: ignore[arg-type]
            )
        except subprocess.TimeoutExpired as e:
            raise ServerStartError(
                f"{log_name} took over {self.timeout + 5:.0f} s.\ncommand: {shlex.join(cmd)}\n"
                f"log ({self.log_path}):\n{_log_tail(self.log_path)}"
            ) from e
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()[-_LOG_TAIL_LINES:]
            raise ServerStartError(
                f"{log_name} failed with status {done.returncode}.\ncommand: {shlex.join(cmd)}\n"
                "output:\n" + "\n".join(output) + f"\nlog ({self.log_path}):\n"
                f"{_log_tail(self.log_path)}"
            )
        return done

    def start(self) -> Self:
        """Create the cluster, start it (retrying once if the port was taken), create ``dfd``."""
        if self._running:
            return self
        reason = self.unavailable_reason()
        if reason:
            raise ServerStartError(reason)
        self._bin_dir = self.bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="dfd-postgres-"))
        atexit.register(self.stop)
        try:
            user = self._run_as()
            if user is not None:
                # initdb and postgres run as this user: the directory (and log) must be theirs.
                os.chown(self.dir, user.pw_uid, user.pw_gid)
                blocked = _unreachable_parent(self.dir, user)
                if blocked is not None:
                    raise ServerStartError(
                        f"PostgreSQL runs as {user.pw_name!r} (root may not run it), who cannot "
                        f"enter {blocked}; point TMPDIR at a directory it can reach, e.g. /tmp"
                    )
            self._run(
                "initdb",
                "-D", str(self.data_dir),
                "-A", "trust",
                "-U", self.USER,
                "-E", "UTF8",
                "--locale=C",  # no dependence on the machine's locales; UTF8 always matches C
                "--no-sync",
                log_name="initdb",
            )  # fmt: skip
            for attempt in (1, 2):
                if self._start_once(free_port(), last=attempt == 2):
                    break
            self._create_database(self.DATABASE)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_once(self, port: int, *, last: bool) -> bool:
        """True when started; False when the port was taken and another try may succeed."""
        assert self.dir is not None
        settings = {
            "port": str(port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.dir),
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
        }
        # pg_ctl hands -o to /bin/sh, hence the quoting.
        options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
        try:
            self._run(
                "pg_ctl", "start", "-w",
                "-t", str(int(self.timeout)),
                "-D", str(self.data_dir),
                "-l", str(self.log_path),
                "-o", options,
                log_name="pg_ctl start",
            )  # fmt: skip
        except ServerStartError:
            self.port = None
            if not last and _port_taken(_log_tail(self.log_path)):
                self._kill_postmaster()  # it should have exited; make sure before reusing the dir
                return False
            self._kill_postmaster()
            raise
        self.port, self._running = port, True
        return True

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first)
        except (OSError, ValueError, RuntimeError):
            return None

    def _kill_postmaster(self) -> None:
        """SIGKILL the postmaster if one is left (pg_ctl failed or timed out) and wait for it."""
        pid = self._postmaster_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            except PermissionError:  # pid reused by someone else's process
                return
            time.sleep(0.05)

    def _connect(self, dbname: str = "postgres") -> psycopg.Connection:
        import psycopg  # imported here: finding and starting the server need no Python driver

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.USER,
            dbname=dbname,
            autocommit=True,
            connect_timeout=int(self.timeout),
        )

    def _create_database(self, name: str) -> None:
        from psycopg import sql

        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    @staticmethod
    def _check_name(name: str) -> None:
        if not _DB_NAME.fullmatch(name):
            raise ValueError(
                f"database name {name!r}: use 1 to 63 of a-z, 0-9 and _, not starting with a digit"
            )

    def new_database(self, name: str) -> str:
        """Create the empty database ``name`` and return its URL (one per test: no shared state)."""
        self._check_name(name)
        self.database_url(name)  # raises when not running
        self._create_database(name)
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, closing any connection still open to it."""
        from psycopg import sql

        self._check_name(name)
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self) -> None:
        """Stop the server at once (no checkpoint) and remove its directory. Safe to call twice."""
        atexit.unregister(self.stop)
        if self._running:
            self._running = False
            try:
                self._run(
                    "pg_ctl", "stop", "-w", "-m", "immediate",
                    "-t", str(int(STOP_TIMEOUT_S)),
                    "-D", str(self.data_dir),
                    log_name="pg_ctl stop",
                )  # fmt: skip
            except ServerStartError:
                self._kill_postmaster()
        self.port = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __repr__(self) -> str:
        state = self.url if self._running else "stopped"
        return f"<PostgresServer {state}>"
