"""Tests for bot.storage on SQLite and PostgreSQL.

PostgreSQL cases use a throw-away database created per module on the server given by
``DISTRIKTSBOT_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
They are skipped when that server is unreachable, unless ``DISTRIKTSBOT_REQUIRE_POSTGRES=1``
(as in CI), in which case they fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage import (
    ForgetResult,
    Storage,
    StorageError,
    TopicOpinion,
    VoteOutcome,
    head_revision,
    pseudonymize,
    upgrade_database,
)
from bot.storage.engine import _alembic_config
from bot.storage.schema import Base
from tests.conftest import run_isolated

APP_TABLES = ("votes", "subscribers", "unanswered_questions", "broadcasts", "outbox")
SECRET = "test-secret"
ALICE = pseudonymize(SECRET, 1001)
BOB = pseudonymize(SECRET, 1002)


@pytest.fixture
async def storage(db_url: str) -> AsyncIterator[Storage]:
    store = await Storage.open(db_url)
    try:
        yield store
    finally:
        await store.close()


async def fetch_all(url: str, sql: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


def fail_on_statement(store: Storage, prefix: str) -> None:
    """Make the next statement starting with ``prefix`` fail as if the connection dropped."""

    def before_cursor_execute(*args: Any) -> None:
        statement: str = args[2]
        if statement.lstrip().upper().startswith(prefix.upper()):
            raise ConnectionResetError("simulated connection loss")

    event.listen(store.db.engine.sync_engine, "before_cursor_execute", before_cursor_execute)


# --------------------------------------------------------------------------------------------
# Pseudonymization
# --------------------------------------------------------------------------------------------


def test_pseudonymize_is_stable_keyed_and_not_the_raw_id() -> None:
    key = pseudonymize("secret-a", 123456789)
    assert key == pseudonymize("secret-a", 123456789)
    assert key != pseudonymize("secret-b", 123456789)
    assert key != pseudonymize("secret-a", 123456790)
    assert "123456789" not in key
    assert len(key) == 64
    int(key, 16)  # hex


def test_pseudonymize_rejects_empty_secret() -> None:
    with pytest.raises(ValueError):
        pseudonymize("", 1)


async def test_keys_that_look_like_raw_ids_are_rejected(tmp_path: Path) -> None:
    store = await Storage.open(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        with pytest.raises(ValueError, match="raw user id"):
            await store.votes.record("123456789", "skole", True)
        with pytest.raises(ValueError):
            await store.votes.record(ALICE, "x" * 65, True)
        with pytest.raises(ValueError):
            await store.subscribers.subscribe("", 1)
    finally:
        await store.close()


# --------------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------------


async def test_migrations_create_schema_and_are_idempotent(db_url: str) -> None:
    assert not (await table_names(db_url)) & set(APP_TABLES)
    for _ in range(2):
        store = await Storage.open(db_url)
        await store.votes.record(ALICE, "skole", True)
        await store.close()

    assert set(APP_TABLES) | {"alembic_version"} <= await table_names(db_url)
    assert await fetch_all(db_url, "SELECT version_num FROM alembic_version") == [
        (head_revision(),)
    ]
    assert await fetch_all(db_url, "SELECT COUNT(*) FROM votes") == [(1,)]

    # The hand-written migration matches the ORM models exactly.
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "compare_server_default": True}
                    ),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_upgrade_database_returns_head_revision(db_url: str) -> None:
    head = head_revision()
    # one head: the one revision no other migration revises (each branch adds one; the lead
    # chains them)
    scripts = ScriptDirectory.from_config(_alembic_config())
    revisions = {script.revision for script in scripts.walk_revisions()}
    revised = {script.down_revision for script in scripts.walk_revisions()}
    assert revisions - revised == {head}
    assert await upgrade_database(db_url) == head
    assert await upgrade_database(db_url) == head  # idempotent


async def test_migrations_leave_application_logging_alone(tmp_path: Path) -> None:
    root, alembic_logger = logging.getLogger(), logging.getLogger("alembic")
    before = (list(root.handlers), root.level, alembic_logger.level, alembic_logger.disabled)
    await upgrade_database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    after = (list(root.handlers), root.level, alembic_logger.level, alembic_logger.disabled)
    assert after == before


async def test_open_without_migrate_leaves_schema_alone(db_url: str) -> None:
    store = await Storage.open(db_url, migrate=False)
    await store.close()
    assert not (await table_names(db_url)) & set(APP_TABLES)


async def test_unknown_revision_in_database_is_a_storage_error(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    await upgrade_database(url)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    await engine.dispose()
    with pytest.raises(StorageError, match="cannot migrate the database"):
        await Storage.open(url)


# --------------------------------------------------------------------------------------------
# Votes
# --------------------------------------------------------------------------------------------


async def test_vote_new_unchanged_changed(storage: Storage) -> None:
    assert await storage.votes.get(ALICE, "skole") is None
    assert await storage.votes.record(ALICE, "skole", True) is VoteOutcome.NEW
    assert await storage.votes.opinions() == [TopicOpinion("skole", agree=1, disagree=0)]

    assert await storage.votes.record(ALICE, "skole", True) is VoteOutcome.UNCHANGED
    assert await storage.votes.opinions() == [TopicOpinion("skole", agree=1, disagree=0)]
    assert await storage.votes.get(ALICE, "skole") is True

    assert await storage.votes.record(ALICE, "skole", False) is VoteOutcome.CHANGED
    assert await storage.votes.opinions() == [TopicOpinion("skole", agree=0, disagree=1)]
    assert await storage.votes.get(ALICE, "skole") is False

    assert await storage.votes.record(ALICE, "skole", False) is VoteOutcome.UNCHANGED
    assert await storage.votes.opinions() == [TopicOpinion("skole", agree=0, disagree=1)]


async def test_votes_of_different_users_and_topics_are_separate(storage: Storage) -> None:
    assert await storage.votes.record(ALICE, "skole", True) is VoteOutcome.NEW
    assert await storage.votes.record(BOB, "skole", False) is VoteOutcome.NEW
    assert await storage.votes.record(ALICE, "veg", False) is VoteOutcome.NEW
    assert await storage.votes.record(BOB, "veg", False) is VoteOutcome.NEW
    assert await storage.votes.record(BOB, "ferje", True) is VoteOutcome.NEW

    assert await storage.votes.get(ALICE, "skole") is True
    assert await storage.votes.get(BOB, "skole") is False
    assert await storage.votes.get(ALICE, "ferje") is None
    assert await storage.votes.opinions() == [
        TopicOpinion("ferje", agree=1, disagree=0),
        TopicOpinion("skole", agree=1, disagree=1),
        TopicOpinion("veg", agree=0, disagree=2),
    ]


async def test_opinions_empty(storage: Storage) -> None:
    assert await storage.votes.opinions() == []


async def test_concurrent_identical_votes_leave_exactly_one_row(
    storage: Storage, db_url: str
) -> None:
    outcomes = await asyncio.gather(
        *(storage.votes.record(ALICE, "skole", True) for _ in range(20))
    )
    assert outcomes.count(VoteOutcome.NEW) == 1
    assert outcomes.count(VoteOutcome.UNCHANGED) == 19
    assert await fetch_all(db_url, "SELECT COUNT(*) FROM votes") == [(1,)]
    assert await storage.votes.opinions() == [TopicOpinion("skole", agree=1, disagree=0)]


async def test_concurrent_conflicting_votes_leave_exactly_one_row(
    storage: Storage, db_url: str
) -> None:
    outcomes = await asyncio.gather(
        *(storage.votes.record(BOB, "veg", i % 2 == 0) for i in range(20))
    )
    assert outcomes.count(VoteOutcome.NEW) == 1
    assert await fetch_all(db_url, "SELECT COUNT(*) FROM votes") == [(1,)]
    [opinion] = await storage.votes.opinions()
    assert opinion.agree + opinion.disagree == 1


async def test_in_memory_sqlite_works_with_concurrent_calls() -> None:
    store = await Storage.open("sqlite+aiosqlite://")
    try:
        outcomes = await asyncio.gather(
            *(store.votes.record(ALICE, "skole", True) for _ in range(5)),
            store.subscribers.subscribe(ALICE, 1),
            store.unanswered.log("Hei?"),
        )
        assert outcomes[:5].count(VoteOutcome.NEW) == 1
        assert await store.votes.opinions() == [TopicOpinion("skole", agree=1, disagree=0)]
        assert await store.subscribers.chat_ids() == [1]
    finally:
        await store.close()


# --------------------------------------------------------------------------------------------
# Subscriptions
# --------------------------------------------------------------------------------------------


async def test_subscriptions(storage: Storage) -> None:
    assert await storage.subscribers.is_subscribed(ALICE) is False
    assert await storage.subscribers.chat_ids() == []

    assert await storage.subscribers.subscribe(ALICE, 5001) is True
    assert await storage.subscribers.subscribe(ALICE, 5001) is False
    assert await storage.subscribers.is_subscribed(ALICE) is True
    assert (
        await storage.subscribers.subscribe(BOB, -1001234567890) is True
    )  # supergroup ids need 64 bits
    assert sorted(await storage.subscribers.chat_ids()) == [-1001234567890, 5001]

    assert (
        await storage.subscribers.subscribe(ALICE, 5002) is False
    )  # moved chat: delivery id updated
    assert sorted(await storage.subscribers.chat_ids()) == [-1001234567890, 5002]

    assert await storage.subscribers.unsubscribe(ALICE) is True
    assert await storage.subscribers.unsubscribe(ALICE) is False
    assert await storage.subscribers.is_subscribed(ALICE) is False
    assert await storage.subscribers.chat_ids() == [-1001234567890]


# --------------------------------------------------------------------------------------------
# Unanswered questions
# --------------------------------------------------------------------------------------------


async def test_log_unanswered_strips_truncates_and_ignores_empty(storage: Storage) -> None:
    await storage.unanswered.log("   \n\t ")
    await storage.unanswered.log("")
    assert await storage.unanswered.most_asked() == []

    await storage.unanswered.log("  " + "å" * 600 + "  ", ALICE)
    [question] = await storage.unanswered.most_asked()
    assert question.text == "å" * 500
    assert question.count == 1
    assert question.last_asked.tzinfo is not None
    assert question.last_asked.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - question.last_asked) < timedelta(minutes=1)


async def test_unanswered_groups_and_orders(storage: Storage) -> None:
    await storage.unanswered.log("Hva med ferja?", ALICE)
    await storage.unanswered.log("Når åpner skolen?")
    await storage.unanswered.log("hva  MED\tferja?", BOB)
    await storage.unanswered.log("Bompenger")
    await storage.unanswered.log("  HVA med ferja? ")
    await storage.unanswered.log("når åpner   skolen?")
    await storage.unanswered.log("Sykehus")

    result = await storage.unanswered.most_asked()
    assert [(q.text, q.count) for q in result] == [
        ("HVA med ferja?", 3),  # most frequent; wording of the latest occurrence
        ("når åpner   skolen?", 2),
        ("Sykehus", 1),  # equal counts: most recent first
        ("Bompenger", 1),
    ]
    assert result[0].last_asked <= result[1].last_asked
    assert [q.text for q in await storage.unanswered.most_asked(limit=2)] == [
        "HVA med ferja?",
        "når åpner   skolen?",
    ]
    assert await storage.unanswered.most_asked(limit=0) == []


# --------------------------------------------------------------------------------------------
# Forget and privacy
# --------------------------------------------------------------------------------------------


async def test_forget_removes_exactly_that_users_data(storage: Storage) -> None:
    for topic in ("skole", "veg", "ferje"):
        await storage.votes.record(ALICE, topic, True)
    await storage.votes.record(BOB, "skole", False)
    await storage.subscribers.subscribe(ALICE, 5001)
    await storage.subscribers.subscribe(BOB, 5002)
    await storage.unanswered.log("Alice spør", ALICE)
    await storage.unanswered.log("Alice spør igjen", ALICE)
    await storage.unanswered.log("Bob spør", BOB)
    await storage.unanswered.log("Anonym")

    assert await storage.forget(ALICE) == ForgetResult(votes=3, subscribed=True, questions=2)

    assert await storage.votes.get(ALICE, "skole") is None
    assert await storage.subscribers.is_subscribed(ALICE) is False
    assert await storage.votes.opinions() == [TopicOpinion("skole", agree=0, disagree=1)]
    assert await storage.votes.get(BOB, "skole") is False
    assert await storage.subscribers.chat_ids() == [5002]
    assert sorted(q.text for q in await storage.unanswered.most_asked()) == ["Anonym", "Bob spør"]

    assert await storage.forget(ALICE) == ForgetResult(votes=0, subscribed=False, questions=0)


async def test_raw_user_id_is_never_stored(storage: Storage, db_url: str) -> None:
    raw_id = 7_359_134_826
    key = pseudonymize(SECRET, raw_id)
    await storage.votes.record(key, "skole", True)
    await storage.votes.record(key, "skole", False)
    await storage.subscribers.subscribe(key, -100_555)  # a group chat, not the user's private chat
    await storage.unanswered.log("Hvorfor?", key)

    seen_key = False
    for table in (*APP_TABLES, "alembic_version"):
        for row in await fetch_all(db_url, f"SELECT * FROM {table}"):
            for value in row:
                assert str(raw_id) not in str(value), f"raw user id found in {table}"
                seen_key = seen_key or value == key
    assert seen_key


# --------------------------------------------------------------------------------------------
# Failures
# --------------------------------------------------------------------------------------------


async def test_unreachable_postgres_is_a_readable_storage_error() -> None:
    password = "pa55-w0rd-xyz"
    with pytest.raises(StorageError) as info:
        await Storage.open(f"postgresql+asyncpg://postgres:{password}@127.0.0.1:1/x")
    message = str(info.value)
    assert message.startswith("cannot reach the database at postgresql+asyncpg://postgres:***@")
    assert "127.0.0.1:1/x" in message
    assert password not in message
    assert "Traceback" not in message and "\n" not in message

    with pytest.raises(StorageError) as info:
        await upgrade_database(f"postgresql+asyncpg://postgres:{password}@127.0.0.1:1/x")
    assert password not in str(info.value)


async def test_sqlite_in_missing_directory_is_a_readable_storage_error(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'bot.sqlite3'}"
    with pytest.raises(StorageError) as info:
        await Storage.open(url)
    message = str(info.value)
    assert message.startswith("cannot reach the database at sqlite+aiosqlite:///")
    assert "unable to open database file" in message
    assert "sqlalche.me" not in message and "\n" not in message


async def test_unsupported_url_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="unsupported"):
        await Storage.open("mysql+aiomysql://u:p@localhost/db")


async def test_failure_in_the_middle_of_forget_keeps_everything(storage: Storage) -> None:
    await storage.votes.record(ALICE, "skole", True)
    await storage.subscribers.subscribe(ALICE, 5001)
    await storage.unanswered.log("Spørsmål", ALICE)

    fail_on_statement(storage, "DELETE FROM unanswered_questions")
    with pytest.raises(StorageError, match="cannot forget a user") as info:
        await storage.forget(ALICE)
    assert "simulated connection loss" in str(info.value)

    # The votes and subscription deleted earlier in the same transaction are back.
    assert await storage.votes.get(ALICE, "skole") is True
    assert await storage.subscribers.is_subscribed(ALICE) is True
    assert [q.count for q in await storage.unanswered.most_asked()] == [1]
    # And the storage still works.
    assert await storage.votes.record(BOB, "skole", False) is VoteOutcome.NEW


async def test_failed_vote_change_keeps_the_previous_vote(storage: Storage) -> None:
    await storage.votes.record(ALICE, "skole", True)
    fail_on_statement(storage, "INSERT INTO votes")  # one upsert
    with pytest.raises(StorageError, match="cannot record a vote"):
        await storage.votes.record(ALICE, "skole", False)
    assert await storage.votes.get(ALICE, "skole") is True
    assert await storage.votes.opinions() == [TopicOpinion("skole", agree=1, disagree=0)]


async def test_closed_storage_raises_storage_error(storage: Storage) -> None:
    await storage.votes.record(ALICE, "skole", True)
    await storage.close()
    with pytest.raises(StorageError, match="closed"):
        await storage.votes.record(ALICE, "skole", False)
    await storage.close()  # idempotent


async def test_postgres_connection_killed_mid_write_is_a_storage_error(pg_url: str) -> None:
    storage = await Storage.open(pg_url)
    try:
        await _kill_connection_during_vote_change(storage, pg_url)
    finally:
        await storage.close()


async def _kill_connection_during_vote_change(storage: Storage, db_url: str) -> None:
    await storage.votes.record(ALICE, "skole", True)

    # Hold the connection inside a transaction while the server kills it.
    async def kill_others() -> None:
        dsn = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn, timeout=3)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()

    fired = False

    def before_cursor_execute(*args: Any) -> None:
        nonlocal fired
        if not fired and str(args[2]).startswith("INSERT INTO votes"):
            fired = True
            run_isolated(kill_others)

    event.listen(storage.db.engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    with pytest.raises(StorageError, match="cannot record a vote"):
        await storage.votes.record(ALICE, "skole", False)
    assert fired
    # Earlier data is intact and the pool recovers with a fresh connection.
    assert await storage.votes.get(ALICE, "skole") is True
