"""The Telegram transport: builds the PTB Application and turns updates into dialogue calls.

Thin by design: parse the update, call `bot.dialogue.Dialogue`, render the `Reply`. No matching,
no SQL and no conversation rules live here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from typing import Any

from telegram import (
    BotCommand,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot import messages
from bot.config import Config
from bot.dialogue import COMMANDS, Dialogue, Person
from bot.knowledge import KnowledgeBase
from bot.reply import Reply
from bot.storage import Storage, StorageError
from handlers.aiohttp_request import AiohttpRequest
from handlers.render import render_html, render_keyboard

log = logging.getLogger("distriktsbot.telegram")

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
UPDATE_QUEUE_SIZE = 256
CONCURRENT_UPDATES = 64  # updates handled at once; Bot API calls wait on the network
DIALOGUE = "dialogue"
STORAGE = "storage"


class RedactSecrets(logging.Filter):
    """Replaces secrets (the bot token) in every log record, whatever logger wrote it."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            for s in self.secrets:
                message = message.replace(s, "<redacted>")
            record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if any(s in text for s in self.secrets):
                for s in self.secrets:
                    text = text.replace(s, "<redacted>")
                record.msg = f"{record.getMessage()}\n{text}"
                record.args, record.exc_info, record.exc_text = None, None, None
        return True


def configure_logging(cfg: Config) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the command line may have set a quieter default before the config was read
    logging.getLogger().setLevel(cfg.log_level.upper())
    # httpx logs every request URL at INFO, and Bot API URLs contain the token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # PTB's DEBUG records hold whole updates (who pressed Enig on what): personal data, so the
    # library stays at INFO even when the bot's own loggers are at DEBUG
    level = logging.getLevelName(cfg.log_level.upper())
    logging.getLogger("telegram").setLevel(max(level, logging.INFO))
    redact = RedactSecrets(cfg.telegram.token, cfg.privacy.hash_secret)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)


def _dialogue(context: ContextTypes.DEFAULT_TYPE) -> Dialogue:
    dialogue: Dialogue = context.bot_data[DIALOGUE]
    return dialogue


def _person(update: Update) -> Person | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    return Person(user_id=user.id, chat_id=chat.id, private=chat.type == ChatType.PRIVATE)


async def _send(message: Message | None, reply: Reply) -> None:
    if message is None:
        return
    try:
        await message.reply_text(
            render_html(reply),
            parse_mode=ParseMode.HTML,
            reply_markup=render_keyboard(reply),
            link_preview_options=NO_PREVIEW,
            do_quote=message.chat.type != ChatType.PRIVATE,
        )
    except Forbidden as exc:  # the user blocked the bot or left the chat: nothing to do
        log.info("cannot reply in chat %s: %s", message.chat_id, exc.message)


# --- handlers ---------------------------------------------------------------------------------


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, person = update.effective_message, _person(update)
    if message is None or person is None or not message.text:
        return
    name = message.text.split()[0][1:].split("@")[0]
    arg = " ".join(context.args or [])
    await _send(message, await _dialogue(context).command(person, name, arg))


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, person = update.effective_message, _person(update)
    if message is None or person is None or message.text is None:
        return
    text = message.text
    username = context.bot.username
    if message.chat.type != ChatType.PRIVATE and username:
        text = text.replace(f"@{username}", " ")
    await _send(message, await _dialogue(context).ask(person, text))


async def on_not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None:
        return
    log.info("non-text message in a private chat; replied with a hint")
    await _send(message, _dialogue(context).not_text_reply())


async def on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.info("ignored an edited message (update %s)", update.update_id)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, person = update.callback_query, _person(update)
    if query is None or person is None:
        return
    reply = await _dialogue(context).press(person, query.data)
    try:
        await query.answer()
    except BadRequest as exc:  # too old to answer: the reply below still goes out
        log.info("could not answer callback query: %s", exc.message)
    message = query.message if isinstance(query.message, Message) else None
    if message is None:  # an inline card's button or an inaccessible message: reply privately
        try:
            await context.bot.send_message(
                person.user_id,
                render_html(reply),
                parse_mode=ParseMode.HTML,
                reply_markup=render_keyboard(reply),
            )
        except (Forbidden, BadRequest) as exc:
            log.info("cannot reply to a button press: %s", exc.message)
        return
    await _send(message, reply)


async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.inline_query
    if query is None:
        return
    dialogue = _dialogue(context)
    results = []
    for topic in dialogue.search(query.query):
        card = dialogue.card(topic)
        results.append(
            InlineQueryResultArticle(
                id=topic.id,
                title=topic.title,
                description=topic.pledge[:120],
                input_message_content=InputTextMessageContent(
                    render_html(card), parse_mode=ParseMode.HTML
                ),
                reply_markup=render_keyboard(card),
            )
        )
    button = None
    if not results:
        button = InlineQueryResultsButton(text=messages.ASK_YOURSELF, start_parameter="inline")
    await query.answer(results, cache_time=60, is_personal=False, button=button)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    where = ""
    if isinstance(update, Update):
        kinds = ("message", "edited_message", "callback_query", "inline_query")
        kind = next((k for k in kinds if getattr(update, k, None)), "other")
        where = f" while handling update {update.update_id} ({kind})"
    log.error("error%s: %s", where, context.error, exc_info=context.error)
    if isinstance(context.error, Forbidden):
        return
    chat = update.effective_chat if isinstance(update, Update) else None
    message = update.effective_message if isinstance(update, Update) else None
    if message is not None and chat is not None and chat.type == ChatType.PRIVATE:
        with contextlib.suppress(TelegramError):
            await message.reply_text(messages.SOMETHING_WENT_WRONG)


# --- wiring -----------------------------------------------------------------------------------


def _file_url(base_url: str) -> str:
    if base_url.endswith("/bot"):
        return base_url[: -len("bot")] + "file/bot"
    return base_url.rstrip("/") + "/file/bot"


def build_application(cfg: Config, kb: KnowledgeBase) -> Application[Any, Any, Any, Any, Any, Any]:
    async def post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        storage = await Storage.open(cfg.database.url)
        app.bot_data[STORAGE] = storage
        app.bot_data[DIALOGUE] = Dialogue(
            kb,
            storage,
            secret=cfg.privacy.hash_secret,
            engage_url=cfg.links.engage or None,
            bot_username=app.bot.username,
        )
        await app.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS.items()])
        # everything built so far (modules, knowledge, index) lives as long as the process:
        # keep it out of the garbage collector's scans
        gc.freeze()
        log.info("started as @%s with %d topics", app.bot.username, len(kb.topics))

    async def post_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        storage = app.bot_data.pop(STORAGE, None)
        if storage is not None:
            await storage.close()

    app = (
        ApplicationBuilder()
        .token(cfg.telegram.token)
        .base_url(cfg.telegram.base_url)
        .base_file_url(_file_url(cfg.telegram.base_url))
        .concurrent_updates(CONCURRENT_UPDATES)
        # bounded: under a burst, updates wait at Telegram instead of in this process's memory
        .update_queue(asyncio.Queue(maxsize=UPDATE_QUEUE_SIZE))
        .request(AiohttpRequest(connection_pool_size=CONCURRENT_UPDATES))
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
    commands = ["start", "hjelp", "help", "emner", "del", "stopp", "slettmeg"]
    app.add_handler(CommandHandler(commands, on_command, filters=new))
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
