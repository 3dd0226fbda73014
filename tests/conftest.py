"""Shared fixtures for the core tests: the shipped knowledge, a matcher, and a dialogue backed by
a real SQLite storage under tmp_path."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from sqlalchemy import make_url

from bot.dialogue import Dialogue, Person
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.matcher import Matcher
from bot.storage import Storage
from tests.fake_telegram import FakeTelegram
from tests.test_run_process import Runner

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = ROOT / "knowledge"
SHIPPED_YAML = KNOWLEDGE_DIR / "distriktspolitikk.yaml"
# The party's own text, which the knowledge is curated from and the faithfulness tests check
# against; and the labelled question sets. All in the repository (the shared folder is only
# where new material arrives; tests/test_standalone.py keeps it that way).
SOURCE_TEXT = ROOT / "docs" / "source" / "distriktspolitikk.txt"
DEV_QUESTIONS = ROOT / "tests" / "data" / "dev-questions.jsonl"


def copy_knowledge(folder: Path) -> Path:
    """The shipped knowledge into `folder` (created), with the party's text it names beside it
    as in the repository (`../docs/source/`, see `area.source_text`); returns the YAML file."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHIPPED_YAML, folder)
    source = folder.parent / "docs" / "source"
    source.mkdir(parents=True, exist_ok=True)
    shutil.copy(SOURCE_TEXT, source)
    return folder / SHIPPED_YAML.name


DEV_QUESTIONS_HARD = ROOT / "tests" / "data" / "dev-questions-hard.jsonl"
QUESTIONS_A = ROOT / "tests" / "data" / "questions-a.jsonl"
QUESTIONS_B = ROOT / "tests" / "data" / "questions-b.jsonl"
QUESTIONS_C = ROOT / "tests" / "data" / "questions-c.jsonl"
QUESTIONS_D = ROOT / "tests" / "data" / "questions-d.jsonl"

# The topic ids others rely on: deep links (t.me/<bot>?start=<id>), stored votes and counters,
# the labelled question sets. Never renamed (README, "Kunnskapsbasen": "fast id … Ikke endre!").
CONTRACT_IDS = (
    "kommuneokonomi",
    "bo-trygt-hjemme",
    "fergetakster",
    "bredband",
    "ladestasjoner",
    "hurtigladere",
    "naeringspolitikk",
    "landbruk",
    "gront-industriloft",
    "naertjenestesentre",
    "statlige-arbeidsplasser",
    "by-og-land",
)

SECRET = "test-secret-0123456789abcdef"
ENGAGE_URL = "https://example.org/engasjer-deg"
BOT_USERNAME = "distriktsbot_test"
# A user id that is easy to spot in a database dump.
USER_ID = 738_295_164
CHAT_ID = 738_295_164  # a private chat: Telegram's chat id equals the user id

# A small, valid area file. Tests break it in one place at a time; the line numbers they expect
# are looked up in the written text (see `line_of`), never hard-coded.
VALID_AREA = textwrap.dedent(
    """\
    area:
      id: omrade
      title: Område
      intro: Innledning.
      question: Er du enig?
      replies:
        agree: Takk.
        agree_more: Mer?
        disagree: Synd.
        disagree_more: Andre saker?
        subscribed: Takk for interessen.
        subscribed_more: Nyhetsbrev kommer.
        engage: Engasjer deg.
        other_topics: Andre saker.
    topics:
      - id: forste
        title: Første emne
        pledge: Et løfte om ferjer.
        explanation: En forklaring om ferjer.
        facts:
          - text: Et faktum.
            date: 2023-08-16
        related: [andre]
        keywords: [ferje, ferge]
        examples: ["Blir ferja billigere?"]
      - id: andre
        title: Andre emne
        pledge: Et løfte om nett.
        explanation: En forklaring om nett.
        keywords: [bredbånd]
    """
)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the `occurrence`-th line containing `needle`."""
    seen = 0
    for no, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return no
    raise AssertionError(f"{needle!r} not found {occurrence} time(s) in the test YAML")


def area_yaml(area_id: str, topics: str) -> str:
    """An area file with its own id and the given `topics:` block (already indented)."""
    head = VALID_AREA.split("topics:\n", 1)[0].replace("id: omrade", f"id: {area_id}", 1)
    return head + "topics:\n" + textwrap.dedent(topics).strip("\n") + "\n"


@pytest.fixture
def write_kb(tmp_path: Path) -> Callable[..., Path]:
    """Write knowledge files into a fresh folder: write_kb({"a.yaml": text_or_bytes}) -> folder."""
    counter = 0

    def write(files: dict[str, str | bytes], folder: str | None = None) -> Path:
        nonlocal counter
        counter += 1
        target = tmp_path / (folder or f"kb{counter}")
        target.mkdir(parents=True)
        for name, content in files.items():
            if isinstance(content, bytes):
                (target / name).write_bytes(content)
            else:
                (target / name).write_text(content, encoding="utf-8")
        return target

    return write


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge(KNOWLEDGE_DIR)


@pytest.fixture(scope="session")
def matcher(kb: KnowledgeBase) -> Matcher:
    return Matcher(kb)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    """The stand-in Telegram Bot API on loopback (tests/fake_telegram.py)."""
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bot.sqlite3"


@pytest.fixture
async def storage(db_path: Path) -> AsyncIterator[Storage]:
    st = await Storage.open(f"sqlite+aiosqlite:///{db_path}")
    try:
        yield st
    finally:
        await st.close()


@pytest.fixture
async def dialogue(kb: KnowledgeBase, storage: Storage) -> AsyncIterator[Dialogue]:
    d = Dialogue(kb, storage, secret=SECRET, engage_url=ENGAGE_URL, bot_username=BOT_USERNAME)
    yield d
    await d.drain()  # writes off the reply path end before the storage closes, as in the bot


@pytest.fixture
def person() -> Person:
    return Person(user_id=USER_ID, chat_id=CHAT_ID)


# --- PostgreSQL: a throw-away database per module on DISTRIKTSBOT_TEST_POSTGRES_URL --------------
# Skipped when the server is unreachable, unless DISTRIKTSBOT_REQUIRE_POSTGRES=1 (as in CI).

PG_ADMIN_URL = os.environ.get(
    "DISTRIKTSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("DISTRIKTSBOT_REQUIRE_POSTGRES") == "1"


T = TypeVar("T")


def run_isolated(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on its own event loop in a helper thread (independent of the test loop)."""

    async def runner() -> T:
        return await factory()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, runner()).result()


async def _admin_connect() -> asyncpg.Connection:
    return await asyncpg.connect(PG_ADMIN_URL, timeout=3)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped afterwards; yields its URL."""
    try:
        run_isolated(lambda: _admin_connect_and_close())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        server = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        reason = f"PostgreSQL is not reachable at {server}: {exc!r}"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason} (DISTRIKTSBOT_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)

    name = f"distriktsbot_test_{secrets.token_hex(6)}"

    async def create() -> None:
        admin = await _admin_connect()
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    async def drop() -> None:
        admin = await _admin_connect()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    run_isolated(create)
    try:
        url = make_url(PG_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        run_isolated(drop)


async def _admin_connect_and_close() -> None:
    conn = await _admin_connect()
    await conn.close()


def _reset_pg_database(url: str) -> None:
    async def reset() -> None:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn, timeout=3)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    run_isolated(reset)


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """The module's PostgreSQL database, emptied again after the test."""
    try:
        yield pg_database
    finally:
        _reset_pg_database(pg_database)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    r = Runner(tmp_path)
    try:
        yield r
    finally:
        r.cleanup()
