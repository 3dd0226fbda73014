"""The conversation rules, shared by every transport (Telegram, the console, tests).

Given a question, a command or a pressed action, the dialogue returns a `Reply`. It owns what to
answer and which actions to offer; transports only parse input and render replies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot import messages
from bot.batching import Batcher
from bot.knowledge import Area, KnowledgeBase, Topic
from bot.lexicon import COMMANDS_IN_WORDS
from bot.matcher import Match, Matcher, MatchKind, Settings
from bot.normalize import MAX_QUESTION_CHARS, asks_for_figure, clean, other_language, words
from bot.reply import ADMIN_ACTIONS, Action, Block, BlockKind, Do, Reply
from bot.storage import Count, Missed, Storage, StorageError, VoteOutcome, pseudonymize

log = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_TIMEOUT = 3.0
"""Seconds a vote (or a subscription, /slettmeg) waits for the database before the voter is
told it could not be saved: a hanging database gives a fast, polite answer."""
LOG_TIMEOUT = 5.0
"""Seconds an unanswered question's log write may take (off the reply path)."""
MAX_PENDING_LOGS = 500
"""Unanswered-question writes waiting at once; more are dropped (the database is struggling)."""

COMMANDS: dict[str, str] = {
    "start": "Start og se emnene",
    "emner": "Alle emnene jeg kan svare på",
    "hjelp": "Hva jeg kan og hvordan",
    "del": "Del et svar: /del <emne>",
    "nyhetsbrev": "Meld deg på nyhetsbrevet",
    "stopp": "Meld deg av nyhetsbrevet",
    "slettmeg": "Slett alt som er lagret om deg",
}
_ALIASES = {
    "help": "hjelp",
    "topics": "emner",
    "meny": "emner",
    "stop": "stopp",
    "share": "del",
    "abonner": "nyhetsbrev",
    "subscribe": "nyhetsbrev",
}
_PRIVATE_ONLY = {"stopp": messages.STOP_PRIVATELY, "slettmeg": messages.FORGET_PRIVATELY}
"""Commands about one person's data: in a group, their answer would tell everyone."""
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
        write_timeout: float = WRITE_TIMEOUT,
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
        # what /start adds for some people (the admins: their commands); set by bot.services
        self.start_note: Callable[[Person], str | None] | None = None
        self.write_timeout = write_timeout
        self._logs: Batcher[int, None] = Batcher(self._write_unanswered)
        self._counts: Batcher[int, None] = Batcher(self._write_counts)
        self._pending_logs: dict[int, tuple[str, str | None, Missed]] = {}
        self._pending_counts: dict[int, tuple[Count, str]] = {}
        self._log_ids = itertools.count()
        self.dropped_logs = 0

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
        folded = words(text)
        if not folded or all(w.isdigit() for w in folded):
            # emoji, punctuation, a lone number, nothing: no question to answer, and none
            # worth logging as unanswered
            if text.strip():
                return self.menu_reply(messages.DONT_KNOW, tags=frozenset({"noise"}))
            return self.menu_reply(messages.EMPTY, tags=frozenset({"empty"}))
        said = COMMANDS_IN_WORDS.get(" ".join(folded))
        if said is not None:  # "stopp", "meld meg på", "slett meg", "enig", "emner", …
            return await self._command_in_words(person, said)
        m = self.matcher.match(text)
        reply = await self._answer_match(person, text, m)
        if m.kind is not MatchKind.SMALLTALK and other_language(text):
            # asked in another language: answered in Norwegian, and the reply says so
            note = Block(BlockKind.NOTE, messages.IN_NORWEGIAN)
            reply = dataclasses.replace(reply, blocks=(note, *reply.blocks))
        return reply

    async def press(self, person: Person, data: str | None, update_id: int | None = None) -> Reply:
        """Handle an action sent back by a button (data as produced by Action.encode).
        ``update_id`` orders votes: a press from an earlier update never overrides a later one."""
        parsed = Action.decode(data)
        if parsed is None or parsed[0] in ADMIN_ACTIONS:  # admins' buttons are not handled here
            log.info("ignored malformed action data %r", (data or "")[:80])
            return self.menu_reply(messages.UNKNOWN_BUTTON, tags=frozenset({"bad-action"}))
        do, topic_id = parsed
        if do in ADMIN_ACTIONS:  # admins' buttons are handled (and gated) in bot/admin.py
            return await self.press(person, None)
        if do is Do.MENU:
            return self.menu_reply()
        if do is Do.AREA:
            area = next((a for a in self.kb.areas if a.id == topic_id), None)
            if area is None:
                return self.menu_reply(messages.UNKNOWN_TOPIC, tags=frozenset({"unknown-topic"}))
            return self.area_reply(area)
        if do is Do.SUBSCRIBE:
            return await self.subscribe(person)
        topic = self.kb.topic(topic_id or "")
        if topic is None:
            return self.menu_reply(messages.UNKNOWN_TOPIC, tags=frozenset({"unknown-topic"}))
        if do is Do.TOPIC:
            self._count(Count.OPEN, topic.id)
            return self.topic_reply(topic)
        if do is Do.SHARE:
            return self.share_reply(topic)
        return await self.vote(person, topic, agree=do is Do.AGREE, update_id=update_id)

    async def command(self, person: Person, name: str, arg: str = "") -> Reply:
        """Handle /start, /hjelp, /emner, /del, /nyhetsbrev, /stopp and /slettmeg."""
        name = _ALIASES.get(name.lower(), name.lower())
        arg = arg.strip()
        if name in _PRIVATE_ONLY and not person.private:
            return Reply((Block(BlockKind.TEXT, _PRIVATE_ONLY[name]),), tags=frozenset({"group"}))
        if name == "start":
            welcome_text = messages.WELCOME
            if arg:
                topic = self.kb.topic(arg.split()[0].lower())
                if topic is not None:
                    self._count(Count.OPEN, topic.id)
                    return self.topic_reply(topic)
                # a link to a topic that is gone (or never was): say so above the menu
                welcome_text = f"{messages.START_UNKNOWN_TOPIC}\n\n{messages.WELCOME}"
            welcome = self.menu_reply(welcome_text)
            note = self.start_note(person) if self.start_note is not None else None
            if note:
                blocks = (*welcome.blocks, Block(BlockKind.NOTE, note))
                return Reply(blocks, welcome.rows, tags=frozenset({"admin"}))
            return welcome
        if name == "hjelp":
            return self.menu_reply(messages.HELP)
        if name == "emner":
            return self.menu_reply()
        if name == "del":
            topic = self.kb.topic(arg.lower()) if arg else None
            if topic is None and arg:
                m = self.matcher.match(arg)
                topic = self.kb.topic(m.topic_id) if m.topic_id else None
            if topic is None:  # the choices lead to the share text, not to the answer
                usage = messages.SHARE_USAGE
                if arg:
                    usage = f"{messages.SHARE_UNKNOWN.format(topic=arg[:60])} {usage}"
                return Reply(
                    (Block(BlockKind.TEXT, usage),),
                    self._menu_rows(Do.SHARE),
                    tags=frozenset({"share-menu"}),
                )
            return self.share_reply(topic)
        if name == "nyhetsbrev":
            return await self.subscribe(person)
        if name == "stopp":
            return await self.unsubscribe(person)
        if name == "slettmeg":
            return await self.forget(person)
        return Reply(
            (Block(BlockKind.TEXT, messages.UNKNOWN_COMMAND),), tags=frozenset({"unknown"})
        )

    async def _command_in_words(self, person: Person | None, said: str) -> Reply:
        """A whole message that is a command in words (bot.lexicon.COMMANDS_IN_WORDS)."""
        if said == "stemme":  # "enig" typed instead of pressed: which topic is not known
            return self.menu_reply(messages.VOTE_IN_WORDS, tags=frozenset({"command-in-words"}))
        if said == "slettmeg":  # deleting everything takes the command itself, never a guess
            text = messages.FORGET_IN_WORDS
            if person is not None and not person.private:
                text = _PRIVATE_ONLY[said]
            return Reply((Block(BlockKind.TEXT, text),), tags=frozenset())
        if said == "emner":
            return self.menu_reply()
        if said == "om-nyhetsbrev":
            if person is not None and not person.private:
                return Reply((Block(BlockKind.TEXT, messages.SUBSCRIBE_PRIVATELY),))
            offer = (Action(Do.SUBSCRIBE, messages.BUTTON_SUBSCRIBE),)
            return Reply((Block(BlockKind.TEXT, messages.NEWSLETTER_OFFER),), (offer,))
        if said == "start":  # who is this: the welcome, which says it
            return self.menu_reply(messages.WELCOME)
        if person is None or said == "hjelp":  # `distriktsbot ask`: nobody to (un)subscribe
            return self.menu_reply(messages.HELP)
        return await self.command(person, said)

    # --- replies -----------------------------------------------------------------------------

    def topic_reply(self, topic: Topic, *, fact_first: bool = False) -> Reply:
        """The topic's answer; `fact_first` when the question asked for a figure or a date, so the
        fact that answers it leads."""
        area = self.kb.area_of(topic)
        texts = [Block(BlockKind.TEXT, topic.pledge)]
        if topic.explanation:
            texts.append(Block(BlockKind.TEXT, topic.explanation))
        facts = [Block(BlockKind.FACT, f.text) for f in topic.facts]
        blocks = [
            Block(BlockKind.TITLE, topic.title),
            *(facts + texts if fact_first else texts + facts),
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

    def area_reply(self, area: Area) -> Reply:
        """One policy area: its introduction and its topics."""
        topics = [t for t in self.kb.topics if t.area_id == area.id]
        rows = tuple(
            tuple(Action(Do.TOPIC, t.title, t.id) for t in topics[i : i + 2])
            for i in range(0, len(topics), 2)
        )
        blocks = (Block(BlockKind.TITLE, area.title), Block(BlockKind.TEXT, area.intro))
        return Reply(blocks, (*rows, (Action(Do.MENU, messages.BUTTON_MENU),)), tags=frozenset())

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

    async def vote(
        self, person: Person, topic: Topic, *, agree: bool, update_id: int | None = None
    ) -> Reply:
        """Store the opinion and thank. A vote is personal: in a group its reply carries the
        tag "personal" (transports deliver it privately, never to the whole group)."""
        personal = frozenset() if person.private else frozenset({"personal"})
        try:
            outcome = await self._write(
                self._storage().votes.record(self.key(person), topic.id, agree, update_id)
            )
        except StorageError as exc:
            log.warning("vote not stored: %s", exc)
            return Reply(
                (Block(BlockKind.TEXT, messages.STORAGE_DOWN),),
                tags=frozenset({"error"}) | personal,
            )
        if outcome is VoteOutcome.SUPERSEDED:
            return Reply(
                (Block(BlockKind.TEXT, messages.VOTE_SUPERSEDED),),
                tags=frozenset({"vote-superseded"}) | personal,
            )
        reply = self._vote_reply(person, topic, agree, outcome)
        return Reply(reply.blocks, reply.rows, topic_id=topic.id, tags=reply.tags | personal)

    def _vote_reply(self, person: Person, topic: Topic, agree: bool, outcome: VoteOutcome) -> Reply:
        area = self.kb.area_of(topic)
        replies = area.replies
        blocks = []
        if not person.private:  # delivered privately: say which vote it confirms
            vote = messages.BUTTON_AGREE if agree else messages.BUTTON_DISAGREE
            blocks.append(
                Block(BlockKind.NOTE, messages.VOTE_IN_GROUP.format(vote=vote, title=topic.title))
            )
        if agree:
            blocks.append(Block(BlockKind.TEXT, replies.agree))
            note = (messages.VOTE_REPEATED_AGREE, messages.VOTE_CHANGED_AGREE)
            more, topics = replies.agree_more, self._related(topic)
        else:
            blocks.append(Block(BlockKind.TEXT, replies.disagree))
            note = (messages.VOTE_REPEATED_DISAGREE, messages.VOTE_CHANGED_DISAGREE)
            more, topics = replies.disagree_more, self._others(topic)
        if outcome is VoteOutcome.UNCHANGED:
            blocks.append(Block(BlockKind.NOTE, note[0]))
        elif outcome is VoteOutcome.CHANGED:
            blocks.append(Block(BlockKind.NOTE, note[1]))
        blocks.append(Block(BlockKind.QUESTION, more))
        rows: list[tuple[Action, ...]] = [(Action(Do.TOPIC, t.title, t.id),) for t in topics]
        if agree:  # (a group's vote is answered privately: the opt-in is the person's own)
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
            new = await self._write(
                self._storage().subscribers.subscribe(self.newsletter_key(person), person.chat_id)
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
            was = await self._write(
                self._storage().subscribers.unsubscribe(self.newsletter_key(person))
            )
        except StorageError as exc:
            log.warning("unsubscribe failed: %s", exc)
            return Reply((Block(BlockKind.TEXT, messages.STORAGE_DOWN),), tags=frozenset({"error"}))
        text = messages.UNSUBSCRIBED if was else messages.NOT_SUBSCRIBED
        return Reply((Block(BlockKind.TEXT, text),), tags=frozenset({"unsubscribed"}))

    async def forget(self, person: Person) -> Reply:
        await self.drain()  # a question logged a moment ago is deleted too
        try:
            storage = self._storage()
            result = await self._write(storage.forget(self.key(person)))
            unsubscribed = await self._write(
                storage.subscribers.unsubscribe(self.newsletter_key(person), forget=True)
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
            self._count(Count.DECLINED)
            if not m.out_of_scope:  # an admin already decided this one is not our policy
                await self._log_unanswered(person, text)
            return self.menu_reply(messages.DONT_KNOW, tags=frozenset({"unanswered"}))
        topic = self.kb.topic(m.topic_id)
        assert topic is not None
        if m.ambiguous:
            self._count(Count.AMBIGUOUS)
            await self._log_unanswered(person, text, Missed.AMBIGUOUS)
            candidates = [t for t in (self.kb.topic(c) for c in m.candidates[:3]) if t]
            rows = tuple((Action(Do.TOPIC, t.title, t.id),) for t in candidates)
            rows += ((Action(Do.MENU, messages.BUTTON_MENU),),)
            return Reply(
                (Block(BlockKind.TEXT, messages.DID_YOU_MEAN),), rows, tags=frozenset({"ambiguous"})
            )
        self._count(Count.MATCH, topic.id)
        return self.topic_reply(topic, fact_first=asks_for_figure(text))

    async def blocked(self, person: Person) -> None:
        """The person blocked the bot (Telegram answered 403): end their newsletter."""
        if self.storage is None or not person.private:
            return
        try:
            await self._write(self.storage.subscribers.unsubscribe(self.newsletter_key(person)))
        except StorageError as exc:
            log.warning("could not end the subscription of a person who blocked the bot: %s", exc)

    async def _write(self, operation: Awaitable[T]) -> T:
        """A storage write with a bounded wait: a slow or hanging database is a StorageError
        after `write_timeout` seconds, not a voter waiting."""
        try:
            async with asyncio.timeout(self.write_timeout):
                return await operation
        except TimeoutError:
            raise StorageError(
                f"the database did not answer within {self.write_timeout:g} s"
            ) from None

    # --- writes off the reply path: unanswered questions and answer counters ------------------
    # The answer never waits on the database for these: they are queued, written in batches
    # (one statement for what arrived meanwhile) with a short timeout, and dropped with a
    # warning when the database cannot keep up. `drain` waits for them (shutdown, tests).

    def _room_for(self, what: str) -> bool:
        if len(self._pending_logs) + len(self._pending_counts) < MAX_PENDING_LOGS:
            return True
        self.dropped_logs += 1
        if self.dropped_logs % 100 == 1:
            log.warning(
                "%s not written: %d writes pending (%d dropped so far)",
                what,
                MAX_PENDING_LOGS,
                self.dropped_logs,
            )
        return False

    async def _log_unanswered(
        self, person: Person | None, text: str, kind: Missed = Missed.DECLINED
    ) -> None:
        if self.storage is None or not self._room_for("unanswered questions"):
            return
        item = next(self._log_ids)
        self._pending_logs[item] = (text, self.key(person) if person else None, kind)
        self._logs.submit(item)

    def _count(self, kind: Count, topic_id: str = "") -> None:
        """Count an answer for /statistikk (best effort, batched like the unanswered log)."""
        if self.storage is None or not self._room_for("answer counters"):
            return
        item = next(self._log_ids)
        self._pending_counts[item] = (kind, topic_id)
        self._counts.submit(item)

    async def _write_counts(self, items: list[int]) -> dict[int, None]:
        pending = self._pending_counts
        counts = collections.Counter(pending.pop(i) for i in items if i in pending)
        storage = self.storage
        if storage is not None and counts:
            try:
                async with asyncio.timeout(LOG_TIMEOUT):
                    await storage.stats.bump_many(counts)
            except (StorageError, TimeoutError, ValueError) as exc:
                log.warning("%d answer(s) not counted: %s", counts.total(), str(exc) or "timed out")
        return dict.fromkeys(items)

    async def _write_unanswered(self, items: list[int]) -> dict[int, None]:
        questions = [self._pending_logs.pop(i) for i in items if i in self._pending_logs]
        storage = self.storage
        if storage is not None and questions:
            try:
                async with asyncio.timeout(LOG_TIMEOUT):
                    await storage.unanswered.log_many(questions)
            except (StorageError, TimeoutError) as exc:  # the voters already have answers
                log.warning(
                    "%d unanswered question(s) not logged: %s",
                    len(questions),
                    str(exc) or "timed out",
                )
        return dict.fromkeys(items)

    async def drain(self, timeout: float = LOG_TIMEOUT) -> None:
        """Wait (at most `timeout` s) for the writes started off the reply path."""
        if self._logs.busy or self._counts.busy:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._logs.wait_idle()
                    await self._counts.wait_idle()

    def _storage(self) -> Storage:
        if self.storage is None:
            raise StorageError("no database is configured")
        return self.storage

    def _menu_rows(self, do: Do = Do.TOPIC) -> tuple[tuple[Action, ...], ...]:
        """The topic menu: two topics a row; with several policy areas, each area's topics
        under a button with the area's title (which opens that area alone). `do` is what a
        topic's button does (show it, or share it)."""
        rows: list[tuple[Action, ...]] = []
        several = len(self.kb.areas) > 1
        for area in self.kb.areas:
            topics = [t for t in self.kb.topics if t.area_id == area.id]
            if several:
                label = messages.AREA_MENU_BUTTON.format(title=area.title)
                rows.append((Action(Do.AREA, label, area.id),))
            rows.extend(
                tuple(Action(do, t.title, t.id) for t in topics[i : i + 2])
                for i in range(0, len(topics), 2)
            )
        return tuple(rows)

    def _related(self, topic: Topic) -> list[Topic]:
        return [t for t in (self.kb.topic(r) for r in topic.related) if t is not None]

    def _others(self, topic: Topic) -> list[Topic]:
        """Other topics to suggest after a disagreement: related ones first, then the rest."""
        related = self._related(topic)
        rest = [t for t in self.kb.topics if t.id != topic.id and t not in related]
        return (related + rest)[:4]
