"""Revision 0004 (upload options, idempotency keys, webhooks) on SQLite and PostgreSQL: a database
at 0003 with rows (the 0.1.0 ones, one of them created by a token) is upgraded with every
row kept (``options`` NULL: the server's settings), the schema equals the ORM's, the new tables
work and follow their analysis when it is deleted, and the downgrade gives the 0003 schema back
with the rows."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from test_migrations import (
    DONE_ID,
    FAILED_ID,
    QUEUED_ID,
    SHA,
    assert_upgrade_is_a_no_op,
    check_0_1_0_rows_kept,
    database_of_0_1_0,
    schema_differences,
    structure,
)

from deepfake_detector.service import auth
from deepfake_detector.service.db import alembic_config, current_revision, upgrade
from deepfake_detector.service.jobstore import JobStore
from servers import postgres_server, postgres_url  # noqa: F401

REVISION = "0004"


def add_0003_rows(engine: Engine) -> str:
    """A token, and the done analysis marked as its, as 0003 stored them; returns its id."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tokens (id, prefix, secret_hash, name, read_only, created_at) "
                "VALUES ('t' || '0123456789abcdef0123456789abcde', 'dfd_abcdefgh', :h, 'ci', "
                ":ro, CURRENT_TIMESTAMP)"
            ),
            {"h": "0" * 64, "ro": False},
        )
        token_id = connection.execute(text("SELECT id FROM tokens")).scalar_one()
        connection.execute(
            text("UPDATE analyses SET created_by = :token WHERE id = :id"),
            {"id": DONE_ID, "token": token_id},
        )
    return str(token_id)


def check_upgrade_from_0003(engine: Engine) -> None:
    """``engine`` holds the 0.1.0 rows and :func:`add_0003_rows`' at revision 0003."""
    assert current_revision(engine) == "0003"
    before = structure(engine)
    upgrade(engine)
    assert current_revision(engine) == REVISION
    assert schema_differences(engine) == []
    after = structure(engine)

    # analyses: one nullable column more, at the end; its keys, indexes and constraints kept.
    old, new = before["analyses"], after["analyses"]
    assert new["columns"][: len(old["columns"])] == old["columns"]
    ((name, _type, nullable, default),) = new["columns"][len(old["columns"]) :]
    assert (name, nullable, default) == ("options", True, None)
    for part in ("foreign_keys", "indexes", "unique", "primary_key"):
        assert sorted(new[part]) == sorted(old[part]), part
    for table in ("videos", "workers", "metric_buckets", "tokens"):
        assert after[table] == before[table], table
    assert after["idempotency_keys"]["primary_key"] == ["scope", "key"]
    assert after["idempotency_keys"]["foreign_keys"] == [(["analysis_id"], "analyses", ["id"])]
    assert after["webhooks"]["foreign_keys"] == [(["analysis_id"], "analyses", ["id"])]
    assert {i[0] for i in after["webhooks"]["indexes"]} == {
        "ix_webhooks_analysis_id",
        "ix_webhooks_state",
    }

    store = JobStore(engine)
    check_0_1_0_rows_kept(store)
    for analysis_id in (DONE_ID, FAILED_ID, QUEUED_ID):
        found = store.get(analysis_id)
        assert found is not None and found[0].options is None
    found = store.get(DONE_ID)
    assert found is not None and found[0].created_by is not None
    assert_upgrade_is_a_no_op(engine)

    # The service carries on: an old queued job is claimed without options, a new one with
    # options, a key and a webhook are kept, and go with their analysis.
    claim = store.claim(QUEUED_ID, "new-worker")
    assert claim is not None and claim.options is None
    made = auth.create_token(store, "after 0004")
    analysis, created = store.create_or_reuse(
        SHA, "settings-8", "eight.mp4", made.token.id, options={"frames": 8}
    )
    assert created and analysis.options == {"frames": 8}
    assert store.claim_idempotency_key(made.token.id, "k", "f" * 64, 60, 60).state == "new"
    store.complete_idempotency_key(made.token.id, "k", analysis.id, 202, False)
    store.add_webhook(analysis.id, "https://hooks.example.org/", {"self": "x"})
    assert store.delete(analysis.id) is not None
    with engine.connect() as connection:
        for table in ("idempotency_keys", "webhooks"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0

    # Down again: the 0003 schema, the rows still there.
    store.add_webhook(DONE_ID, "https://hooks.example.org/", {"self": "x"})
    command.downgrade(alembic_config(engine), "0003")
    assert current_revision(engine) == "0003"
    assert structure(engine) == before
    with engine.connect() as connection:
        ids = set(connection.execute(text("SELECT id FROM analyses")).scalars())
    assert ids == {DONE_ID, FAILED_ID, QUEUED_ID}


def test_sqlite_database_at_0003_is_upgraded_with_its_rows(tmp_path: Path) -> None:
    engine = database_of_0_1_0(sqlite_path=tmp_path / "deepfake-detector.sqlite3")
    try:
        upgrade(engine, "0003")
        add_0003_rows(engine)
        check_upgrade_from_0003(engine)
    finally:
        engine.dispose()


def test_postgres_database_at_0003_is_upgraded_with_its_rows(postgres_url: str) -> None:  # noqa: F811
    engine = database_of_0_1_0(server_url=postgres_url)
    try:
        upgrade(engine, "0003")
        add_0003_rows(engine)
        check_upgrade_from_0003(engine)
    finally:
        engine.dispose()
