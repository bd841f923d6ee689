"""API tokens, and which token created each analysis.

``tokens`` keeps only the sha256 of each token's secret, its display prefix, name, scope and
times; ``analyses.created_by`` names the token (NULL for analyses made before this revision and
for anonymous uploads on a loopback server).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_tokens_prefix", "tokens", ["prefix"], unique=True)
    # SQLite cannot add a foreign key to an existing table: batch mode copies the table (rows,
    # indexes and constraints kept); PostgreSQL alters it in place.
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("created_by", sa.String(32), nullable=True))
        batch.create_foreign_key(
            "fk_analyses_created_by", "tokens", ["created_by"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_constraint("fk_analyses_created_by", type_="foreignkey")
        batch.drop_column("created_by")
    op.drop_index("ix_tokens_prefix", table_name="tokens")
    op.drop_table("tokens")
