"""The database engine, its connection settings, errors and migrations.

* SQLAlchemy 2 on an asyncio engine: `sqlite+aiosqlite` by default, `postgresql+asyncpg` when
  scaled out. SQLite runs with WAL and foreign keys on.
* The schema is owned by Alembic (`bot/migrations`); `Database.open` upgrades to head.
* Every database or driver failure that escapes is re-raised as `StorageError`, with a readable
  English message that never contains the URL's password, SQL parameters or SQL text.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import event, insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from bot.storage.schema import Base, ProcessedUpdateRow, utcnow

logger = logging.getLogger("bot.storage")

DEFAULT_DATABASE_URL: Final = "sqlite+aiosqlite:///distriktsbot.sqlite3"

#: Seconds to wait for a PostgreSQL connection before giving up (a down database fails fast).
CONNECT_TIMEOUT_SECONDS: Final = 5.0
#: Seconds a single PostgreSQL statement may run.
COMMAND_TIMEOUT_SECONDS: Final = 30.0
#: Seconds SQLite waits for a competing writer to release the database lock.
SQLITE_BUSY_TIMEOUT_SECONDS: Final = 15.0

MIGRATIONS_PATH: Final = Path(__file__).resolve().parent.parent / "migrations"

# Arbitrary constant that identifies distriktsbot's migration lock among PostgreSQL advisory locks.
_PG_MIGRATION_LOCK_ID: Final = 0x64697374  # "dist"

# Everything a database or its driver may raise at us.  SQLAlchemy wraps DB-API errors in
# DBAPIError; socket-level failures while connecting (refused, DNS, timeout) arrive as OSError.
DB_ERRORS: Final[tuple[type[BaseException], ...]] = (SQLAlchemyError, OSError, sqlite3.Error)
_MIGRATION_ERRORS: Final[tuple[type[BaseException], ...]] = (*DB_ERRORS, CommandError)


class StorageError(Exception):
    """The database is unreachable or an operation on it failed.

    The message is human-readable English and never contains the password of the URL.
    """


class SchemaNotAtHead(StorageError):
    """The database schema is older (or newer) than this version of the bot expects."""


def safe_url(url: str | URL) -> str:
    """Render a database URL for humans, with the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<invalid database URL>"


def describe_exception(exc: BaseException, password: str | None) -> str:
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


def create_engine(url: URL) -> AsyncEngine:
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.get_driver_name() != "asyncpg":
            raise StorageError(
                f"unsupported PostgreSQL driver in {safe_url(url)}; use postgresql+asyncpg://"
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
                f"unsupported SQLite driver in {safe_url(url)}; use sqlite+aiosqlite://"
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
        f"unsupported database {safe_url(url)}; use sqlite+aiosqlite:// or postgresql+asyncpg://"
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


def sqlite_file(url: str | URL) -> Path | None:
    """The file of an SQLite file database (None for PostgreSQL, memory and URI filenames)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None  # a URI filename: left to SQLite
    return Path(parsed.database).expanduser()


def _missing_sqlite_folder(url: URL) -> Path | None:
    """The folder of an SQLite file database, when it does not exist (None otherwise)."""
    file = sqlite_file(url)
    if file is None:
        return None
    return None if file.parent.is_dir() else file.parent


async def _connect_and_prepare(url: str, *, migrate: bool) -> tuple[AsyncEngine, str | None]:
    """Create the engine, check the connection and optionally migrate.  Raises StorageError."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"invalid database URL: {exc}") from None
    password = parsed.password if isinstance(parsed.password, str) else None
    safe = safe_url(parsed)
    folder = _missing_sqlite_folder(parsed)
    if folder is not None:
        # said here, before the driver starts a connection thread that a failed connect leaves
        # behind (aiosqlite)
        raise StorageError(
            f"cannot reach the database at {safe}: unable to open database file "
            f"(the folder {folder} does not exist)"
        )
    engine = create_engine(parsed)
    try:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except DB_ERRORS as exc:
            raise StorageError(
                f"cannot reach the database at {safe}: {describe_exception(exc, password)}"
            ) from exc
        revision: str | None = None
        if migrate:
            try:
                revision = await _upgrade(engine)
            except _MIGRATION_ERRORS as exc:
                raise StorageError(
                    f"cannot migrate the database at {safe}: {describe_exception(exc, password)}"
                ) from exc
    except BaseException:
        await engine.dispose()
        raise
    return engine, revision


class Database:
    """An open engine plus the unit-of-work helper every aggregate's repository uses."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.safe_url = safe_url(engine.url)
        password = engine.url.password
        self._password = password if isinstance(password, str) else None
        self.closed = False

    @classmethod
    async def open(cls, url: str = DEFAULT_DATABASE_URL, *, migrate: bool = True) -> Database:
        """Connect to ``url`` (and upgrade the schema to head when ``migrate``)."""
        engine, _ = await _connect_and_prepare(url, migrate=migrate)
        return cls(engine)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.engine.dispose()
        except DB_ERRORS as exc:
            raise StorageError(
                f"cannot close the database connections ({self.safe_url}): "
                f"{describe_exception(exc, self._password)}"
            ) from exc

    async def check_writable(self) -> None:
        """Write a probe row and roll it back; raises StorageError if the database refuses."""
        try:
            async with self.engine.connect() as conn, conn.begin() as tx:
                await conn.execute(
                    insert(ProcessedUpdateRow).values(update_id=-1, done=False, claimed_at=utcnow())
                )
                await tx.rollback()
        except DB_ERRORS as exc:
            raise StorageError(
                f"the database at {self.safe_url} does not accept writes: "
                f"{describe_exception(exc, self._password)}"
            ) from exc

    @asynccontextmanager
    async def unit_of_work(self, action: str) -> AsyncIterator[AsyncConnection]:
        """One connection and one transaction; commits on success, rolls back on any error.

        Every statement is a Core statement, so the unit of work is a plain connection in a
        transaction rather than an ORM session: the session's bookkeeping was a quarter of the
        bot's CPU time under load, for nothing it used."""
        if self.closed:
            raise StorageError(f"cannot {action}: the storage has been closed")
        try:
            async with self.engine.begin() as connection:
                yield connection
        except DB_ERRORS as exc:
            message = (
                f"cannot {action} (database {self.safe_url}): "
                f"{describe_exception(exc, self._password)}"
            )
            logger.debug("%s", message)
            raise StorageError(message) from exc

    def upsert_module(self) -> Any:
        """The dialect's ``insert`` construct, which has ``on_conflict_do_update``."""
        return pg_insert if self.dialect == "postgresql" else sqlite_insert

    async def check_schema_at_head(self) -> str:
        """Raise SchemaNotAtHead unless the schema is at this package's newest migration.

        `distriktsbot run` in webhook mode (N processes) never migrates by itself: one
        `distriktsbot deploy` does, once. Returns the current revision."""
        try:
            async with self.engine.connect() as conn:
                current = await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        except DB_ERRORS as exc:
            raise StorageError(
                f"cannot read the schema revision of {self.safe_url}: "
                f"{describe_exception(exc, self._password)}"
            ) from exc
        head = head_revision()
        if current != head:
            raise SchemaNotAtHead(
                f"the schema of {self.safe_url} is at revision {current or 'none (empty)'}, "
                f"this version of the bot needs {head}; run `distriktsbot deploy` "
                "(or `distriktsbot db upgrade`) first"
            )
        return str(head)

    def upsert(
        self,
        model: type[Base],
        values: dict[str, Any],
        conflict_columns: Sequence[str],
        update: dict[str, Any],
    ) -> Any:
        """``INSERT ... ON CONFLICT (conflict_columns) DO UPDATE SET update`` for the dialect."""
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        return (
            insert(model)
            .values(**values)
            .on_conflict_do_update(index_elements=conflict_columns, set_=update)
        )

    def insert_ignoring_conflict(
        self, model: type[Base], values: dict[str, Any], conflict_columns: Sequence[str]
    ) -> Any:
        """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING`` for the current dialect."""
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        return (
            insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
        )


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
