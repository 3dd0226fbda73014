"""Inline mode for volunteers: "@bot ferje" in any chat offers answer cards to drop in."""

from __future__ import annotations

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)
from telegram.ext import ContextTypes

from bot import messages
from handlers.common import dialogue
from handlers.render import render_html, render_keyboard


async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.inline_query
    if query is None:
        return
    talk = dialogue(context)
    results = []
    for topic in talk.search(query.query):
        card = talk.card(topic)
        results.append(
            InlineQueryResultArticle(
                id=topic.id,
                title=topic.title,
                description=topic.pledge[:120],
                input_message_content=InputTextMessageContent(render_html(card)),
                reply_markup=render_keyboard(card),
            )
        )
    button = None
    if not results:
        button = InlineQueryResultsButton(text=messages.ASK_YOURSELF, start_parameter="inline")
    await query.answer(results, cache_time=60, is_personal=False, button=button)
