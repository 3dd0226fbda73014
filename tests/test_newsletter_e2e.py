"""The newsletter end to end, in process, through the stand-in Bot API: an admin writes
`/kringkast`, sees the preview, tests, cancels, sends; voters receive it; the admin reads the
progress and the report. Non-admins learn nothing, buttons included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from telegram.ext import Application

from bot import messages
from bot.config import BroadcastConfig, Config
from bot.knowledge import KnowledgeBase
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.test_telegram_e2e import (
    FERRY_QUESTION,
    Voter,
    make_config,
    open_storage,
    serving,
    text_of,
    voter,
)

ROOT = Path(__file__).resolve().parent.parent
ADMIN_ID = 5_550_001
FOOTER = "Vil du ikke ha flere nyhetsbrev? Skriv /stopp."
LETTER = "<b>Valgkamp!</b> Vi står på stand & deler ut kaffe.\nVelkommen!"
LETTER_PLAIN = f"Valgkamp! Vi står på stand & deler ut kaffe.\nVelkommen!\n\n{FOOTER}"


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
    assert text_of(late) == messages.NEWSLETTER_REPLACED
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


async def test_a_corrected_letter_replaces_the_draft_before_it(
    bot: tuple[FakeTelegram, Any],
) -> None:
    """An admin fixes a typo by writing /kringkast again: the first preview's Send must never
    send the uncorrected letter, before or after the corrected one went out."""
    fake, _ = bot
    people = await subscribers(fake, 2)
    boss = admin(fake)
    _, first = await kringkast(boss, "Utkast med skrivefiel.")
    letter, second = await kringkast(boss, "Utkast rettet.")
    fake.click(boss.user, second, "Send")
    await report(boss)
    old = await boss.press(first, "Send")
    assert text_of(old) == messages.NEWSLETTER_REPLACED
    await asyncio.sleep(0.3)  # a sender that wrongly started would have sent by now
    for p in people:
        assert [m.plain_text for m in letters_to(fake, p.chat_id)] == [letter.plain_text]


async def test_non_admin_learns_nothing_buttons_included(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    fake, _ = bot
    (kari,) = await subscribers(fake, 1)
    ola = voter(fake, 3003, "Ola")

    # the command: exactly what an unknown command gets
    unknown = await ola.say("/finnesikke")
    for attempt in ("/kringkast <b>Hei</b> alle sammen", "/kringkast"):
        reply = await ola.say(attempt)
        assert (reply.text, reply.buttons()) == (unknown.text, unknown.buttons())

    # the admin's draft exists; a voter forging its buttons gets what any unknown button gets
    boss = admin(fake)
    _, preview = await kringkast(boss)
    number = preview.button("Send").split(":")[1]
    own = await ola.say(FERRY_QUESTION)
    garbage = await ola.press_data(own, "zzz")
    for prefix in ("kks", "kkt", "kkx", "kkr"):
        reply = await ola.press_data(own, f"{prefix}:{number}")
        assert (reply.text, reply.buttons()) == (garbage.text, garbage.buttons())
    await fake.assert_no_message(kari.chat_id, within=0.5)
    assert letters_to(fake, kari.chat_id) == []
    assert outbox_rows(db_path) == []

    # the draft is untouched: the admin can still send it
    fake.click(boss.user, preview, "Send")
    await report(boss)
    assert len(letters_to(fake, kari.chat_id)) == 1


async def test_admin_gets_clear_errors(bot: tuple[FakeTelegram, Any]) -> None:
    fake, _ = bot
    boss = admin(fake)
    usage = await boss.say("/kringkast")
    assert text_of(usage) == messages.NEWSLETTER_USAGE

    broken = await boss.say('/kringkast <div>Hei</div> <b>fet <a href="javascript:x">lenke</a>')
    text = text_of(broken)
    assert text.startswith(messages.NEWSLETTER_INVALID)
    assert "«<div>» (linje 1) kan ikke brukes i Telegram" in text
    assert "Lenken på linje 1 mangler en gyldig adresse" in text
    assert "«<b>» på linje 1 er ikke lukket" in text
    assert broken.buttons() == []

    _, preview = await kringkast(boss)
    assert messages.NEWSLETTER_NO_RECIPIENTS in text_of(preview)
    assert [label for label, _ in preview.buttons()] == ["Send test til meg", "Avbryt"]
    missing = await boss.press_data(preview, "kks:999999")
    assert text_of(missing) == messages.NEWSLETTER_NOT_FOUND
    nobody = await boss.press_data(preview, preview.button("Avbryt").replace("kkx", "kks"))
    assert text_of(nobody) == messages.NEWSLETTER_NO_RECIPIENTS


async def test_subscriber_who_blocked_the_bot_is_unsubscribed(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    fake, _ = bot
    people = await subscribers(fake, 3)
    fake.block(people[1].user.id)
    boss = admin(fake)
    _, preview = await kringkast(boss)
    fake.click(boss.user, preview, "Send")
    done = text_of(await report(boss))
    assert "Sendt: 2 av 3" in done and "Blokkert (avmeldt): 1" in done
    assert sorted(outbox_rows(db_path)) == sorted(
        [(people[0].chat_id, "sent"), (people[1].chat_id, "blocked"), (people[2].chat_id, "sent")]
    )
    # no longer a subscriber: the next newsletter goes to the two others
    _, preview = await kringkast(boss, "Neste brev.")
    assert messages.NEWSLETTER_RECIPIENTS.format(count=2, noun="abonnenter") in text_of(preview)


async def test_telegram_flood_limit_pauses_and_nobody_is_lost(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    fake, _ = bot
    people = await subscribers(fake, 15)
    boss = admin(fake)
    _, preview = await kringkast(boss)
    fake.limit_rate(5, retry_after=1)  # far below what the bot is configured for
    fake.click(boss.user, preview, "Send")
    done = text_of(await report(boss, timeout=60))
    assert "Sendt: 15 av 15" in done
    refused = [c for c in fake.calls if c.error_code == 429]
    assert refused, "the stand-in never refused anything: the test tested nothing"
    for p in people:
        assert len(letters_to(fake, p.chat_id)) == 1
    assert {status for _, status in outbox_rows(db_path)} == {"sent"}


async def test_progress_updates_and_cancel_midway(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    async with serving(admin_config(fake, db_path, messages_per_second=3), kb):
        people = await subscribers(fake, 12)
        boss = admin(fake)
        _, preview = await kringkast(boss)
        fake.click(boss.user, preview, "Send")
        # the progress message updates as letters go out
        while True:
            progress = await fake.next_message(boss.chat_id, timeout=10)
            assert progress.message_id == preview.message_id
            if "Sendt: 0 av 12" not in text_of(progress):
                break
        assert "Igjen: " in text_of(progress) and "Blokkert (avmeldt): 0" in text_of(progress)
        fake.click(boss.user, progress, "Avbryt")
        done = text_of(await report(boss))
        assert done.startswith(f"{messages.NEWSLETTER_REPORT} {messages.NEWSLETTER_STOPPED}")
        rows = dict(outbox_rows(db_path))
        sent = [chat for chat, status in rows.items() if status == "sent"]
        cancelled = [chat for chat, status in rows.items() if status == "cancelled"]
        assert sent and cancelled and len(sent) + len(cancelled) == 12
        assert f"Ikke sendt (avbrutt): {len(cancelled)}" in done
        await asyncio.sleep(1)  # nothing more goes out after the stop
        for p in people:
            assert len(letters_to(fake, p.chat_id)) == (1 if p.chat_id in sent else 0)


async def test_forget_deletes_the_persons_outbox_rows(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    fake, _ = bot
    kari, ola = await subscribers(fake, 2)
    boss = admin(fake)
    _, preview = await kringkast(boss)
    fake.click(boss.user, preview, "Send")
    await report(boss)
    assert sorted(chat for chat, _ in outbox_rows(db_path)) == [kari.chat_id, ola.chat_id]
    fake.mark()  # the letters are read; what comes next is the answer to /slettmeg
    assert text_of(await kari.say("/slettmeg")).startswith("Ferdig.")
    assert [chat for chat, _ in outbox_rows(db_path)] == [ola.chat_id]


async def test_unknown_ones_are_resent_only_when_the_admin_asks(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    fake, _ = bot
    kari, ola, per = await subscribers(fake, 3)
    boss = admin(fake)
    _, preview = await kringkast(boss)
    fake.click(boss.user, preview, "Send")
    first = await report(boss)
    assert first.buttons() == []
    # as a crash mid-flight leaves it (the process test does the real crash): Ola's row was in
    # flight, so the sender that took over marked it unknown and has yet to report
    async with open_storage(db_path) as storage:
        while not (await storage.outbox.get(1)).reported:  # type: ignore[union-attr]
            await asyncio.sleep(0.05)
        async with storage.db.unit_of_work("simulate a crash") as conn:
            await conn.execute(
                text("UPDATE outbox SET status = 'unknown' WHERE chat_id = :chat"),
                {"chat": ola.chat_id},
            )
            await conn.execute(text("UPDATE broadcasts SET reported = false"))
    again = await report(boss)
    assert "Ukjent: 1" in text_of(again) and messages.NEWSLETTER_UNKNOWN_EXPLAINED in text_of(again)
    await asyncio.sleep(1.5)
    assert [len(letters_to(fake, p.chat_id)) for p in (kari, ola, per)] == [1, 1, 1]

    fake.click(boss.user, again, messages.BUTTON_NEWSLETTER_RESEND.format(count=1))
    resent = text_of(await report(boss))
    assert "Sendt: 3 av 3" in resent and "Ukjent" not in resent
    assert [len(letters_to(fake, p.chat_id)) for p in (kari, ola, per)] == [1, 2, 1]


async def test_voters_replies_are_counted_and_their_429_pauses_the_outbox(
    fake: FakeTelegram,
) -> None:
    from telegram import Bot
    from telegram.error import RetryAfter

    from bot.newsletter import Pace
    from handlers.broadcast import MeteredRequest

    pace = Pace(29)
    kari = fake.user(4001, "Kari")
    bot = Bot(fake.token, base_url=fake.base_url, request=MeteredRequest(pace))
    async with bot:
        await bot.send_message(kari.id, "hei")
        await bot.send_chat_action(kari.id, "typing")  # not a message: not counted
        assert pace.measured() == 1 and not pace.paused
        fake.limit_rate(1, retry_after=3)
        await bot.send_message(kari.id, "igjen")
        with pytest.raises(RetryAfter):
            await bot.send_message(kari.id, "for mye")
    assert pace.paused  # the newsletter waits as long as Telegram told the voter's reply to


async def test_progress_edit_that_changes_nothing_is_not_an_error(fake: FakeTelegram) -> None:
    from telegram import Bot

    from bot.newsletter import Pace, progress_reply
    from bot.storage.outbox import Broadcast, BroadcastStatus, Counts
    from handlers.broadcast import TelegramSender

    boss = fake.user(ADMIN_ID, "Anne")
    bot = Bot(fake.token, base_url=fake.base_url)
    async with bot:
        message = await bot.send_message(boss.id, "…")
        sender = TelegramSender(bot, Pace(29))
        broadcast = Broadcast(
            7, BroadcastStatus.SENDING, "x", boss.id, message.message_id, True, False
        )
        reply = progress_reply(broadcast, Counts(pending=3, sent=2))
        await sender.show(boss.id, message.message_id, reply)
        await sender.show(boss.id, message.message_id, reply)  # the same again
    edits = fake.calls_to("editMessageText")
    assert [c.ok for c in edits] == [True, False]
    assert "message is not modified" in (edits[1].description or "")
    shown = fake.current(boss.id, message.message_id)
    assert shown is not None and "Sendt: 2 av 5" in (shown.plain_text or "")


async def test_command_line_broadcast_is_sent_by_the_running_bot(
    bot: tuple[FakeTelegram, Any],
    db_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`distriktsbot broadcast FILE` while the bot runs: one sender only (the bot holds the
    lock), the command follows the progress and prints the report."""
    import yaml

    from bot.cli import main

    caplog.set_level(logging.INFO, logger="bot.newsletter")
    fake, _ = bot
    people = await subscribers(fake, 2)
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "telegram": {"base_url": fake.base_url},
                "database": {"url": f"sqlite+aiosqlite:///{db_path}"},
                "knowledge": str(ROOT / "knowledge"),
            }
        )
    )
    monkeypatch.setenv("DISTRIKTSBOT_TOKEN", fake.token)
    letter = tmp_path / "brev.html"
    letter.write_text("Fra kommandolinja.", encoding="utf-8")
    code = await asyncio.to_thread(
        main, ["--config", str(config), "broadcast", str(letter), "--yes"]
    )
    assert code == 0
    assert "Sendt: 2 av 2" in capsys.readouterr().out
    for p in people:
        assert [m.plain_text for m in letters_to(fake, p.chat_id)] == [
            f"Fra kommandolinja.\n\n{FOOTER}"
        ]
    # the command line (in its own thread here) never became the sender: the bot did
    senders = {r.thread for r in caplog.records if "this process sends" in r.getMessage()}
    assert senders <= {threading.get_ident()}
