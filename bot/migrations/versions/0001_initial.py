"""Initial schema: votes, subscribers, unanswered_questions.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One opinion per pseudonymous user and topic.  user_key is a keyed hash, never a raw id.
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("topic_id", sa.String(length=64), nullable=False),
        sa.Column("agree", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint("user_key", "topic_id", name=op.f("uq_votes_user_key_topic_id")),
    )

    # Newsletter subscriptions; linked to votes by nothing but the pseudonymous key.
    op.create_table(
        "subscribers",
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_key", name=op.f("pk_subscribers")),
    )

    # Questions the bot could not answer, grouped by normalized_text for the editors.
    op.create_table(
        "unanswered_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("normalized_text", sa.String(length=500), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unanswered_questions")),
    )
    op.create_index(
        op.f("ix_unanswered_questions_normalized_text"),
        "unanswered_questions",
        ["normalized_text"],
    )
    op.create_index(
        op.f("ix_unanswered_questions_user_key"),
        "unanswered_questions",
        ["user_key"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_unanswered_questions_user_key"), table_name="unanswered_questions")
    op.drop_index(
        op.f("ix_unanswered_questions_normalized_text"), table_name="unanswered_questions"
    )
    op.drop_table("unanswered_questions")
    op.drop_table("subscribers")
    op.drop_table("votes")
