"""Alembic environment for distriktsbot.

Two ways in:

* Programmatically (``bot.storage.upgrade_database`` / ``Storage.open``): the caller runs
  ``alembic.command.upgrade`` inside ``AsyncConnection.run_sync`` and passes the synchronous
  connection in ``config.attributes["connection"]``; it is used as is, inside the caller's
  transaction.  Logging is left untouched.
* Standalone, for developers: ``alembic -c bot/migrations/alembic.ini upgrade head`` (or
  ``--sql`` for offline SQL).  The URL comes from ``sqlalchemy.url`` in the config, else the
  ``DISTRIKTSBOT_DATABASE_URL`` environment variable, else the default SQLite file.
"""

from __future__ import annotations

import asyncio
import logging
import os

from alembic import context
from sqlalchemy.engine import Connection, make_url

from bot.storage.engine import DEFAULT_DATABASE_URL, create_engine
from bot.storage.schema import Base

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    return (
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("DISTRIKTSBOT_DATABASE_URL")
        or DEFAULT_DATABASE_URL
    )


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode recreates tables
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of executing it (``alembic upgrade head --sql``)."""
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with_connection(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async_standalone() -> None:
    # Same engine setup (SQLite pragmas, PostgreSQL timeouts) as the bot itself.
    engine = create_engine(make_url(_database_url()))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_with_connection)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with_connection(connection)
        return
    # Standalone command-line use: show Alembic's progress messages, but never reconfigure
    # logging that someone else already set up.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)-5.5s [%(name)s] %(message)s")
    asyncio.run(_run_async_standalone())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
