"""A stranger's first steps with `distriktsbot run`, as real processes in a fresh folder:
`init` writes ./config.yaml, `run` reads it without being told, and says which file it read.
What is missing is listed in one message, each item with what to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

TOKEN = "123456789:AAFirstHourToken-abcdefghijklmnop"
STARTUP_TIMEOUT = 30.0


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIKTSBOT_")}
    clean["PYTHONUNBUFFERED"] = "1"
    clean["PYTHONIOENCODING"] = "utf-8"
    return clean


def distriktsbot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_until_log(tmp_path: Path, needle: str) -> tuple[str, int | None]:
    """Start `distriktsbot run` in tmp_path, wait for a stderr line containing `needle` (or the
    process's end), then kill it. Returns (stderr, exit code if it ended by itself)."""
    err_path = tmp_path / "run.stderr"
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=tmp_path,
            env=env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if needle in err_path.read_text(errors="replace") or proc.poll() is not None:
                break
            time.sleep(0.1)
        code = proc.poll()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    return err_path.read_text(errors="replace"), code


def test_run_reads_config_yaml_from_the_working_directory(tmp_path: Path) -> None:
    """The user put the token in ./config.yaml and ran `distriktsbot run`, no --config."""
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "telegram": {"token": TOKEN, "base_url": f"http://127.0.0.1:{closed_port()}/bot"},
                "privacy": {"hash_secret": "first-hour-secret-0123456789"},
                "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"},
            }
        ),
        encoding="utf-8",
    )
    stderr, code = run_until_log(tmp_path, f"config file {config}")
    assert f"config file {config}" in stderr, stderr  # the start-up line names the file read
    assert code != 2, stderr  # got past the configuration
    assert "telegram.token" not in stderr
    assert TOKEN not in stderr and TOKEN.split(":")[1] not in stderr


def test_run_without_a_config_file_lists_everything_missing_at_once(tmp_path: Path) -> None:
    proc = distriktsbot(tmp_path, "run")
    assert proc.returncode == 2
    err = proc.stderr
    assert "Traceback" not in err
    assert "telegram.token" in err and "@BotFather" in err
    assert "privacy.hash_secret" in err and "secrets.token_urlsafe" in err
    assert "No config file was read" in err and "--config" in err and "distriktsbot init" in err


def test_init_then_the_token_then_run(tmp_path: Path) -> None:
    """The README's first-run path: init, paste the token, run."""
    first = distriktsbot(tmp_path, "init")
    assert first.returncode == 0, first.stderr
    config = tmp_path / "config.yaml"
    assert config.is_file()
    assert "@BotFather" in first.stdout
    written = config.read_bytes()

    again = distriktsbot(tmp_path, "init")
    assert again.returncode == 2
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    assert config.read_bytes() == written  # never overwritten

    # with only the secret filled in, `run` asks for the token alone
    missing = distriktsbot(tmp_path, "run")
    assert missing.returncode == 2
    assert "telegram.token" in missing.stderr
    assert "privacy.hash_secret" not in missing.stderr
    assert str(config) in missing.stderr

    # the user pastes the token as the comment says (and we point the bot at a closed port)
    text = config.read_text(encoding="utf-8")
    assert text.count('  token: ""') == 1
    text = text.replace('  token: ""', f'  token: "{TOKEN}"')
    text = text.replace(
        "  base_url: https://api.telegram.org/bot",
        f"  base_url: http://127.0.0.1:{closed_port()}/bot",
    )
    text = text.replace(
        "sqlite+aiosqlite:///distriktsbot.sqlite3", f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    )
    config.write_text(text, encoding="utf-8")
    stderr, code = run_until_log(tmp_path, f"config file {config}")
    assert f"config file {config}" in stderr, stderr
    assert code != 2, stderr


def test_init_writes_where_it_is_told(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "bot.yaml"
    target.parent.mkdir()
    proc = distriktsbot(tmp_path, "init", "--config", str(target))
    assert proc.returncode == 0, proc.stderr
    assert target.is_file() and not (tmp_path / "config.yaml").exists()
    assert f"--config {target}" in proc.stdout  # how to run with it
