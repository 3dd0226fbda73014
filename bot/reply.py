"""What the dialogue answers: text blocks and actions, independent of any transport.

An `Action` is what a button (Telegram), a numbered choice (console) or a link does. Actions that
come back from a user travel as short strings (`Action.encode` / `Action.decode`): Telegram's
callback data is limited to 64 bytes and can be forged, so decoding validates everything and
returns None for anything it does not recognise.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str


class Do(StrEnum):
    """What an action does; the value is its wire prefix."""

    TOPIC = "t"  # show a topic's answer
    AGREE = "ja"  # vote Enig on a topic
    DISAGREE = "nei"  # vote Uenig on a topic
    MENU = "m"  # show the topic menu
    SUBSCRIBE = "nb"  # opt in to the newsletter
    SHARE = "del"  # a ready-to-forward text for a topic
    LINK = "url"  # open a link (never sent back by a user)
    # the newsletter's admin buttons; their argument is a broadcast number
    BROADCAST_SEND = "kks"
    BROADCAST_TEST = "kkt"
    BROADCAST_CANCEL = "kkx"
    BROADCAST_RESEND = "kkr"


_NEEDS_TOPIC = {Do.TOPIC, Do.AGREE, Do.DISAGREE, Do.SHARE}
_NEEDS_NUMBER = {Do.BROADCAST_SEND, Do.BROADCAST_TEST, Do.BROADCAST_CANCEL, Do.BROADCAST_RESEND}
ADMIN_ACTIONS = frozenset(_NEEDS_NUMBER)
"""Actions only admins may take: the core checks who pressed, every time (data can be forged)."""
_NUMBER_MAX_DIGITS = 12


@dataclass(frozen=True)
class Action:
    do: Do
    label: str
    topic_id: str | None = None
    url: str | None = None
    number: int | None = None  # what an admin action acts on (a broadcast)

    def encode(self) -> str:
        """The short string a button carries back ("ja:fergetakster", "m", "kks:12")."""
        if self.number is not None:
            data = f"{self.do.value}:{self.number}"
        else:
            data = f"{self.do.value}:{self.topic_id}" if self.topic_id else self.do.value
        if len(data.encode()) > MAX_ACTION_BYTES:  # topic ids are at most 40 characters
            raise ValueError(f"action data too long: {data!r}")
        return data

    @staticmethod
    def decode(data: str | None) -> tuple[Do, str | None] | None:
        """Parse what a button sent back; None if it is malformed or not ours."""
        if not data or len(data.encode("utf-8", "replace")) > MAX_ACTION_BYTES:
            return None
        prefix, _, topic_id = data.partition(":")
        try:
            do = Do(prefix)
        except ValueError:
            return None
        if do is Do.LINK:
            return None
        if do in _NEEDS_NUMBER:
            if (
                not (topic_id.isascii() and topic_id.isdigit())
                or len(topic_id) > _NUMBER_MAX_DIGITS
            ):
                return None
            return do, topic_id
        if do in _NEEDS_TOPIC:
            if not TOPIC_ID.match(topic_id):
                return None
            return do, topic_id
        return (do, None) if not topic_id else None


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
