"""The database schema: typed SQLAlchemy 2 models with a naming convention on the metadata.

The schema is owned by Alembic (`bot/migrations`); these models are what the migrations create.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
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
    # The Telegram update the stored opinion came from: a press handled late (another process,
    # a redelivery) never overwrites a later one. NULL for votes without an update (console).
    update_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The opinion before the last write (NULL: the row was just inserted), so one
    # INSERT … ON CONFLICT DO UPDATE … RETURNING tells new, unchanged and changed apart.
    previous_agree: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    previous_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # "declined" (the bot said it does not know) or "ambiguous" (it asked "Mente du …?")
    kind: Mapped[str] = mapped_column(String(16), default="declined", server_default="declined")
    # the group of near-duplicates it was sorted into for /ubesvarte (None: not sorted yet)
    group_id: Mapped[int | None] = mapped_column(Integer, index=True)


class UnansweredGroupRow(Base):
    """A group of near-duplicate unanswered questions and what an admin did with it.

    It holds no text: the wording shown is that of its questions, which are deleted after the
    retention period; a group left without questions is deleted with them."""

    __tablename__ = "unanswered_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # open | learned | not-ours | ignored
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    topic_id: Mapped[str | None] = mapped_column(String(TOPIC_ID_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AnswerCountRow(Base):
    """How often something happened on a day: aggregate counters, no person in them.

    kind: "match" (a question answered with the topic), "open" (the topic opened from a button
    or a link), "ambiguous" ("Mente du …?"), "declined" (the bot did not know); "agree" and
    "disagree" (the current votes last given that day); topic_id is "" where no topic applies."""

    __tablename__ = "answer_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    topic_id: Mapped[str] = mapped_column(String(TOPIC_ID_MAX_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class KnowledgeVersionRow(Base):
    """The knowledge's version across processes (issue 9b): one row, bumped by every successful
    reload, so the other processes of one deployment know to reload too."""

    __tablename__ = "knowledge_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProcessedUpdateRow(Base):
    """A Telegram update this bot has taken on (``done`` once handled): duplicates, whether
    redelivered by Telegram or received by two processes, are handled once."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


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
