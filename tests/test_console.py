"""The console chat (`distriktsbot chat`) as a person uses it: quitting, numbered choices,
/del, and text wrapped to the terminal. In process with a scripted reader, through stdin as a
real process, and through a pseudo-terminal of a known width."""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import messages
from bot.console import BOT_PREFIX, QUIT_WORDS, run_console
from bot.dialogue import Dialogue
from bot.knowledge import KnowledgeBase
from bot.storage import Storage
from tests.conftest import CONTRACT_IDS


async def chat(dialogue: Dialogue, *lines: str, width: int = 100) -> str:
    """Run the console over `lines` (then end of input); return everything it printed."""
    script: Iterator[str] = iter(lines)

    def read() -> str:
        try:
            return next(script)
        except StopIteration:
            raise EOFError from None

    out = io.StringIO()
    await run_console(dialogue, read=read, out=out, width=width)
    return out.getvalue()


def normalized(text: str) -> str:
    return " ".join(text.split())


# --- quitting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["avslutt", "ha det", "Ha det!", "exit", "quit", "/slutt"])
async def test_quit_words_end_the_chat_and_are_not_stored(
    dialogue: Dialogue, storage: Storage, kb: KnowledgeBase, word: str
) -> None:
    out = await chat(dialogue, "fergepriser", word, "bredbånd")
    assert "Halvere fergetakstene." in out
    bredband = kb.topic("bredband")
    assert bredband is not None and bredband.pledge not in out  # nothing after the quit word
    assert out.rstrip().endswith(messages.CONSOLE_BYE)
    assert await storage.unanswered.most_asked() == []


async def test_the_welcome_and_hjelp_say_how_to_quit(dialogue: Dialogue) -> None:
    out = await chat(dialogue, "/hjelp")
    welcome, _, help_part = out.partition(normalized(messages.HELP)[:40])
    assert help_part, out
    assert normalized(messages.CONSOLE_QUIT) in normalized(welcome)
    assert normalized(messages.CONSOLE_QUIT) in normalized(help_part)
    # the hint names words that really quit
    for word in re.findall(r"«([^»]+)»", messages.CONSOLE_QUIT):
        assert word in QUIT_WORDS


# --- numbered choices -------------------------------------------------------------------------


async def test_a_number_is_a_choice_only_while_choices_are_on_screen(
    dialogue: Dialogue, storage: Storage
) -> None:
    # /stopp answers without choices: a number then has nothing to pick
    out = await chat(dialogue, "/stopp", "1", "ferje", "1", "99")
    nothing = out.index(normalized(messages.CONSOLE_NOTHING_TO_CHOOSE)[:30])
    answer = out.index("Halvere fergetakstene.", nothing)
    thanks = out.index("Takk for din tilbakemelding!", answer)  # "1" = Enig, on screen
    assert normalized(messages.CONSOLE_NO_SUCH_CHOICE) in normalized(out[thanks:])  # 99
    assert await storage.unanswered.most_asked() == []
    votes = await storage.votes.opinions()
    assert [(v.topic_id, v.agree, v.disagree) for v in votes] == [("fergetakster", 1, 0)]


async def test_del_choices_lead_to_the_share_text(dialogue: Dialogue, kb: KnowledgeBase) -> None:
    third = kb.topic(CONTRACT_IDS[2])
    assert third is not None
    out = await chat(dialogue, "/del", "3")
    shared = out.split(messages.SHARE_USAGE, 1)[1]
    assert messages.SHARE_INTRO in shared
    assert third.pledge in shared
    assert third.explanation[:60] not in shared  # the share text, not the full answer
    assert "Enig" not in shared.split(messages.SHARE_INTRO, 1)[1]


async def test_del_with_an_unknown_topic_says_so(dialogue: Dialogue) -> None:
    out = await chat(dialogue, "/del tull")
    assert " ".join(messages.SHARE_UNKNOWN.format(topic="tull").split()) in " ".join(out.split())


# --- wrapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [40, 64, 100])
async def test_text_is_wrapped_to_the_width_counting_the_prefix(
    dialogue: Dialogue, kb: KnowledgeBase, width: int
) -> None:
    out = await chat(dialogue, "ferje", "/hjelp", "/emner", width=width)
    lines = out.splitlines()
    too_long = [line for line in lines if len(line) > width]
    assert not too_long, too_long
    assert any(line.startswith(BOT_PREFIX) for line in lines)
    # no word broken: every sentence of the answer reads whole once the line breaks are undone
    topic = kb.topic("fergetakster")
    assert topic is not None
    flat = normalized(out)
    assert normalized(topic.explanation) in flat
    for fact in topic.facts:
        assert normalized(fact.text) in flat
    assert normalized(messages.HELP) in flat.replace(" /", "\n/").replace("\n", " ")


# --- as a real process ------------------------------------------------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DISTRIKTSBOT_") and k not in ("COLUMNS", "LINES")
    }
    env["DISTRIKTSBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'chat.sqlite3'}"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _unanswered(tmp_path: Path) -> list[str]:
    con = sqlite3.connect(tmp_path / "chat.sqlite3")
    try:
        return [row[0] for row in con.execute("SELECT text FROM unanswered_questions")]
    finally:
        con.close()


def test_through_stdin_numbers_and_quit_words_are_not_questions(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        cwd=tmp_path,
        env=_env(tmp_path),
        input=b"/stopp\n4\nHva med ulven?\nha det\nferje\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert normalized(messages.CONSOLE_NOTHING_TO_CHOOSE)[:30] in normalized(out)
    assert "Halvere fergetakstene." not in out  # "ha det" ended the chat
    assert out.rstrip().endswith(messages.CONSOLE_BYE)
    assert _unanswered(tmp_path) == ["Hva med ulven?"]  # the real question only


class Terminal:
    """`distriktsbot chat` on a pseudo-terminal of a given size."""

    def __init__(self, tmp_path: Path, columns: int) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat"],
            cwd=tmp_path,
            env=_env(tmp_path),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def read_until(self, marker: bytes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} on the terminal; got:\n{self.text()}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the process closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before {marker!r}:\n{self.text()}")
                self.output += chunk

    def type(self, line: str) -> None:
        self.read_until(b"du> ")
        self.output = self.output.replace(b"du> ", b"du>\x00", 1)  # consumed
        os.write(self.master, line.encode() + b"\n")

    def text(self) -> str:
        return self.output.decode("utf-8", "replace").replace("\r\n", "\n")

    def close(self) -> int:
        try:
            code = self.proc.wait(timeout=30)
            while True:  # whatever is left on the terminal
                ready, _, _ = select.select([self.master], [], [], 0.5)
                if not ready:
                    break
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                self.output += chunk
            return code
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            os.close(self.master)


def test_on_a_terminal_lines_fit_its_width_and_avslutt_quits(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    columns = 60
    term = Terminal(tmp_path, columns)
    try:
        term.type("Blir ferja billigere?")
        term.type("avslutt")
        assert term.close() == 0, term.text()
    finally:
        if term.proc.poll() is None:
            term.close()
    text = term.text()
    assert "Traceback" not in text
    shown = [line for line in text.split("\n") if not line.startswith("du>")]
    too_long = [line for line in shown if len(line) > columns]
    assert not too_long, too_long
    topic = kb.topic("fergetakster")
    assert topic is not None
    assert normalized(topic.explanation) in normalized(text)
    assert text.rstrip().endswith(messages.CONSOLE_BYE)
    assert normalized(messages.CONSOLE_QUIT) in normalized(text)


def test_ctrl_c_at_the_prompt_ends_the_chat_politely(tmp_path: Path) -> None:
    term = Terminal(tmp_path, 80)
    try:
        term.read_until(b"du> ")
        term.proc.send_signal(signal.SIGINT)  # what Ctrl+C sends
        assert term.close() == 0, term.text()
    finally:
        if term.proc.poll() is None:
            term.close()
    text = term.text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert text.rstrip().endswith(messages.CONSOLE_BYE)
