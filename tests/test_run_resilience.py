"""`distriktsbot run` as a process under faults: killed mid-burst, a rejected token, an
unreachable or flaky Bot API, a read-only database. Through the stand-in Bot API on loopback."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.fake_telegram import HANG_UP, FakeTelegram
from tests.test_run_process import (
    HASH_SECRET,
    REPLY_TIMEOUT,
    Runner,
    assert_no_secrets,
    base_config,
    converse,
    secrets_env,
    stop,
    wait_until_started,
)

FERRY = "Blir ferja billigere?"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_line(bot: object, needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output: str = bot.output()  # type: ignore[attr-defined]
        if needle in output:
            return output
        if bot.proc.poll() is not None:  # type: ignore[attr-defined]
            break
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not in the output:\n{bot.output()}")  # type: ignore[attr-defined]


def test_sigkill_mid_burst_loses_no_confirmed_update(
    fake: FakeTelegram,
    runner: Runner,
    tmp_path: Path,
) -> None:
    """Break 3: updates were confirmed to Telegram long before they were handled; killing the
    process lost them for good. Now every update Telegram no longer holds was answered, and
    after a restart every question is answered (none lost)."""
    config = runner.write_config(base_config(fake, tmp_path))
    env = secrets_env(runner, fake)
    bot = runner.start(["--config", str(config), "run"], env)
    wait_until_started(fake, bot)
    users = list(range(20_001, 20_401))
    fake.inject("sendMessage", None, delay=0.01, times=10_000)  # a slower Telegram
    ids = {fake.send_text(fake.user(uid), FERRY): uid for uid in users}
    deadline = time.monotonic() + 60
    while sum(1 for uid in users if fake.sent(uid)) < 60:
        assert time.monotonic() < deadline, bot.output()
        time.sleep(0.01)
    bot.proc.send_signal(signal.SIGKILL)
    bot.proc.wait(timeout=10)

    pending = {u["update_id"] for u in fake.pending_updates()}
    confirmed = [i for i in ids if i not in pending]
    lost = [i for i in confirmed if not fake.sent(ids[i])]
    assert lost == [], f"{len(lost)} updates confirmed to Telegram but never answered"
    assert pending, "the kill came after the burst was handled: nothing was tested"
    answered_before = {uid for uid in users if fake.sent(uid)}

    fake.clear_faults()
    again = runner.start(["--config", str(config), "run"], env)
    deadline = time.monotonic() + 60
    while not all(fake.sent(uid) for uid in users):
        assert time.monotonic() < deadline, again.output()
        assert again.proc.poll() is None, again.output()
        time.sleep(0.05)
    # answered twice: at most those in hand at the moment of the kill (≤ 100, one window)
    twice = [uid for uid in users if len(fake.sent(uid)) > 1]
    assert len(twice) <= 100, len(twice)
    assert all(len(fake.sent(uid)) == 1 for uid in answered_before if uid not in twice)
    assert stop(again) == 0, again.output()
    assert "Traceback" not in again.output()


def test_rejected_token_exits_at_once_with_a_clear_message_and_no_token(
    fake: FakeTelegram,
    runner: Runner,
    tmp_path: Path,
) -> None:
    """Break 5: `distriktsbot: Telegram: The token `…` was rejected` printed the token."""
    config = runner.write_config(base_config(fake, tmp_path))
    wrong = "654321:WRONG-token-abcdefghijklmnopqrstuvwxyz"
    env = runner.env(DISTRIKTSBOT_TOKEN=wrong, DISTRIKTSBOT_HASH_SECRET=HASH_SECRET)
    code, bot = runner.run(["--config", str(config), "run"], env)
    output = bot.output()
    assert code == 4, output
    assert "rejected the bot token" in bot.stderr()
    assert "BotFather" in bot.stderr()
    assert wrong not in output and wrong.split(":", 1)[1] not in output
    assert "Traceback" not in output
    assert "Unclosed client session" not in output
    assert "retrying" not in output  # a bad token is not a network blip


def test_unreachable_bot_api_is_retried_with_backoff_then_stops_cleanly(
    runner: Runner,
    tmp_path: Path,
) -> None:
    """Issue 6: Telegram unreachable printed three chained tracebacks and "Unclosed client
    session", then exited. Now: one line per attempt saying it retries, no traceback; SIGTERM
    stops it."""
    port = closed_port()
    data = {
        "telegram": {"base_url": f"http://127.0.0.1:{port}/bot"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"},
        "log_level": "INFO",
    }
    config = runner.write_config(data)
    env = runner.env(DISTRIKTSBOT_TOKEN="123456:TEST-TOKEN", DISTRIKTSBOT_HASH_SECRET=HASH_SECRET)
    bot = runner.start(["--config", str(config), "run"], env)
    output = wait_for_line(bot, "(attempt 2)")
    assert bot.proc.poll() is None, output
    lines = [line for line in output.splitlines() if "cannot reach Telegram" in line]
    assert len(lines) >= 2 and all("retrying in" in line for line in lines), output
    assert f"127.0.0.1:{port}" in lines[0]
    assert stop(bot) == 0, bot.output()
    output = bot.output()
    assert "Traceback" not in output
    assert "Unclosed client session" not in output
    assert "TEST-TOKEN" not in output


def test_network_errors_while_running_are_retried_never_fatal(
    fake: FakeTelegram,
    runner: Runner,
    tmp_path: Path,
) -> None:
    config = runner.write_config(base_config(fake, tmp_path))
    bot = runner.start(["--config", str(config), "run"], secrets_env(runner, fake))
    wait_until_started(fake, bot)
    converse(fake, fake.user(1001, "Kari"))
    fake.inject("getUpdates", HANG_UP, times=3)
    fake.inject("getUpdates", 502, times=2)
    fake.inject("sendMessage", 500, times=2)
    fake.send_text(fake.user(1002, "Ola"), FERRY)
    answer = fake.next_message_sync(1002, timeout=REPLY_TIMEOUT * 2)
    assert "Halvere fergetakstene." in (answer.plain_text or "")
    assert bot.proc.poll() is None
    assert "getUpdates failed" in bot.output()
    assert stop(bot) == 0, bot.output()
    assert "Traceback" not in bot.output()
    assert_no_secrets(bot, fake)


def _immutable(path: Path, on: bool) -> bool:
    try:
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def test_a_read_only_database_is_noticed_at_start(
    fake: FakeTelegram,
    runner: Runner,
    tmp_path: Path,
) -> None:
    """Break 8: a read-only SQLite file was only noticed at the first vote."""
    config = runner.write_config(base_config(fake, tmp_path))
    env = secrets_env(runner, fake)
    bot = runner.start(["--config", str(config), "run"], env)
    wait_until_started(fake, bot)
    assert stop(bot) == 0
    db = tmp_path / "bot.sqlite3"
    con = sqlite3.connect(db)  # fold the WAL in, so the file alone holds everything
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    if not _immutable(db, True):  # root ignores file modes; chattr works on ext4/xfs
        pytest.skip("cannot make a file read-only for root here (no chattr)")
    try:
        code, bot = runner.run(["--config", str(config), "run"], env)
    finally:
        _immutable(db, False)
    output = bot.output()
    assert code == 3, output
    assert "does not accept writes" in bot.stderr(), output
    assert "Traceback" not in output
