"""`distriktsbot run` as a separate process, pointed at the stand-in Bot API on loopback.

The secrets come from the environment (never from the file), as in production; the tests act as
a user through the stand-in, then stop the process with SIGTERM like a service manager would.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.fake_telegram import FakeTelegram, FakeUser

ROOT = Path(__file__).resolve().parent.parent
HASH_SECRET = "process-test-secret-0123456789abcdef"
WEBHOOK_SECRET = "webhook-secret-Zx81_q"
STARTUP_TIMEOUT = 30.0  # imports, knowledge, migrations on a slow CI machine
REPLY_TIMEOUT = 15.0
EXIT_TIMEOUT = 20.0
FERRY_QUESTION = "Blir ferja billigere?"


@dataclass
class BotProcess:
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(
            errors="replace"
        )

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"distriktsbot did not exit within {timeout}s; output so far:\n{self.output()}"
            ) from None


class Runner:
    """Starts `distriktsbot` processes and makes sure none outlives the test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[BotProcess] = []

    def write_config(self, data: dict[str, Any], name: str = "config.yaml") -> Path:
        path = self.tmp_path / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIKTSBOT_")}
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env

    def start(self, args: list[str], env: dict[str, str]) -> BotProcess:
        n = len(self.started)
        out, err = self.tmp_path / f"stdout-{n}.txt", self.tmp_path / f"stderr-{n}.txt"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        bot = BotProcess(proc, out, err)
        self.started.append(bot)
        return bot

    def run(self, args: list[str], env: dict[str, str]) -> tuple[int, BotProcess]:
        bot = self.start(args, env)
        return bot.wait(), bot

    def cleanup(self) -> None:
        for bot in self.started:
            if bot.proc.poll() is None:
                bot.proc.kill()
                bot.proc.wait(timeout=10)


def base_config(fake: FakeTelegram, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "telegram": {"base_url": fake.base_url},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"},
        "knowledge": str(ROOT / "knowledge"),
        "log_level": "INFO",
    }
    data.update(overrides)
    return data


def secrets_env(runner: Runner, fake: FakeTelegram, **extra: str) -> dict[str, str]:
    return runner.env(DISTRIKTSBOT_TOKEN=fake.token, DISTRIKTSBOT_HASH_SECRET=HASH_SECRET, **extra)


def wait_until_started(fake: FakeTelegram, bot: BotProcess, method: str = "setMyCommands") -> None:
    """Wait for the bot's first `method` call (post_init sets the command list); fail early,
    with the bot's output, if the process exits first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            fake.wait_for_sync(method, timeout=0.25)
            return
        except AssertionError:
            code = bot.proc.poll()
            if code is not None:
                raise AssertionError(
                    f"distriktsbot exited with status {code} before starting:\n{bot.output()}"
                ) from None
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"distriktsbot did not start within {STARTUP_TIMEOUT}s:\n{bot.output()}"
                ) from None


def stop(bot: BotProcess) -> int:
    bot.proc.send_signal(signal.SIGTERM)
    return bot.wait()


def assert_no_secrets(bot: BotProcess, fake: FakeTelegram) -> None:
    output = bot.output()
    assert fake.token not in output
    assert fake.token.split(":", 1)[1] not in output
    assert HASH_SECRET not in output


# --------------------------------------------------------------------------------------------
# Polling: a conversation, then a clean stop
# --------------------------------------------------------------------------------------------


def converse(fake: FakeTelegram, user: FakeUser) -> None:
    """Ask the ferry question, press Enig, check both replies."""
    fake.send_text(user, FERRY_QUESTION)
    answer = fake.next_message_sync(user.id, timeout=REPLY_TIMEOUT)
    assert answer.plain_text is not None
    assert "Halvere fergetakstene." in answer.plain_text
    assert "Er du enig med Arbeiderpartiet om Distriktspolitikk?" in answer.plain_text
    assert answer.button("Enig") == "ja:fergetakster"
    assert answer.button("Uenig") == "nei:fergetakster"

    fake.click(user, answer, "Enig")
    thanks = fake.next_message_sync(user.id, timeout=REPLY_TIMEOUT)
    assert thanks.plain_text is not None
    assert thanks.plain_text.startswith("Takk for din tilbakemelding!")
    assert "Vil du vite hva mer vi kanskje er enig om?" in thanks.plain_text
    assert fake.wait_for_sync("answerCallbackQuery", timeout=REPLY_TIMEOUT).ok


def test_run_polling_answers_and_stops_cleanly_on_sigterm(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    config = runner.write_config(base_config(fake, tmp_path))
    assert fake.token not in config.read_text()
    bot = runner.start(["--config", str(config), "run"], secrets_env(runner, fake))
    wait_until_started(fake, bot)

    converse(fake, fake.user(1001, "Kari"))

    assert stop(bot) == 0, bot.output()
    assert "Traceback" not in bot.output()
    assert_no_secrets(bot, fake)
    # the vote was committed before the process went away
    con = sqlite3.connect(tmp_path / "bot.sqlite3")
    try:
        assert con.execute("SELECT topic_id, agree FROM votes").fetchall() == [("fergetakster", 1)]
    finally:
        con.close()


def test_run_accepts_config_after_the_subcommand(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    """`distriktsbot run --config config.yaml`, as config.example.yaml and the docs write it."""
    config = runner.write_config(base_config(fake, tmp_path))
    bot = runner.start(["run", "--config", str(config)], secrets_env(runner, fake))
    wait_until_started(fake, bot)
    converse(fake, fake.user(1001, "Kari"))
    assert stop(bot) == 0, bot.output()


def test_log_level_from_the_config_is_applied(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    """log_level: INFO must show the bot's own INFO lines (e.g. that it started, from the
    distriktsbot.* loggers), not only the library's; still without the token."""
    config = runner.write_config(base_config(fake, tmp_path, log_level="INFO"))
    bot = runner.start(["--config", str(config), "run"], secrets_env(runner, fake))
    wait_until_started(fake, bot)
    converse(fake, fake.user(1001, "Kari"))
    assert stop(bot) == 0, bot.output()
    own = [
        line
        for line in bot.stderr().splitlines()
        if " INFO distriktsbot" in line or " INFO bot." in line
    ]
    assert own, f"no INFO lines of the bot's own with log_level INFO; stderr was:\n{bot.stderr()}"
    assert_no_secrets(bot, fake)


# --------------------------------------------------------------------------------------------
# Refusing to start
# --------------------------------------------------------------------------------------------


def test_unknown_config_key_is_named_and_nothing_starts(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    data = base_config(fake, tmp_path)
    data["telegram"] = {"tokn": "x", "base_url": fake.base_url}
    config = runner.write_config(data)
    code, bot = runner.run(["--config", str(config), "run"], secrets_env(runner, fake))
    assert code == 2, bot.output()
    assert "telegram.tokn" in bot.stderr()
    assert "Traceback" not in bot.output()
    assert fake.calls == []  # never talked to Telegram
    assert not (tmp_path / "bot.sqlite3").exists()  # never touched the database


def test_missing_token_is_named(fake: FakeTelegram, runner: Runner, tmp_path: Path) -> None:
    config = runner.write_config(base_config(fake, tmp_path))
    env = runner.env(DISTRIKTSBOT_HASH_SECRET=HASH_SECRET)
    code, bot = runner.run(["--config", str(config), "run"], env)
    assert code == 2, bot.output()
    assert "telegram.token" in bot.stderr()
    assert "DISTRIKTSBOT_TOKEN" in bot.stderr()
    assert "Traceback" not in bot.output()
    assert fake.calls == []


def test_unreachable_database_is_one_clear_line(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    data = base_config(fake, tmp_path)
    data["database"] = {"url": "postgresql+asyncpg://postgres@127.0.0.1:1/x"}
    config = runner.write_config(data)
    code, bot = runner.run(["--config", str(config), "run"], secrets_env(runner, fake))
    output = bot.output()
    assert code != 0, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "127.0.0.1:1" in line]
    assert lines, output
    assert all("database" in line.lower() for line in lines), lines
    assert "distriktsbot: database:" in output
    assert_no_secrets(bot, fake)
    # like every other error of the command line, it goes to stderr (stdout may be a pipe)
    assert "distriktsbot: database:" in bot.stderr(), output


# --------------------------------------------------------------------------------------------
# Webhook mode
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post_update(port: int, update: dict[str, Any], secret: str | None) -> int:
    """POST an update to the bot's webhook listener like Telegram does; the HTTP status."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/telegram", body=json.dumps(update).encode(), headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def text_update(update_id: int, user: FakeUser, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": user.to_dict(),
            "chat": user.chat.to_dict(),
            "date": int(time.time()),
            "text": text,
        },
    }


def test_webhook_mode_answers_and_refuses_forged_posts(
    fake: FakeTelegram, runner: Runner, tmp_path: Path
) -> None:
    """`distriktsbot deploy` registers the webhook once; `run` serves it. The stand-in only
    records setWebhook here (it cannot reach a plain-HTTP listener with https), so the test posts
    the updates to the listener itself, as Telegram would."""
    port = free_port()
    url = f"https://127.0.0.1:{port}/telegram"
    data = base_config(fake, tmp_path)
    data["telegram"] = {
        "base_url": fake.base_url,
        "mode": "webhook",
        "webhook": {"url": url, "listen": "127.0.0.1", "port": port, "path": "telegram"},
    }
    config = runner.write_config(data)
    env = secrets_env(runner, fake, DISTRIKTSBOT_WEBHOOK_SECRET=WEBHOOK_SECRET)
    code, deploy = runner.run(["--config", str(config), "deploy"], env)
    assert code == 0, deploy.output()
    bot = runner.start(["--config", str(config), "run"], env)
    [hook] = fake.calls_to("setWebhook")
    assert hook.ok, str(hook)
    assert hook.params["url"] == url
    assert hook.params["secret_token"] == WEBHOOK_SECRET
    assert fake.webhook_info()["url"] == url

    kari = fake.user(1001, "Kari")
    # setWebhook is sent once the listener is up; still, allow it a moment to accept
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            status = post_update(port, text_update(1, kari, "Hva mener dere om abort?"), None)
            break
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert status == 403
    assert post_update(port, text_update(2, kari, "Hva med abort?"), "wrong-secret") == 403

    assert post_update(port, text_update(3, kari, FERRY_QUESTION), WEBHOOK_SECRET) == 200
    answer = fake.next_message_sync(kari.id, timeout=REPLY_TIMEOUT)
    assert answer.plain_text is not None
    assert "Halvere fergetakstene." in answer.plain_text
    assert answer.button("Enig") == "ja:fergetakster"
    # the refused posts were never handled: the ferry answer is the only message
    assert [m.message_id for m in fake.sent(kari.id)] == [answer.message_id]

    assert stop(bot) == 0, bot.output()
    assert "Traceback" not in bot.output()
    assert_no_secrets(bot, fake)
    assert WEBHOOK_SECRET not in bot.output()


def test_webhook_dependencies_are_declared() -> None:
    """Webhook mode runs the bot's own aiohttp server with prometheus-client metrics
    (handlers/server.py); a fresh install from pyproject must be able to run it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = {
        d.replace(" ", "").split("[")[0].split("~")[0].split(";")[0].lower()
        for d in project["project"]["dependencies"]
    }
    assert {"aiohttp", "prometheus-client", "python-telegram-bot"} <= names, names
