"""The Telegram transport's wiring: build the PTB Application, register the handlers, run it.

Thin by design: the handlers (`voters`, `admins`, `inline`, `errors`) parse an update, call the
core and render its `Reply`. No matching, no SQL and no conversation rules live in `handlers/`.
The services are built by the one builder (`bot.services`) in `post_init` and closed in
`post_shutdown`, kept in `bot_data`. Updates reach the Application through the update pipeline
(`handlers.pipeline`: per-person order, exactly once, confirmed only when handled), fed by our
own polling loop (`handlers.polling`) or by the bot's own web server (`handlers.server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
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
from bot.logs import configure_logging, redact
from bot.newsletter import Pace
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
from handlers.broadcast import MeteredRequest, register_broadcast, start_worker, stop_worker
from handlers.common import SERVICES
from handlers.errors import on_error
from handlers.inline import on_inline
from handlers.pipeline import UpdatePipeline
from handlers.polling import Poller, backoff
from handlers.retry import RetryingLimiter
from handlers.voters import (
    on_button,
    on_command,
    on_edited,
    on_group_text,
    on_not_text,
    on_text,
)

log = logging.getLogger("distriktsbot.telegram")

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
CONCURRENT_UPDATES = 64  # updates handled at once; Bot API calls wait on the network
DEFAULTS = Defaults(
    parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
)
REQUESTS = "requests"  # bot_data key: the request objects, closed on every way out


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


def build_application(cfg: Config, kb: KnowledgeBase) -> AnyApplication:
    """The PTB Application, without PTB's Updater: updates come through the update pipeline.

    Polling: one process that sets itself up (migrations, command menus). Webhook: one of N
    processes; `distriktsbot deploy` did the set-up once, and the schema must be at head."""
    webhook = cfg.telegram.mode == "webhook"

    async def post_init(app: AnyApplication) -> None:
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
            try:
                await set_bot_menus(app.bot, services.admin.admins)
            except TelegramError as exc:  # the menu of commands can wait; answering cannot
                log.warning("could not set the command menu: %s", exc)
        schedule_jobs(app, services)
        await start_worker(app, services, pace)
        # everything built so far (modules, knowledge, index) lives as long as the process:
        # keep it out of the garbage collector's scans
        gc.freeze()
        log.info("started as @%s with %d topics", app.bot.username, len(kb.topics))

    async def post_shutdown(app: AnyApplication) -> None:
        await stop_worker(app)
        services = app.bot_data.pop(SERVICES, None)
        if services is not None:
            await services.close()

    # Telegram's ~30 messages/s, shared: voters' replies are noted, the newsletter takes the rest
    pace = Pace(cfg.broadcast.messages_per_second)
    request = MeteredRequest(
        pace, connection_pool_size=max(CONCURRENT_UPDATES, cfg.limits.in_flight)
    )
    poll_request = AiohttpRequest(connection_pool_size=1, read_timeout=5.0)
    app = (
        ApplicationBuilder()
        .token(cfg.telegram.token)
        .base_url(cfg.telegram.base_url)
        .base_file_url(_file_url(cfg.telegram.base_url))
        .defaults(DEFAULTS)
        .concurrent_updates(CONCURRENT_UPDATES)
        .updater(None)
        .request(request)
        .get_updates_request(poll_request)
        # retries of Bot API calls that failed on Telegram's or the network's side
        .rate_limiter(RetryingLimiter())
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    app.bot_data[REQUESTS] = (request, poll_request)
    register_handlers(app)
    return app


def register_handlers(app: AnyApplication) -> None:
    new = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    # the newsletter (/kringkast and its buttons) and the other admin commands first: in a
    # private chat, the core answers anyone who is not an admin exactly as an unknown command;
    # in a group, like any unknown command, they get no answer
    register_broadcast(app)
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
    try:
        if cfg.telegram.mode == "webhook":
            from handlers.server import serve_webhook

            return asyncio.run(serve_webhook(cfg, build_application(cfg, kb)))
        return asyncio.run(serve_polling(cfg, kb))
    except StorageError as exc:
        log.error("database unavailable: %s", exc)
        print(f"distriktsbot: database: {exc}", file=sys.stderr)
        return 3
    except InvalidToken:
        message = (
            "Telegram rejected the bot token (401 Unauthorized). Check telegram.token or "
            "DISTRIKTSBOT_TOKEN: it is the token @BotFather gave you (/token to see it again)."
        )
        log.error("%s", message)
        print(f"distriktsbot: {message}", file=sys.stderr)
        return 4
    except TelegramError as exc:
        message = redact(str(exc), cfg)
        log.error("Telegram error: %s", message)
        print(f"distriktsbot: Telegram: {message}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        return 0


async def initialize_with_retries(
    app: AnyApplication, stopping: asyncio.Event | None = None
) -> bool:
    """Initialise the Application (getMe), retrying with backoff while Telegram cannot be
    reached; a rejected token raises InvalidToken at once. False if stopped while waiting."""
    attempt = 0
    while True:
        try:
            await app.initialize()
            return True
        except InvalidToken:
            raise
        except (NetworkError, RetryAfter) as exc:
            attempt += 1
            delay = backoff(attempt, base=1.0, cap=60.0)
            log.warning(
                "cannot reach Telegram at %s (%s); retrying in %.0f s (attempt %d)",
                _host(app.bot.base_url),
                exc.message,
                delay,
                attempt,
            )
        if stopping is None:
            await asyncio.sleep(delay)
            continue
        try:
            async with asyncio.timeout(delay):
                await stopping.wait()
            return False
        except TimeoutError:
            pass


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def close_requests(app: AnyApplication) -> None:
    """Close the HTTP sessions, also when start-up failed half-way ("Unclosed client
    session" otherwise)."""
    for request in app.bot_data.get(REQUESTS, ()):
        await request.shutdown()


@contextlib.asynccontextmanager
async def running(
    cfg: Config, kb: KnowledgeBase, stopping: asyncio.Event | None = None
) -> AsyncIterator[tuple[AnyApplication, Poller] | None]:
    """The bot, polling through the update pipeline, for the duration of the block (yields
    None when stopped before it could reach Telegram)."""
    app = build_application(cfg, kb)
    initialized = False
    try:
        if not await initialize_with_retries(app, stopping):
            yield None
            return
        initialized = True
        assert app.post_init is not None and app.post_shutdown is not None
        await app.post_init(app)
        try:
            await app.start()
            services: Services = app.bot_data[SERVICES]
            # the only consumer of the updates: no claims, the done-marks catch redeliveries
            pipeline = UpdatePipeline(app, services, claims=False)
            released = await services.storage.updates.release_unfinished()  # type: ignore[union-attr]
            if released:
                log.info("%d update(s) left unfinished by the last run will be handled", released)
            await pipeline.load_handled()
            poll_request = app.bot_data[REQUESTS][1]
            await poll_request.initialize()
            poller = Poller(poll_request, app.bot.base_url, pipeline)
            poller.start()
            try:
                yield app, poller
            finally:
                poller.stop()
                await poller.wait_closed()
                await app.stop()
        finally:
            await app.post_shutdown(app)
    finally:
        if initialized:
            await app.shutdown()
        await close_requests(app)


async def serve_polling(cfg: Config, kb: KnowledgeBase) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    async with running(cfg, kb, stopping) as started:
        if started is None:
            return 0
        _, poller = started
        waiter = asyncio.create_task(stopping.wait())
        polling = asyncio.create_task(poller.wait_closed())
        await asyncio.wait({waiter, polling}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        polling.cancel()
        poller.raise_if_failed()
    return 0
