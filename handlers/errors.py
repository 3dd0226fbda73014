"""The error handler: log with context (never the update's content), tell a private chat."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot import messages
from bot.services import Services
from handlers import metrics
from handlers.admins import tell_admins
from handlers.common import SERVICES

log = logging.getLogger("distriktsbot.telegram")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    where = ""
    kind = "no update"
    if isinstance(update, Update):
        kinds = ("message", "edited_message", "callback_query", "inline_query")
        kind = next((k for k in kinds if getattr(update, k, None)), "other")
        where = f" while handling update {update.update_id} ({kind})"
    log.error("error%s: %s", where, context.error, exc_info=context.error)
    metrics.ERRORS.labels("handler").inc()
    if isinstance(context.error, Forbidden):
        return
    services: Services | None = context.bot_data.get(SERVICES)
    if services is not None and context.error is not None:
        # the admins hear of it: the kind of error and where, never its text (it may hold a
        # voter's words), at most admin_tools.error_reports_per_hour
        report = services.errors.report(context.error, kind)
        if report is not None:
            await tell_admins(context.application, report)
    chat = update.effective_chat if isinstance(update, Update) else None
    message = update.effective_message if isinstance(update, Update) else None
    if message is not None and chat is not None and chat.type == ChatType.PRIVATE:
        with contextlib.suppress(TelegramError):
            await message.reply_text(messages.SOMETHING_WENT_WRONG)
