"""`distriktsbot deploy`: what a deployment needs done once, not by every process at start.

1. the database migrations (to head; serialised by an advisory lock on PostgreSQL);
2. the command list (setMyCommands);
3. webhook mode: setWebhook with the public URL, the secret token, every update type and
   `telegram.webhook.max_connections`; polling mode: deleteWebhook (a webhook left set makes
   getUpdates fail).

Run it at each release, before (re)starting the `distriktsbot run` processes; it is safe to run
again. Webhook processes refuse to start on a schema that is not at head.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Bot, Update
from telegram.error import TelegramError

from bot.config import Config
from bot.dialogue import COMMANDS
from bot.storage import upgrade_database
from handlers.admins import set_bot_menus
from handlers.aiohttp_request import AiohttpRequest
from handlers.app import _file_url

log = logging.getLogger("distriktsbot.deploy")


class DeployError(Exception):
    """A step failed; the message is one line without secrets."""


async def deploy(cfg: Config, say: Callable[[str], None] = print) -> None:
    revision = await upgrade_database(cfg.database.url)
    say(f"database: schema at revision {revision}")
    token = cfg.telegram.token
    bot = Bot(
        token,
        base_url=cfg.telegram.base_url,
        base_file_url=_file_url(cfg.telegram.base_url),
        request=AiohttpRequest(connection_pool_size=1),
    )
    try:
        async with bot:
            await set_bot_menus(bot, cfg.admins)
            say(
                f"telegram: @{bot.username}: {len(COMMANDS)} commands set "
                f"(and the admin commands for {len(set(cfg.admins))} admin(s))"
            )
            hook = cfg.telegram.webhook
            if cfg.telegram.mode == "webhook":
                await bot.set_webhook(
                    hook.url,
                    secret_token=hook.secret_token or None,
                    allowed_updates=Update.ALL_TYPES,
                    max_connections=hook.max_connections,
                )
                say(f"telegram: webhook set to {hook.url} (at most {hook.max_connections} at once)")
                info = await bot.get_webhook_info()
                say(f"telegram: {info.pending_update_count} update(s) waiting for the webhook")
            else:
                await bot.delete_webhook()
                say("telegram: no webhook (polling mode)")
    except TelegramError as exc:
        message = str(exc).replace(token, "<token>") if token else str(exc)
        raise DeployError(f"Telegram: {message}") from None
