"""The bot's own webhook server (`handlers/server.py`) and `distriktsbot deploy`, as separate
processes against the stand-in Bot API, which delivers the updates to the server like Telegram
(`FakeTelegram.webhook_target`)."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from sqlalchemy import make_url

from tests.conftest import run_isolated
from tests.fake_telegram import FakeTelegram
from tests.test_run_process import (
    FERRY_QUESTION,
    HASH_SECRET,
    REPLY_TIMEOUT,
    STARTUP_TIMEOUT,
    WEBHOOK_SECRET,
    BotProcess,
    Runner,
    assert_no_secrets,
    free_port,
    post_update,
    secrets_env,
    stop,
    text_update,
)

PUBLIC_URL = "https://bot.example.org/telegram"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram()
    server.webhook_workers = 4
    with server:
        yield server


def webhook_config(fake: FakeTelegram, database_url: str, port: int) -> dict[str, Any]:
    fake.webhook_target = f"http://127.0.0.1:{port}/telegram"
    return {
        "telegram": {
            "base_url": fake.base_url,
            "mode": "webhook",
            "webhook": {"url": PUBLIC_URL, "listen": "127.0.0.1", "port": port},
        },
        "database": {"url": database_url},
        "knowledge": str(Path(__file__).resolve().parent.parent / "knowledge"),
        "log_level": "INFO",
        "server": {"knowledge_poll_seconds": 1},
    }


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def wait_listening(bot: BotProcess, port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            get(port, "/healthz")
            return
        except OSError:
            if bot.proc.poll() is not None:
                raise AssertionError(f"the bot exited:\n{bot.output()}") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"not listening:\n{bot.output()}") from None
            time.sleep(0.05)


def metric(text: str, name: str) -> float:
    """The value of one sample line of a Prometheus exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def deployed(runner: Runner, fake: FakeTelegram, tmp_path: Path, port: int) -> dict[str, str]:
    config = runner.write_config(
        webhook_config(fake, f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}", port)
    )
    env = secrets_env(runner, fake, DISTRIKTSBOT_WEBHOOK_SECRET=WEBHOOK_SECRET)
    code, done = runner.run(["--config", str(config), "deploy"], env)
    assert code == 0, done.output()
    return {"config": str(config), **env}


def start_run(runner: Runner, setup: dict[str, str], port: int) -> BotProcess:
    env = {k: v for k, v in setup.items() if k != "config"}
    bot = runner.start(["--config", setup["config"], "run"], env)
    wait_listening(bot, port)
    return bot


# --------------------------------------------------------------------------------------------


def test_deploy_sets_up_once_and_run_processes_do_not(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    port = free_port()
    setup = deployed(runner, fake, tmp_path, port)
    [hook] = fake.calls_to("setWebhook")
    assert hook.ok and hook.params["url"] == PUBLIC_URL
    assert hook.params["secret_token"] == WEBHOOK_SECRET
    assert hook.params["max_connections"] == 40
    assert len(fake.calls_to("setMyCommands")) == 1
    assert [c["command"] for c in fake.commands()][:2] == ["start", "emner"]

    bot = start_run(runner, setup, port)
    kari = fake.user(1001, "Kari")
    fake.send_text(kari, FERRY_QUESTION)
    answer = fake.next_message_sync(kari.id, timeout=REPLY_TIMEOUT)
    assert answer.plain_text is not None and "Halvere fergetakstene." in answer.plain_text
    assert stop(bot) == 0, bot.output()
    # the running process set up nothing with Telegram itself
    assert len(fake.calls_to("setWebhook")) == 1
    assert len(fake.calls_to("setMyCommands")) == 1
    assert "Traceback" not in bot.output()
    assert_no_secrets(bot, fake)
    assert WEBHOOK_SECRET not in bot.output()


def test_run_refuses_a_schema_that_is_not_at_head(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    port = free_port()
    config = runner.write_config(
        webhook_config(fake, f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}", port)
    )
    env = secrets_env(runner, fake, DISTRIKTSBOT_WEBHOOK_SECRET=WEBHOOK_SECRET)
    code, bot = runner.run(["--config", str(config), "run"], env)
    assert code == 3, bot.output()
    [line] = [x for x in bot.stderr().splitlines() if x.startswith("distriktsbot:")]
    assert "distriktsbot deploy" in line and "db upgrade" in line and "0005" in line
    assert "Traceback" not in bot.output()
    with pytest.raises(OSError):
        get(port, "/healthz")  # never listened


def test_the_200_comes_only_after_the_update_is_answered(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    """Telegram's confirmation of a webhook update is the 200: it must not come before the
    reply went out. sendMessage is slowed down, so a server that confirmed first would show."""
    port = free_port()
    setup = deployed(runner, fake, tmp_path, port)
    bot = start_run(runner, setup, port)
    fake.method_delays["sendMessage"] = 0.5
    kari = fake.user(1001, "Kari")
    status = post_update(port, text_update(42, kari, FERRY_QUESTION), WEBHOOK_SECRET)
    assert status == 200
    # no waiting: when the POST returned, the reply had been sent
    assert [m.plain_text is not None and "Halvere" in m.plain_text for m in fake.sent(kari.id)] == [
        True
    ]
    assert post_update(port, text_update(43, kari, FERRY_QUESTION), "forged") == 403
    assert post_update(port, text_update(44, kari, FERRY_QUESTION), None) == 403
    assert len(fake.sent(kari.id)) == 1
    assert stop(bot) == 0, bot.output()


def test_healthz_and_metrics(fake: FakeTelegram, runner: Runner, tmp_path: Path) -> None:
    port = free_port()
    setup = deployed(runner, fake, tmp_path, port)
    # multiprocess mode, with a folder that does not exist yet (the process makes it)
    setup["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics" / "new")
    bot = start_run(runner, setup, port)
    status, body = get(port, "/healthz")
    assert status == 200, body
    health = json.loads(body)
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["knowledge_version"] == 0

    kari, ola = fake.user(1001, "Kari"), fake.user(1002, "Ola")
    fake.send_text(kari, FERRY_QUESTION)
    answer = fake.next_message_sync(kari.id, timeout=REPLY_TIMEOUT)
    fake.send_text(ola, "Hva mener dere om ulvepolitikken?")
    fake.next_message_sync(ola.id, timeout=REPLY_TIMEOUT)
    fake.click(kari, answer, "Enig")
    fake.next_message_sync(kari.id, timeout=REPLY_TIMEOUT)
    fake.wait_for_sync("answerCallbackQuery", timeout=REPLY_TIMEOUT)
    assert post_update(port, text_update(9, kari, "x"), "forged") == 403

    # the last update is confirmed (and counted) right after its reply: wait for the count
    deadline = time.monotonic() + REPLY_TIMEOUT
    while True:
        status, text = get(port, "/metrics")
        if metric(text, 'distriktsbot_updates_total{kind="callback_query"}') == 1:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    assert status == 200
    assert metric(text, 'distriktsbot_updates_total{kind="message"}') == 2
    assert metric(text, 'distriktsbot_answers_total{outcome="matched"}') == 1
    assert metric(text, 'distriktsbot_answers_total{outcome="declined"}') == 1
    assert metric(text, 'distriktsbot_votes_total{outcome="new"}') == 1
    assert metric(text, 'distriktsbot_errors_total{kind="forged"}') == 1
    assert metric(text, "distriktsbot_update_seconds_count") == 3
    assert metric(text, "distriktsbot_updates_in_flight") == 0
    # nothing that identifies a person (the id as a number of its own, not inside a float)
    assert re.search(r"(?<![\d.])1001(?![\d.])", text) is None and "Kari" not in text
    assert stop(bot) == 0, bot.output()
    assert any((tmp_path / "metrics" / "new").glob("counter_*.db"))


def test_sigterm_finishes_the_updates_in_hand_and_confirms_only_those(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    port = free_port()
    setup = deployed(runner, fake, tmp_path, port)
    bot = start_run(runner, setup, port)
    fake.webhook_target = None  # the test posts itself, to see each confirmation
    fake.method_delays["sendMessage"] = 1.0
    users = [fake.user(2000 + i, f"U{i}") for i in range(5)]
    statuses: dict[int, int | str] = {}

    def post(i: int) -> None:
        try:
            statuses[i] = post_update(
                port, text_update(100 + i, users[i], FERRY_QUESTION), WEBHOOK_SECRET
            )
        except OSError as exc:
            statuses[i] = repr(exc)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + REPLY_TIMEOUT
    while json.loads(get(port, "/healthz")[1])["in_flight"] < 5:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    code = stop(bot)
    for t in threads:
        t.join(timeout=REPLY_TIMEOUT)
    assert code == 0, bot.output()
    assert statuses == dict.fromkeys(range(5), 200)  # each confirmed, after its answer:
    for user in users:
        assert len(fake.sent(user.id)) == 1
    with pytest.raises(OSError):  # nothing listens any more
        post_update(port, text_update(200, users[0], FERRY_QUESTION), WEBHOOK_SECRET)
    assert "Traceback" not in bot.output()


def test_an_update_not_finished_in_time_is_not_confirmed(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    """stop_timeout_seconds: 1 and a Bot API that takes 4 s: the update is cut off without a
    200, so Telegram would deliver it again (to the process that replaces this one)."""
    port = free_port()
    setup = deployed(runner, fake, tmp_path, port)
    config = Path(setup["config"])
    data = yaml.safe_load(config.read_text())
    data["server"]["stop_timeout_seconds"] = 1
    config.write_text(yaml.safe_dump(data))
    bot = start_run(runner, setup, port)
    fake.webhook_target = None
    fake.method_delays["sendMessage"] = 4.0
    kari = fake.user(1001, "Kari")
    result: list[int | str] = []

    def post() -> None:
        try:
            result.append(post_update(port, text_update(7, kari, FERRY_QUESTION), WEBHOOK_SECRET))
        except (OSError, http.client.HTTPException) as exc:
            result.append(type(exc).__name__)

    thread = threading.Thread(target=post)
    thread.start()
    deadline = time.monotonic() + REPLY_TIMEOUT
    while json.loads(get(port, "/healthz")[1])["in_flight"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert stop(bot) == 0, bot.output()
    thread.join(timeout=REPLY_TIMEOUT)
    assert result and result[0] != 200, result
    assert "not finished" in bot.stderr()


def test_healthz_says_503_when_the_database_goes_away(
    fake: FakeTelegram, runner: Runner, pg_url: str
) -> None:
    port = free_port()
    config = runner.write_config(webhook_config(fake, pg_url, port))
    env = secrets_env(runner, fake, DISTRIKTSBOT_WEBHOOK_SECRET=WEBHOOK_SECRET)
    code, done = runner.run(["--config", str(config), "deploy"], env)
    assert code == 0, done.output()
    bot = runner.start(["--config", str(config), "run"], env)
    wait_listening(bot, port)
    assert get(port, "/healthz")[0] == 200

    name = make_url(pg_url).database
    admin = make_url(pg_url).set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)

    async def lock_out(allow: bool) -> None:
        conn = await asyncpg.connect(dsn, timeout=3)
        try:
            await conn.execute(
                f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}'
            )
            if not allow:
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name,
                )
        finally:
            await conn.close()

    run_isolated(lambda: lock_out(False))
    try:
        status, body = get(port, "/healthz")
        assert status == 503, body
        assert json.loads(body)["status"] == "database unavailable"
    finally:
        run_isolated(lambda: lock_out(True))
    deadline = time.monotonic() + REPLY_TIMEOUT
    while get(port, "/healthz")[0] != 200:  # back by itself
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert stop(bot) == 0, bot.output()
    assert "Traceback" not in bot.output()


def test_deploy_in_polling_mode_removes_a_webhook(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    config = runner.write_config(
        {
            "telegram": {"base_url": fake.base_url},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"},
        }
    )
    code, done = runner.run(["--config", str(config), "deploy"], secrets_env(runner, fake))
    assert code == 0, done.output()
    assert fake.calls_to("setWebhook") == []
    assert len(fake.calls_to("deleteWebhook")) == 1
    assert len(fake.calls_to("setMyCommands")) == 1
    assert "revision 0005" in done.output()


def test_deploy_with_a_rejected_token_is_one_line_without_the_token(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    port = free_port()
    config = runner.write_config(
        webhook_config(fake, f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}", port)
    )
    wrong = "999999:WRONG-token-that-telegram-rejects"
    env = runner.env(DISTRIKTSBOT_TOKEN=wrong, DISTRIKTSBOT_HASH_SECRET=HASH_SECRET)
    code, done = runner.run(["--config", str(config), "deploy"], env)
    assert code == 4, done.output()
    [line] = [x for x in done.stderr().splitlines() if x.startswith("distriktsbot:")]
    assert "Telegram" in line
    assert wrong not in done.output() and "WRONG-token" not in done.output()
    assert "Traceback" not in done.output()


def test_run_port_out_of_range_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["run", "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "distriktsbot: --port: must be 1-65535, got 70000"


def test_a_killed_process_does_not_leave_its_queue_depth_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import sys

    from handlers import metrics

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    monkeypatch.setenv(metrics.MULTIPROCESS_ENV, str(tmp_path))
    for pid in (dead.pid, os.getpid()):
        (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
        (tmp_path / f"counter_{pid}.db").write_bytes(b"")
    metrics.forget_dead_processes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead.pid}.db", f"counter_{os.getpid()}.db", f"gauge_livesum_{os.getpid()}.db"]
    )
