"""Alembic environment: migrations run on the engine the service hands over (``db.upgrade``),
never on a URL of their own, so the CLI, ``serve`` and the tests migrate the same way."""

from __future__ import annotations

from alembic import context

from deepfake_detector.service.db import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
