"""The database schema: typed SQLAlchemy 2 models with a naming convention on the metadata.

The schema is owned by Alembic (`bot/migrations`); these models are what the migrations create.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.storage.pseudonym import USER_KEY_MAX_LENGTH

TOPIC_ID_MAX_LENGTH: Final = 64
QUESTION_MAX_LENGTH: Final = 500

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored as naive
    UTC and re-tagged as UTC when loaded.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class VoteRow(Base):
    """One opinion of one (pseudonymous) user on one topic."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("user_key", "topic_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_key: Mapped[str] = mapped_column(String(USER_KEY_MAX_LENGTH))
    topic_id: Mapped[str] = mapped_column(String(TOPIC_ID_MAX_LENGTH))
    agree: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SubscriberRow(Base):
    """A newsletter subscription; ``chat_id`` is where the newsletter is delivered."""

    __tablename__ = "subscribers"

    user_key: Mapped[str] = mapped_column(String(USER_KEY_MAX_LENGTH), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UnansweredQuestionRow(Base):
    """A question the bot could not answer, kept so the team can extend the knowledge base."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(QUESTION_MAX_LENGTH))
    normalized_text: Mapped[str] = mapped_column(String(QUESTION_MAX_LENGTH), index=True)
    user_key: Mapped[str | None] = mapped_column(String(USER_KEY_MAX_LENGTH), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- the newsletter (issue 7b) ---------------------------------------------------------------

BROADCAST_STATUS_MAX_LENGTH: Final = 16
OUTBOX_ERROR_MAX_LENGTH: Final = 200


class BroadcastRow(Base):
    """One newsletter: its exact text (HTML, footer included) and where its progress is shown.

    ``status``: draft -> sending -> done, or cancelled. At most one row is ``sending`` (a partial
    unique index): one broadcast at a time, across every process."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        Index(
            "uq_broadcasts_one_sending",
            "status",
            unique=True,
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(BROADCAST_STATUS_MAX_LENGTH))
    html: Mapped[str] = mapped_column(Text)
    # the admin's chat and the message that shows the progress (none for the command line)
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported: Mapped[bool] = mapped_column(Boolean, default=False)


class OutboxRow(Base):
    """One recipient of one broadcast: pending -> sending -> sent / blocked / failed / unknown
    (or cancelled). ``user_key`` is the subscriber's newsletter key, so `/slettmeg` finds it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "user_key"),
        Index("ix_outbox_broadcast_id_status_id", "broadcast_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("broadcasts.id", ondelete="CASCADE")
    )
    user_key: Mapped[str] = mapped_column(String(USER_KEY_MAX_LENGTH), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(BROADCAST_STATUS_MAX_LENGTH))
    error: Mapped[str | None] = mapped_column(String(OUTBOX_ERROR_MAX_LENGTH))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
