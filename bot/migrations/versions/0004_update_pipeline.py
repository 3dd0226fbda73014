"""The update pipeline: processed updates (exactly once), votes carry their update.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Updates taken on by a process; `done` once handled. A duplicate update_id is skipped.
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_processed_updates")),
    )
    op.create_index(op.f("ix_processed_updates_claimed_at"), "processed_updates", ["claimed_at"])
    with op.batch_alter_table("votes") as batch:
        batch.add_column(sa.Column("update_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("previous_agree", sa.Boolean(), nullable=True))
        batch.add_column(
            sa.Column("previous_updated_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        batch.drop_column("previous_updated_at")
        batch.drop_column("previous_agree")
        batch.drop_column("update_id")
    op.drop_index(op.f("ix_processed_updates_claimed_at"), table_name="processed_updates")
    op.drop_table("processed_updates")
