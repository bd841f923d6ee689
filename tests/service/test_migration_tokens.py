"""Revision 0003 (API tokens, ``analyses.created_by``) on SQLite and PostgreSQL: a database at
0002 with rows is upgraded with every row kept (``created_by`` NULL), the table copy SQLite needs
keeps the indexes and constraints, the schema equals the ORM's, the foreign key holds, and the
downgrade gives the 0002 schema back with the rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from test_migrations import (
    DONE_ID,
    FAILED_ID,
    QUEUED_ID,
    SHA,
    assert_upgrade_is_a_no_op,
    check_0_1_0_database_works,
    check_0_1_0_rows_kept,
    database_of_0_1_0,
    schema_differences,
    structure,
)

from deepfake_detector.service import auth
from deepfake_detector.service.db import alembic_config, current_revision, upgrade
from deepfake_detector.service.jobstore import JobStore
from servers import postgres_server, postgres_url  # noqa: F401

REVISION = "0003"


def check_upgrade_from_0002(engine: Engine) -> None:
    """``engine`` holds the 0.1.0 rows at revision 0002."""
    assert current_revision(engine) == "0002"
    before = structure(engine)
    upgrade(engine, REVISION)
    assert current_revision(engine) == REVISION
    after = structure(engine)

    # analyses: one column and one foreign key more; its indexes and constraints all kept.
    old, new = before["analyses"], after["analyses"]
    assert new["columns"][: len(old["columns"])] == old["columns"]
    assert new["columns"][len(old["columns"]) :] == [("created_by", "VARCHAR(32)", True, None)]
    assert sorted(new["foreign_keys"]) == sorted(
        [*old["foreign_keys"], (["created_by"], "tokens", ["id"])]
    )
    assert (new["indexes"], new["unique"], new["primary_key"]) == (
        old["indexes"],
        old["unique"],
        old["primary_key"],
    )
    assert after["tokens"]["indexes"] == [("ix_tokens_prefix", ("prefix",), True)]
    for table in ("videos", "workers", "metric_buckets"):
        assert after[table] == before[table], table

    upgrade(engine)  # the later revisions, which the store's ORM expects
    assert schema_differences(engine) == []
    store = JobStore(engine)
    check_0_1_0_rows_kept(store)
    for analysis_id in (DONE_ID, FAILED_ID, QUEUED_ID):
        found = store.get(analysis_id)
        assert found is not None and found[0].created_by is None
    assert store.tokens() == []
    assert_upgrade_is_a_no_op(engine)

    # The service carries on: old jobs run, a token is made and recorded on a new analysis.
    check_0_1_0_database_works(store)
    made = auth.create_token(store, "after the upgrade")
    assert auth.verify(store, made.secret) is not None
    analysis, created = store.create_or_reuse(SHA, "settings-new", "new.mp4", made.token.id)
    assert created and analysis.created_by == made.token.id
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text("UPDATE analyses SET created_by = 'no-such-token' WHERE id = :id"),
            {"id": analysis.id},
        )

    # Down again: the 0002 schema, the rows still there.
    command.downgrade(alembic_config(engine), "0002")
    assert current_revision(engine) == "0002"
    assert structure(engine) == before
    with engine.connect() as connection:
        ids = set(connection.execute(text("SELECT id FROM analyses")).scalars())
    assert ids == {FAILED_ID, QUEUED_ID, analysis.id}  # DONE_ID was deleted by the check above


def test_sqlite_database_at_0002_is_upgraded_with_its_rows(tmp_path: Path) -> None:
    engine = database_of_0_1_0(sqlite_path=tmp_path / "deepfake-detector.sqlite3")
    try:
        upgrade(engine, "0002")
        check_upgrade_from_0002(engine)
    finally:
        engine.dispose()


def test_postgres_database_at_0002_is_upgraded_with_its_rows(postgres_url: str) -> None:  # noqa: F811
    engine = database_of_0_1_0(server_url=postgres_url)
    try:
        upgrade(engine, "0002")
        check_upgrade_from_0002(engine)
    finally:
        engine.dispose()
