"""Shared fixtures for the core tests: the shipped knowledge, a matcher, and a dialogue backed by
a real SQLite storage under tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.dialogue import Dialogue, Person
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.matcher import Matcher
from bot.storage import Storage

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = ROOT / "knowledge"
SHIPPED_YAML = KNOWLEDGE_DIR / "distriktspolitikk.yaml"
# The party's own text, which the knowledge is curated from and the faithfulness tests check
# against; and the labelled question sets. All in the repository (../shared is only where new
# material arrives).
SOURCE_TEXT = ROOT / "docs" / "source" / "distriktspolitikk.txt"
DEV_QUESTIONS = ROOT / "tests" / "data" / "dev-questions.jsonl"
DEV_QUESTIONS_HARD = ROOT / "tests" / "data" / "dev-questions-hard.jsonl"
QUESTIONS_A = ROOT / "tests" / "data" / "questions-a.jsonl"
QUESTIONS_B = ROOT / "tests" / "data" / "questions-b.jsonl"
QUESTIONS_C = ROOT / "tests" / "data" / "questions-c.jsonl"
QUESTIONS_D = ROOT / "tests" / "data" / "questions-d.jsonl"

# The topic ids others rely on (DESIGN.md, "Contracts others rely on").
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
def dialogue(kb: KnowledgeBase, storage: Storage) -> Dialogue:
    return Dialogue(kb, storage, secret=SECRET, engage_url=ENGAGE_URL, bot_username=BOT_USERNAME)


@pytest.fixture
def person() -> Person:
    return Person(user_id=USER_ID, chat_id=CHAT_ID)
