"""What every audience's handlers share: the services, who is talking, and sending a Reply."""

from __future__ import annotations

import logging

from telegram import InputFile, Message, Update
from telegram.constants import ChatType
from telegram.error import Forbidden
from telegram.ext import ContextTypes

from bot.dialogue import Dialogue, Person
from bot.reply import BlockKind, Reply
from bot.services import Services
from handlers.render import render_html, render_keyboard

log = logging.getLogger("distriktsbot.telegram")

SERVICES = "services"  # the key of the Services object in bot_data


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    found: Services = context.bot_data[SERVICES]
    return found


def dialogue(context: ContextTypes.DEFAULT_TYPE) -> Dialogue:
    return services(context).dialogue


def person(update: Update) -> Person | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    return Person(user_id=user.id, chat_id=chat.id, private=chat.type == ChatType.PRIVATE)


async def send(message: Message | None, reply: Reply) -> None:
    """Answer a message with a rendered Reply (parse mode and link previews: the app's Defaults)."""
    if message is None:
        return
    quote = message.chat.type != ChatType.PRIVATE
    try:
        html = render_html(reply)
        if html:
            await message.reply_text(html, reply_markup=render_keyboard(reply), do_quote=quote)
        for block in reply.blocks:  # images and files: one message each, after the text
            if block.data is None:
                continue
            upload = InputFile(block.data, filename=block.filename or "fil")
            caption = block.text or None
            if block.kind is BlockKind.IMAGE:
                await message.reply_photo(upload, caption=caption, do_quote=quote)
            else:
                await message.reply_document(upload, caption=caption, do_quote=quote)
    except Forbidden as exc:  # the user blocked the bot or left the chat: nothing to do
        log.info("cannot reply: %s", exc.message)
