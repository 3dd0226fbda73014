"""Admin tools: answer and opinion counters, groups of unanswered questions, retention index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Aggregate counters per day, topic and kind: no person, no text.
    op.create_table(
        "answer_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("topic_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "topic_id", "kind", name=op.f("pk_answer_counts")),
    )
    # Groups of near-duplicate unanswered questions and the admins' decision on each.
    op.create_table(
        "unanswered_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("topic_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unanswered_groups")),
    )
    op.create_index(op.f("ix_unanswered_groups_state"), "unanswered_groups", ["state"])
    with op.batch_alter_table("unanswered_questions") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="declined")
        )
        batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_unanswered_questions_group_id"), ["group_id"])
        batch.create_index(batch.f("ix_unanswered_questions_created_at"), ["created_at"])
    # The opinion counters start from the votes already stored (per UTC day of the last change).
    if op.get_bind().dialect.name == "postgresql":
        day = "(updated_at AT TIME ZONE 'UTC')::date"
    else:
        day = "date(updated_at)"
    op.execute(
        "INSERT INTO answer_counts (day, topic_id, kind, count) "
        f"SELECT {day}, topic_id, CASE WHEN agree THEN 'agree' ELSE 'disagree' END, count(*) "
        f"FROM votes GROUP BY {day}, topic_id, CASE WHEN agree THEN 'agree' ELSE 'disagree' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("unanswered_questions") as batch:
        batch.drop_index(batch.f("ix_unanswered_questions_created_at"))
        batch.drop_index(batch.f("ix_unanswered_questions_group_id"))
        batch.drop_column("group_id")
        batch.drop_column("kind")
    op.drop_index(op.f("ix_unanswered_groups_state"), table_name="unanswered_groups")
    op.drop_table("unanswered_groups")
    op.drop_table("answer_counts")
