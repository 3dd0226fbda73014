"""The conversation in a terminal: the same dialogue and replies as on Telegram, as plain text.

Actions are shown as numbered choices; typing the number presses the button, but only while
those choices are on screen (the last reply's). Commands (/emner, /hjelp, /del, /stopp,
/slettmeg) work as on Telegram. `avslutt`, `ha det`, `exit`, `quit` (or /slutt, or Ctrl+D) end
the chat; the welcome and /hjelp say so. Text is wrapped to the terminal's width, the prompt
prefix counted, and words are never broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import shutil
import tempfile
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot import messages
from bot.dialogue import Dialogue, Person
from bot.reply import ADMIN_DATA_PATTERN, Block, BlockKind, Do, Reply

if TYPE_CHECKING:
    from bot.admin import Admin

CONSOLE_PERSON = Person(user_id=1, chat_id=1)
PROMPT = "du> "
BOT_PREFIX = "bot> "
QUIT_WORDS = frozenset(
    {"avslutt", "ha det", "ha det bra", "hadet", "exit", "quit"}
    | {"/slutt", "/avslutt", "/quit", "/exit"}
)
"""What ends the chat (compared lower-cased, without trailing punctuation). Never sent to the
dialogue, so never stored as an unanswered question."""
MIN_WIDTH = 20
_HELP_COMMANDS = {"start", "hjelp", "help"}


def is_quit(line: str) -> bool:
    return line.strip().lower().rstrip(".!? ") in QUIT_WORDS


def terminal_width() -> int:
    """Columns of the terminal (COLUMNS, else the terminal itself, else 80)."""
    return shutil.get_terminal_size(fallback=(80, 24)).columns


def _fill(text: str, width: int, first: str = "", rest: str = "") -> str:
    """Wrap each line of `text` to `width`, never breaking a word (a longer word, e.g. a URL,
    stands alone on its line)."""
    out = []
    for line in text.split("\n"):
        if not line.strip():
            out.append("")
            continue
        out.append(
            textwrap.fill(
                line,
                max(width, MIN_WIDTH),
                initial_indent=first,
                subsequent_indent=rest,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
        first = rest
    return "\n".join(out)


def _row_lines(cells: list[str], width: int) -> list[str]:
    """A row of choices on as few lines as fit the width, breaking only between choices."""
    lines: list[str] = []
    for cell in cells:
        if len(cell) > width:  # a long label: wrapped under itself, after its number
            hang = " " * (cell.index("] ") + 2 if cell.startswith("[") else 0)
            lines.extend(_fill(cell, width, "", hang).split("\n"))
            lines.append("")  # nothing joins a wrapped label's last line
        elif lines and lines[-1] and len(lines[-1]) + 3 + len(cell) <= width:
            lines[-1] += "   " + cell
        else:
            lines.append(cell)
    return [line for line in lines if line]


def render_text(reply: Reply, width: int = 78) -> tuple[str, list[tuple[int, str]]]:
    """Plain-text rendering: the text and the numbered actions (number, encoded action)."""
    out: list[str] = []
    for block in reply.blocks:
        if block.data is not None:  # an image or a file: described (run_console saves it)
            what = "bilde" if block.kind is BlockKind.IMAGE else "fil"
            size = max(1, round(len(block.data) / 1024))
            out.append(f"[{what}: {block.filename} ({size} kB)]")
            continue
        if block.kind is BlockKind.TITLE:
            out.append(_fill(block.text.upper(), width))
        elif block.kind is BlockKind.FACT:
            out.append(_fill(block.text, width, "  • ", "    "))
        else:
            out.append(_fill(block.text, width))
    choices: list[tuple[int, str]] = []
    lines = []
    for row in reply.rows:
        cells = []
        for action in row:
            if action.do is Do.LINK:
                cells.append(f"[{action.label}: {action.url}]")
                continue
            choices.append((len(choices) + 1, action.encode()))
            cells.append(f"[{len(choices)}] {action.label}")
        lines.extend(_row_lines(cells, width))
    if lines:
        out.append("\n".join(lines))
    return "\n\n".join(out), choices


def _with_quit_hint(reply: Reply) -> Reply:
    note = Block(BlockKind.NOTE, messages.CONSOLE_QUIT)
    return dataclasses.replace(reply, blocks=(*reply.blocks, note))


def save_media(reply: Reply, folder: Path) -> list[Path]:
    """Write the reply's images and files into `folder`; returns their paths."""
    saved = []
    for block in reply.blocks:
        if block.data is not None and block.filename:
            path = folder / Path(block.filename).name
            path.write_bytes(block.data)
            saved.append(path)
    return saved


async def _read_line(reader: Callable[[], str]) -> str:
    """`reader()` (input()) in a daemon thread, so that the event loop, not a blocking read,
    waits: Ctrl+C then reaches the chat at once (a signal delivered to another thread does not
    interrupt a read in the main thread), and an unfinished read never holds up the exit."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()

    def settle(line: str | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(line or "")

    def work() -> None:
        line, error = None, None
        try:
            line = reader()
        except BaseException as exc:  # EOFError, KeyboardInterrupt: the chat decides
            error = exc
        with contextlib.suppress(RuntimeError):  # the chat has ended and its loop is closed
            loop.call_soon_threadsafe(settle, line, error)

    threading.Thread(target=work, name="console-input", daemon=True).start()
    return await done


async def run_console(
    dialogue: Dialogue,
    read: Callable[[], str] | None = None,
    out: TextIO | None = None,
    width: int | None = None,
    admin: Admin | None = None,
) -> None:
    """Chat until a quit word or end of input. `read` raises EOFError at the end (like input()).
    `width` is the terminal's (measured when not given). With `admin` (`distriktsbot chat
    --admin`), admin commands and buttons go through it."""
    import sys

    stream = out or sys.stdout
    if read is None and hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # undecodable bytes must not end the chat
    reader = read or (lambda: input(PROMPT))
    person = CONSOLE_PERSON
    columns = width or terminal_width()
    indent = " " * len(BOT_PREFIX)

    def say(text: str) -> None:
        lines = text.split("\n")
        shown = [BOT_PREFIX + lines[0]] + [indent + line if line else "" for line in lines[1:]]
        print("\n" + "\n".join(shown) + "\n", file=stream, flush=True)

    media_dir: Path | None = None

    def show(reply: Reply) -> list[tuple[int, str]]:
        nonlocal media_dir
        text, choices = render_text(reply, columns - len(BOT_PREFIX))
        say(text)
        if any(b.data is not None for b in reply.blocks):
            media_dir = media_dir or Path(tempfile.mkdtemp(prefix="distriktsbot-"))
            for path in save_media(reply, media_dir):
                print(f"(lagret: {path})", file=stream, flush=True)
        return choices

    admin_data = re.compile(ADMIN_DATA_PATTERN)
    admin_names = set()
    if admin is not None:
        from bot.admin import ADMIN_COMMAND_NAMES

        admin_names = set(ADMIN_COMMAND_NAMES)

    choices = show(_with_quit_hint(await dialogue.command(person, "start")))
    while True:
        try:
            line = (reader() if read is not None else await _read_line(reader)).strip()
        except (EOFError, KeyboardInterrupt, asyncio.CancelledError):
            # Ctrl+D; Ctrl+C (asyncio.run cancels the chat: only the end of the chat is left)
            print("", file=stream)
            break
        if not line:
            continue
        if is_quit(line):
            break
        if line.isdigit():
            # a number is a choice only while choices are on screen
            if not choices:
                say(_fill(messages.CONSOLE_NOTHING_TO_CHOOSE, columns - len(BOT_PREFIX)))
                continue
            picked = dict(choices).get(int(line))
            if picked is None:
                say(_fill(messages.CONSOLE_NO_SUCH_CHOICE, columns - len(BOT_PREFIX)))
                continue
            if admin is not None and admin_data.match(picked):
                choices = show(await admin.press(person, picked))
            else:
                choices = show(await dialogue.press(person, picked))
        elif line.startswith("/"):
            name, _, arg = line[1:].partition(" ")
            name = name.split("@")[0]
            if admin is not None and name.lower() in admin_names:
                reply = await admin.command(person, name, arg)
            else:
                reply = await dialogue.command(person, name, arg)
            if name.lower() in _HELP_COMMANDS:
                reply = _with_quit_hint(reply)
            choices = show(reply)
        else:
            choices = show(await dialogue.ask(person, line))
    print(messages.CONSOLE_BYE, file=stream)
