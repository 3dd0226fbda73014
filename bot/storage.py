"""Persistent storage for distriktsbot: votes, newsletter subscribers and unanswered questions.

Design notes
------------
* Votes are political opinions and therefore sensitive personal data.  This module never
  sees a raw Telegram user id: callers pass a pseudonymous ``user_key`` produced by
  :func:`pseudonymize` (a keyed HMAC), and keys that look like a raw numeric id are rejected.
* SQLAlchemy 2 typed ORM on an asyncio engine: ``sqlite+aiosqlite`` by default,
  ``postgresql+asyncpg`` when scaled out.  One session (and transaction) per unit of work.
* The schema is owned by Alembic (``bot/migrations``); :meth:`Storage.open` upgrades to head.
* Every database/driver failure that escapes the public methods is re-raised as
  :class:`StorageError` with a readable English message that never contains the URL password.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import sqlite3
import unicodedata
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    case,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.expression import Executable

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ForgetResult",
    "Storage",
    "StorageError",
    "TopicOpinion",
    "UnansweredQuestion",
    "VoteOutcome",
    "pseudonymize",
    "upgrade_database",
]

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL: Final = "sqlite+aiosqlite:///distriktsbot.sqlite3"

#: Seconds to wait for a PostgreSQL connection before giving up (a down database fails fast).
CONNECT_TIMEOUT_SECONDS: Final = 5.0
#: Seconds a single PostgreSQL statement may run.
COMMAND_TIMEOUT_SECONDS: Final = 30.0
#: Seconds SQLite waits for a competing writer to release the database lock.
SQLITE_BUSY_TIMEOUT_SECONDS: Final = 15.0

USER_KEY_MAX_LENGTH: Final = 64
TOPIC_ID_MAX_LENGTH: Final = 64
QUESTION_MAX_LENGTH: Final = 500

MIGRATIONS_PATH: Final = Path(__file__).resolve().with_name("migrations")

# Arbitrary constant that identifies distriktsbot's migration lock among PostgreSQL advisory locks.
_PG_MIGRATION_LOCK_ID: Final = 0x64697374  # "dist"

# Everything a database or its driver may raise at us.  SQLAlchemy wraps DB-API errors in
# DBAPIError; socket-level failures while connecting (refused, DNS, timeout) arrive as OSError.
_DB_ERRORS: Final[tuple[type[BaseException], ...]] = (SQLAlchemyError, OSError, sqlite3.Error)
_MIGRATION_ERRORS: Final[tuple[type[BaseException], ...]] = (*_DB_ERRORS, CommandError)


# --------------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------------


class StorageError(Exception):
    """The database is unreachable or an operation on it failed.

    The message is human-readable English and never contains the password of the URL.
    """


class VoteOutcome(enum.Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    CHANGED = "changed"


@dataclass(frozen=True)
class ForgetResult:
    votes: int
    subscribed: bool
    questions: int


@dataclass(frozen=True)
class UnansweredQuestion:
    text: str
    count: int
    last_asked: datetime


@dataclass(frozen=True)
class TopicOpinion:
    topic_id: str
    agree: int
    disagree: int


def pseudonymize(secret: str, user_id: int) -> str:
    """Return the pseudonymous key for a Telegram user id: hex HMAC-SHA256(secret, str(user_id)).

    The key is stable for a given secret and cannot be mapped back to the id without the secret.
    Telegram ids are low-entropy, so the protection rests entirely on keeping ``secret`` secret.
    """
    if not secret:
        raise ValueError("the pseudonymization secret must not be empty")
    return hmac.new(
        secret.encode("utf-8"), str(user_id).encode("ascii"), hashlib.sha256
    ).hexdigest()


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------

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


def _utcnow() -> datetime:
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)


class SubscriberRow(Base):
    """A newsletter subscription; ``chat_id`` is where the newsletter is delivered."""

    __tablename__ = "subscribers"

    user_key: Mapped[str] = mapped_column(String(USER_KEY_MAX_LENGTH), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)


class UnansweredQuestionRow(Base):
    """A question the bot could not answer, kept so the team can extend the knowledge base."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(QUESTION_MAX_LENGTH))
    normalized_text: Mapped[str] = mapped_column(String(QUESTION_MAX_LENGTH), index=True)
    user_key: Mapped[str | None] = mapped_column(String(USER_KEY_MAX_LENGTH), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _safe_url(url: str | URL) -> str:
    """Render a database URL for humans, with the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<invalid database URL>"


def _describe_exception(exc: BaseException, password: str | None) -> str:
    """A one-line, readable reason for a database failure (no SQL, no parameters, no password)."""
    inner: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        inner = exc.orig
    message = str(inner).strip()
    if isinstance(inner, SQLAlchemyError):
        # Drop SQLAlchemy's "(Background on this error at: ...)" trailer and SQL echo.
        message = message.split("\n(Background on this error", 1)[0]
        message = message.split("\n[SQL:", 1)[0]
    message = " ".join(message.split())
    if not message:
        message = "timed out" if isinstance(inner, TimeoutError) else type(inner).__name__
    elif isinstance(inner, OSError) and type(inner) is not OSError:
        message = f"{type(inner).__name__}: {message}"
    if password:
        message = message.replace(password, "***")
    if len(message) > 500:
        message = message[:497] + "..."
    return message


def _normalize_question(question: str) -> str:
    normalized = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    return normalized[:QUESTION_MAX_LENGTH]


def _check_user_key(user_key: str) -> None:
    if not isinstance(user_key, str) or not user_key:
        raise ValueError("user_key must be a non-empty string")
    if len(user_key) > USER_KEY_MAX_LENGTH:
        raise ValueError(f"user_key must be at most {USER_KEY_MAX_LENGTH} characters")
    if user_key.lstrip("-").isdigit():
        # Guard against a handler passing the raw Telegram id by mistake.
        raise ValueError("user_key looks like a raw user id; pass pseudonymize(secret, user_id)")


def _check_topic_id(topic_id: str) -> None:
    if not isinstance(topic_id, str) or not topic_id:
        raise ValueError("topic_id must be a non-empty string")
    if len(topic_id) > TOPIC_ID_MAX_LENGTH:
        raise ValueError(f"topic_id must be at most {TOPIC_ID_MAX_LENGTH} characters")


def _create_engine(url: URL) -> AsyncEngine:
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.get_driver_name() != "asyncpg":
            raise StorageError(
                f"unsupported PostgreSQL driver in {_safe_url(url)}; use postgresql+asyncpg://"
            )
        return create_async_engine(
            url,
            hide_parameters=True,  # votes and questions must not end up in logs or tracebacks
            pool_pre_ping=True,
            connect_args={
                "timeout": CONNECT_TIMEOUT_SECONDS,
                "command_timeout": COMMAND_TIMEOUT_SECONDS,
            },
        )
    if backend == "sqlite":
        if url.get_driver_name() != "aiosqlite":
            raise StorageError(
                f"unsupported SQLite driver in {_safe_url(url)}; use sqlite+aiosqlite://"
            )
        engine = create_async_engine(
            url,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            # every unit of work ends in COMMIT or ROLLBACK (engine.begin()), so the pool's
            # extra rollback when a connection comes back is a wasted round trip to the thread
            pool_reset_on_return=None,
            # One connection, and concurrent units of work queue for it. An in-memory database
            # lives and dies with its single connection; a file database takes one writer at a
            # time anyway, and more connections only add driver threads and lock waits.
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=30,
        )
        _install_sqlite_listeners(engine)
        return engine
    raise StorageError(
        f"unsupported database {_safe_url(url)}; use sqlite+aiosqlite:// or postgresql+asyncpg://"
    )


TRANSACTIONAL_DDL = "distriktsbot_transactional_ddl"


def _install_sqlite_listeners(engine: AsyncEngine) -> None:
    """WAL, foreign keys, and atomic transactions for SQLite.

    Writes rely on the sqlite3 module's own transaction handling: it opens a transaction right
    before the first INSERT/UPDATE/DELETE of a unit of work, inside that statement's call, and
    the unit of work's COMMIT or ROLLBACK ends it, so multi-statement writes are atomic.
    DDL is not covered by that, so migrations ask for an explicit BEGIN (the
    `transactional_ddl` execution option). Emitting BEGIN for every unit of work instead cost
    three more round trips to the driver thread per write: a third of a vote's time."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(TRANSACTIONAL_DDL):
            conn.exec_driver_sql("BEGIN")


def _alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration without an ini file (and therefore without logging setup)."""
    cfg = Config()
    # ConfigParser interpolation: a literal "%" must be doubled.
    cfg.set_main_option("script_location", str(MIGRATIONS_PATH).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _run_upgrade(sync_conn: Connection) -> str | None:
    """Upgrade the schema to head on ``sync_conn``; returns the revision now current."""
    if sync_conn.dialect.name == "postgresql":
        # Serialize concurrent upgrades (several bot processes starting at once).
        sync_conn.execute(
            text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": _PG_MIGRATION_LOCK_ID}
        )
    command.upgrade(_alembic_config(connection=sync_conn), "head")
    revision: str | None = MigrationContext.configure(sync_conn).get_current_revision()
    return revision


async def _upgrade(engine: AsyncEngine) -> str:
    async with engine.connect() as plain:
        conn = await plain.execution_options(**{TRANSACTIONAL_DDL: True})
        async with conn.begin():
            revision = await conn.run_sync(_run_upgrade)
    if revision is None:  # pragma: no cover - only with an empty versions/ directory
        raise StorageError("no migrations found; the package is incomplete")
    logger.info("Database schema is at revision %s", revision)
    return revision


async def _connect_and_prepare(url: str, *, migrate: bool) -> tuple[AsyncEngine, str | None]:
    """Create the engine, check the connection and optionally migrate.  Raises StorageError."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"invalid database URL: {exc}") from None
    password = parsed.password if isinstance(parsed.password, str) else None
    safe = _safe_url(parsed)
    engine = _create_engine(parsed)
    try:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except _DB_ERRORS as exc:
            raise StorageError(
                f"cannot reach the database at {safe}: {_describe_exception(exc, password)}"
            ) from exc
        revision: str | None = None
        if migrate:
            try:
                revision = await _upgrade(engine)
            except _MIGRATION_ERRORS as exc:
                raise StorageError(
                    f"cannot migrate the database at {safe}: {_describe_exception(exc, password)}"
                ) from exc
    except BaseException:
        await engine.dispose()
        raise
    return engine, revision


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------


class Storage:
    """Asynchronous access to the bot's database.  Create with :meth:`Storage.open`."""

    def __init__(self, engine: AsyncEngine, *, password: str | None = None) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._safe_url = _safe_url(engine.url)
        self._password = password
        self._closed = False

    @classmethod
    async def open(cls, url: str = DEFAULT_DATABASE_URL, *, migrate: bool = True) -> Storage:
        """Connect to ``url`` (and upgrade the schema to head when ``migrate``).

        Raises :class:`StorageError` if the database cannot be reached or migrated.
        """
        engine, _ = await _connect_and_prepare(url, migrate=migrate)
        password = engine.url.password
        return cls(engine, password=password if isinstance(password, str) else None)

    async def close(self) -> None:
        """Close all connections.  Further calls raise :class:`StorageError`."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._engine.dispose()
        except _DB_ERRORS as exc:
            raise StorageError(
                f"cannot close the database connections ({self._safe_url}): "
                f"{_describe_exception(exc, self._password)}"
            ) from exc

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- unit of work ------------------------------------------------------------------------

    @asynccontextmanager
    async def _unit_of_work(self, action: str) -> AsyncIterator[AsyncConnection]:
        """One connection and one transaction; commits on success, rolls back on any error.

        Every statement here is a Core statement, so the unit of work is a plain connection in
        a transaction rather than an ORM session: the session's bookkeeping was a quarter of the
        bot's CPU time under load, for nothing it used."""
        if self._closed:
            raise StorageError(f"cannot {action}: the storage has been closed")
        try:
            async with self._engine.begin() as connection:
                yield connection
        except _DB_ERRORS as exc:
            message = (
                f"cannot {action} (database {self._safe_url}): "
                f"{_describe_exception(exc, self._password)}"
            )
            logger.debug("%s", message, exc_info=True)
            raise StorageError(message) from exc

    def _insert_ignoring_conflict(
        self, model: type[Base], values: dict[str, Any], conflict_columns: Sequence[str]
    ) -> Any:
        """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING`` for the current dialect."""
        if self._dialect == "postgresql":
            return (
                pg_insert(model)
                .values(**values)
                .on_conflict_do_nothing(index_elements=conflict_columns)
            )
        return (
            sqlite_insert(model)
            .values(**values)
            .on_conflict_do_nothing(index_elements=conflict_columns)
        )

    # -- votes -------------------------------------------------------------------------------

    async def record_vote(self, user_key: str, topic_id: str, agree: bool) -> VoteOutcome:
        """Store the opinion of ``user_key`` on ``topic_id``; one vote per user and topic.

        Returns NEW for a first vote, UNCHANGED when the same opinion is repeated (nothing is
        counted twice) and CHANGED when the user switched sides.  Safe under concurrency: the
        unique constraint arbitrates, and the insert never fails on a duplicate.
        """
        _check_user_key(user_key)
        _check_topic_id(topic_id)
        agree = bool(agree)
        now = _utcnow()
        async with self._unit_of_work("record a vote") as conn:
            insert_stmt: Executable = self._insert_ignoring_conflict(
                VoteRow,
                {
                    "user_key": user_key,
                    "topic_id": topic_id,
                    "agree": agree,
                    "created_at": now,
                    "updated_at": now,
                },
                ("user_key", "topic_id"),
            ).returning(VoteRow.id)
            inserted = (await conn.execute(insert_stmt)).scalar_one_or_none()
            if inserted is not None:
                return VoteOutcome.NEW
            # A vote exists (possibly committed a moment ago by a concurrent call).  Flip it
            # only if it differs; the row count tells us which case we are in.
            changed = (
                await conn.execute(
                    update(VoteRow)
                    .where(
                        VoteRow.user_key == user_key,
                        VoteRow.topic_id == topic_id,
                        VoteRow.agree != agree,
                    )
                    .values(agree=agree, updated_at=now)
                    .returning(VoteRow.id)
                )
            ).scalar_one_or_none()
            return VoteOutcome.CHANGED if changed is not None else VoteOutcome.UNCHANGED

    async def get_vote(self, user_key: str, topic_id: str) -> bool | None:
        """The stored opinion of ``user_key`` on ``topic_id`` or None if there is none."""
        _check_user_key(user_key)
        _check_topic_id(topic_id)
        async with self._unit_of_work("read a vote") as conn:
            return (
                await conn.execute(
                    select(VoteRow.agree).where(
                        VoteRow.user_key == user_key, VoteRow.topic_id == topic_id
                    )
                )
            ).scalar_one_or_none()

    async def opinions(self) -> list[TopicOpinion]:
        """Agree/disagree counts per topic, sorted by topic id."""
        async with self._unit_of_work("count opinions") as conn:
            rows = (
                await conn.execute(
                    select(
                        VoteRow.topic_id,
                        func.sum(case((VoteRow.agree, 1), else_=0)),
                        func.sum(case((VoteRow.agree, 0), else_=1)),
                    )
                    .group_by(VoteRow.topic_id)
                    .order_by(VoteRow.topic_id)
                )
            ).all()
        return [
            TopicOpinion(topic_id=topic_id, agree=int(agree or 0), disagree=int(disagree or 0))
            for topic_id, agree, disagree in rows
        ]

    # -- subscriptions -----------------------------------------------------------------------

    async def subscribe(self, user_key: str, chat_id: int) -> bool:
        """Subscribe to the newsletter; True if newly subscribed, False if already subscribed.

        For an existing subscription the delivery ``chat_id`` is updated.
        """
        _check_user_key(user_key)
        async with self._unit_of_work("subscribe") as conn:
            insert_stmt: Executable = self._insert_ignoring_conflict(
                SubscriberRow,
                {"user_key": user_key, "chat_id": int(chat_id), "created_at": _utcnow()},
                ("user_key",),
            ).returning(SubscriberRow.user_key)
            if (await conn.execute(insert_stmt)).scalar_one_or_none() is not None:
                return True
            await conn.execute(
                update(SubscriberRow)
                .where(SubscriberRow.user_key == user_key, SubscriberRow.chat_id != int(chat_id))
                .values(chat_id=int(chat_id))
            )
            return False

    async def unsubscribe(self, user_key: str) -> bool:
        """Cancel the subscription; True if there was one."""
        _check_user_key(user_key)
        async with self._unit_of_work("unsubscribe") as conn:
            deleted = (
                await conn.execute(
                    delete(SubscriberRow)
                    .where(SubscriberRow.user_key == user_key)
                    .returning(SubscriberRow.user_key)
                )
            ).all()
        return bool(deleted)

    async def is_subscribed(self, user_key: str) -> bool:
        _check_user_key(user_key)
        async with self._unit_of_work("check a subscription") as conn:
            found = (
                await conn.execute(
                    select(SubscriberRow.user_key).where(SubscriberRow.user_key == user_key)
                )
            ).scalar_one_or_none()
        return found is not None

    async def subscriber_chat_ids(self) -> list[int]:
        """Chat ids of all subscribers, oldest subscription first."""
        async with self._unit_of_work("list subscribers") as conn:
            chat_ids = (
                await conn.execute(
                    select(SubscriberRow.chat_id).order_by(
                        SubscriberRow.created_at, SubscriberRow.user_key
                    )
                )
            ).scalars()
            return [int(chat_id) for chat_id in chat_ids]

    # -- unanswered questions ----------------------------------------------------------------

    async def log_unanswered(self, text: str, user_key: str | None = None) -> None:
        """Remember a question the bot could not answer (stripped, at most 500 characters)."""
        if user_key is not None:
            _check_user_key(user_key)
        question = text.strip()[:QUESTION_MAX_LENGTH].rstrip()
        if not question:
            return
        async with self._unit_of_work("log an unanswered question") as conn:
            await conn.execute(
                insert(UnansweredQuestionRow).values(
                    text=question,
                    normalized_text=_normalize_question(question),
                    user_key=user_key,
                    created_at=_utcnow(),
                )
            )

    async def unanswered(self, limit: int = 50) -> list[UnansweredQuestion]:
        """Unanswered questions grouped by normalized text, most frequent first, then most recent.

        ``text`` is the wording of the most recent occurrence of each group.
        """
        if limit <= 0:
            return []
        async with self._unit_of_work("list unanswered questions") as conn:
            last_asked = func.max(UnansweredQuestionRow.created_at)
            count = func.count(UnansweredQuestionRow.id)
            groups = (
                await conn.execute(
                    select(UnansweredQuestionRow.normalized_text, count, last_asked)
                    .group_by(UnansweredQuestionRow.normalized_text)
                    .order_by(
                        count.desc(), last_asked.desc(), UnansweredQuestionRow.normalized_text
                    )
                    .limit(limit)
                )
            ).all()
            if not groups:
                return []
            wording: dict[str, str] = {}
            rows = await conn.execute(
                select(UnansweredQuestionRow.normalized_text, UnansweredQuestionRow.text)
                .where(UnansweredQuestionRow.normalized_text.in_([g[0] for g in groups]))
                .order_by(UnansweredQuestionRow.created_at.desc(), UnansweredQuestionRow.id.desc())
            )
            for normalized, original in rows:
                wording.setdefault(normalized, original)
        return [
            UnansweredQuestion(text=wording[normalized], count=int(n), last_asked=last)
            for normalized, n, last in groups
        ]

    # -- right to be forgotten ---------------------------------------------------------------

    async def forget(self, user_key: str) -> ForgetResult:
        """Delete all votes, the subscription and the logged questions of ``user_key``.

        Everything happens in one transaction: either all of it is deleted or nothing is.
        """
        _check_user_key(user_key)
        async with self._unit_of_work("forget a user") as conn:
            deleted = [
                len(
                    (
                        await conn.execute(
                            delete(model).where(model.user_key == user_key).returning(returned)
                        )
                    ).all()
                )
                for model, returned in (
                    (VoteRow, VoteRow.id),
                    (SubscriberRow, SubscriberRow.user_key),
                    (UnansweredQuestionRow, UnansweredQuestionRow.id),
                )
            ]
        votes, subscriptions, questions = deleted
        return ForgetResult(votes=votes, subscribed=bool(subscriptions), questions=questions)


async def upgrade_database(url: str = DEFAULT_DATABASE_URL) -> str:
    """Apply all migrations to ``url`` and return the revision that is now current.

    Used by ``distriktsbot db upgrade``.  Raises :class:`StorageError` on failure.
    """
    engine, revision = await _connect_and_prepare(url, migrate=True)
    await engine.dispose()
    assert revision is not None
    return revision


def head_revision() -> str | None:
    """The newest migration revision shipped with this package."""
    head: str | None = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return head
