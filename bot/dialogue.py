"""The conversation rules, shared by every transport (Telegram, the console, tests).

Given a question, a command or a pressed action, the dialogue returns a `Reply`. It owns what to
answer and which actions to offer; transports only parse input and render replies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot import messages
from bot.knowledge import KnowledgeBase, Topic
from bot.matcher import Match, Matcher, MatchKind, Settings
from bot.normalize import MAX_QUESTION_CHARS, clean, words
from bot.reply import ADMIN_ACTIONS, Action, Block, BlockKind, Do, Reply
from bot.storage import Storage, StorageError, VoteOutcome, pseudonymize

log = logging.getLogger(__name__)

COMMANDS: dict[str, str] = {
    "start": "Start og se emnene",
    "emner": "Alle emnene jeg kan svare på",
    "hjelp": "Hva jeg kan og hvordan",
    "del": "Del et svar: /del <emne>",
    "stopp": "Meld deg av nyhetsbrevet",
    "slettmeg": "Slett alt som er lagret om deg",
}
_ALIASES = {"help": "hjelp", "topics": "emner", "meny": "emner", "stop": "stopp", "share": "del"}
COMMAND_NAMES = (*COMMANDS, *_ALIASES)
"""Every command name the dialogue answers (the transports register exactly these)."""


@dataclass(frozen=True)
class Person:
    """Who is talking: the transport's user id (never stored) and where to answer."""

    user_id: int
    chat_id: int
    private: bool = True  # a one-to-one chat (not a group)


class Dialogue:
    def __init__(
        self,
        kb: KnowledgeBase,
        storage: Storage | None,
        *,
        secret: str,
        engage_url: str | None = None,
        bot_username: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the hashing secret must not be empty")
        self._secret = secret
        self.storage = storage
        self.engage_url = engage_url
        self.bot_username = bot_username
        self._settings = settings
        self.kb = kb
        self.matcher = Matcher(kb, settings)

    def reload(self, kb: KnowledgeBase) -> None:
        """Swap in a new, already validated knowledge base (the index is built before the swap)."""
        matcher = Matcher(kb, self._settings)
        self.kb, self.matcher = kb, matcher

    def key(self, person: Person) -> str:
        """The pseudonymous key votes and logged questions are stored under."""
        return pseudonymize(self._secret, person.user_id)

    def newsletter_key(self, person: Person) -> str:
        """A second, unlinkable key for the newsletter table. That table must hold the chat id to
        deliver letters, and a private chat id equals the user id: with one shared key, anyone
        reading the database could tie the votes to a person without knowing the secret."""
        return pseudonymize(self._secret + "\x00newsletter", person.user_id)

    # --- entry points ------------------------------------------------------------------------

    async def ask(self, person: Person | None, text: str) -> Reply:
        """Answer a free-text question."""
        text = clean(text[:MAX_QUESTION_CHARS])
        if not words(text):
            # emoji, punctuation, nothing: no question to answer, and none worth logging
            if text.strip():
                return self.menu_reply(messages.DONT_KNOW, tags=frozenset({"noise"}))
            return self.menu_reply(messages.EMPTY, tags=frozenset({"empty"}))
        m = self.matcher.match(text)
        return await self._answer_match(person, text, m)

    async def press(self, person: Person, data: str | None) -> Reply:
        """Handle an action sent back by a button (data as produced by Action.encode)."""
        parsed = Action.decode(data)
        if parsed is None or parsed[0] in ADMIN_ACTIONS:  # admins' buttons are not handled here
            log.info("ignored malformed action data %r", (data or "")[:80])
            return self.menu_reply(messages.UNKNOWN_BUTTON, tags=frozenset({"bad-action"}))
        do, topic_id = parsed
        if do is Do.MENU:
            return self.menu_reply()
        if do is Do.SUBSCRIBE:
            return await self.subscribe(person)
        topic = self.kb.topic(topic_id or "")
        if topic is None:
            return self.menu_reply(messages.UNKNOWN_TOPIC, tags=frozenset({"unknown-topic"}))
        if do is Do.TOPIC:
            return self.topic_reply(topic)
        if do is Do.SHARE:
            return self.share_reply(topic)
        return await self.vote(person, topic, agree=do is Do.AGREE)

    async def command(self, person: Person, name: str, arg: str = "") -> Reply:
        """Handle /start, /hjelp, /emner, /del, /stopp and /slettmeg."""
        name = _ALIASES.get(name.lower(), name.lower())
        arg = arg.strip()
        if name == "start":
            if arg:
                topic = self.kb.topic(arg.lower())
                if topic is not None:
                    return self.topic_reply(topic)
            return self.menu_reply(messages.WELCOME)
        if name == "hjelp":
            return self.menu_reply(messages.HELP)
        if name == "emner":
            return self.menu_reply()
        if name == "del":
            topic = self.kb.topic(arg.lower()) if arg else None
            if topic is None and arg:
                m = self.matcher.match(arg)
                topic = self.kb.topic(m.topic_id) if m.topic_id else None
            if topic is None:
                return self.menu_reply(messages.SHARE_USAGE)
            return self.share_reply(topic)
        if name == "stopp":
            return await self.unsubscribe(person)
        if name == "slettmeg":
            return await self.forget(person)
        return Reply(
            (Block(BlockKind.TEXT, messages.UNKNOWN_COMMAND),), tags=frozenset({"unknown"})
        )

    # --- replies -----------------------------------------------------------------------------

    def topic_reply(self, topic: Topic) -> Reply:
        area = self.kb.area_of(topic)
        blocks = [
            Block(BlockKind.TITLE, topic.title),
            Block(BlockKind.TEXT, topic.pledge),
            Block(BlockKind.TEXT, topic.explanation),
            *(Block(BlockKind.FACT, f.text) for f in topic.facts),
            Block(BlockKind.QUESTION, area.question),
        ]
        rows = (
            (
                Action(Do.AGREE, messages.BUTTON_AGREE, topic.id),
                Action(Do.DISAGREE, messages.BUTTON_DISAGREE, topic.id),
            ),
            (
                Action(Do.SHARE, messages.BUTTON_SHARE, topic.id),
                Action(Do.MENU, messages.BUTTON_MENU),
            ),
        )
        return Reply(tuple(blocks), rows, topic_id=topic.id, tags=frozenset({"answer"}))

    def menu_reply(
        self, intro: str = messages.MENU, *, tags: frozenset[str] = frozenset()
    ) -> Reply:
        return Reply((Block(BlockKind.TEXT, intro),), self._menu_rows(), tags=tags)

    def not_text_reply(self) -> Reply:
        """For a sticker, photo, voice message, location …: say what the bot understands."""
        return self.menu_reply(messages.NOT_TEXT, tags=frozenset({"not-text"}))

    def card(self, topic: Topic) -> Reply:
        """A self-contained answer for another chat: the pledge and a link back to the bot."""
        blocks = [Block(BlockKind.TITLE, topic.title), Block(BlockKind.TEXT, topic.pledge)]
        link = self.deep_link(topic.id)
        rows = ((Action(Do.LINK, messages.ASK_YOURSELF, url=link),),) if link else ()
        return Reply(tuple(blocks), rows, topic_id=topic.id, tags=frozenset({"card"}))

    def share_reply(self, topic: Topic) -> Reply:
        """A ready-to-forward text with the deep link written out."""
        card = self.card(topic)
        blocks = [Block(BlockKind.NOTE, messages.SHARE_INTRO), *card.blocks]
        link = self.deep_link(topic.id)
        if link:
            blocks.append(Block(BlockKind.TEXT, messages.SHARE_LINK.format(link=link)))
        return Reply(tuple(blocks), card.rows, topic_id=topic.id, tags=frozenset({"share"}))

    def search(self, query: str, limit: int = 12) -> list[Topic]:
        """Topics for an inline query: best match first; an empty query lists every topic."""
        if not words(query):
            return list(self.kb.topics)[:limit]
        m = self.matcher.match(query[:MAX_QUESTION_CHARS])
        found = [t for t in (self.kb.topic(c) for c in m.candidates) if t is not None]
        return found[:limit]

    def deep_link(self, topic_id: str) -> str | None:
        if not self.bot_username:
            return None
        return f"https://t.me/{self.bot_username}?start={topic_id}"

    async def vote(self, person: Person, topic: Topic, *, agree: bool) -> Reply:
        area = self.kb.area_of(topic)
        try:
            outcome = await self._storage().votes.record(self.key(person), topic.id, agree)
        except StorageError as exc:
            log.warning("vote not stored: %s", exc)
            return Reply((Block(BlockKind.TEXT, messages.STORAGE_DOWN),), tags=frozenset({"error"}))
        replies = area.replies
        if agree:
            blocks = [Block(BlockKind.TEXT, replies.agree)]
            note = (messages.VOTE_REPEATED_AGREE, messages.VOTE_CHANGED_AGREE)
            more, topics = replies.agree_more, self._related(topic)
        else:
            blocks = [Block(BlockKind.TEXT, replies.disagree)]
            note = (messages.VOTE_REPEATED_DISAGREE, messages.VOTE_CHANGED_DISAGREE)
            more, topics = replies.disagree_more, self._others(topic)
        if outcome is VoteOutcome.UNCHANGED:
            blocks.append(Block(BlockKind.NOTE, note[0]))
        elif outcome is VoteOutcome.CHANGED:
            blocks.append(Block(BlockKind.NOTE, note[1]))
        blocks.append(Block(BlockKind.QUESTION, more))
        rows: list[tuple[Action, ...]] = [(Action(Do.TOPIC, t.title, t.id),) for t in topics]
        if agree and person.private:  # the newsletter is a personal opt-in, never a group's
            rows.append((Action(Do.SUBSCRIBE, messages.BUTTON_SUBSCRIBE),))
        if self.engage_url:
            rows.append((Action(Do.LINK, replies.engage, url=self.engage_url),))
        rows.append((Action(Do.MENU, replies.other_topics),))
        tag = f"vote-{outcome.value}"
        return Reply(tuple(blocks), tuple(rows), topic_id=topic.id, tags=frozenset({tag}))

    async def subscribe(self, person: Person) -> Reply:
        replies = self.kb.areas[0].replies
        if not person.private:
            return Reply(
                (Block(BlockKind.TEXT, messages.SUBSCRIBE_PRIVATELY),), tags=frozenset({"group"})
            )
        try:
            new = await self._storage().subscribers.subscribe(
                self.newsletter_key(person), person.chat_id
            )
        except StorageError as exc:
            log.warning("subscription not stored: %s", exc)
            return Reply((Block(BlockKind.TEXT, messages.STORAGE_DOWN),), tags=frozenset({"error"}))
        if not new:
            return Reply((Block(BlockKind.TEXT, messages.ALREADY_SUBSCRIBED),), self._menu_rows())
        return Reply(
            (
                Block(BlockKind.TEXT, replies.subscribed),
                Block(BlockKind.TEXT, replies.subscribed_more),
            ),
            ((Action(Do.MENU, replies.other_topics),),),
            tags=frozenset({"subscribed"}),
        )

    async def unsubscribe(self, person: Person) -> Reply:
        try:
            was = await self._storage().subscribers.unsubscribe(self.newsletter_key(person))
        except StorageError as exc:
            log.warning("unsubscribe failed: %s", exc)
            return Reply((Block(BlockKind.TEXT, messages.STORAGE_DOWN),), tags=frozenset({"error"}))
        text = messages.UNSUBSCRIBED if was else messages.NOT_SUBSCRIBED
        return Reply((Block(BlockKind.TEXT, text),), tags=frozenset({"unsubscribed"}))

    async def forget(self, person: Person) -> Reply:
        try:
            storage = self._storage()
            result = await storage.forget(self.key(person))
            unsubscribed = await storage.subscribers.unsubscribe(
                self.newsletter_key(person), forget=True
            )
        except StorageError as exc:
            log.warning("forget failed: %s", exc)
            return Reply((Block(BlockKind.TEXT, messages.STORAGE_DOWN),), tags=frozenset({"error"}))
        subscribed = result.subscribed or unsubscribed
        if not (result.votes or subscribed or result.questions):
            text = messages.NOTHING_TO_FORGET
        else:
            text = messages.FORGOTTEN.format(
                votes=result.votes,
                subscription=messages.FORGOTTEN_SUBSCRIBED
                if subscribed
                else messages.FORGOTTEN_NOT_SUBSCRIBED,
                questions=result.questions,
            )
        return Reply((Block(BlockKind.TEXT, text),), tags=frozenset({"forgotten"}))

    # --- helpers -----------------------------------------------------------------------------

    async def _answer_match(self, person: Person | None, text: str, m: Match) -> Reply:
        if m.kind is MatchKind.SMALLTALK:
            thanks = any(
                w.startswith(("takk", "tak", "thank", "thx", "tusen")) for w in words(text)
            )
            intro = messages.THANKS if thanks else messages.GREETING
            return self.menu_reply(intro, tags=frozenset({"smalltalk"}))
        if m.kind is MatchKind.NONE or m.topic_id is None:
            await self._log_unanswered(person, text)
            return self.menu_reply(messages.DONT_KNOW, tags=frozenset({"unanswered"}))
        topic = self.kb.topic(m.topic_id)
        assert topic is not None
        if m.ambiguous:
            candidates = [t for t in (self.kb.topic(c) for c in m.candidates[:3]) if t]
            rows = tuple((Action(Do.TOPIC, t.title, t.id),) for t in candidates)
            rows += ((Action(Do.MENU, messages.BUTTON_MENU),),)
            return Reply(
                (Block(BlockKind.TEXT, messages.DID_YOU_MEAN),), rows, tags=frozenset({"ambiguous"})
            )
        return self.topic_reply(topic)

    async def _log_unanswered(self, person: Person | None, text: str) -> None:
        if self.storage is None:
            return
        try:
            await self.storage.unanswered.log(text, self.key(person) if person else None)
        except StorageError as exc:  # the voter still gets an answer
            log.warning("unanswered question not logged: %s", exc)

    def _storage(self) -> Storage:
        if self.storage is None:
            raise StorageError("no database is configured")
        return self.storage

    def _menu_rows(self) -> tuple[tuple[Action, ...], ...]:
        topics = self.kb.topics
        return tuple(
            tuple(Action(Do.TOPIC, t.title, t.id) for t in topics[i : i + 2])
            for i in range(0, len(topics), 2)
        )

    def _related(self, topic: Topic) -> list[Topic]:
        return [t for t in (self.kb.topic(r) for r in topic.related) if t is not None]

    def _others(self, topic: Topic) -> list[Topic]:
        """Other topics to suggest after a disagreement: related ones first, then the rest."""
        related = self._related(topic)
        rest = [t for t in self.kb.topics if t.id != topic.id and t not in related]
        return (related + rest)[:4]
