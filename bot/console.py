"""The conversation in a terminal: the same dialogue and replies as on Telegram, as plain text.

Actions are shown as numbered choices; typing the number presses the button. Commands (/emner,
/hjelp, /del, /stopp, /slettmeg) work as on Telegram; /slutt or an empty line at EOF ends.
"""

from __future__ import annotations

import re
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.dialogue import Dialogue, Person
from bot.reply import ADMIN_DATA_PATTERN, BlockKind, Do, Reply

if TYPE_CHECKING:
    from bot.admin import Admin

CONSOLE_PERSON = Person(user_id=1, chat_id=1)
PROMPT = "du> "
QUIT = {"/slutt", "/quit", "/exit", "/avslutt"}


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
            out.append(block.text.upper())
        elif block.kind is BlockKind.FACT:
            out.append(
                textwrap.fill(block.text, width, initial_indent="  • ", subsequent_indent="    ")
            )
        else:
            out.append(textwrap.fill(block.text, width) if "\n" not in block.text else block.text)
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
        lines.append("   ".join(cells))
    if lines:
        out.append("\n".join(lines))
    return "\n\n".join(out), choices


def save_media(reply: Reply, folder: Path) -> list[Path]:
    """Write the reply's images and files into `folder`; returns their paths."""
    saved = []
    for block in reply.blocks:
        if block.data is not None and block.filename:
            path = folder / Path(block.filename).name
            path.write_bytes(block.data)
            saved.append(path)
    return saved


async def run_console(
    dialogue: Dialogue,
    read: Callable[[], str] | None = None,
    out: TextIO | None = None,
    admin: Admin | None = None,
) -> None:
    """Chat until /slutt or end of input. `read` raises EOFError at the end (like input()).
    With `admin` (`distriktsbot chat --admin`), admin commands and buttons go through it."""
    import sys

    stream = out or sys.stdout
    if read is None and hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # undecodable bytes must not end the chat
    reader = read or (lambda: input(PROMPT))
    person = CONSOLE_PERSON

    media_dir: Path | None = None

    def show(reply: Reply) -> list[tuple[int, str]]:
        nonlocal media_dir
        text, choices = render_text(reply)
        print(f"\nbot> {text}\n", file=stream, flush=True)
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

    choices = show(await dialogue.command(person, "start"))
    while True:
        try:
            line = reader().strip()
        except (EOFError, KeyboardInterrupt):
            print("", file=stream)
            break
        if not line:
            continue
        if line.lower() in QUIT:
            break
        if line.isdigit() and choices:
            picked = dict(choices).get(int(line))
            if picked is None:
                print(f"(velg et tall fra 1 til {len(choices)})", file=stream)
                continue
            if admin is not None and admin_data.match(picked):
                choices = show(await admin.press(person, picked))
            else:
                choices = show(await dialogue.press(person, picked))
        elif line.startswith("/"):
            name, _, arg = line[1:].partition(" ")
            name = name.split("@")[0]
            if admin is not None and name.lower() in admin_names:
                choices = show(await admin.command(person, name, arg))
            else:
                choices = show(await dialogue.command(person, name, arg))
        else:
            choices = show(await dialogue.ask(person, line))
    print("Ha det bra!", file=stream)
