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

from telegram import LinkPreviewOptions, Update
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

from bot.admin import ADMIN_COMMAND_NAMES
from bot.config import Config
from bot.dialogue import COMMAND_NAMES
from bot.knowledge import KnowledgeBase
from bot.knowledge_sync import KnowledgeSync
from bot.logs import configure_logging
from bot.reply import ADMIN_DATA_PATTERN
from bot.services import Services, StorageMode, build_services
from bot.storage import StorageError
from handlers.admins import (
    on_admin_button,
    on_admin_command,
    schedule_jobs,
    set_bot_menus,
)
from handlers.aiohttp_request import AiohttpRequest
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


async def reload_knowledge(services: Services) -> None:
    """Reload the knowledge from its files because another process published a new version
    (not published again, or the processes would keep reloading each other)."""
    result = await services.reload_knowledge(publish=False)
    if not result.ok:
        log.warning("knowledge changed by another process, but the files here have problems")


async def start_knowledge_sync(cfg: Config, services: Services) -> None:
    """Follow the knowledge reloads of the other processes (bot.knowledge_sync)."""
    if services.storage is None:
        return
    sync = KnowledgeSync(
        services.storage.knowledge_version,
        lambda: reload_knowledge(services),
        poll_seconds=cfg.server.knowledge_poll_seconds,
    )
    await sync.start()
    services.knowledge_sync = sync


def build_application(cfg: Config, kb: KnowledgeBase) -> Application[Any, Any, Any, Any, Any, Any]:
    """Polling: one process that sets itself up (migrations, command list). Webhook: one of N
    processes; `distriktsbot deploy` did the set-up once, and the schema must be at head."""
    webhook = cfg.telegram.mode == "webhook"

    async def post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        services = await build_services(
            cfg,
            kb,
            storage=StorageMode.REQUIRED,
            bot_username=app.bot.username,
            migrate=not webhook,
        )
        app.bot_data[SERVICES] = services
        await start_knowledge_sync(cfg, services)
        if not webhook:  # webhook processes: `distriktsbot deploy` sets the menus, once
            await set_bot_menus(app.bot, services.admin.admins)
        schedule_jobs(app, services)
        # everything built so far (modules, knowledge, index) lives as long as the process:
        # keep it out of the garbage collector's scans
        gc.freeze()
        log.info("started as @%s with %d topics", app.bot.username, len(kb.topics))

    async def post_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        services = app.bot_data.pop(SERVICES, None)
        if services is not None:
            await services.close()

    builder = (
        ApplicationBuilder()
        .token(cfg.telegram.token)
        .base_url(cfg.telegram.base_url)
        .base_file_url(_file_url(cfg.telegram.base_url))
        .defaults(DEFAULTS)
        .concurrent_updates(CONCURRENT_UPDATES)
        # bounded: under a burst, updates wait at Telegram instead of in this process's memory
        .update_queue(asyncio.Queue(maxsize=UPDATE_QUEUE_SIZE))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if webhook:  # the bot's own web server receives the updates (handlers/server.py)
        pool = max(CONCURRENT_UPDATES, cfg.server.max_in_flight)
        builder = builder.updater(None).request(AiohttpRequest(connection_pool_size=pool))
    else:
        builder = builder.request(AiohttpRequest(connection_pool_size=CONCURRENT_UPDATES))
        builder = builder.get_updates_request(
            AiohttpRequest(connection_pool_size=1, read_timeout=5.0)
        )
    app = builder.build()
    register_handlers(app)
    return app


def register_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    new = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    # admin commands first: in a private chat, the core answers anyone who is not an admin
    # exactly as an unknown command; in a group, like any unknown command, they get no answer
    app.add_handler(
        CommandHandler(list(ADMIN_COMMAND_NAMES), on_admin_command, filters=new & private)
    )
    app.add_handler(CommandHandler(list(COMMAND_NAMES), on_command, filters=new))
    app.add_handler(MessageHandler(new & filters.COMMAND & private, on_command))
    addressed = filters.Entity("mention") | filters.REPLY
    app.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND & private, on_text))
    app.add_handler(
        MessageHandler(new & filters.TEXT & ~filters.COMMAND & groups & addressed, on_group_text)
    )
    app.add_handler(MessageHandler(new & private & ~filters.TEXT, on_not_text))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED, on_edited))
    app.add_handler(CallbackQueryHandler(on_admin_button, pattern=ADMIN_DATA_PATTERN))
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
    log.info(
        "starting: config file %s; knowledge %s (%d topics)",
        cfg.describe_file(),
        ", ".join(kb.files),
        len(kb.topics),
    )
    _use_uvloop()
    app = build_application(cfg, kb)
    try:
        if cfg.telegram.mode == "webhook":
            from handlers.server import serve_webhook
            from handlers.webhook import make_pipeline

            asyncio.run(serve_webhook(cfg, app, lambda a: a.bot_data[SERVICES], make_pipeline))
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
