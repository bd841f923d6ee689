"""The throwaway Redis and PostgreSQL servers: they start, answer real clients through the pinned
drivers (redis-py, huey, SQLAlchemy + psycopg), and leave no process, port or directory behind."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import servers
from deepfake_detector import devservers
from deepfake_detector.devservers import PostgresServer, RedisServer, ServerStartError
from servers import require

# The shared fixtures, made visible to this module's tests (assigned, not imported by name, so that
# the test parameters of the same names are not flagged as redefinitions).
redis_server = servers.redis_server
postgres_server = servers.postgres_server
postgres_url = servers.postgres_url


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on, as if another process had grabbed the free port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def first_port_taken(monkeypatch: pytest.MonkeyPatch, taken: int) -> list[int]:
    """Make ``free_port`` hand out ``taken`` first, then truly free ports; returns those handed."""
    handed: list[int] = []
    real = devservers.free_port

    def fake() -> int:
        handed.append(taken if not handed else real())
        return handed[-1]

    monkeypatch.setattr(devservers, "free_port", fake)
    return handed


# ----------------------------------------------------------------------------------------- Redis


def test_redis_starts_answers_and_stops_cleanly() -> None:
    require(RedisServer)
    import redis

    server = RedisServer().start()
    try:
        port, directory = server.port, server.dir
        assert port is not None and directory is not None and directory.is_dir()
        assert server.url == f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(server.url)
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"
        client.close()
    finally:
        server.stop()
    assert port_closed(port)
    assert not directory.exists()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    server.stop()  # a second stop is harmless


def test_redis_huey_enqueues_and_dequeues(redis_server: RedisServer) -> None:
    """huey's RedisHuey works with the pinned redis-py against a real server."""
    from huey import RedisHuey

    huey = RedisHuey("devservers-test", url=redis_server.url)

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    result = add(2, 3)
    assert huey.pending_count() == 1
    task = huey.dequeue()
    assert task is not None
    huey.execute(task)
    assert result.get() == 5
    assert huey.pending_count() == 0
    huey.storage.flush_all()


def test_redis_retries_on_a_taken_port(monkeypatch: pytest.MonkeyPatch, taken_port: int) -> None:
    require(RedisServer)
    handed = first_port_taken(monkeypatch, taken_port)
    with RedisServer() as server:
        assert handed[0] == taken_port
        assert server.port == handed[1] != taken_port
        assert devservers.redis_command(server.port, "PING") == b"PONG"


def test_redis_start_failure_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A server that dies at once: the error carries its exit status and its log's last lines."""
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL: bad config line 7'\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(RedisServer, "binary", staticmethod(lambda: str(fake)))
    server = RedisServer()
    with pytest.raises(ServerStartError, match=r"(?s)exited with status 3.*bad config line 7"):
        server.start()
    assert server.dir is None and server.port is None


# ------------------------------------------------------------------------------------ PostgreSQL


def test_postgres_starts_answers_and_stops_cleanly() -> None:
    require(PostgresServer)
    server = PostgresServer().start()
    try:
        port, directory = server.port, server.dir
        assert port is not None and directory is not None and directory.is_dir()
        assert server.url == f"postgresql+psycopg://dfd@127.0.0.1:{port}/dfd"
        engine = create_engine(server.url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE jobs (id serial PRIMARY KEY, name text NOT NULL)"))
            conn.execute(text("INSERT INTO jobs (name) VALUES ('a'), ('b')"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM jobs ORDER BY id")).scalars().all() == [
                "a",
                "b",
            ]
            assert conn.execute(text("SELECT current_database()")).scalar() == "dfd"
        engine.dispose()
        if os.geteuid() == 0:  # root: the server must run as an unprivileged user
            assert directory.stat().st_uid != 0
            pid = int((directory / "data" / "postmaster.pid").read_text().split()[0])
            assert Path(f"/proc/{pid}").stat().st_uid != 0
    finally:
        server.stop()
    assert port_closed(port)
    assert not directory.exists()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    server.stop()


def test_postgres_retries_on_a_taken_port(monkeypatch: pytest.MonkeyPatch, taken_port: int) -> None:
    require(PostgresServer)
    handed = first_port_taken(monkeypatch, taken_port)
    with PostgresServer() as server:
        assert handed[0] == taken_port
        assert server.port == handed[1] != taken_port
        engine = create_engine(server.url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()


@pytest.mark.parametrize("run", [1, 2])
def test_postgres_url_is_a_fresh_database_per_test(postgres_url: str, run: int) -> None:
    """Both runs create the same table: the second would fail if they shared a database."""
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar()
            == 0
        )
        conn.execute(text("CREATE TABLE marker (run int)"))
        conn.execute(text("INSERT INTO marker VALUES (:run)"), {"run": run})
    engine.dispose()


def test_postgres_database_names_are_checked(postgres_server: PostgresServer) -> None:
    for bad in ("", "1abc", "Upper", "has-dash", "x" * 64, 'q"; DROP'):
        with pytest.raises(ValueError, match="database name"):
            postgres_server.new_database(bad)


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_missing_server_skips_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(RedisServer, "unavailable_reason", classmethod(lambda cls: "no redis here"))
    with pytest.raises(outcome, match="no redis here"):
        require(RedisServer)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_postgres_as_root_names_a_temp_dir_it_cannot_reach(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    require(PostgresServer)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    server = PostgresServer()
    with pytest.raises(ServerStartError, match=rf"cannot enter {private}; point TMPDIR"):
        server.start()
    assert server.dir is None and list(private.iterdir()) == []
