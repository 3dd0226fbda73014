"""What the dialogue answers: text blocks and actions, independent of any transport.

An `Action` is what a button (Telegram), a numbered choice (console) or a link does. Actions that
come back from a user travel as short strings (`Action.encode` / `Action.decode`): Telegram's
callback data is limited to 64 bytes and can be forged, so decoding validates everything and
returns None for anything it does not recognise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from bot.knowledge import TOPIC_ID

MAX_ACTION_BYTES = 64


class BlockKind(StrEnum):
    TITLE = "title"
    TEXT = "text"
    FACT = "fact"
    QUESTION = "question"
    NOTE = "note"
    IMAGE = "image"  # `data` is a PNG; `text` is its caption
    DOCUMENT = "document"  # `data` is a file named `filename`; `text` is its caption


MEDIA_KINDS = frozenset({BlockKind.IMAGE, BlockKind.DOCUMENT})


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str
    data: bytes | None = field(default=None, repr=False)  # the payload of a media block
    filename: str | None = None

    @staticmethod
    def image(data: bytes, filename: str, caption: str = "") -> Block:
        return Block(BlockKind.IMAGE, caption, data, filename)

    @staticmethod
    def document(data: bytes, filename: str, caption: str = "") -> Block:
        return Block(BlockKind.DOCUMENT, caption, data, filename)

    @property
    def is_media(self) -> bool:
        return self.kind in MEDIA_KINDS


class Do(StrEnum):
    """What an action does; the value is its wire prefix."""

    TOPIC = "t"  # show a topic's answer
    AGREE = "ja"  # vote Enig on a topic
    DISAGREE = "nei"  # vote Uenig on a topic
    MENU = "m"  # show the topic menu
    SUBSCRIBE = "nb"  # opt in to the newsletter
    SHARE = "del"  # a ready-to-forward text for a topic
    LINK = "url"  # open a link (never sent back by a user)
    AREA = "a"  # show one policy area's topics ("a:<area id>")
    # --- admin actions: gated in bot/admin.py (ADMIN_ACTIONS below), never run for voters ---
    INBOX = "uv"  # show the unanswered inbox ("uv") or one group of it ("uv:<group>")
    LEARN = "ul"  # add a group's question as an example to a topic ("ul:<group>:<topic id>")
    PICK_TOPIC = "uo"  # choose any topic for a group ("uo:<group>")
    NOT_OURS = "ux"  # add a group's question to an area's out_of_scope ("ux:<group>[:<area>]")
    IGNORE = "ui"  # leave a group out of the inbox ("ui:<group>")
    # the newsletter's buttons (bot/newsletter.py); their argument is a broadcast's number
    BROADCAST_SEND = "kks"
    BROADCAST_TEST = "kkt"
    BROADCAST_CANCEL = "kkx"
    BROADCAST_RESEND = "kkr"


_ID = TOPIC_ID.pattern.strip("^$")
_GROUP = "[0-9a-z]{1,10}"  # an unanswered group's id in base 36
_NUMBER = re.compile("^[0-9]{1,12}$")  # a broadcast's number
# What follows "<prefix>:" for each action; None: nothing may follow.
ARGUMENTS: dict[Do, re.Pattern[str] | None] = {
    Do.TOPIC: TOPIC_ID,
    Do.AGREE: TOPIC_ID,
    Do.DISAGREE: TOPIC_ID,
    Do.SHARE: TOPIC_ID,
    Do.MENU: None,
    Do.SUBSCRIBE: None,
    Do.AREA: TOPIC_ID,
    Do.INBOX: re.compile(f"^(?:{_GROUP})?$"),
    Do.LEARN: re.compile(f"^{_GROUP}:{_ID}$"),
    Do.PICK_TOPIC: re.compile(f"^{_GROUP}$"),
    Do.NOT_OURS: re.compile(f"^{_GROUP}(?::{_ID})?$"),
    Do.IGNORE: re.compile(f"^{_GROUP}$"),
    Do.BROADCAST_SEND: _NUMBER,
    Do.BROADCAST_TEST: _NUMBER,
    Do.BROADCAST_CANCEL: _NUMBER,
    Do.BROADCAST_RESEND: _NUMBER,
}
NEWSLETTER_ACTIONS = frozenset(
    {Do.BROADCAST_SEND, Do.BROADCAST_TEST, Do.BROADCAST_CANCEL, Do.BROADCAST_RESEND}
)
"""The newsletter's admin buttons (bot/newsletter.py)."""
INBOX_ACTIONS = frozenset({Do.INBOX, Do.LEARN, Do.PICK_TOPIC, Do.NOT_OURS, Do.IGNORE})
"""The unanswered inbox's admin buttons (bot/inbox.py)."""
ADMIN_ACTIONS = INBOX_ACTIONS | NEWSLETTER_ACTIONS
"""Actions only an admin may take: the core checks who pressed, on every press (data can be
forged); bot/admin.py's gate is the one check."""


def data_pattern(actions: frozenset[Do]) -> str:
    """A regular expression matching the button data of `actions` (for routing)."""
    return "^(?:" + "|".join(sorted(d.value for d in actions)) + ")(?::|$)"


ADMIN_DATA_PATTERN = data_pattern(ADMIN_ACTIONS)


@dataclass(frozen=True)
class Action:
    do: Do
    label: str
    topic_id: str | None = None
    url: str | None = None
    arg: str | None = None  # the argument of an action that is not about one topic

    def encode(self) -> str:
        """The short string a button carries back ("ja:fergetakster", "m", "ul:2s:landbruk")."""
        value = self.topic_id or self.arg
        data = f"{self.do.value}:{value}" if value else self.do.value
        if len(data.encode()) > MAX_ACTION_BYTES:  # topic ids are at most 40 characters
            raise ValueError(f"action data too long: {data!r}")
        return data

    @staticmethod
    def decode(data: str | None) -> tuple[Do, str | None] | None:
        """Parse what a button sent back; None if it is malformed or not ours."""
        if not data or len(data.encode("utf-8", "replace")) > MAX_ACTION_BYTES:
            return None
        prefix, _, value = data.partition(":")
        try:
            do = Do(prefix)
        except ValueError:
            return None
        if do is Do.LINK:
            return None
        pattern = ARGUMENTS[do]
        if pattern is None:
            return (do, None) if not value else None
        if not pattern.match(value):
            return None
        return do, value or None


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Block, ...]
    rows: tuple[
        tuple[Action, ...], ...
    ] = ()  # actions, grouped in rows for transports with a layout
    topic_id: str | None = None  # the topic answered, when there is one
    tags: frozenset[str] = field(default_factory=frozenset)  # e.g. "unanswered", "smalltalk"

    @property
    def actions(self) -> list[Action]:
        return [a for row in self.rows for a in row]

    @property
    def text(self) -> str:
        """Plain text of all blocks (for logs, tests and plain transports)."""
        return "\n\n".join(b.text for b in self.blocks)
