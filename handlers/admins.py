"""Handlers for admins: the admin commands, the admins' buttons, their command menu, and the
jobs that keep the knowledge fresh and old questions deleted.

Thin like every handler: who is an admin, and what an admin may do, is decided in the core
(`bot.admin.Admin`) on every command and every button press.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeChat, Message, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, ContextTypes

from bot.admin import Admin, reload_report
from bot.dialogue import COMMANDS
from bot.services import Services
from bot.statistics import warm_up
from bot.storage import StorageError
from handlers.common import SERVICES, person, send, services

log = logging.getLogger("distriktsbot.telegram")

RETENTION_INTERVAL_SECONDS = 3600


async def on_admin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, who = update.effective_message, person(update)
    if message is None or who is None or not message.text:
        return
    name = message.text.split()[0][1:].split("@")[0]
    arg = message.text.partition(" ")[2] if " " in message.text else ""
    await send(message, await services(context).admin.command(who, name, arg))


async def on_admin_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, who = update.callback_query, person(update)
    if query is None or who is None:
        return
    reply = await services(context).admin.press(who, query.data)
    try:
        await query.answer()
    except BadRequest as exc:
        log.info("could not answer callback query: %s", exc.message)
    message = query.message if isinstance(query.message, Message) else None
    if message is not None:
        await send(message, reply)


async def tell_admins(app: Application[Any, Any, Any, Any, Any, Any], text: str) -> None:
    """A plain message to every admin (who has started the bot); failures are only logged."""
    svc: Services = app.bot_data[SERVICES]
    for admin_id in svc.admin.admins:
        try:
            await app.bot.send_message(admin_id, text, parse_mode=None)
        except (Forbidden, BadRequest) as exc:
            log.info("cannot reach an admin: %s", exc.message)
        except TelegramError as exc:
            log.warning("cannot reach an admin: %s", exc)


async def set_bot_menus(bot: Bot, admins: Iterable[int]) -> None:
    """The voters' command menu for everyone, and for each admin's chat a menu with the admin
    commands too (voters never see them)."""
    await bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS.items()])
    commands = [BotCommand(n, d) for n, d in Admin.command_menu()]
    for admin_id in sorted(set(admins)):
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # e.g. an admin who has never opened a chat with the bot
            log.info("admin command menu not set for one admin: %s", exc)


async def _warm_up(context: ContextTypes.DEFAULT_TYPE) -> None:
    await asyncio.to_thread(warm_up)


async def _retention(context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    for what, forget in (
        ("old questions", svc.delete_old_questions),
        ("old newsletter recipients", svc.delete_old_recipients),
    ):
        try:
            await forget()
        except StorageError as exc:  # tried again at the next run
            log.warning("retention: %s not deleted: %s", what, exc)


async def _watch_knowledge(context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    result = await svc.reload_if_changed()
    if result is not None:
        await tell_admins(context.application, "\n\n".join(reload_report(result, automatic=True)))


def schedule_jobs(app: Application[Any, Any, Any, Any, Any, Any], svc: Services) -> None:
    jobs = app.job_queue
    if jobs is None:  # PTB without its job-queue extra
        log.warning("no job queue: old unanswered questions are not deleted automatically")
        return
    if svc.admin.admins:  # the chart library loads in the background, not at the first /statistikk
        jobs.run_once(_warm_up, when=0.0, name="chart warm-up")
    jobs.run_repeating(_retention, interval=RETENTION_INTERVAL_SECONDS, first=1.0, name="retention")
    seconds = svc.config.admin_tools.reload_check_seconds
    if seconds > 0:
        jobs.run_repeating(_watch_knowledge, interval=seconds, first=seconds, name="knowledge")
