"""`distriktsbot broadcast FILE` against the stand-in Bot API: checked, asked, sent, reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from bot import messages
from bot.cli import main
from bot.storage import Storage, pseudonymize
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
FOOTER = "Vil du ikke ha flere nyhetsbrev? Skriv /stopp."


@pytest.fixture
def setup(fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "telegram": {"base_url": fake.base_url},
                "database": {"url": url},
                "knowledge": str(ROOT / "knowledge"),
            }
        )
    )
    monkeypatch.setenv("DISTRIKTSBOT_TOKEN", fake.token)
    return config, url


def subscribe(fake: FakeTelegram, url: str, chats: list[int]) -> None:
    async def write() -> None:
        storage = await Storage.open(url)
        try:
            for chat in chats:
                await storage.subscribers.subscribe(pseudonymize("cli-keys", chat), chat)
        finally:
            await storage.close()

    asyncio.run(write())
    for chat in chats:
        fake.user(chat, "Velger")


def letters(fake: FakeTelegram, chat: int) -> list[str]:
    return [
        m.plain_text
        for m in fake.sent(chat)
        if m.plain_text is not None and m.plain_text.endswith(FOOTER)
    ]


def test_sends_to_every_subscriber_once_and_reports(
    fake: FakeTelegram, setup: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = setup
    subscribe(fake, url, [11, 12, 13])
    letter = tmp_path / "brev.html"
    letter.write_text("<b>Hei</b> & velkommen!\n", encoding="utf-8")
    assert main(["--config", str(config), "broadcast", str(letter), "--yes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Hei & velkommen!\n\n{FOOTER}\n")
    assert messages.NEWSLETTER_RECIPIENTS.format(count=3, noun="abonnenter") in out
    assert "Sendt: 3 av 3" in out
    for chat in (11, 12, 13):
        assert letters(fake, chat) == [f"Hei & velkommen!\n\n{FOOTER}"]


def test_refuses_what_telegram_would_refuse_and_sends_nothing(
    fake: FakeTelegram, setup: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = setup
    subscribe(fake, url, [11])
    letter = tmp_path / "brev.html"
    letter.write_text("<div>Hei</div>", encoding="utf-8")
    assert main(["--config", str(config), "broadcast", str(letter), "--yes"]) == 2
    err = capsys.readouterr().err
    assert messages.NEWSLETTER_INVALID in err and "«<div>» (linje 1)" in err
    assert "Traceback" not in err
    assert letters(fake, 11) == []


def test_asks_first_and_needs_yes_without_a_terminal(
    fake: FakeTelegram, setup: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = setup
    subscribe(fake, url, [11])
    letter = tmp_path / "brev.html"
    letter.write_text("Hei", encoding="utf-8")
    assert main(["--config", str(config), "broadcast", str(letter)]) == 2
    assert messages.CLI_NOT_SENT_ASK in capsys.readouterr().err
    assert main(["--config", str(config), "broadcast", "--resume"]) == 0
    assert messages.CLI_NOTHING_TO_RESUME in capsys.readouterr().out
    assert main(["--config", str(config), "broadcast"]) == 2
    assert letters(fake, 11) == []
