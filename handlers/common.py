"""What every audience's handlers share: the services, who is talking, and sending a Reply."""

from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message, TelegramObject, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import ContextTypes
from telegram.warnings import PTBUserWarning

from bot.dialogue import Dialogue, Person
from bot.reply import BlockKind, Reply
from bot.services import Services
from handlers.render import render_html, render_keyboard, render_keyboard_json

log = logging.getLogger("distriktsbot.telegram")

SERVICES = "services"  # the key of the Services object in bot_data

# `send_html` calls sendMessage through `Bot.do_api_request`, which warns that the endpoint has a
# method of its own; that method is what it avoids on purpose
warnings.filterwarnings(
    "ignore", message=r"Please use 'Bot\.sendMessage' instead", category=PTBUserWarning
)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    found: Services = context.bot_data[SERVICES]
    return found


def dialogue(context: ContextTypes.DEFAULT_TYPE) -> Dialogue:
    return services(context).dialogue


def person(update: Update) -> Person | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None:
        return None
    if chat is None:  # a button on an inline card: no chat of ours, answer the person privately
        return Person(user_id=user.id, chat_id=user.id, private=True)
    return Person(user_id=user.id, chat_id=chat.id, private=chat.type == ChatType.PRIVATE)


def reply_target_gone(exc: BadRequest) -> bool:
    """Telegram's 400 when the message a reply quotes was deleted meanwhile."""
    text = exc.message.lower()
    return "replied not found" in text or "reply message not found" in text


def not_modified(exc: BadRequest) -> bool:
    return "message is not modified" in exc.message.lower()


async def send_html(
    bot: Bot,
    chat_id: int,
    html: str,
    keyboard: InlineKeyboardMarkup | dict[str, Any] | None = None,
) -> None:
    """`bot.send_message(chat_id, html, reply_markup=keyboard)` without reading the result.

    PTB's `send_message` parses every result into a `Message` (with its keyboard and chat),
    which none of the replies here use: that parsing was about half of PTB's share of a busy
    bot's CPU. `do_api_request` with no return type goes the same way (the app's rate limiter,
    i.e. the retries, and the same errors: BadRequest, Forbidden, ...) and returns the JSON.
    The parse mode and link previews are the bot's Defaults, as `send_message` would add them.
    The keyboard may be given as its JSON object (`render_keyboard_json`).
    """
    params: dict[str, Any] = {"chat_id": chat_id, "text": html}
    defaults = getattr(bot, "defaults", None)
    if defaults is not None:
        if defaults.link_preview_options is not None:
            params["link_preview_options"] = _as_json(defaults.link_preview_options)
        if defaults.parse_mode is not None:
            params["parse_mode"] = defaults.parse_mode
    if keyboard is not None:
        params["reply_markup"] = keyboard
    await bot.do_api_request("sendMessage", api_kwargs=params)


@lru_cache(maxsize=8)
def _as_json(obj: TelegramObject) -> dict[str, Any]:
    """The JSON object of a Defaults value, once (shared: never modified)."""
    return obj.to_dict()


def _plain_reply(message: Message) -> bool:
    """A reply that `send_html` makes exactly as `message.reply_text` would: no quote, no forum
    topic, business connection or direct-messages topic to carry over."""
    return (
        message.chat.type == ChatType.PRIVATE
        and not message.is_topic_message
        and message.business_connection_id is None
        and message.direct_messages_topic is None
    )


async def send(
    message: Message | None,
    reply: Reply,
    context: ContextTypes.DEFAULT_TYPE | None = None,
    who: Person | None = None,
) -> None:
    """Answer a message with a rendered Reply (parse mode and link previews: the app's Defaults):
    the text, then each image or file of the reply as a message of its own.

    In a group the answer quotes the question; if that message is gone (400 "message to be
    replied not found") it is sent without the quote. A person who blocked the bot (403) is
    noted: their newsletter ends."""
    if message is None:
        return
    html, keyboard, keyboard_json = render_html(reply), render_keyboard(reply), None
    if keyboard is not None:
        keyboard_json = render_keyboard_json(reply)
    quote = message.chat.type != ChatType.PRIVATE
    try:
        if html:
            try:
                if _plain_reply(message):
                    await send_html(message.get_bot(), message.chat_id, html, keyboard_json)
                else:
                    await message.reply_text(html, reply_markup=keyboard, do_quote=quote)
            except BadRequest as exc:
                if not_modified(exc):
                    return
                if not (quote and reply_target_gone(exc)):
                    raise
                quote = False
                await send_html(message.get_bot(), message.chat_id, html, keyboard_json)
        for block in reply.blocks:
            if block.data is None:
                continue
            upload = InputFile(block.data, filename=block.filename or "fil")
            caption = block.text or None
            if block.kind is BlockKind.IMAGE:
                await message.reply_photo(upload, caption=caption, do_quote=quote)
            else:
                await message.reply_document(upload, caption=caption, do_quote=quote)
    except Forbidden as exc:  # the user blocked the bot or left the chat
        log.info("cannot reply: %s", exc.message)
        if context is not None and who is not None:
            await dialogue(context).blocked(who)
