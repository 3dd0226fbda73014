"""Render a core `Reply` for Telegram: HTML text and an inline keyboard."""

from __future__ import annotations

from functools import lru_cache
from html import escape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.reply import Action, BlockKind, Do, Reply

MAX_MESSAGE_CHARS = 4096


def render_html(reply: Reply) -> str:
    parts = []
    for block in reply.blocks:
        if block.is_media:  # sent as a photo or a document of its own (handlers.common.send)
            continue
        text = escape(block.text, quote=False)
        if block.kind in (BlockKind.TITLE, BlockKind.QUESTION):
            parts.append(f"<b>{text}</b>")
        elif block.kind is BlockKind.FACT:
            parts.append(f"• {text}")
        elif block.kind is BlockKind.NOTE:
            parts.append(f"<i>{text}</i>")
        else:
            parts.append(text)
    html = "\n\n".join(parts)
    if len(html) > MAX_MESSAGE_CHARS:  # never for the shipped knowledge; cut on a paragraph
        html = html[: MAX_MESSAGE_CHARS - 1].rsplit("\n\n", 1)[0]
    return html


def render_keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    return _keyboard(reply.rows)


@lru_cache(maxsize=1024)
def _keyboard(action_rows: tuple[tuple[Action, ...], ...]) -> InlineKeyboardMarkup | None:
    """Keyboards repeat (the menu, Enig/Uenig per topic); PTB objects are immutable, so one
    markup object per distinct layout is built once and shared."""
    rows = []
    for row in action_rows:
        buttons = [
            InlineKeyboardButton(a.label, url=a.url)
            if a.do is Do.LINK
            else InlineKeyboardButton(a.label, callback_data=a.encode())
            for a in row
        ]
        if buttons:
            rows.append(buttons)
    return InlineKeyboardMarkup(rows) if rows else None


def render_keyboard_json(reply: Reply) -> dict[str, Any] | None:
    """The keyboard as the Bot API's JSON object, built once per layout like the markup (what
    PTB would otherwise rebuild from the markup for every message). Shared: never modify it."""
    return _keyboard_json(reply.rows)


@lru_cache(maxsize=1024)
def _keyboard_json(action_rows: tuple[tuple[Action, ...], ...]) -> dict[str, Any] | None:
    markup = _keyboard(action_rows)
    return None if markup is None else markup.to_dict()
