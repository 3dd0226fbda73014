"""The conversation in a terminal: the same dialogue and replies as on Telegram, as plain text.

Actions are shown as numbered choices; typing the number presses the button. Commands (/emner,
/hjelp, /del, /stopp, /slettmeg) work as on Telegram; /slutt or an empty line at EOF ends.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import TextIO

from bot.dialogue import Dialogue, Person
from bot.reply import BlockKind, Do, Reply

CONSOLE_PERSON = Person(user_id=1, chat_id=1)
PROMPT = "du> "
QUIT = {"/slutt", "/quit", "/exit", "/avslutt"}


def render_text(reply: Reply, width: int = 78) -> tuple[str, list[tuple[int, str]]]:
    """Plain-text rendering: the text and the numbered actions (number, encoded action)."""
    out: list[str] = []
    for block in reply.blocks:
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


async def run_console(
    dialogue: Dialogue, read: Callable[[], str] | None = None, out: TextIO | None = None
) -> None:
    """Chat until /slutt or end of input. `read` raises EOFError at the end (like input())."""
    import sys

    stream = out or sys.stdout
    if read is None and hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # undecodable bytes must not end the chat
    reader = read or (lambda: input(PROMPT))
    person = CONSOLE_PERSON

    def show(reply: Reply) -> list[tuple[int, str]]:
        text, choices = render_text(reply)
        print(f"\nbot> {text}\n", file=stream, flush=True)
        return choices

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
            choices = show(await dialogue.press(person, picked))
        elif line.startswith("/"):
            name, _, arg = line[1:].partition(" ")
            choices = show(await dialogue.command(person, name.split("@")[0], arg))
        else:
            choices = show(await dialogue.ask(person, line))
    print("Ha det bra!", file=stream)
