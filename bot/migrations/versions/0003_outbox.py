"""The newsletter: broadcasts and their outbox (one row per recipient).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("progress_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    # one broadcast at a time, whichever process starts it: at most one row is 'sending'
    op.create_index(
        "uq_broadcasts_one_sending",
        "broadcasts",
        ["status"],
        unique=True,
        sqlite_where=sa.text("status = 'sending'"),
        postgresql_where=sa.text("status = 'sending'"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_outbox_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint(
            "broadcast_id", "user_key", name=op.f("uq_outbox_broadcast_id_user_key")
        ),
    )
    # claiming the next pending row and counting a broadcast's rows by status
    op.create_index("ix_outbox_broadcast_id_status_id", "outbox", ["broadcast_id", "status", "id"])
    # /slettmeg and /stopp find a person's rows by their newsletter key
    op.create_index(op.f("ix_outbox_user_key"), "outbox", ["user_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_user_key"), table_name="outbox")
    op.drop_index("ix_outbox_broadcast_id_status_id", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("uq_broadcasts_one_sending", table_name="broadcasts")
    op.drop_table("broadcasts")
