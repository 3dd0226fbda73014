"""A broadcast interrupted by SIGKILL and resumed, with real processes against the stand-in.

The sending process (`distriktsbot run` after an admin pressed Send, or `distriktsbot broadcast
FILE`) is killed while a newsletter is in flight: the stand-in has taken the message but not yet
answered. The next process resumes: nobody gets the newsletter twice, everyone gets it except the
few left "unknown" at the kill, and the report counts those with a button to resend them.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.storage import Storage, pseudonymize
from tests.fake_telegram import Call, FakeTelegram, SentMessage
from tests.test_run_process import (
    REPLY_TIMEOUT,
    BotProcess,
    Runner,
    base_config,
    secrets_env,
    wait_until_started,
)

ADMIN_ID = 5_550_001


SUBSCRIBERS = 40
FIRST_CHAT = 3001
FOOTER = "Vil du ikke ha flere nyhetsbrev? Skriv /stopp."
TEXT = "<b>Nyhetsbrev</b> fra distriktsbot: vi sees på torget!"
KEY_SECRET = "subscriber-keys-0123456789"


def subscribe_all(fake: FakeTelegram, url: str) -> list[int]:
    """Subscribers who opted in earlier (stored as the bot stores them)."""
    chats = list(range(FIRST_CHAT, FIRST_CHAT + SUBSCRIBERS))

    async def write() -> None:
        storage = await Storage.open(url)
        try:
            for chat in chats:
                await storage.subscribers.subscribe(pseudonymize(KEY_SECRET, chat), chat)
        finally:
            await storage.close()

    asyncio.run(write())
    for chat in chats:
        fake.user(chat, f"Velger{chat}")
    return chats


def rows_by_status(url: str) -> dict[str, list[int]]:
    async def read() -> dict[str, list[int]]:
        storage = await Storage.open(url, migrate=False)
        try:
            from sqlalchemy import text

            async with storage.db.unit_of_work("read the outbox") as conn:
                rows = (await conn.execute(text("SELECT status, chat_id FROM outbox"))).all()
        finally:
            await storage.close()
        found: dict[str, list[int]] = {}
        for status, chat in rows:
            found.setdefault(str(status), []).append(int(chat))
        return found

    return asyncio.run(read())


def letters(fake: FakeTelegram, chat: int) -> list[SentMessage]:
    return [
        m
        for m in fake.sent(chat)
        if not m.edited and m.plain_text is not None and m.plain_text.endswith(FOOTER)
    ]


def delivered_letter(chats: list[int]) -> Any:
    wanted = set(chats)

    def match(call: Call) -> bool:
        return (
            call.method == "sendMessage"
            and call.ok is True
            and call.message is not None
            and call.message.chat_id in wanted
        )

    return match


def is_report(call: Call) -> bool:
    return (
        call.method == "sendMessage"
        and call.message is not None
        and call.message.chat_id == ADMIN_ID
        and (call.message.plain_text or "").startswith(messages.NEWSLETTER_REPORT)
    )


def kill_mid_flight(fake: FakeTelegram, bot: BotProcess, chats: list[int], after: int) -> None:
    """SIGKILL the sender right after the stand-in took its `after`-th newsletter: that one (at
    least) is delivered but not yet confirmed, the answer being held back."""
    match = delivered_letter(chats)
    for _ in range(after):
        fake.wait_for_sync(match, timeout=REPLY_TIMEOUT)
    bot.proc.send_signal(signal.SIGKILL)
    assert bot.wait() == -signal.SIGKILL


def start_and_send_from_telegram(
    fake: FakeTelegram, runner: Runner, config: Path, env: dict[str, str]
) -> BotProcess:
    bot = runner.start(["--config", str(config), "run"], env)
    wait_until_started(fake, bot)
    fake.send_text(fake.user(ADMIN_ID, "Anne"), f"/kringkast {TEXT}")
    fake.next_message_sync(ADMIN_ID, timeout=REPLY_TIMEOUT)  # the letter
    preview = fake.next_message_sync(ADMIN_ID, timeout=REPLY_TIMEOUT)
    assert f"Det går til {SUBSCRIBERS} abonnenter." in (preview.plain_text or "")
    fake.click(ADMIN_ID, preview, "Send")
    return bot


@pytest.mark.parametrize(
    ("how", "backend"),
    [("run", "sqlite"), ("broadcast", "sqlite"), ("run", "postgresql")],
)
def test_broadcast_killed_mid_flight_resumes_without_sending_twice(
    fake: FakeTelegram,
    runner: Runner,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    how: str,
    backend: str,
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    chats = subscribe_all(fake, url)
    fake.delay_responses(0.3, "sendMessage")  # delivered, then confirmed 0.3 s later
    settings = {"messages_per_second": 20, "concurrency": 4, "progress_seconds": 1}
    config = runner.write_config(
        base_config(fake, tmp_path, admins=[ADMIN_ID], broadcast=settings, database={"url": url})
    )
    env = secrets_env(runner, fake)
    letter_file = tmp_path / "brev.html"
    letter_file.write_text(TEXT, encoding="utf-8")

    if how == "run":
        first = start_and_send_from_telegram(fake, runner, config, env)
    else:
        first = runner.start(["--config", str(config), "broadcast", str(letter_file), "--yes"], env)
    kill_mid_flight(fake, first, chats, after=12)

    at_kill = rows_by_status(url)
    in_flight = at_kill.get("sending", [])
    assert 1 <= len(in_flight) <= settings["concurrency"], at_kill
    assert at_kill.get("pending"), "killed too late to test resuming"

    fake.delay_responses(0)
    if how == "run":
        second = runner.start(["--config", str(config), "run"], env)
        wait_until_started(fake, second)
        report = fake.wait_for_sync(is_report, timeout=60).message
        assert report is not None
        text = report.plain_text or ""
    else:
        code, second = runner.run(["--config", str(config), "broadcast", "--resume"], env)
        assert code == 0, second.output()
        text = second.stdout_path.read_text()
    assert "Traceback" not in second.output()

    after = rows_by_status(url)
    assert set(after) <= {"sent", "unknown"}, after
    assert sorted(after.get("unknown", [])) == sorted(in_flight)
    for chat in chats:
        got = len(letters(fake, chat))
        assert got <= 1, f"chat {chat} got the newsletter {got} times"
        if chat not in in_flight:
            assert got == 1, f"chat {chat} never got the newsletter"
    # the stand-in had taken at least one of the unknown ones: they really are unknown
    assert any(letters(fake, chat) for chat in in_flight)
    assert f"Sendt: {len(after['sent'])} av {SUBSCRIBERS}" in text
    assert f"Ukjent: {len(in_flight)}" in text
    if how == "run":
        assert report is not None
        label = messages.BUTTON_NEWSLETTER_RESEND.format(count=len(in_flight))
        assert [lbl for lbl, _ in report.buttons()] == [label]
        second.proc.send_signal(signal.SIGTERM)
        assert second.wait() == 0
