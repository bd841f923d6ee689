"""pytest fixtures for real Redis and PostgreSQL servers (``deepfake_detector.devservers``).

Import them into a conftest to use them::

    from servers import postgres_server, postgres_url, redis_server  # noqa: F401

A test whose server cannot start here (binary not installed) is skipped with the reason; under CI
(``CI=true``), which installs both, that is a failure instead, so a broken CI image cannot pass by
skipping. A server that is installed but fails to start always errors the test.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator

import pytest

from deepfake_detector.devservers import PostgresServer, RedisServer

_db_numbers = itertools.count(1)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(server: type[RedisServer] | type[PostgresServer]) -> None:
    """Skip (outside CI) or fail (in CI) unless ``server`` can start on this machine."""
    reason = server.unavailable_reason()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"{reason}; CI=true, where it must be installed", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis server for the session; tests that need isolation use their own key prefixes."""
    require(RedisServer)
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (initdb takes a second or two, so not per test)."""
    require(PostgresServer)
    with PostgresServer() as server:
        yield server


def database_name(test_name: str) -> str:
    """A unique, valid database name that says which test it belongs to: ``t0007_test_x``."""
    stem = re.sub(r"[^a-z0-9_]+", "_", test_name.lower()).strip("_")
    return f"t{next(_db_numbers):04d}_{stem}"[:63]


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database for this test alone, dropped afterwards."""
    name = database_name(request.node.name)
    url = postgres_server.new_database(name)
    yield url
    postgres_server.drop_database(name)
