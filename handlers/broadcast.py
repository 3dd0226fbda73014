"""The newsletter on Telegram: `/kringkast` and its buttons, and the sender behind the outbox.

Thin like every handler: the admins' dialogue, the outbox and the worker live in the core
(`bot.newsletter`, `bot.storage.outbox`). Here: parse the update, call the core, render its
answer; and `TelegramSender`, which delivers newsletters with a `Bot` of its own (its own
connection pool), so a broadcast never takes the connections the voters' replies need.

The voters' replies go out through `MeteredRequest`, which notes each one in the shared `Pace`:
the newsletter takes only what they leave of Telegram's ~30 messages per second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from http import HTTPStatus
from typing import Any, Final

import aiohttp
from telegram import Bot, LinkPreviewOptions, Message, MessageEntity, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBDeprecationWarning

from bot.config import Config
from bot.newsletter import Answer, Delivery, OutboxWorker, Outcome, Pace, Progress
from bot.reply import NEWSLETTER_ACTIONS, Reply, data_pattern
from bot.services import Services
from bot.storage import Storage
from bot.storage.outbox import sender_lock
from handlers.aiohttp_request import AiohttpRequest
from handlers.common import person, services
from handlers.render import render_html, render_keyboard
from handlers.voters import on_button, on_command

log = logging.getLogger("distriktsbot.newsletter")

COMMAND = "kringkast"
# the buttons' data prefixes, from the one place that encodes them (bot/reply.py)
BUTTON_PATTERN: Final = data_pattern(NEWSLETTER_ACTIONS)
NO_PREVIEW: Final = LinkPreviewOptions(is_disabled=True)
NETWORK_BACKOFF_SECONDS: Final = 5.0
POST_ATTEMPTS: Final = 10
WORKER = "newsletter_worker"  # its key in bot_data
# entities that mean the admin formatted the text with Telegram's own tools (bold, link, …)
_FORMATTING: Final = frozenset(
    {
        MessageEntity.BOLD,
        MessageEntity.ITALIC,
        MessageEntity.UNDERLINE,
        MessageEntity.STRIKETHROUGH,
        MessageEntity.SPOILER,
        MessageEntity.CODE,
        MessageEntity.PRE,
        MessageEntity.TEXT_LINK,
        MessageEntity.TEXT_MENTION,
        MessageEntity.BLOCKQUOTE,
        MessageEntity.EXPANDABLE_BLOCKQUOTE,
        MessageEntity.CUSTOM_EMOJI,
    }
)


def counts_toward_limit(api_method: str) -> bool:
    """Bot API methods that put a message in a chat: what Telegram's ~30/s limit counts."""
    return (api_method.startswith("send") and api_method != "sendChatAction") or (
        api_method.startswith(("editMessage", "copyMessage", "forwardMessage"))
    )


class MeteredRequest(AiohttpRequest):
    """The bot's own requests (voters' replies): noted in the pace as they go out, never
    delayed by it; a 429 they get pauses the outbox as well."""

    def __init__(self, pace: Pace, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pace = pace

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if counts_toward_limit(url.rsplit("/", 1)[-1]):
            self._pace.note()
        status, payload = await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        if status == HTTPStatus.TOO_MANY_REQUESTS:  # Telegram's flood control: the outbox waits
            with suppress(ValueError, TypeError, KeyError, AttributeError):
                self._pace.pause(float(json.loads(payload)["parameters"]["retry_after"]))
        return status, payload


# --------------------------------------------------------------------------------------------
# /kringkast and its buttons
# --------------------------------------------------------------------------------------------


def register_broadcast(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Before the voters' handlers: they would take /kringkast as an unknown command."""
    private_message = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
    app.add_handler(CommandHandler(COMMAND, on_kringkast, filters=private_message))
    app.add_handler(CallbackQueryHandler(on_broadcast_button, pattern=BUTTON_PATTERN))


def letter_text(message: Message) -> str:
    """The newsletter an admin wrote after the command: their own HTML, or, when they used
    Telegram's formatting tools, that formatting as HTML. Line breaks are kept."""
    formatted = any(e.type in _FORMATTING for e in message.entities)
    text = message.text_html if formatted else (message.text or "")
    parts = text.split(None, 1)
    return parts[1] if len(parts) > 1 else ""


async def on_kringkast(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, who = update.effective_message, person(update)
    if message is None or who is None or message.text is None:
        return
    newsletter = services(context).newsletter
    answer = await newsletter.command(who, letter_text(message)) if newsletter else None
    if answer is None:  # not an admin: exactly what any unknown command gets
        await on_command(update, context)
        return
    await _answer(context.bot, message.chat_id, answer, None)


async def on_broadcast_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, who = update.callback_query, person(update)
    if query is None or who is None:
        return
    message = query.message if isinstance(query.message, Message) else None
    where = (message.chat_id, message.message_id) if message is not None else None
    newsletter = services(context).newsletter
    answer = await newsletter.press(who, query.data, where) if newsletter else None
    if answer is None:  # not an admin, or not a valid action: as any unknown button
        await on_button(update, context)
        return
    with suppress(BadRequest):
        await query.answer()
    await _answer(context.bot, who.chat_id, answer, message)


async def _answer(bot: Bot, chat_id: int, answer: Answer, message: Message | None) -> None:
    try:
        if answer.letter is not None:
            await send_letter(bot, chat_id, answer.letter)
        html, markup = render_html(answer.reply), render_keyboard(answer.reply)
        if answer.edit and message is not None:
            try:
                await message.edit_text(html, reply_markup=markup)
                return
            except BadRequest as exc:
                if _not_modified(exc):
                    return
                log.info("cannot edit the admin's message (%s); sending a new one", exc.message)
        await bot.send_message(chat_id, html, reply_markup=markup)
    except Forbidden as exc:
        log.info("cannot answer the admin: %s", exc.message)


async def send_letter(bot: Bot, chat_id: int, html: str) -> Message:
    """A newsletter, as every recipient gets it: the preview, the test and the real thing."""
    return await bot.send_message(
        chat_id, html, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
    )


def _not_modified(exc: BadRequest) -> bool:
    return "not modified" in exc.message.lower()


# --------------------------------------------------------------------------------------------
# The sender
# --------------------------------------------------------------------------------------------


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that this becomes a timedelta one day
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Delivers newsletters and edits the admin's progress message, with a Bot of its own."""

    def __init__(self, bot: Bot, pace: Pace) -> None:
        self.bot = bot
        self.pace = pace

    async def deliver(self, chat_id: int, html: str) -> Outcome:
        try:
            await send_letter(self.bot, chat_id, html)
        except RetryAfter as exc:
            return Outcome(Delivery.RETRY, retry_after=_retry_after(exc))
        except Forbidden as exc:
            return Outcome(Delivery.BLOCKED, error=exc.message)
        except TimedOut:
            return Outcome(Delivery.UNKNOWN, error="timed out")
        except BadRequest as exc:
            return Outcome(Delivery.FAILED, error=exc.message)
        except NetworkError as exc:
            if isinstance(exc.__cause__, aiohttp.ClientConnectorError):
                # never reached Telegram: certainly not delivered
                return Outcome(Delivery.RETRY, retry_after=NETWORK_BACKOFF_SECONDS)
            return Outcome(Delivery.UNKNOWN, error=exc.message)
        except TelegramError as exc:
            return Outcome(Delivery.FAILED, error=exc.message)
        return Outcome(Delivery.SENT)

    async def show(self, chat_id: int, message_id: int, reply: Reply) -> None:
        # counted like a voter's reply, not queued behind the newsletter: it is one message
        # every few seconds, and a progress that waits for the whole outbox shows nothing
        self.pace.note()
        try:
            await self.bot.edit_message_text(
                render_html(reply),
                chat_id,
                message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=render_keyboard(reply),
            )
        except RetryAfter as exc:
            self.pace.pause(_retry_after(exc))
        except BadRequest as exc:
            if not _not_modified(exc):
                log.info("cannot update the progress message: %s", exc.message)
        except TelegramError as exc:
            log.info("cannot update the progress message: %s", exc.message)

    async def post(self, chat_id: int, reply: Reply) -> None:
        for _ in range(POST_ATTEMPTS):
            self.pace.note()
            try:
                await self.bot.send_message(
                    chat_id,
                    render_html(reply),
                    parse_mode=ParseMode.HTML,
                    reply_markup=render_keyboard(reply),
                )
                return
            except RetryAfter as exc:  # the report matters: wait as told, then again
                self.pace.pause(_retry_after(exc))
                await asyncio.sleep(_retry_after(exc))
            except TelegramError as exc:
                log.info("cannot send the newsletter report: %s", exc.message)
                return
        log.warning("the newsletter report was not sent: Telegram kept asking to wait")


def _file_url(base_url: str) -> str:
    if base_url.endswith("/bot"):
        return base_url[: -len("bot")] + "file/bot"
    return base_url.rstrip("/") + "/file/bot"


@asynccontextmanager
async def sending(
    cfg: Config,
    storage: Storage,
    pace: Pace | None = None,
    *,
    watch: Callable[[Progress], None] | None = None,
    progress_seconds: float | None = None,
) -> AsyncIterator[OutboxWorker]:
    """An outbox worker delivering through Telegram (for `run` and `distriktsbot broadcast`)."""
    settings = cfg.broadcast
    bot = Bot(
        cfg.telegram.token,
        base_url=cfg.telegram.base_url,
        base_file_url=_file_url(cfg.telegram.base_url),
        request=AiohttpRequest(connection_pool_size=settings.concurrency + 2),
    )
    await bot.initialize()
    pace = pace or Pace(settings.messages_per_second)
    worker = OutboxWorker(
        storage.outbox,
        sender_lock(storage.db),
        TelegramSender(bot, pace),
        pace,
        concurrency=settings.concurrency,
        progress_seconds=progress_seconds or settings.progress_seconds,
        watch=watch,
    )
    try:
        yield worker
    finally:
        await worker.stop()
        await bot.shutdown()


async def start_worker(
    app: Application[Any, Any, Any, Any, Any, Any], found: Services, pace: Pace
) -> None:
    """In `run`'s post_init: the worker sends in the background, and /kringkast wakes it."""
    if found.storage is None or found.newsletter is None:
        return
    context = sending(found.config, found.storage, pace)
    worker = await context.__aenter__()
    worker.start()
    found.newsletter.on_start = worker.wake
    app.bot_data[WORKER] = context


async def stop_worker(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """In post_shutdown, before the services close: messages in flight finish first."""
    context = app.bot_data.pop(WORKER, None)
    if context is not None:
        await context.__aexit__(None, None, None)
