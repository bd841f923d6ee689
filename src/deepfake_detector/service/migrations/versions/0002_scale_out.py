"""Scale-out: timezone-aware timestamps, the kept attempt's evidence folder, metric counters.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TIMESTAMPS = {
    "videos": ("created_at",),
    "analyses": ("created_at", "started_at", "finished_at", "updated_at"),
    "workers": ("started_at", "last_seen"),
}


def upgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("evidence_prefix", sa.String(200), nullable=True))
    # Evidence of analyses made before this revision sits directly in <sha256>/<id>/.
    op.execute(
        "UPDATE analyses SET evidence_prefix = video_sha256 || '/' || id "
        "WHERE status IN ('done', 'failed')"
    )
    if op.get_bind().dialect.name == "postgresql":
        # Stored values were naive UTC: say so while changing the type.
        for table, columns in _TIMESTAMPS.items():
            for column in columns:
                op.execute(
                    f"ALTER TABLE {table} ALTER COLUMN {column} TYPE TIMESTAMP WITH TIME ZONE "
                    f"USING {column} AT TIME ZONE 'UTC'"
                )
    op.create_table(
        "metric_buckets",
        sa.Column("metric", sa.String(48), primary_key=True),
        sa.Column("label", sa.String(48), primary_key=True),
        sa.Column("bound", sa.String(16), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("metric_buckets")
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in _TIMESTAMPS.items():
            for column in columns:
                op.execute(
                    f"ALTER TABLE {table} ALTER COLUMN {column} TYPE TIMESTAMP WITHOUT TIME ZONE "
                    f"USING {column} AT TIME ZONE 'UTC'"
                )
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("evidence_prefix")
