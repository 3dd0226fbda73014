"""The Telegram transport's wiring: build the PTB Application, register the handlers, run it.

Thin by design: the handlers (`voters`, `inline`, `errors`) parse an update, call the core and
render its `Reply`. No matching, no SQL and no conversation rules live in `handlers/`. The
services are built by the one builder (`bot.services`) in `post_init` and closed in
`post_shutdown`, kept in `bot_data`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from typing import Any

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.config import Config
from bot.dialogue import COMMAND_NAMES, COMMANDS
from bot.knowledge import KnowledgeBase
from bot.logs import configure_logging
from bot.newsletter import Pace
from bot.services import StorageMode, build_services
from bot.storage import StorageError
from handlers.aiohttp_request import AiohttpRequest
from handlers.broadcast import MeteredRequest, register_broadcast, start_worker, stop_worker
from handlers.common import SERVICES
from handlers.errors import on_error
from handlers.inline import on_inline
from handlers.voters import (
    on_button,
    on_command,
    on_edited,
    on_group_text,
    on_not_text,
    on_text,
)

log = logging.getLogger("distriktsbot.telegram")

UPDATE_QUEUE_SIZE = 256
CONCURRENT_UPDATES = 64  # updates handled at once; Bot API calls wait on the network
DEFAULTS = Defaults(
    parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
)


def _file_url(base_url: str) -> str:
    if base_url.endswith("/bot"):
        return base_url[: -len("bot")] + "file/bot"
    return base_url.rstrip("/") + "/file/bot"


def build_application(cfg: Config, kb: KnowledgeBase) -> Application[Any, Any, Any, Any, Any, Any]:
    async def post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        app.bot_data[SERVICES] = services = await build_services(
            cfg, kb, storage=StorageMode.REQUIRED, bot_username=app.bot.username
        )
        await start_worker(app, services, pace)
        await app.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS.items()])
        # everything built so far (modules, knowledge, index) lives as long as the process:
        # keep it out of the garbage collector's scans
        gc.freeze()
        log.info("started as @%s with %d topics", app.bot.username, len(kb.topics))

    async def post_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        await stop_worker(app)
        services = app.bot_data.pop(SERVICES, None)
        if services is not None:
            await services.close()

    # Telegram's ~30 messages/s, shared: voters' replies are noted, the newsletter takes the rest
    pace = Pace(cfg.broadcast.messages_per_second)
    app = (
        ApplicationBuilder()
        .token(cfg.telegram.token)
        .base_url(cfg.telegram.base_url)
        .base_file_url(_file_url(cfg.telegram.base_url))
        .defaults(DEFAULTS)
        .concurrent_updates(CONCURRENT_UPDATES)
        # bounded: under a burst, updates wait at Telegram instead of in this process's memory
        .update_queue(asyncio.Queue(maxsize=UPDATE_QUEUE_SIZE))
        .request(MeteredRequest(pace, connection_pool_size=CONCURRENT_UPDATES))
        .get_updates_request(AiohttpRequest(connection_pool_size=1, read_timeout=5.0))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    register_handlers(app)
    return app


def register_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    new = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    # The newsletter's /kringkast and its buttons (issue 7b), before the voters' catch-alls.
    # TODO(lead, at merge): fold these into the admin command table of issue 7a (bot/admin.py).
    register_broadcast(app)
    app.add_handler(CommandHandler(list(COMMAND_NAMES), on_command, filters=new))
    app.add_handler(MessageHandler(new & filters.COMMAND & private, on_command))
    addressed = filters.Entity("mention") | filters.REPLY
    app.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND & private, on_text))
    app.add_handler(
        MessageHandler(new & filters.TEXT & ~filters.COMMAND & groups & addressed, on_group_text)
    )
    app.add_handler(MessageHandler(new & private & ~filters.TEXT, on_not_text))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED, on_edited))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(InlineQueryHandler(on_inline))
    app.add_error_handler(on_error)


def _use_uvloop() -> None:
    """uvloop's event loop (libuv) cuts the time a busy bot spends in asyncio itself."""
    try:
        import uvloop
    except ImportError:  # not on Windows: the standard loop works, a little slower
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.set_event_loop(asyncio.new_event_loop())


def run_bot(cfg: Config, kb: KnowledgeBase) -> int:
    """Run until stopped (Ctrl+C / SIGTERM). Returns the exit status."""
    configure_logging(cfg)
    _use_uvloop()
    app = build_application(cfg, kb)
    try:
        if cfg.telegram.mode == "webhook":
            hook = cfg.telegram.webhook
            app.run_webhook(
                listen=hook.listen,
                port=hook.port,
                url_path=hook.path,
                webhook_url=hook.url,
                secret_token=hook.secret_token or None,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0.0, timeout=10)
    except StorageError as exc:
        log.error("database unavailable: %s", exc)
        print(f"distriktsbot: database: {exc}", file=sys.stderr)
        return 3
    except TelegramError as exc:
        log.error("Telegram error: %s", exc)
        print(f"distriktsbot: Telegram: {exc}", file=sys.stderr)
        return 4
    return 0
