"""The newsletter end to end, in process, through the stand-in Bot API: an admin writes
`/kringkast`, sees the preview, tests, cancels, sends; voters receive it; the admin reads the
progress and the report. Non-admins learn nothing, buttons included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot import messages
from bot.config import BroadcastConfig, Config
from bot.knowledge import KnowledgeBase, load_knowledge
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.test_telegram_e2e import FERRY_QUESTION, Voter, make_config, serving, text_of, voter

ROOT = Path(__file__).resolve().parent.parent
ADMIN_ID = 5_550_001
FOOTER = "Vil du ikke ha flere nyhetsbrev? Skriv /stopp."
LETTER = "<b>Valgkamp!</b> Vi står på stand & deler ut kaffe.\nVelkommen!"
LETTER_PLAIN = f"Valgkamp! Vi står på stand & deler ut kaffe.\nVelkommen!\n\n{FOOTER}"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(ROOT / "knowledge")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "distriktsbot.sqlite3"


def admin_config(fake: FakeTelegram, db_path: Path, **broadcast: int) -> Config:
    cfg = make_config(fake, db_path)
    settings = {"progress_seconds": 1, **broadcast}
    return dataclasses.replace(cfg, admins=(ADMIN_ID,), broadcast=BroadcastConfig(**settings))


@pytest.fixture
async def bot(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> AsyncIterator[tuple[FakeTelegram, Application[Any, Any, Any, Any, Any, Any]]]:
    async with serving(admin_config(fake, db_path), kb) as app:
        yield fake, app


def admin(fake: FakeTelegram) -> Voter:
    return voter(fake, ADMIN_ID, "Anne")


async def subscribe(person: Voter) -> None:
    """Opt in as a voter does: ask, press Enig, press the newsletter button."""
    answer = await person.say(FERRY_QUESTION)
    thanks = await person.press(answer, "Enig")
    done = await person.press(thanks, messages.BUTTON_SUBSCRIBE)
    assert "Takk for din interesse!" in text_of(done)


async def subscribers(fake: FakeTelegram, n: int, first_id: int = 2001) -> list[Voter]:
    people = [voter(fake, first_id + i, f"Velger{i}") for i in range(n)]
    await asyncio.gather(*(subscribe(p) for p in people))
    return people


async def kringkast(boss: Voter, text: str = LETTER) -> tuple[SentMessage, SentMessage]:
    """The admin writes /kringkast: the letter as subscribers will see it, then the preview."""
    boss.send(f"/kringkast {text}")
    letter = await boss.fake.next_message(boss.chat_id)
    preview = await boss.fake.next_message(boss.chat_id)
    return letter, preview


def letters_to(fake: FakeTelegram, chat_id: int) -> list[SentMessage]:
    """Newsletters delivered into a chat (the footer is what makes one)."""
    return [
        m
        for m in fake.sent(chat_id)
        if not m.edited and m.plain_text is not None and m.plain_text.endswith(FOOTER)
    ]


async def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def report(boss: Voter, timeout: float = 20.0) -> SentMessage:
    """The final report (a new message to the admin, after the progress message's last edit)."""
    while True:
        message = await boss.fake.next_message(boss.chat_id, timeout=timeout)
        if not message.edited and text_of(message).startswith(messages.NEWSLETTER_REPORT):
            return message


def outbox_rows(db_path: Path) -> list[tuple[int, str]]:
    con = sqlite3.connect(db_path)
    try:
        return [(int(c), str(s)) for c, s in con.execute("SELECT chat_id, status FROM outbox")]
    finally:
        con.close()


# --------------------------------------------------------------------------------------------


async def test_preview_test_cancel_and_send(bot: tuple[FakeTelegram, Any]) -> None:
    fake, _ = bot
    people = await subscribers(fake, 3)
    boss = admin(fake)

    letter, preview = await kringkast(boss)
    # the preview is the newsletter exactly as subscribers get it, footer included
    assert text_of(letter) == LETTER_PLAIN
    assert letter.parse_mode is not None and letter.parse_mode.lower() == "html"
    assert [e["type"] for e in letter.message["entities"]] == ["bold", "italic"]
    assert messages.NEWSLETTER_RECIPIENTS.format(count=3, noun="abonnenter") in text_of(preview)
    assert [label for label, _ in preview.buttons()] == ["Send", "Send test til meg", "Avbryt"]

    # a test goes to the admin only, identical to what subscribers will get
    fake.click(boss.user, preview, "Send test til meg")
    test = await fake.next_message(boss.chat_id)
    assert (test.text, test.plain_text, test.message.get("entities")) == (
        letter.text,
        letter.plain_text,
        letter.message.get("entities"),
    )
    again = await fake.next_message(boss.chat_id)  # the buttons again, under the test
    assert [label for label, _ in again.buttons()] == ["Send", "Send test til meg", "Avbryt"]

    # cancel: nothing is sent, and the old buttons no longer send it
    cancelled = await boss.press(again, "Avbryt")
    assert cancelled.edited and text_of(cancelled) == messages.NEWSLETTER_DISCARDED
    late = await boss.press(preview, "Send")
    assert text_of(late) == messages.NEWSLETTER_ALREADY
    for p in people:
        assert letters_to(fake, p.chat_id) == []

    # a new one, sent
    letter, preview = await kringkast(boss, "Andre brev: <i>møte</i> i kveld.")
    fake.click(boss.user, preview, "Send")
    progress = await fake.next_message(boss.chat_id)
    assert progress.edited and progress.message_id == preview.message_id
    assert text_of(progress).startswith(messages.NEWSLETTER_SENDING)
    assert [label for label, _ in progress.buttons()] == ["Avbryt"]

    done = await report(boss)
    assert text_of(done).startswith(f"{messages.NEWSLETTER_REPORT} {messages.NEWSLETTER_DONE}")
    assert "Sendt: 3 av 3" in text_of(done)
    assert "Blokkert (avmeldt): 0" in text_of(done)
    assert done.buttons() == []
    final = fake.current(boss.chat_id, preview.message_id)
    assert final is not None and text_of(final).startswith(messages.NEWSLETTER_DONE)
    assert final.buttons() == []

    for p in people:
        got = letters_to(fake, p.chat_id)
        assert [(m.text, m.plain_text) for m in got] == [(letter.text, letter.plain_text)]
