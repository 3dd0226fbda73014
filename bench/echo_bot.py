"""A bare python-telegram-bot 22 echo bot: the framework's ceiling for `bench_bot.py`.

    python bench/echo_bot.py            # token and Bot API address from the environment:
                                        # ECHO_TOKEN, ECHO_BASE_URL (as for `distriktsbot run`)

What the bot does per update, with none of its work: PTB's own long polling (`Updater`) on the
same request backend as the bot (`handlers.aiohttp_request.AiohttpRequest`, one for the polls,
one for the replies), the same event loop (uvloop) and the same number of updates handled at
once (64). A text message is answered with its text and two buttons (Enig / Uenig, so the
benchmark can press them as it does on the bot's answers); a button press is answered
(`answerCallbackQuery`) and followed by one message. Every update gets one message back, like
on the bot. Once polling, it calls setMyCommands: the benchmark's signal that it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from handlers.aiohttp_request import AiohttpRequest  # noqa: E402

CONCURRENT_UPDATES = 64  # as the bot (handlers.app)
KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Enig", callback_data="e"),
            InlineKeyboardButton("Uenig", callback_data="u"),
        ]
    ]
)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text, reply_markup=KEYBOARD, do_quote=False)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    if query.message is not None:
        await context.bot.send_message(query.message.chat.id, f"Takk: {query.data}")


async def main() -> None:
    app: Application[Any, Any, Any, Any, Any, Any] = (
        Application.builder()
        .token(os.environ["ECHO_TOKEN"])
        .base_url(os.environ["ECHO_BASE_URL"])
        .concurrent_updates(CONCURRENT_UPDATES)
        .request(AiohttpRequest(connection_pool_size=CONCURRENT_UPDATES))
        .get_updates_request(AiohttpRequest(connection_pool_size=1, read_timeout=5.0))
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, on_text))
    app.add_handler(CallbackQueryHandler(on_button))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(timeout=10, allowed_updates=Update.ALL_TYPES)
        await app.start()
        await app.bot.set_my_commands([("start", "echo")])
        await stopping.wait()
        await app.updater.stop()
        await app.stop()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
