"""Handlers for voters: commands, questions, button presses, and what is not text."""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import ContextTypes

from bot import messages
from bot.dialogue import Person
from bot.reply import Reply
from handlers import metrics
from handlers.common import dialogue, person, send, send_html
from handlers.render import render_html, render_keyboard_json

log = logging.getLogger("distriktsbot.telegram")


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, who = update.effective_message, person(update)
    if message is None or who is None or not message.text:
        return
    name = message.text.split()[0][1:].split("@")[0]
    arg = " ".join(context.args or [])
    await send(message, await dialogue(context).command(who, name, arg), context, who)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, who = update.effective_message, person(update)
    if message is None or who is None or message.text is None:
        return
    text = message.text
    username = context.bot.username
    if message.chat.type != ChatType.PRIVATE and username:
        text = text.replace(f"@{username}", " ")
    reply = await dialogue(context).ask(who, text)
    metrics.observe_answer(reply)
    await send(message, reply, context, who)


async def on_group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group: only messages that mention the bot or reply to one of its messages."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    me = context.bot.username
    mentioned = bool(me) and f"@{me}".lower() in message.text.lower()
    reply_to = message.reply_to_message
    replied = (
        reply_to is not None
        and reply_to.from_user is not None
        and (reply_to.from_user.id == context.bot.id)
    )
    if mentioned or replied:
        await on_text(update, context)


async def on_not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, who = update.effective_message, person(update)
    if message is None:
        return
    log.info("non-text message in a private chat; replied with a hint")
    await send(message, dialogue(context).not_text_reply(), context, who)


async def on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.info("ignored an edited message (update %s)", update.update_id)


async def _answer(query: CallbackQuery, text: str | None = None) -> None:
    try:
        await query.answer(text)
    except BadRequest as exc:  # too old to answer: the reply still goes out
        log.info("could not answer callback query: %s", exc.message)


async def _send_privately(context: ContextTypes.DEFAULT_TYPE, who: Person, reply: Reply) -> bool:
    try:
        await send_html(context.bot, who.user_id, render_html(reply), render_keyboard_json(reply))
    except (Forbidden, BadRequest) as exc:  # never talked to the bot, or blocked it
        log.info("cannot reply privately to a button press: %s", exc.message)
        return False
    return True


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, who = update.callback_query, person(update)
    if query is None:
        return
    if who is None:  # no sender: nothing to answer for, but never leave the button spinning
        await _answer(query)
        return
    # in a private chat the press is answered without a text whatever the reply: answered while
    # the core works (a vote waits for the database), not after it
    answering = asyncio.ensure_future(_answer(query)) if who.private else None
    try:
        reply = await dialogue(context).press(who, query.data, update.update_id)
    finally:
        if answering is not None:
            await answering
    metrics.observe_press(query.data, reply)
    message = query.message if isinstance(query.message, Message) else None
    if "personal" in reply.tags and message is not None:
        # a vote in a group is the voter's business: never posted to the group
        sent = await _send_privately(context, who, reply)
        if "error" in reply.tags:
            notice = messages.VOTE_NOT_STORED_SHORT
        else:
            notice = messages.VOTE_SENT_PRIVATELY if sent else messages.VOTE_STORED_QUIETLY
        await _answer(query, notice)
        return
    if answering is None:
        await _answer(query)
    if message is None:  # an inline card's button or an inaccessible message: reply privately
        await _send_privately(context, who, reply)
        return
    await send(message, reply, context, who)
