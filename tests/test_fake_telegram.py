"""Tests for the stand-in Telegram server, driven through PTB's own client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, InvalidToken
from telegram.ext import ContextTypes, MessageHandler, filters

from tests.fake_telegram import FakeTelegram, FakeUser, parse_telegram_html, polling

KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Enig", callback_data="vote:1"),
            InlineKeyboardButton("Uenig", callback_data="vote:0"),
        ],
        [InlineKeyboardButton("Les mer", url="https://www.arbeiderpartiet.no/")],
    ]
)


@pytest.fixture
def kari(fake: FakeTelegram) -> FakeUser:
    return fake.user(1001, "Kari", username="kari_n")


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


async def test_get_me(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()
    assert me.id == fake.bot_id
    assert me.username == fake.bot_username
    assert me.is_bot
    assert fake.calls[0].method == "getMe"


async def test_send_message_with_keyboard_is_recorded(
    bot: Bot, fake: FakeTelegram, kari: FakeUser
) -> None:
    sent = await bot.send_message(kari.id, "Hva mener du?", reply_markup=KEYBOARD)
    assert sent.message_id == 1
    assert sent.chat.id == kari.id
    assert sent.from_user is not None and sent.from_user.id == fake.bot_id
    assert sent.reply_markup == KEYBOARD

    [msg] = fake.sent(kari.id)
    assert msg.text == "Hva mener du?"
    assert msg.buttons() == [
        ("Enig", "vote:1"),
        ("Uenig", "vote:0"),
        ("Les mer", "https://www.arbeiderpartiet.no/"),
    ]
    assert msg.button("Enig") == "vote:1"
    with pytest.raises(AssertionError, match="Kanskje"):
        msg.button("Kanskje")

    call = fake.calls[-1]
    assert call.params["chat_id"] == kari.id  # JSON-decoded back to int
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "vote:1"

    second = await bot.send_message(kari.id, "123")
    assert second.message_id == 2 and second.text == "123"
    assert fake.calls[-1].params["text"] == "123"  # strings stay strings


async def test_get_updates_text_message_and_confirmation(
    bot: Bot, fake: FakeTelegram, kari: FakeUser
) -> None:
    update_id = fake.send_text(kari, "/start@distriktsbot_test_bot hei 👋 @some_user")
    [update] = await bot.get_updates()
    assert update.update_id == update_id
    message = update.message
    assert message is not None
    assert message.text == "/start@distriktsbot_test_bot hei 👋 @some_user"
    assert message.from_user is not None and message.from_user.id == kari.id
    assert message.chat.type == "private" and message.chat.id == kari.id
    assert message.parse_entities([MessageEntity.BOT_COMMAND]).popitem()[1] == (
        "/start@distriktsbot_test_bot"
    )
    # UTF-16 offsets: the emoji counts twice, so parse_entity only works if offsets are right
    assert list(message.parse_entities([MessageEntity.MENTION]).values()) == ["@some_user"]

    # not confirmed yet -> delivered again; confirmed -> gone
    assert [u.update_id for u in await bot.get_updates()] == [update_id]
    assert await bot.get_updates(offset=update_id + 1) == ()
    assert fake.pending_updates() == []


async def test_long_poll_returns_early_and_times_out(
    bot: Bot, fake: FakeTelegram, kari: FakeUser
) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.3)) == ()
    assert 0.25 <= time.monotonic() - started < 2

    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    fake.send_text(kari, "hallo")
    updates = await poll
    assert time.monotonic() - started < 1
    assert updates[0].message is not None and updates[0].message.text == "hallo"


async def test_callback_query(bot: Bot, fake: FakeTelegram, kari: FakeUser) -> None:
    await bot.send_message(kari.id, "Er du enig?", reply_markup=KEYBOARD)
    msg = fake.sent(kari.id)[0]
    fake.press_button(kari, msg, msg.button("Enig"))
    fake.press_button(kari, msg, "forged:data")

    first, second = await bot.get_updates()
    query = first.callback_query
    assert query is not None
    assert query.data == "vote:1"
    assert query.from_user.id == kari.id
    assert query.message is not None and query.message.message_id == msg.message_id
    assert isinstance(query.message, Message) and query.message.text == "Er du enig?"
    assert second.callback_query is not None and second.callback_query.data == "forged:data"

    assert await query.answer("Takk!")
    assert fake.callback_answers()[0]["text"] == "Takk!"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer("igjen")


async def test_inline_query(bot: Bot, fake: FakeTelegram, kari: FakeUser) -> None:
    fake.inline_query(kari, "ferge")
    [update] = await bot.get_updates()
    inline = update.inline_query
    assert inline is not None and inline.query == "ferge" and inline.chat_type == "sender"
    result = InlineQueryResultArticle(
        "1", "Ferger", InputTextMessageContent("<b>Billigere</b> ferger", parse_mode="HTML")
    )
    assert await inline.answer([result], cache_time=0)
    [answer] = fake.inline_answers()
    assert answer["results"][0]["id"] == "1"
    assert answer["cache_time"] == 0


async def test_media_updates_and_file_download(
    bot: Bot, fake: FakeTelegram, kari: FakeUser
) -> None:
    fake.send_sticker(kari)
    fake.send_photo(kari, caption="Kaia")
    fake.send_voice(kari, data=b"OggS-test-voice")
    fake.send_location(kari, 68.43, 17.42)
    sticker, photo, voice, location = await bot.get_updates()
    assert sticker.message is not None and sticker.message.sticker is not None
    assert sticker.message.sticker.emoji == "👍"
    assert photo.message is not None and photo.message.photo[-1].width == 320
    assert photo.message.caption == "Kaia"
    assert location.message is not None and location.message.location is not None
    assert location.message.location.latitude == pytest.approx(68.43)

    assert voice.message is not None and voice.message.voice is not None
    tg_file = await voice.message.voice.get_file()
    assert tg_file.file_path is not None and tg_file.file_path.startswith(fake.base_file_url)
    assert bytes(await tg_file.download_as_bytearray()) == b"OggS-test-voice"


async def test_blocked_user_is_forbidden(bot: Bot, fake: FakeTelegram, kari: FakeUser) -> None:
    fake.block(kari.id)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(kari.id, "Hei")
    fake.unblock(kari.id)
    assert (await bot.send_message(kari.id, "Hei")).text == "Hei"


@pytest.mark.parametrize(
    "text",
    ["2 < 3", "<b>fet", "<br>", "Tom & Jerry", "<b>x</i>", "</b>", '<a href="x>y'],
)
async def test_bad_html_is_rejected(
    bot: Bot, fake: FakeTelegram, kari: FakeUser, text: str
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(kari.id, text, parse_mode=ParseMode.HTML)
    assert fake.sent(kari.id) == []


async def test_good_html_becomes_entities(bot: Bot, fake: FakeTelegram, kari: FakeUser) -> None:
    html = '<b>Fet</b> &amp; <a href="https://ap.no/?a=1&amp;b=2">lenke</a> 2 &lt; 3 &#128512;'
    sent = await bot.send_message(kari.id, html, parse_mode=ParseMode.HTML)
    assert sent.text == "Fet & lenke 2 < 3 😀"
    bold, link = sent.entities
    assert (bold.type, bold.offset, bold.length) == ("bold", 0, 3)
    assert link.type == "text_link" and link.url == "https://ap.no/?a=1&b=2"
    assert sent.parse_entity(link) == "lenke"
    [msg] = fake.sent(kari.id)
    assert msg.text == html and msg.plain_text == sent.text and msg.parse_mode == "HTML"


def test_html_parser_details() -> None:
    plain, entities = parse_telegram_html(
        '<pre><code class="language-python">x</code></pre><span class="tg-spoiler">s</span>'
    )
    assert plain == "xs"
    assert entities == [
        {"type": "pre", "offset": 0, "length": 1, "language": "python"},
        {"type": "spoiler", "offset": 1, "length": 1},
    ]
    assert parse_telegram_html("Tom & Jerry", strict_ampersand=False) == ("Tom & Jerry", [])


async def test_telegram_limits(bot: Bot, fake: FakeTelegram, kari: FakeUser) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(kari.id, "x" * 4097)
    assert (await bot.send_message(kari.id, "æ" * 4096)).text == "æ" * 4096

    too_much = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="ø" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(kari.id, "Hei", reply_markup=too_much)

    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999, "Hei")


async def test_edit_message(bot: Bot, fake: FakeTelegram, kari: FakeUser) -> None:
    sent = await bot.send_message(kari.id, "Spørsmål", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await sent.edit_text("Spørsmål", reply_markup=KEYBOARD)

    edited = await sent.edit_text("Takk for svaret")  # no markup: keyboard goes away
    assert isinstance(edited, type(sent)) and edited.reply_markup is None
    original, after = fake.sent(kari.id)
    assert not original.edited and original.buttons()
    assert after.edited and after.text == "Takk for svaret" and after.buttons() == []

    await bot.edit_message_reply_markup(kari.id, sent.message_id, reply_markup=KEYBOARD)
    current = fake.current(kari.id, sent.message_id)
    assert current is not None and current.button("Uenig") == "vote:0"

    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=kari.id, message_id=99)


async def test_wrong_token_and_unknown_method(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=fake.base_url):
            pass

    async with Bot(fake.token, base_url=fake.base_url) as good:
        with pytest.raises(EndPointNotFound):
            await good.do_api_request("makeCoffee")
    assert fake.calls[-1].method == "makeCoffee"
    assert fake.calls[-1].description == "Not Found: method not found"


async def test_bot_settings(bot: Bot, fake: FakeTelegram) -> None:
    await bot.set_my_commands([("start", "Start"), ("hjelp", "Hjelp")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "hjelp"]
    assert fake.commands()[1] == {"command": "hjelp", "description": "Hjelp"}
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Start!", "x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    assert await bot.set_my_description("Svar om distriktspolitikk")
    assert (await bot.get_my_description()).description == "Svar om distriktspolitikk"
    assert await bot.set_my_short_description("Distrikt")
    assert await bot.send_chat_action(fake.user(2002, "Ola").id, "typing")


async def test_webhook_delivery_and_conflict(bot: Bot, fake: FakeTelegram, kari: FakeUser) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=hook.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"http://127.0.0.1:{hook.server_address[1]}/telegram"
        assert await bot.set_webhook(url, secret_token="s3cret")
        with pytest.raises(Conflict, match=r"(?i)webhook is active"):
            await bot.get_updates()
        update_id = fake.send_text(kari, "via webhook")
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.01)
        assert received == [("s3cret", fake.updates[-1])]
        assert received[0][1]["update_id"] == update_id
        assert (await bot.get_webhook_info()).pending_update_count == 0
        with pytest.raises(BadRequest, match=r"(?i)bad webhook"):
            await bot.set_webhook("https://example.com/hook")
        assert await bot.delete_webhook()
        assert await bot.get_updates() == ()
    finally:
        hook.shutdown()
        hook.server_close()
        thread.join()


async def test_second_poller_terminates_first(bot: Bot, fake: FakeTelegram) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    async with Bot(fake.token, base_url=fake.base_url) as second_instance:
        assert await second_instance.get_updates() == ()
    with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
        await first


async def test_multipart_upload(bot: Bot, fake: FakeTelegram, kari: FakeUser) -> None:
    data = bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n"
    sent = await bot.send_photo(kari.id, photo=data, caption="<i>Kart</i>", parse_mode="HTML")
    assert sent.caption == "Kart" and sent.photo
    call = fake.calls[-1]
    assert call.params["photo"].data == data
    assert call.params["chat_id"] == kari.id
    [msg] = fake.sent(kari.id)
    assert msg.text == "<i>Kart</i>" and msg.plain_text == "Kart"


async def test_wait_for_timeout_explains(bot: Bot, fake: FakeTelegram, kari: FakeUser) -> None:
    await bot.send_message(kari.id, "noe annet")
    fake.mark()
    with pytest.raises(BadRequest):
        await bot.send_message(kari.id, "<b>", parse_mode="HTML")
    with pytest.raises(AssertionError) as info:
        await fake.next_message(kari.id, timeout=0.2)
    report = str(info.value)
    assert "message to chat 1001" in report
    assert "can't parse entities" in report and "noe annet" not in report


def test_wait_for_sync_with_plain_http_json(fake: FakeTelegram, kari: FakeUser) -> None:
    """A non-PTB client (JSON body) in another thread; the test waits synchronously."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    responses: list[dict[str, Any]] = []

    def client() -> None:
        time.sleep(0.1)
        request = urllib.request.Request(
            f"{fake.base_url}{fake.token}/sendMessage",
            data=json.dumps({"chat_id": kari.id, "text": "fra tråd"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with opener.open(request, timeout=5) as response:
            responses.append(json.load(response))

    thread = threading.Thread(target=client)
    thread.start()
    msg = fake.next_message_sync(kari.id, timeout=5)
    thread.join()
    assert msg.text == "fra tråd"
    assert responses[0]["ok"] is True and responses[0]["result"]["chat"]["type"] == "private"
    with pytest.raises(AssertionError, match="already consumed"):
        fake.wait_for_sync("sendMessage", timeout=0.05)


async def test_application_echo_via_polling(fake: FakeTelegram, kari: FakeUser) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"Du sa: {update.effective_message.text}")

    app = fake.application_builder().build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with polling(app):
        fake.send_text(kari, "Blir fergene billigere?")
        msg = await fake.next_message(kari.id)
        assert msg.text == "Du sa: Blir fergene billigere?"
        fake.send_text(kari, "Og bompenger?")
        assert (await fake.next_message(kari.id)).text == "Du sa: Og bompenger?"
    assert fake.pending_updates() == []  # the updater confirmed everything on stop
    fake.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("fake-telegram")]
