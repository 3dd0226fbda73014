"""A stand-in Telegram Bot API server for end-to-end tests.

``FakeTelegram`` plays both Telegram's server and the people who talk to the bot. It serves
the Bot API over HTTP on 127.0.0.1 from a background thread, so a PTB ``Application`` running
on the test's event loop, or a bot running in another process, can be pointed at it with
``base_url``::

    with FakeTelegram() as fake:
        kari = fake.user(1001, "Kari")
        app = fake.application_builder().build()
        async with polling(app):
            fake.send_text(kari, "Blir fergene billigere?")
            msg = await fake.next_message(kari.id)
            fake.press_button(kari, msg, msg.button("Enig"))

Behaviour follows the real Bot API where it matters for tests: the ``{"ok": ...}`` envelope
and HTTP status codes PTB maps to its exceptions, long polling with ``offset``/``timeout``,
webhooks with the secret-token header, and Telegram's error texts for the common mistakes
(bad HTML, too long text, oversized ``callback_data``, "message is not modified", blocked
users). It is deliberately a little stricter than Telegram in one place: a bare ``&`` in
HTML text is rejected (Telegram silently keeps it), so escaping bugs surface in tests.

Opt in to more of Telegram: ``limit_rate()`` enforces the flood limit (a message beyond 30 in
any one-second window gets 429 with ``retry_after``), ``delay_responses()`` holds answers back
after the call took effect (a message delivered but not yet confirmed), ``block()`` makes a user
refuse the bot (403).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import http.client
import itertools
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from telegram.ext import Application, ApplicationBuilder

JSONDict = dict[str, Any]

__all__ = [
    "HANG_UP",
    "Call",
    "FakeChat",
    "FakeTelegram",
    "FakeUser",
    "Fault",
    "SentMessage",
    "UploadedFile",
    "parse_telegram_html",
    "polling",
]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_LONG_POLL_SECONDS = 60.0
HANG_UP = 0  # a fault's status: close the connection without answering (a network error)

# Update types Telegram sends when allowed_updates is empty/unset.
_OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z0-9_]{5,32}(?![A-Za-z0-9_])")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BUTTON_URL_RE = re.compile(r"(?:https?|tg)://\S+", re.IGNORECASE)

_CHAT_ACTIONS = frozenset(
    (
        "typing upload_photo record_video upload_video record_voice upload_voice "
        "upload_document choose_sticker find_location record_video_note upload_video_note"
    ).split()
)

# Form fields whose value is a string even when it looks like JSON (e.g. text="123").
# Everything else is JSON-decoded when possible: PTB JSON-encodes every non-str value.
_STRING_PARAMS = frozenset(
    (
        "action address animation audio business_connection_id callback_query_id caption "
        "description document emoji explanation explanation_parse_mode file_id first_name "
        "foursquare_id foursquare_type google_place_id google_place_type inline_message_id "
        "inline_query_id ip_address language_code last_name message_effect_id name "
        "next_offset parse_mode performer phone_number photo query question secret_token "
        "short_description sticker switch_pm_parameter switch_pm_text text thumbnail title "
        "url vcard video video_note voice"
    ).split()
)


# --------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeChat:
    """A chat as Telegram describes it (``type`` is private, group, supergroup or channel)."""

    id: int
    type: str = "group"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    def to_dict(self) -> JSONDict:
        """The Bot API ``Chat`` object."""
        data: JSONDict = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


@dataclass(frozen=True)
class FakeUser:
    """A simulated person talking to the bot."""

    id: int
    first_name: str = "Kari"
    username: str | None = None
    language_code: str | None = "nb"
    last_name: str | None = None

    def to_dict(self) -> JSONDict:
        """The Bot API ``User`` object."""
        data: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    @property
    def chat(self) -> FakeChat:
        """The private chat between this user and the bot (chat id == user id)."""
        return FakeChat(
            id=self.id,
            type="private",
            username=self.username,
            first_name=self.first_name,
            last_name=self.last_name,
        )


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded with ``multipart/form-data``."""

    field: str
    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"UploadedFile({self.field!r}, {self.filename!r}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class SentMessage:
    """A message the bot sent (or the state of one right after the bot edited it).

    ``text`` is what the bot sent (with its HTML markup, or the caption for media);
    ``plain_text`` is what the user sees; ``message`` is the Bot API ``Message`` as returned.
    """

    message_id: int
    chat_id: int
    text: str | None
    parse_mode: str | None
    reply_markup: JSONDict | None
    edited: bool = False
    method: str = "sendMessage"
    plain_text: str | None = None
    message: JSONDict = field(default_factory=dict, repr=False)

    def buttons(self) -> list[tuple[str, str | None]]:
        """``(label, callback_data or url)`` for every button, row by row.

        Reply-keyboard buttons have ``None`` as value (pressing one means sending its label).
        """
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        result: list[tuple[str, str | None]] = []
        for row in rows:
            for button in row:
                if isinstance(button, str):
                    result.append((button, None))
                    continue
                value = None
                for key in (
                    "callback_data",
                    "url",
                    "switch_inline_query",
                    "switch_inline_query_current_chat",
                ):
                    if key in button:
                        value = button[key]
                        break
                result.append((button.get("text", ""), value))
        return result

    def button(self, text: str) -> str:
        """The callback_data (or url) of the button labelled ``text``."""
        for label, value in self.buttons():
            if label == text:
                if value is None:
                    raise AssertionError(f"button {text!r} carries no callback_data/url")
                return value
        labels = [label for label, _ in self.buttons()]
        raise AssertionError(f"no button {text!r} on message {self.message_id}; has {labels}")


@dataclass
class Call:
    """One Bot API request the bot made, with its outcome.

    ``params`` are decoded: JSON-encoded values (``reply_markup``, ``results``, numbers,
    booleans) are parsed; uploaded files are ``UploadedFile``. ``ok`` is ``None`` while a
    ``getUpdates`` long poll is still waiting.
    """

    index: int
    method: str
    params: JSONDict
    time: float
    ok: bool | None = None
    result: Any = None
    error_code: int | None = None
    description: str | None = None
    message: SentMessage | None = None

    def __str__(self) -> str:
        shown = []
        for key, value in self.params.items():
            text = repr(value)
            if len(text) > 80:
                text = text[:77] + "..."
            shown.append(f"{key}={text}")
        if self.ok is None:
            outcome = "(pending)"
        elif self.ok:
            outcome = "ok"
        else:
            outcome = f"{self.error_code} {self.description}"
        return f"#{self.index} {self.method}({', '.join(shown)}) -> {outcome}"


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


# --------------------------------------------------------------------------------------------
# Telegram HTML
# --------------------------------------------------------------------------------------------


class HtmlParseError(ValueError):
    """Text is not valid Telegram HTML; the message mirrors Telegram's wording."""


_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([A-Za-z]+));")
_ATTR_TOKEN_RE = re.compile(r"[A-Za-z0-9.\-]+")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    match = _HTML_ENTITY_RE.match(text, pos)
    if not match:
        return None
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        char = _NAMED_HTML_ENTITIES.get(name)
        return (char, match.end()) if char else None
    code = int(decimal, 10) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


def parse_telegram_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[JSONDict]]:
    """Parse Telegram-flavoured HTML into ``(plain_text, entities)`` like the Bot API does.

    Raises ``HtmlParseError`` with Telegram's wording ("Unsupported start tag ..."). With
    ``strict_ampersand`` a ``&`` that does not start ``&lt; &gt; &amp; &quot;`` or a numeric
    entity is an error too (Telegram itself tolerates it).
    """

    def offset(pos: int) -> int:
        return len(text[:pos].encode("utf-8"))

    out: list[str] = []
    out_len = 0  # UTF-16 code units, like Telegram's entity offsets
    stack: list[list[Any]] = []  # [tag, argument, start offset]
    entities: list[JSONDict] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is None:
                if strict_ampersand:
                    raise HtmlParseError(
                        f'Unescaped "&" at byte offset {offset(i)}; write it as "&amp;"'
                    )
                decoded = ("&", i + 1)
            out.append(decoded[0])
            out_len += _utf16_len(decoded[0])
            i = decoded[1]
            continue
        if char != "<":
            out.append(char)
            out_len += _utf16_len(char)
            i += 1
            continue

        begin = i
        i += 1
        if i < n and text[i] == "/":  # end tag
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            end_name = text[i + 1 : j].lower()
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {offset(begin)}")
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {offset(begin)}")
            tag, tag_argument, start = stack.pop()
            if end_name and end_name != tag:
                raise HtmlParseError(
                    f'Unmatched end tag at byte offset {offset(begin)}, expected "</{tag}>", '
                    f'found "</{end_name}>"'
                )
            if tag == "code" and tag_argument and stack and stack[-1][0] == "pre":
                stack[-1][1] = tag_argument  # <pre><code class="language-x"> -> pre with language
            elif out_len > start:
                entity: JSONDict = {
                    "type": _HTML_ENTITY_TYPES[tag],
                    "offset": start,
                    "length": out_len - start,
                }
                if tag == "a":
                    entity["url"] = tag_argument or ""
                elif tag == "pre" and tag_argument:
                    entity["language"] = tag_argument
                elif tag == "tg-emoji":
                    entity["custom_emoji_id"] = tag_argument or ""
                elif tag == "blockquote" and tag_argument:
                    entity["type"] = "expandable_blockquote"
                if tag != "a" or tag_argument:
                    entities.append(entity)
            i = j + 1
            continue

        # start tag
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {offset(begin)}")
        tag = text[i:j].lower()
        if tag not in _HTML_ENTITY_TYPES:
            raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {offset(begin)}')
        attributes: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {offset(begin)}")
            if text[j] == ">":
                j += 1
                break
            k = j
            while k < n and not text[k].isspace() and text[k] not in "=>":
                k += 1
            attribute = text[j:k].lower()
            if not attribute:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {offset(begin)}'
                )
            while k < n and text[k].isspace():
                k += 1
            if k >= n or text[k] != "=":
                if tag == "blockquote" and attribute == "expandable":
                    attributes[attribute] = "1"
                    j = k
                    continue
                raise HtmlParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {offset(begin)}'
                )
            k += 1
            while k < n and text[k].isspace():
                k += 1
            if k >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {offset(begin)}")
            if text[k] in "'\"":
                close = text.find(text[k], k + 1)
                if close < 0:
                    raise HtmlParseError(f"Unclosed start tag at byte offset {offset(begin)}")
                raw_value = text[k + 1 : close]
                value, p = [], 0
                while p < len(raw_value):
                    decoded = _decode_html_entity(raw_value, p) if raw_value[p] == "&" else None
                    if decoded:
                        value.append(decoded[0])
                        p = decoded[1]
                    else:
                        value.append(raw_value[p])
                        p += 1
                attributes[attribute] = "".join(value)
                k = close + 1
            else:
                token = _ATTR_TOKEN_RE.match(text, k)
                if not token:
                    raise HtmlParseError(f"Expected quote at byte offset {offset(k)}")
                attributes[attribute] = token.group().lower()
                k = token.end()
            j = k

        argument: str | None = None
        if tag == "a":
            argument = attributes.get("href", "")
        elif tag == "span":
            if attributes.get("class") != "tg-spoiler":
                raise HtmlParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {offset(begin)}'
                )
        elif tag == "code":
            css_class = attributes.get("class", "")
            if css_class.startswith("language-"):
                argument = css_class[len("language-") :]
        elif tag == "tg-emoji":
            argument = attributes.get("emoji-id")
        elif tag == "blockquote" and "expandable" in attributes:
            argument = "expandable"
        stack.append([tag, argument, out_len])
        i = j

    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _detect_entities(text: str) -> list[JSONDict]:
    """bot_command and mention entities, as Telegram adds them to a user's text."""

    def span(match: re.Match[str], kind: str) -> JSONDict:
        start = _utf16_len(text[: match.start()])
        return {"type": kind, "offset": start, "length": _utf16_len(match.group())}

    found = [span(m, "bot_command") for m in _COMMAND_RE.finditer(text)]
    found += [span(m, "mention") for m in _MENTION_RE.finditer(text)]
    return sorted(found, key=lambda e: e["offset"])


# --------------------------------------------------------------------------------------------
# Request decoding
# --------------------------------------------------------------------------------------------


def _decode_value(name: str, value: Any) -> Any:
    if not isinstance(value, str) or name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError("multipart body without boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    fields: dict[str, Any] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, _, content = chunk.partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if not name:
            continue
        if filename:
            fields[name.group(1)] = UploadedFile(
                field=name.group(1),
                filename=filename.group(1),
                content_type=headers.get("content-type", "application/octet-stream"),
                data=content,
            )
        else:
            fields[name.group(1)] = content.decode("utf-8")
    return fields


def _counts_toward_limit(method: str) -> bool:
    """Methods that put a message in a chat: what Telegram's ~30 messages/s limit counts."""
    return (method.startswith("send") and method != "sendChatAction") or method.startswith(
        ("editMessage", "copyMessage", "forwardMessage")
    )


def _dechunk(rfile: Any) -> bytes:
    body = bytearray()
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline().strip():
                pass
            return bytes(body)
        body += rfile.read(size)
        rfile.readline()


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # a bot opens many connections at once; socketserver's default backlog of 5 resets some
    request_queue_size = 128

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="fake-telegram-conn",
            daemon=True,
        )
        with self.fake._cond:
            self.fake._connections[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.fake._cond:
                self.fake._connections.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (cancelled long polls, stop()) are normal here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _Server
    # responses are written as headers + body; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK hold the body back ~40 ms on loopback
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _dechunk(self.rfile)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, payload, content_type = self.server.fake._handle_http(
            self.path, self.headers.get("Content-Type", ""), body
        )
        if status == HANG_UP:  # fault injection: the connection drops without an answer
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


def _envelope(
    status: int,
    result: Any = None,
    description: str | None = None,
    parameters: JSONDict | None = None,
) -> bytes:
    if status == 200:
        body: JSONDict = {"ok": True, "result": result}
    else:
        body = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


@dataclass
class Fault:
    """An injected failure for the next ``times`` calls of ``method`` ("*": any method but
    getUpdates): answer ``status`` (429 with ``retry_after``, 500, 502 …, or ``HANG_UP``), after
    ``delay`` seconds (a slow Telegram; with ``status`` None the call then succeeds)."""

    method: str
    status: int | None = 500
    retry_after: int | None = None
    delay: float = 0.0
    times: int = 1
    description: str | None = None
    chat_id: int | None = None  # only calls into this chat

    def matches(self, method: str, params: JSONDict) -> bool:
        if self.times <= 0 or (method == "getUpdates" and self.method != "getUpdates"):
            return False
        if self.method not in ("*", method):
            return False
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)


@dataclass
class _Stored:
    message: JSONDict  # the Bot API Message, as Telegram would return it
    from_bot: bool
    text: str | None = None  # raw text/caption as the bot sent it
    parse_mode: str | None = None
    reply_markup: JSONDict | None = None  # full markup incl. reply keyboards
    deleted: bool = False


_METHODS = tuple(
    (
        "getMe logOut close getUpdates setWebhook deleteWebhook getWebhookInfo sendMessage "
        "sendPhoto sendDocument sendAudio sendVoice sendVideo sendAnimation sendSticker "
        "sendLocation sendChatAction editMessageText editMessageCaption "
        "editMessageReplyMarkup deleteMessage answerCallbackQuery answerInlineQuery "
        "setMyCommands getMyCommands deleteMyCommands setMyDescription getMyDescription "
        "setMyShortDescription getMyShortDescription setMyName getMyName setChatMenuButton "
        "getFile"
    ).split()
)
_METHODS_BY_LOWER = {name.lower(): name for name in _METHODS}
_MEDIA_METHODS = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendAudio": "audio",
    "sendVoice": "voice",
    "sendVideo": "video",
    "sendAnimation": "animation",
    "sendSticker": "sticker",
}


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeTelegram:
    """Telegram's Bot API server and its users, on 127.0.0.1, for end-to-end tests."""

    def __init__(
        self, token: str = "123456:TEST-TOKEN", bot_username: str = "distriktsbot_test_bot"
    ) -> None:
        if not _TOKEN_RE.fullmatch(token):
            raise ValueError(f"not a Telegram-style token: {token!r}")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = "Distriktsbot"
        self.strict_ampersand = True
        self.calls: list[Call] = []
        self.updates: list[JSONDict] = []  # every update ever pushed, in order

        self._cond = threading.Condition(threading.RLock())
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._stopping = False

        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, FakeChat] = {}
        self._blocked: set[int] = set()
        self._store: dict[tuple[int, int], _Stored] = {}
        self._next_message_id: dict[int, int] = {}
        self._ids = itertools.count(1)
        self._next_update_id = 700_000_001

        self._queue: list[JSONDict] = []  # unconfirmed updates
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._webhook: JSONDict | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_conn: http.client.HTTPConnection | None = None

        # Opt-in, set before start(): deliver webhook updates to this URL instead of the one
        # registered with setWebhook (e.g. a loopback reverse proxy standing in for the public
        # https address); deliver with this many parallel connections (like Telegram's
        # max_connections), keeping one chat's updates in order (the next only after the
        # previous was confirmed) unless webhook_per_chat_order is False (as after redeliveries).
        self.webhook_target: str | None = None
        self.webhook_workers = 1
        self.webhook_per_chat_order = True
        # Opt-in fault injection: seconds to wait before answering a Bot API method.
        self.method_delays: dict[str, float] = {}
        self._webhook_conns: set[http.client.HTTPConnection] = set()
        self._delivering: set[int] = set()  # id() of queued updates being delivered
        self._delivering_keys: set[int] = set()

        self._pending_callbacks: set[str] = set()
        self._pending_inline: set[str] = set()
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._texts: dict[tuple[str, str], str] = {}
        self._files: dict[str, tuple[str, bytes, str]] = {}  # file_id -> (path, data, unique)

        self._floor = 0  # calls before this index are ignored by wait_for
        self._consumed: set[int] = set()
        self._faults: list[Fault] = []  # opt-in fault injection (`inject`)

        # opt-in: Telegram's overall flood limit (see limit_rate)
        self._rate_limit: tuple[int, int] | None = None
        self._rate_times: collections.deque[float] = collections.deque()
        # opt-in: answers held back after the call was handled (see delay_responses)
        self._delays: dict[str, float] = {}

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start serving on 127.0.0.1 (a free port) from background threads."""
        if self._server is not None:
            raise RuntimeError("FakeTelegram already started")
        self._stopping = False
        self._server = _Server(self)
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-telegram-server",
            daemon=True,
        )
        webhook = threading.Thread(
            target=self._webhook_loop, name="fake-telegram-webhook", daemon=True
        )
        self._threads = [serve, webhook]
        if self.webhook_workers > 1:
            self._threads = [serve] + [
                threading.Thread(
                    target=self._webhook_parallel_loop, name="fake-telegram-webhook", daemon=True
                )
                for _ in range(self.webhook_workers)
            ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop serving; ends long polls, closes connections and joins every thread."""
        server = self._server
        if server is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            webhook_conns = {self._webhook_conn, *self._webhook_conns}
        server.shutdown()
        for webhook_conn in webhook_conns:
            if webhook_conn is not None and webhook_conn.sock is not None:
                with contextlib.suppress(OSError):
                    webhook_conn.sock.shutdown(socket.SHUT_RDWR)
        with self._cond:
            connections = dict(self._connections)
        for sock in connections.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in [*connections, *self._threads]:
            thread.join(timeout=5)
        server.server_close()
        self._server = None
        self._threads = []

    def __enter__(self) -> FakeTelegram:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """For PTB's ``base_url``: PTB appends ``{token}/{method}``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For PTB's ``base_file_url``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def application_builder(self) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
        """A PTB ``ApplicationBuilder`` with token, base_url and base_file_url filled in."""
        from telegram.ext import Application

        return (
            Application.builder()
            .token(self.token)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )

    @property
    def bot_user(self) -> JSONDict:
        """The bot's ``User`` object (what getMe returns)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # ---------------------------------------------------------------- people and chats

    def user(
        self,
        user_id: int,
        first_name: str = "Kari",
        username: str | None = None,
        language_code: str = "nb",
    ) -> FakeUser:
        """Create (or replace) a simulated user; their private chat becomes known."""
        person = FakeUser(user_id, first_name, username, language_code)
        with self._cond:
            self._users[user_id] = person
            self._chats[user_id] = person.chat
        return person

    def group(self, chat_id: int, title: str = "Gruppe", chat_type: str = "group") -> FakeChat:
        """Create (or replace) a group chat (use a negative id, like Telegram)."""
        chat = FakeChat(chat_id, chat_type, title=title)
        with self._cond:
            self._chats[chat_id] = chat
        return chat

    def block(self, user_id: int) -> None:
        """The user blocks the bot: calls into their chat fail with 403 Forbidden."""
        with self._cond:
            self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        with self._cond:
            self._blocked.discard(user_id)

    def limit_rate(self, per_second: int | None = 30, retry_after: int = 1) -> None:
        """Opt in to Telegram's overall flood limit: a message (send*, edit*, copy, forward)
        beyond ``per_second`` in any one-second window is refused with 429 Too Many Requests
        and ``parameters.retry_after``. ``None`` switches it off again."""
        with self._cond:
            self._rate_limit = None if per_second is None else (per_second, retry_after)
            self._rate_times.clear()

    def delay_responses(self, seconds: float, *methods: str) -> None:
        """Opt in: hold back the answer to ``methods`` (default sendMessage) for ``seconds``
        after the call took effect, like a slow network: a message is then delivered but not
        yet confirmed to the bot for a while. ``0`` switches it off."""
        with self._cond:
            for method in methods or ("sendMessage",):
                if seconds > 0:
                    self._delays[method] = seconds
                else:
                    self._delays.pop(method, None)

    def _check_rate(self, method: str) -> None:
        if self._rate_limit is None or not _counts_toward_limit(method):
            return
        per_second, retry_after = self._rate_limit
        now = time.monotonic()
        while self._rate_times and self._rate_times[0] <= now - 1.0:
            self._rate_times.popleft()
        if len(self._rate_times) >= per_second:
            raise _ApiError(429, f"Too Many Requests: retry after {retry_after}")
        self._rate_times.append(now)

    # ---------------------------------------------------------------- incoming updates

    def push_update(self, update: JSONDict) -> int:
        """Queue a raw update (``update_id`` is assigned when missing); returns its id."""
        update = copy.deepcopy(update)
        with self._cond:
            if "update_id" in update:
                self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
            else:
                update = {"update_id": self._next_update_id, **update}
                self._next_update_id += 1
            self._queue.append(update)
            self.updates.append(update)
            self._cond.notify_all()
            return int(update["update_id"])

    def send_text(
        self,
        user: FakeUser | int,
        text: str,
        chat: FakeChat | int | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """The user writes ``text`` (private chat by default); returns the update_id.

        ``/commands`` and ``@mentions`` get their entities, as Telegram adds them.
        """
        content: JSONDict = {"text": text}
        entities = _detect_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(user, chat, content, reply_to_message_id)

    def send_sticker(
        self, user: FakeUser | int, chat: FakeChat | int | None = None, emoji: str = "👍"
    ) -> int:
        file_id, unique_id = self._new_file("stickers/sticker.webp", b"RIFF\x00\x00\x00\x00WEBP")
        sticker = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": 12,
        }
        return self._user_message(user, chat, {"sticker": sticker})

    def send_photo(
        self,
        user: FakeUser | int,
        chat: FakeChat | int | None = None,
        caption: str | None = None,
        data: bytes = b"\xff\xd8\xff\xe0fake-jpeg",
    ) -> int:
        file_id, unique_id = self._new_file("photos/photo.jpg", data)
        photo = [
            {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "width": 320,
                "height": 240,
                "file_size": len(data),
            },
        ]
        content: JSONDict = {"photo": photo}
        if caption is not None:
            content["caption"] = caption
        return self._user_message(user, chat, content)

    def send_voice(
        self,
        user: FakeUser | int,
        chat: FakeChat | int | None = None,
        duration: int = 3,
        data: bytes = b"OggS\x00fake-voice",
    ) -> int:
        file_id, unique_id = self._new_file("voice/voice.oga", data)
        voice = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return self._user_message(user, chat, {"voice": voice})

    def send_location(
        self,
        user: FakeUser | int,
        latitude: float = 59.9139,
        longitude: float = 10.7522,
        chat: FakeChat | int | None = None,
    ) -> int:
        location = {"latitude": latitude, "longitude": longitude}
        return self._user_message(user, chat, {"location": location})

    def send_message_content(
        self,
        user: FakeUser | int,
        content: JSONDict,
        chat: FakeChat | int | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """The user sends a message with arbitrary Bot API content fields (e.g. ``contact``)."""
        return self._user_message(user, chat, copy.deepcopy(content), reply_to_message_id)

    def edit_text(
        self,
        user: FakeUser | int,
        message_id: int,
        text: str,
        chat: FakeChat | int | None = None,
    ) -> int:
        """The user edits one of their text messages: an ``edited_message`` update."""
        person = self._as_user(user)
        chat_obj = self._as_chat(chat, person)
        with self._cond:
            stored = self._store.get((chat_obj.id, message_id))
            if stored is None or stored.from_bot or stored.deleted:
                raise AssertionError(f"user has no message {message_id} in chat {chat_obj.id}")
            if stored.message.get("from", {}).get("id") != person.id:
                raise AssertionError(f"message {message_id} was not written by user {person.id}")
            stored.message["text"] = text
            stored.message.pop("entities", None)
            entities = _detect_entities(text)
            if entities:
                stored.message["entities"] = entities
            stored.message["edit_date"] = int(time.time())
            return self.push_update({"edited_message": copy.deepcopy(stored.message)})

    def press_button(self, user: FakeUser | int, message: SentMessage, data: str) -> int:
        """The user presses an inline button: a ``callback_query`` carrying ``data`` (which
        need not belong to the message, so forged data can be tested)."""
        person = self._as_user(user)
        with self._cond:
            stored = self._store.get((message.chat_id, message.message_id))
            if stored is None or stored.deleted:
                raise AssertionError(
                    f"message {message.message_id} in chat {message.chat_id} does not exist"
                )
            query_id = str(4_000_000_000_000_000 + next(self._ids))
            self._pending_callbacks.add(query_id)
            callback = {
                "id": query_id,
                "from": person.to_dict(),
                "message": copy.deepcopy(stored.message),
                "chat_instance": str(-4_300_000_000_000 - abs(message.chat_id)),
                "data": data,
            }
            return self.push_update({"callback_query": callback})

    def press_inline_button(self, user: FakeUser | int, data: str) -> int:
        """A ``callback_query`` from a button on a message sent via inline mode: it carries only
        an ``inline_message_id``, no message and no chat (a forged one, if the bot never put
        such a button there)."""
        person = self._as_user(user)
        with self._cond:
            query_id = str(4_000_000_000_000_000 + next(self._ids))
            self._pending_callbacks.add(query_id)
            callback = {
                "id": query_id,
                "from": person.to_dict(),
                "inline_message_id": f"AAAAAB{next(self._ids):010d}",
                "chat_instance": "-4300000000000",
                "data": data,
            }
            return self.push_update({"callback_query": callback})

    def click(self, user: FakeUser | int, message: SentMessage, label: str) -> int:
        """Press the button labelled ``label`` on ``message``."""
        return self.press_button(user, message, message.button(label))

    def inline_query(
        self, user: FakeUser | int, query: str, offset: str = "", chat_type: str = "sender"
    ) -> int:
        """The user types ``@bot query`` somewhere: an ``inline_query`` update."""
        person = self._as_user(user)
        with self._cond:
            query_id = str(5_000_000_000_000_000 + next(self._ids))
            self._pending_inline.add(query_id)
            inline = {
                "id": query_id,
                "from": person.to_dict(),
                "query": query,
                "offset": offset,
                "chat_type": chat_type,
            }
            return self.push_update({"inline_query": inline})

    # ---------------------------------------------------------------- fault injection (opt-in)

    def inject(
        self,
        method: str = "*",
        status: int | None = 500,
        *,
        retry_after: int | None = None,
        delay: float = 0.0,
        times: int = 1,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` fail (or be slow): see ``Fault``.
        Failed calls are recorded in ``calls`` with their error code."""
        fault = Fault(method, status, retry_after, delay, times, description, chat_id)
        with self._cond:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    def redeliver(self, update_id: int) -> None:
        """Telegram sends an update again (a duplicate delivery, as when it got no confirmation
        in time), even if it was confirmed."""
        with self._cond:
            update = next(u for u in self.updates if u["update_id"] == update_id)
            self._queue.append(copy.deepcopy(update))
            self._queue.sort(key=lambda u: int(u["update_id"]))
            self._cond.notify_all()

    def delete_user_message(self, chat_id: int, message_id: int) -> None:
        """A user's message disappears (deleted by its author or an admin)."""
        with self._cond:
            self._store[(chat_id, message_id)].deleted = True

    def _take_fault(self, method: str, params: JSONDict) -> Fault | None:
        with self._cond:
            for fault in self._faults:
                if fault.matches(method, params):
                    fault.times -= 1
                    return fault
        return None

    def _faulty(self, method: str, params: JSONDict, fault: Fault) -> tuple[int, bytes, str]:
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is None:
            status, result, description = self._api_call(method, params)
            return status, _envelope(status, result, description), "application/json"
        code = fault.status
        description = fault.description or {
            HANG_UP: "connection dropped",
            429: f"Too Many Requests: retry after {fault.retry_after}",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
        }.get(code, f"Error {code}")
        with self._cond:
            call = Call(index=len(self.calls), method=method, params=params, time=time.monotonic())
            call.ok, call.error_code, call.description = False, code, description
            self.calls.append(call)
            self._cond.notify_all()
        if code == HANG_UP:
            return HANG_UP, b"", "application/json"
        body: JSONDict = {"ok": False, "error_code": code, "description": description}
        if fault.retry_after is not None:
            body["parameters"] = {"retry_after": fault.retry_after}
        return code, json.dumps(body).encode("utf-8"), "application/json"

    # ---------------------------------------------------------------- what the bot did

    def sent(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent or edited into ``chat_id``, in order (one per call)."""
        with self._cond:
            return [c.message for c in self.calls if c.message and c.message.chat_id == chat_id]

    def current(self, chat_id: int, message_id: int) -> SentMessage | None:
        """The bot's message as it looks now (after edits); ``None`` if unknown or deleted."""
        with self._cond:
            stored = self._store.get((chat_id, message_id))
            if stored is None or stored.deleted or not stored.from_bot:
                return None
            return self._snapshot(stored, "current", edited="edit_date" in stored.message)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def inline_answers(self) -> list[JSONDict]:
        """Params of successful answerInlineQuery calls."""
        return [c.params for c in self.calls_to("answerInlineQuery") if c.ok]

    def callback_answers(self) -> list[JSONDict]:
        """Params of successful answerCallbackQuery calls."""
        return [c.params for c in self.calls_to("answerCallbackQuery") if c.ok]

    def commands(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        """The command list the bot set for ``scope``/``language_code``."""
        with self._cond:
            return list(self._commands.get((self._scope_key(scope), language_code), []))

    def webhook_info(self) -> JSONDict:
        with self._cond:
            return self._webhook_info()

    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by getUpdates (or not yet delivered to the webhook)."""
        with self._cond:
            return copy.deepcopy(self._queue)

    # ---------------------------------------------------------------- waiting

    def mark(self) -> int:
        """Forget earlier calls for ``wait_for``/``next_message``; returns the call index."""
        with self._cond:
            self._floor = len(self.calls)
            return self._floor

    async def wait_for(self, predicate: Callable[[Call], bool] | str, timeout: float = 5.0) -> Call:
        """Wait for a finished call after the mark that no earlier wait returned.

        A ``str`` predicate matches the method name. Raises AssertionError listing the
        recent calls on timeout. Polls, so the bot can run on the same event loop.
        """
        match, what = self._matcher(predicate)
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._take(match)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_report(what, timeout))
            await asyncio.sleep(0.01)

    def wait_for_sync(self, predicate: Callable[[Call], bool] | str, timeout: float = 5.0) -> Call:
        """Blocking ``wait_for`` for tests whose bot runs in another thread or process."""
        match, what = self._matcher(predicate)
        deadline = time.monotonic() + timeout
        with self._cond:
            while (found := self._take(match)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_report(what, timeout))
                self._cond.wait(remaining)
            return found

    async def next_message(
        self, chat_id: int, timeout: float = 5.0, *, edits: bool = True
    ) -> SentMessage:
        """The next message the bot sends (or, with ``edits``, edits) into ``chat_id``."""
        call = await self.wait_for(self._message_matcher(chat_id, edits), timeout)
        assert call.message is not None
        return call.message

    def next_message_sync(
        self, chat_id: int, timeout: float = 5.0, *, edits: bool = True
    ) -> SentMessage:
        call = self.wait_for_sync(self._message_matcher(chat_id, edits), timeout)
        assert call.message is not None
        return call.message

    async def assert_no_message(self, chat_id: int, within: float = 0.3) -> None:
        """Wait ``within`` seconds and fail if the bot sent anything new into ``chat_id``."""
        await asyncio.sleep(within)
        match = self._message_matcher(chat_id, True)
        with self._cond:
            found = self._take(match)
        if found is not None:
            raise AssertionError(f"unexpected message in chat {chat_id}: {found}")

    def _message_matcher(self, chat_id: int, edits: bool) -> Callable[[Call], bool]:
        def match(call: Call) -> bool:
            message = call.message
            return (
                message is not None and message.chat_id == chat_id and (edits or not message.edited)
            )

        match.__name__ = f"message to chat {chat_id}"
        return match

    @staticmethod
    def _matcher(predicate: Callable[[Call], bool] | str) -> tuple[Callable[[Call], bool], str]:
        if isinstance(predicate, str):
            name = predicate
            return (lambda call: call.method == name), f"a {name} call"
        return predicate, getattr(predicate, "__name__", "matching call")

    def _take(self, match: Callable[[Call], bool]) -> Call | None:
        for call in self.calls[self._floor :]:
            if call.ok is None or call.index in self._consumed:
                continue
            if match(call):
                self._consumed.add(call.index)
                return call
        return None

    def _timeout_report(self, what: str, timeout: float) -> str:
        with self._cond:
            recent = [
                c
                for c in self.calls[self._floor :]
                if not (c.method == "getUpdates" and c.ok and not c.result)
            ]
            polls = sum(1 for c in self.calls[self._floor :] if c.method == "getUpdates")
            lines = [
                f"timed out after {timeout}s waiting for {what}.",
                f"{len(recent)} call(s) since mark #{self._floor} (empty getUpdates hidden):",
            ]
            lines += [
                ("  (already consumed) " if c.index in self._consumed else "  ") + str(c)
                for c in recent[-30:]
            ]
            if self._queue:
                lines.append(f"{len(self._queue)} update(s) not yet fetched by the bot")
            if not polls and self._webhook is None:
                lines.append("the bot has not polled since the mark: is it running?")
            return "\n".join(lines)

    # ---------------------------------------------------------------- helpers for users

    def _as_user(self, user: FakeUser | int) -> FakeUser:
        if isinstance(user, FakeUser):
            with self._cond:
                self._users.setdefault(user.id, user)
                self._chats.setdefault(user.id, user.chat)
            return user
        with self._cond:
            known = self._users.get(user)
        return known or self.user(user)

    def _as_chat(self, chat: FakeChat | int | None, person: FakeUser) -> FakeChat:
        if chat is None:
            return person.chat
        if isinstance(chat, FakeChat):
            with self._cond:
                self._chats.setdefault(chat.id, chat)
            return chat
        with self._cond:
            known = self._chats.get(chat)
        if known is None:
            raise ValueError(f"unknown chat {chat}; create it with fake.group()")
        return known

    def _user_message(
        self,
        user: FakeUser | int,
        chat: FakeChat | int | None,
        content: JSONDict,
        reply_to_message_id: int | None = None,
    ) -> int:
        person = self._as_user(user)
        chat_obj = self._as_chat(chat, person)
        with self._cond:
            reply_to = None
            if reply_to_message_id is not None:
                target = self._store.get((chat_obj.id, reply_to_message_id))
                if target is None or target.deleted:
                    raise ValueError(
                        f"no message {reply_to_message_id} in chat {chat_obj.id} to reply to"
                    )
                reply_to = target.message
            message = self._new_message(chat_obj, person.to_dict(), content, reply_to)
            self._store[(chat_obj.id, message["message_id"])] = _Stored(message, from_bot=False)
            return self.push_update({"message": copy.deepcopy(message)})

    def _new_message(
        self,
        chat: FakeChat,
        sender: JSONDict,
        content: JSONDict,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        message_id = self._next_message_id.get(chat.id, 1)
        self._next_message_id[chat.id] = message_id + 1
        message: JSONDict = {
            "message_id": message_id,
            "from": sender,
            "chat": chat.to_dict(),
            "date": int(time.time()),
            **content,
        }
        if reply_to is not None:
            nested = copy.deepcopy(reply_to)
            nested.pop("reply_to_message", None)
            message["reply_to_message"] = nested
        return message

    def _new_file(self, path: str, data: bytes) -> tuple[str, str]:
        number = next(self._ids)
        file_id, unique_id = f"FAKEFILE{number:08d}", f"FAKEUNIQ{number:08d}"
        directory, _, name = path.rpartition("/")
        with self._cond:
            self._files[file_id] = (f"{directory}/file_{number}_{name}", data, unique_id)
        return file_id, unique_id

    # ---------------------------------------------------------------- HTTP entry point

    def _handle_http(self, path: str, content_type: str, body: bytes) -> tuple[int, bytes, str]:
        json_type = "application/json"
        parts = urlsplit(path)
        file_prefix = "/file/bot"
        if parts.path.startswith(file_prefix):
            return self._serve_file(unquote(parts.path[len(file_prefix) :]))
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z0-9_]*)", parts.path)
        if not match or not _TOKEN_RE.fullmatch(match.group(1)):
            return 404, _envelope(404, description="Not Found"), json_type
        if match.group(1) != self.token:
            return 401, _envelope(401, description="Unauthorized"), json_type
        try:
            params = self._decode_params(parts.query, content_type, body)
        except (ValueError, UnicodeDecodeError) as exc:
            problem = f"Bad Request: can't parse request: {exc}"
            return 400, _envelope(400, description=problem), json_type
        method = _METHODS_BY_LOWER.get(match.group(2).lower()) or match.group(2)
        if self._faults:
            fault = self._take_fault(method, params)
            if fault is not None:
                return self._faulty(method, params, fault)
        status, result, description = self._api_call(method, params)
        delay = self._delays.get(method)
        if delay:
            time.sleep(delay)
        parameters = None
        if status == 429 and description:  # Telegram says how long to wait
            wait = re.search(r"retry after (\d+)", description)
            parameters = {"retry_after": int(wait.group(1))} if wait else None
        return status, _envelope(status, result, description, parameters), json_type

    def _serve_file(self, rest: str) -> tuple[int, bytes, str]:
        token, _, file_path = rest.partition("/")
        if token != self.token:
            return 401, _envelope(401, description="Unauthorized"), "application/json"
        with self._cond:
            for path, data, _ in self._files.values():
                if path == file_path:
                    return 200, data, "application/octet-stream"
        return 404, _envelope(404, description="Not Found"), "application/json"

    @staticmethod
    def _decode_params(query: str, content_type: str, body: bytes) -> JSONDict:
        raw: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        media_type = content_type.split(";", 1)[0].strip().lower()
        typed: JSONDict = {}
        if body:
            if media_type == "application/json":
                loaded = json.loads(body)
                if not isinstance(loaded, dict):
                    raise ValueError("JSON body must be an object")
                typed = loaded
            elif media_type == "multipart/form-data":
                raw.update(_parse_multipart(content_type, body))
            else:  # application/x-www-form-urlencoded (PTB's default)
                raw.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        params = {key: _decode_value(key, value) for key, value in raw.items()}
        params.update(typed)
        return params

    def _api_call(self, method: str, params: JSONDict) -> tuple[int, Any, str | None]:
        delay = self.method_delays.get(method)
        if delay:
            time.sleep(delay)
        if method == "getUpdates":
            return self._get_updates(params)
        with self._cond:
            call = Call(index=len(self.calls), method=method, params=params, time=time.monotonic())
            try:
                if method not in _METHODS_BY_LOWER.values():
                    raise _ApiError(404, "Not Found: method not found")
                self._check_rate(method)
                self._check_chat(params)
                call.result = getattr(self, f"_api_{method}")(params, call)
                call.ok = True
            except _ApiError as exc:
                call.ok, call.error_code, call.description = False, exc.code, exc.description
            except Exception as exc:  # a bug in the fake must not look like a network glitch
                call.ok, call.error_code = False, 500
                call.description = f"Internal Server Error: fake_telegram: {exc!r}"
            self.calls.append(call)
            self._cond.notify_all()
            if call.ok:
                return 200, call.result, None
            assert call.error_code is not None
            return call.error_code, None, call.description

    # ---------------------------------------------------------------- validation helpers

    def _check_chat(self, params: JSONDict) -> None:
        if "chat_id" not in params:
            return
        chat = self._chat_for(params["chat_id"])
        if chat.id in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")

    def _chat_for(self, chat_id: Any) -> FakeChat:
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)  # JSON bodies may carry chat ids as strings
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                if chat.username and f"@{chat.username}".lower() == chat_id.lower():
                    return chat
        elif isinstance(chat_id, int) and chat_id in self._chats:
            return self._chats[chat_id]
        elif chat_id in ("", None):
            raise _bad("chat_id is empty")
        raise _bad("chat not found")

    @staticmethod
    def _required(params: JSONDict, name: str) -> Any:
        value = params.get(name)
        if value is None or value == "":
            raise _bad(f"{name} is empty")
        return value

    def _render(self, text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSONDict]]:
        if entities:
            if not isinstance(entities, list):
                raise _bad("can't parse entities JSON object")
            return text, entities
        mode = str(parse_mode or "").lower()
        if mode == "html":
            try:
                return parse_telegram_html(text, strict_ampersand=self.strict_ampersand)
            except HtmlParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        if mode in ("", "markdown", "markdownv2"):
            return text, []  # Markdown is passed through unvalidated
        raise _bad("unsupported parse_mode")

    @staticmethod
    def _check_markup(markup: Any) -> JSONDict | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise _bad(
                            "can't parse inline keyboard button: Text buttons are "
                            "unallowed in the inline keyboard"
                        )
                    if len(button) == 1:
                        raise _bad("text buttons are unallowed in the inline keyboard")
                    if "callback_data" in button:
                        data = button["callback_data"]
                        if (
                            not isinstance(data, str)
                            or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
                        ):
                            raise _bad("BUTTON_DATA_INVALID")
                    if "url" in button and not _BUTTON_URL_RE.fullmatch(str(button["url"])):
                        raise _bad(
                            f"inline keyboard button URL '{button['url']}' is invalid: "
                            "Wrong HTTP URL"
                        )
        return markup

    @staticmethod
    def _echoed_markup(markup: JSONDict | None) -> JSONDict | None:
        """Telegram only echoes inline keyboards back in Message.reply_markup."""
        if markup and markup.get("inline_keyboard"):
            return markup
        return None

    def _reply_target(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        allow_without = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            target_id = reply.get("message_id")
            target_chat = reply.get("chat_id", chat_id)
            allow_without = allow_without or bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            target_id, target_chat = params["reply_to_message_id"], chat_id
        else:
            return None
        if isinstance(target_chat, str):
            target_chat = self._chat_for(target_chat).id
        stored = self._store.get((int(target_chat), int(target_id or 0)))
        if stored is None or stored.deleted:
            if allow_without:
                return None
            raise _bad("message to be replied not found")
        return stored.message

    def _snapshot(self, stored: _Stored, method: str, edited: bool) -> SentMessage:
        message = copy.deepcopy(stored.message)
        return SentMessage(
            message_id=message["message_id"],
            chat_id=message["chat"]["id"],
            text=stored.text,
            parse_mode=stored.parse_mode,
            reply_markup=copy.deepcopy(stored.reply_markup),
            edited=edited,
            method=method,
            plain_text=message.get("text", message.get("caption")),
            message=message,
        )

    def _send(
        self,
        call: Call,
        content: JSONDict,
        raw_text: str | None,
        parse_mode: str | None,
        markup: JSONDict | None,
    ) -> JSONDict:
        params = call.params
        chat = self._chat_for(params["chat_id"])
        reply_to = self._reply_target(chat.id, params)
        echoed = self._echoed_markup(markup)
        if echoed is not None:
            content["reply_markup"] = echoed
        message = self._new_message(chat, self.bot_user, content, reply_to)
        stored = _Stored(
            message, from_bot=True, text=raw_text, parse_mode=parse_mode, reply_markup=markup
        )
        self._store[(chat.id, message["message_id"])] = stored
        call.message = self._snapshot(stored, call.method, edited=False)
        return copy.deepcopy(message)

    def _editable(self, params: JSONDict) -> _Stored:
        chat = self._chat_for(self._required(params, "chat_id"))
        stored = self._store.get((chat.id, self._required(params, "message_id")))
        if stored is None or stored.deleted:
            raise _bad("message to edit not found")
        if not stored.from_bot:
            raise _bad("message can't be edited")
        return stored

    def _finish_edit(self, call: Call, stored: _Stored) -> JSONDict:
        stored.message["edit_date"] = int(time.time())
        call.message = self._snapshot(stored, call.method, edited=True)
        return copy.deepcopy(stored.message)

    # ---------------------------------------------------------------- API: bot & updates

    def _api_getMe(self, params: JSONDict, call: Call) -> JSONDict:
        return self.bot_user

    def _api_logOut(self, params: JSONDict, call: Call) -> bool:
        return True

    def _api_close(self, params: JSONDict, call: Call) -> bool:
        return True

    def _get_updates(self, params: JSONDict) -> tuple[int, Any, str | None]:
        with self._cond:
            call = Call(
                index=len(self.calls), method="getUpdates", params=params, time=time.monotonic()
            )
            self.calls.append(call)
            try:
                result = self._poll(params)
                call.ok, call.result = True, result
            except _ApiError as exc:
                call.ok, call.error_code, call.description = False, exc.code, exc.description
            except (TypeError, ValueError) as exc:
                call.ok, call.error_code = False, 400
                call.description = f"Bad Request: wrong parameter in getUpdates: {exc}"
            self._cond.notify_all()
            if call.ok:
                return 200, call.result, None
            assert call.error_code is not None
            return call.error_code, None, call.description

    def _poll(self, params: JSONDict) -> list[JSONDict]:
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(max(float(params.get("timeout") or 0), 0.0), MAX_LONG_POLL_SECONDS)
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        if offset > 0:
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        elif offset < 0:
            self._queue = self._queue[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()  # terminates an older long poll, like Telegram
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make "
                    "sure that only one bot instance is running",
                )
            ready = self._deliverable()[:limit]
            remaining = deadline - time.monotonic()
            if ready or self._stopping or remaining <= 0:
                return copy.deepcopy(ready)
            self._cond.wait(remaining)

    def _set_allowed(self, allowed: Any) -> None:
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        self._allowed_updates = frozenset(allowed) if allowed else None

    def _is_allowed(self, update: JSONDict) -> bool:
        kind = next((key for key in update if key != "update_id"), "")
        if self._allowed_updates is None:
            return kind not in _OPT_IN_UPDATE_TYPES
        return kind in self._allowed_updates

    def _deliverable(self) -> list[JSONDict]:
        """Drops queued updates of types the bot did not ask for; returns the rest."""
        self._queue = [u for u in self._queue if self._is_allowed(u)]
        return self._queue

    def _api_setWebhook(self, params: JSONDict, call: Call) -> bool:
        url = params.get("url") or ""
        if not url:
            return self._api_deleteWebhook(params, call)
        parts = urlsplit(str(url))
        if self.webhook_target is not None:  # delivered elsewhere: any https URL will do
            parts = urlsplit(self.webhook_target)
        if parts.scheme not in ("http", "https") or parts.hostname not in (
            "127.0.0.1",
            "localhost",
        ):
            raise _bad("bad webhook: the fake Telegram only delivers to http(s)://127.0.0.1")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._queue.clear()
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        self._webhook = {
            "url": str(url),
            "secret_token": None if secret is None else str(secret),
            "max_connections": int(params.get("max_connections") or 40),
        }
        self._webhook_error = None
        self._cond.notify_all()
        return True

    def _api_deleteWebhook(self, params: JSONDict, call: Call) -> bool:
        self._webhook = None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _webhook_info(self) -> JSONDict:
        info: JSONDict = {
            "url": self._webhook["url"] if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self._webhook:
            info["max_connections"] = self._webhook["max_connections"]
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        if self._webhook_error:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    def _api_getWebhookInfo(self, params: JSONDict, call: Call) -> JSONDict:
        return self._webhook_info()

    def _webhook_loop(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while not self._stopping and not (self._webhook and self._deliverable()):
                    self._cond.wait()
                if self._stopping:
                    return
                assert self._webhook is not None
                update = copy.deepcopy(self._queue[0])
                hook = dict(self._webhook)
            error = self._deliver(hook, update)
            with self._cond:
                if error is None:
                    failures = 0
                    if self._queue and self._queue[0]["update_id"] == update["update_id"]:
                        self._queue.pop(0)
                    self._cond.notify_all()
                    continue
                failures += 1
                self._webhook_error = (int(time.time()), error)
                if not self._stopping:
                    self._cond.wait(min(0.05 * 2 ** min(failures, 5), 1.0))

    @staticmethod
    def _order_key(update: JSONDict) -> int | None:
        """The chat (or user) whose updates Telegram delivers one after the other."""
        for value in update.values():
            if not isinstance(value, dict):
                continue
            message = value.get("message") if "data" in value else value
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                return int(message["chat"]["id"])
            if isinstance(value.get("from"), dict):
                return int(value["from"]["id"])
        return None

    def _next_to_deliver(self) -> JSONDict | None:
        for update in self._deliverable():
            if id(update) in self._delivering:
                continue
            key = self._order_key(update) if self.webhook_per_chat_order else None
            if key is not None and key in self._delivering_keys:
                continue
            return update
        return None

    def _webhook_parallel_loop(self) -> None:
        """One of ``webhook_workers`` delivery threads (see ``webhook_target``)."""
        failures = 0
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    update = self._next_to_deliver() if self._webhook else None
                    if update is not None:
                        break
                    self._cond.wait()
                assert self._webhook is not None
                key = self._order_key(update) if self.webhook_per_chat_order else None
                self._delivering.add(id(update))
                if key is not None:
                    self._delivering_keys.add(key)
                hook = dict(self._webhook)
                payload = copy.deepcopy(update)
            error = self._deliver(hook, payload)
            with self._cond:
                self._delivering.discard(id(update))
                if key is not None:
                    self._delivering_keys.discard(key)
                if error is None:
                    failures = 0
                    for i, queued in enumerate(self._queue):
                        if queued is update:
                            del self._queue[i]
                            break
                    self._cond.notify_all()
                    continue
                failures += 1
                self._webhook_error = (int(time.time()), error)
                self._cond.notify_all()
                if not self._stopping:
                    self._cond.wait(min(0.05 * 2 ** min(failures, 5), 1.0))

    def _deliver(self, hook: JSONDict, update: JSONDict) -> str | None:
        parts = urlsplit(self.webhook_target or hook["url"])
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(
                "127.0.0.1", parts.port or 443, timeout=10, context=context
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", parts.port or 80, timeout=10)
        headers = {"Content-Type": "application/json", "Host": parts.netloc}
        if hook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        with self._cond:
            if self._stopping:
                return "stopping"
            self._webhook_conn = conn
            self._webhook_conns.add(conn)
        try:
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            conn.request("POST", target, body=json.dumps(update).encode("utf-8"), headers=headers)
            response = conn.getresponse()
            response.read()
            if 200 <= response.status < 300:
                return None
            return f"Wrong response from the webhook: {response.status} {response.reason}"
        except OSError as exc:
            return f"Connection failed: {exc}"
        finally:
            conn.close()
            with self._cond:
                self._webhook_conn = None
                self._webhook_conns.discard(conn)

    # ---------------------------------------------------------------- API: messages

    def _api_sendMessage(self, params: JSONDict, call: Call) -> JSONDict:
        text = str(params.get("text") or "")
        if not text:
            raise _bad("message text is empty")
        plain, entities = self._render(text, params.get("parse_mode"), params.get("entities"))
        if not plain.strip():
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        markup = self._check_markup(params.get("reply_markup"))
        content: JSONDict = {"text": plain}
        if entities:
            content["entities"] = entities
        return self._send(call, content, text, params.get("parse_mode"), markup)

    def _caption(self, params: JSONDict) -> tuple[JSONDict, str | None]:
        caption = params.get("caption")
        if caption is None or caption == "":
            return {}, None
        caption = str(caption)
        plain, entities = self._render(
            caption, params.get("parse_mode"), params.get("caption_entities")
        )
        if len(plain) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        content: JSONDict = {"caption": plain}
        if entities:
            content["caption_entities"] = entities
        return content, caption

    def _media_object(self, kind: str, value: Any) -> JSONDict | list[JSONDict]:
        if isinstance(value, UploadedFile):
            file_id, unique_id = self._new_file(f"{kind}/{value.filename}", value.data)
            size = len(value.data)
        elif isinstance(value, str) and value.startswith("attach://"):
            raise _bad(f"there is no {kind} in the request")
        elif str(value) in self._files:  # re-sending a known file_id
            file_id = str(value)
            _, data, unique_id = self._files[file_id]
            size = len(data)
        else:  # a URL or an unknown file_id: Telegram would fetch it; pretend it did
            file_id, unique_id = self._new_file(f"{kind}/remote", b"")
            size = 0
        base: JSONDict = {"file_id": file_id, "file_unique_id": unique_id, "file_size": size}
        if kind == "photo":
            return [{**base, "width": 320, "height": 240}]
        if kind in ("video", "animation"):
            return {**base, "width": 320, "height": 240, "duration": 1}
        if kind in ("audio", "voice"):
            return {**base, "duration": 1}
        if kind == "sticker":
            return {
                **base,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        return base

    def _send_media(self, params: JSONDict, call: Call) -> JSONDict:
        kind = _MEDIA_METHODS[call.method]
        value = params.get(kind)
        if value is None or value == "":
            raise _bad(f"there is no {kind} in the request")
        content, raw_caption = self._caption(params)
        content[kind] = self._media_object(kind, value)
        markup = self._check_markup(params.get("reply_markup"))
        return self._send(call, content, raw_caption, params.get("parse_mode"), markup)

    _api_sendPhoto = _send_media
    _api_sendDocument = _send_media
    _api_sendAudio = _send_media
    _api_sendVoice = _send_media
    _api_sendVideo = _send_media
    _api_sendAnimation = _send_media
    _api_sendSticker = _send_media

    def _api_sendLocation(self, params: JSONDict, call: Call) -> JSONDict:
        location = {
            "latitude": float(self._required(params, "latitude")),
            "longitude": float(self._required(params, "longitude")),
        }
        markup = self._check_markup(params.get("reply_markup"))
        return self._send(call, {"location": location}, None, None, markup)

    def _api_sendChatAction(self, params: JSONDict, call: Call) -> bool:
        self._required(params, "chat_id")
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _api_editMessageText(self, params: JSONDict, call: Call) -> JSONDict | bool:
        text = str(params.get("text") or "")
        if not text:
            raise _bad("message text is empty")
        plain, entities = self._render(text, params.get("parse_mode"), params.get("entities"))
        if not plain.strip():
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        markup = self._echoed_markup(self._check_markup(params.get("reply_markup")))
        if params.get("inline_message_id"):
            return True
        stored = self._editable(params)
        message = stored.message
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        if (
            message["text"] == plain
            and message.get("entities", []) == entities
            and message.get("reply_markup") == markup
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message["text"] = plain
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        # Like Telegram: omitting reply_markup removes the inline keyboard.
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        stored.text, stored.parse_mode, stored.reply_markup = (
            text,
            params.get("parse_mode"),
            markup,
        )
        return self._finish_edit(call, stored)

    def _api_editMessageCaption(self, params: JSONDict, call: Call) -> JSONDict | bool:
        content, raw_caption = self._caption(params)
        markup = self._echoed_markup(self._check_markup(params.get("reply_markup")))
        if params.get("inline_message_id"):
            return True
        stored = self._editable(params)
        message = stored.message
        if "text" in message or "location" in message:
            raise _bad("there is no caption in the message to edit")
        if (
            message.get("caption") == content.get("caption")
            and message.get("caption_entities") == content.get("caption_entities")
            and message.get("reply_markup") == markup
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        for key in ("caption", "caption_entities", "reply_markup"):
            message.pop(key, None)
        message.update(content)
        if markup:
            message["reply_markup"] = markup
        stored.text, stored.parse_mode, stored.reply_markup = (
            raw_caption,
            params.get("parse_mode"),
            markup,
        )
        return self._finish_edit(call, stored)

    def _api_editMessageReplyMarkup(self, params: JSONDict, call: Call) -> JSONDict | bool:
        markup = self._check_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected")
        markup = self._echoed_markup(markup)
        if params.get("inline_message_id"):
            return True
        stored = self._editable(params)
        if stored.message.get("reply_markup") == markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        stored.message.pop("reply_markup", None)
        if markup:
            stored.message["reply_markup"] = markup
        stored.reply_markup = markup
        return self._finish_edit(call, stored)

    def _api_deleteMessage(self, params: JSONDict, call: Call) -> bool:
        chat = self._chat_for(self._required(params, "chat_id"))
        stored = self._store.get((chat.id, self._required(params, "message_id")))
        if stored is None or stored.deleted:
            raise _bad("message to delete not found")
        stored.deleted = True
        return True

    # ---------------------------------------------------------------- API: queries

    def _api_answerCallbackQuery(self, params: JSONDict, call: Call) -> bool:
        query_id = str(self._required(params, "callback_query_id"))
        if query_id not in self._pending_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self._pending_callbacks.discard(query_id)
        return True

    def _api_answerInlineQuery(self, params: JSONDict, call: Call) -> bool:
        query_id = str(self._required(params, "inline_query_id"))
        if query_id not in self._pending_inline:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        results = params.get("results")
        if not isinstance(results, list):
            raise _bad("can't parse JSON encoded inline query results")
        if len(results) > 50:
            raise _bad("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict) or "type" not in result or "id" not in result:
                raise _bad("can't parse inline query result")
            result_id = str(result["id"])
            if not 1 <= len(result_id.encode("utf-8")) <= 64:
                raise _bad("RESULT_ID_INVALID")
            if result_id in seen:
                raise _bad("RESULT_ID_DUPLICATE")
            seen.add(result_id)
            content = result.get("input_message_content") or {}
            if "message_text" in content:
                plain, _ = self._render(
                    str(content["message_text"]),
                    content.get("parse_mode"),
                    content.get("entities"),
                )
                if len(plain) > MAX_TEXT_LENGTH:
                    raise _bad("MESSAGE_TOO_LONG")
            self._check_markup(result.get("reply_markup"))
        self._pending_inline.discard(query_id)
        return True

    # ---------------------------------------------------------------- API: bot settings

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not scope or scope == {"type": "default"}:
            return "default"
        return json.dumps(scope, sort_keys=True)

    def _api_setMyCommands(self, params: JSONDict, call: Call) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands specified")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand")
            if not _BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands[key] = copy.deepcopy(commands)
        return True

    def _api_getMyCommands(self, params: JSONDict, call: Call) -> list[JSONDict]:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        return copy.deepcopy(self._commands.get(key, []))

    def _api_deleteMyCommands(self, params: JSONDict, call: Call) -> bool:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands.pop(key, None)
        return True

    def _set_text(self, kind: str, params: JSONDict, limit: int) -> bool:
        value = str(params.get(kind) or "")
        if len(value) > limit:
            raise _bad(f"{kind.replace('_', ' ')} is too long")
        self._texts[(kind, str(params.get("language_code") or ""))] = value
        return True

    def _get_text(self, kind: str, params: JSONDict) -> JSONDict:
        return {kind: self._texts.get((kind, str(params.get("language_code") or "")), "")}

    def _api_setMyDescription(self, params: JSONDict, call: Call) -> bool:
        return self._set_text("description", params, 512)

    def _api_getMyDescription(self, params: JSONDict, call: Call) -> JSONDict:
        return self._get_text("description", params)

    def _api_setMyShortDescription(self, params: JSONDict, call: Call) -> bool:
        return self._set_text("short_description", params, 120)

    def _api_getMyShortDescription(self, params: JSONDict, call: Call) -> JSONDict:
        return self._get_text("short_description", params)

    def _api_setMyName(self, params: JSONDict, call: Call) -> bool:
        return self._set_text("name", params, 64)

    def _api_getMyName(self, params: JSONDict, call: Call) -> JSONDict:
        result = self._get_text("name", params)
        return result if result["name"] else {"name": self.bot_first_name}

    def _api_setChatMenuButton(self, params: JSONDict, call: Call) -> bool:
        return True

    def _api_getFile(self, params: JSONDict, call: Call) -> JSONDict:
        file_id = str(self._required(params, "file_id"))
        if file_id not in self._files:
            raise _bad("invalid file_id")
        path, data, unique_id = self._files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_size": len(data),
            "file_path": path,
        }


@contextlib.asynccontextmanager
async def polling(
    app: Application[Any, Any, Any, Any, Any, Any], timeout: int = 1
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run ``app`` with long polling for the duration of the block, then stop it cleanly."""
    updater = app.updater
    assert updater is not None, "build the Application with an Updater"
    async with app:
        await app.start()
        try:
            await updater.start_polling(poll_interval=0, timeout=timeout)
            yield app
        finally:
            if updater.running:
                await updater.stop()
            if app.running:
                await app.stop()
