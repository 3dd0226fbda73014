"""End-to-end tests of the Telegram bot, in process, through the stand-in Bot API on loopback.

Each test runs the real `Application` from `handlers.app.build_application` (long polling against
`tests.fake_telegram.FakeTelegram`, SQLite under tmp_path) and acts as a user: it sends a message,
presses a button and reads what the bot sent back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot import messages
from bot.config import Config, load_config
from bot.dialogue import Person
from bot.knowledge import KnowledgeBase
from bot.logs import RedactSecrets, configure_logging
from bot.matcher import Matcher
from bot.storage import Storage
from handlers.app import running
from handlers.common import SERVICES
from tests.conftest import CONTRACT_IDS
from tests.fake_telegram import (
    Call,
    FakeChat,
    FakeTelegram,
    FakeUser,
    SentMessage,
    parse_telegram_html,
)

ROOT = Path(__file__).resolve().parent.parent
HASH_SECRET = "e2e-test-secret-0123456789abcdef"

TOPIC_IDS = CONTRACT_IDS  # the ids others rely on (see tests/conftest.py)
FERRY_FACT = "16. august 2023 er ferjeprisene halvert siden 1. januar 2021."
AGREE_QUESTION = "Er du enig med Arbeiderpartiet om Distriktspolitikk?"
AGREE_THANKS = "Takk for din tilbakemelding!"
AGREE_MORE = "Vil du vite hva mer vi kanskje er enig om?"
DISAGREE_THANKS = "Takk for tilbakemeldingen. Vi kan ikke være enige om alt!"
DISAGREE_MORE = "Kanskje er det andre saker du er enig med oss i?"
SUBSCRIBED = "Takk for din interesse!"
SUBSCRIBED_MORE = "Du vil nå motta nyhetsbrev fra oss :)"
STORAGE_DOWN_START = "Beklager, jeg klarte ikke å lagre dette akkurat nå"
FERRY_QUESTION = "Blir ferja billigere?"


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


def make_config(fake: FakeTelegram, db_path: Path) -> Config:
    cfg = load_config(
        None,
        environ={
            "DISTRIKTSBOT_TOKEN": fake.token,
            "DISTRIKTSBOT_HASH_SECRET": HASH_SECRET,
            "DISTRIKTSBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        },
    )
    return dataclasses.replace(
        cfg, telegram=dataclasses.replace(cfg.telegram, base_url=fake.base_url)
    )


@pytest.fixture
def cfg(fake: FakeTelegram, db_path: Path) -> Config:
    return make_config(fake, db_path)


@contextlib.asynccontextmanager
async def serving(
    cfg: Config, kb: KnowledgeBase
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The bot as `distriktsbot run` wires it (its own polling loop and the update pipeline),
    polling the stand-in, on this event loop."""
    async with running(cfg, kb) as started:
        assert started is not None
        app, _poller = started
        yield app


@pytest.fixture
async def bot(
    fake: FakeTelegram, cfg: Config, kb: KnowledgeBase
) -> AsyncIterator[tuple[FakeTelegram, Application[Any, Any, Any, Any, Any, Any]]]:
    """(fake, app): the bot running against the stand-in."""
    async with serving(cfg, kb) as app:
        yield fake, app


@contextlib.asynccontextmanager
async def open_storage(db_path: Path) -> AsyncIterator[Storage]:
    """A second connection to the bot's database, as an admin tool would open it."""
    storage = await Storage.open(f"sqlite+aiosqlite:///{db_path}")
    try:
        yield storage
    finally:
        await storage.close()


@dataclasses.dataclass
class Voter:
    """A person talking to the bot, in private or in a group."""

    fake: FakeTelegram
    user: FakeUser
    chat: FakeChat | None = None

    @property
    def chat_id(self) -> int:
        return self.chat.id if self.chat is not None else self.user.id

    async def say(self, text: str, reply_to: int | None = None) -> SentMessage:
        """Send `text` and return the bot's reply."""
        self.send(text, reply_to)
        return await self.fake.next_message(self.chat_id)

    def send(self, text: str, reply_to: int | None = None) -> int:
        return self.fake.send_text(self.user, text, chat=self.chat, reply_to_message_id=reply_to)

    async def press(self, message: SentMessage, label: str) -> SentMessage:
        return await self.press_data(message, message.button(label))

    async def press_data(self, message: SentMessage, data: str) -> SentMessage:
        """Press a button carrying `data`; the query must be answered and a reply sent."""
        update_id = self.fake.press_button(self.user, message, data)
        query_id = next(
            u["callback_query"]["id"] for u in self.fake.updates if u["update_id"] == update_id
        )

        def answered(call: Call) -> bool:
            return (
                call.method == "answerCallbackQuery"
                and str(call.params.get("callback_query_id")) == query_id
            )

        reply = await self.fake.next_message(self.chat_id)
        call = await self.fake.wait_for(answered)
        assert call.ok, str(call)
        return reply


def voter(fake: FakeTelegram, user_id: int = 1001, name: str = "Kari") -> Voter:
    return Voter(fake, fake.user(user_id, name, username=f"{name.lower()}_{user_id}"))


def text_of(message: SentMessage) -> str:
    assert message.plain_text is not None
    return message.plain_text


def topic_buttons(message: SentMessage) -> list[str]:
    """Topic ids of the "show topic" buttons, in order."""
    return [d[2:] for _, d in message.buttons() if d and d.startswith("t:")]


def assert_menu(message: SentMessage) -> None:
    assert sorted(topic_buttons(message)) == sorted(TOPIC_IDS), message.buttons()


def assert_answer(message: SentMessage, kb: KnowledgeBase, topic_id: str) -> None:
    """`message` is the full answer on `topic_id`: HTML, pledge, question, Enig/Uenig."""
    topic = kb.topic(topic_id)
    assert topic is not None
    assert message.parse_mode is not None and message.parse_mode.lower() == "html"
    text = text_of(message)
    assert topic.title in text
    assert topic.pledge in text
    assert AGREE_QUESTION in text
    labels = [label for label, _ in message.buttons()]
    assert "Enig" in labels and "Uenig" in labels, labels
    assert message.button("Enig") == f"ja:{topic_id}"
    assert message.button("Uenig") == f"nei:{topic_id}"


def key_of(app: Application[Any, Any, Any, Any, Any, Any], user: FakeUser) -> str:
    return str(app.bot_data[SERVICES].dialogue.key(Person(user_id=user.id, chat_id=user.id)))


def find_ambiguous_question(kb: KnowledgeBase) -> tuple[str, list[str]]:
    """A question the shipped knowledge finds ambiguous, and its candidate topics."""
    matcher = Matcher(kb)
    phrasings = [
        "lading",
        "ladepunkt",
        "statlige kontorer",
        "lading og hurtiglading",
        "ladestasjoner og hurtigladere",
        "ferje og bredbånd",
        "bredbånd og ferje",
        "statlige jobber",
        "kommuneøkonomi og eldreomsorg",
        "fiber til gården",
        "lading og bredbånd",
    ]
    for question in phrasings:
        m = matcher.match(question)
        if m.ambiguous and len(m.candidates) >= 2:
            return question, m.candidates[:3]
    raise AssertionError(f"none of {phrasings} is ambiguous with the shipped knowledge")


# --------------------------------------------------------------------------------------------
# Start, help, menu, deep links
# --------------------------------------------------------------------------------------------


async def test_start_sets_commands_and_welcomes_with_menu(bot: tuple[FakeTelegram, Any]) -> None:
    fake, _ = bot
    names = [c["command"] for c in fake.commands()]
    assert names == ["start", "emner", "hjelp", "del", "nyhetsbrev", "stopp", "slettmeg"]
    assert all(c["description"] for c in fake.commands())

    kari = voter(fake)
    welcome = await kari.say("/start")
    assert text_of(welcome).startswith("Hei!")
    assert messages.WELCOME.splitlines()[0] in text_of(welcome)
    assert_menu(welcome)

    help_ = await kari.say("/hjelp")
    assert "/slettmeg" in text_of(help_) and "/emner" in text_of(help_)
    assert messages.HELP.split("\n")[0] in text_of(help_)

    menu = await kari.say("/emner")
    assert messages.MENU in text_of(menu)
    assert_menu(menu)


async def test_menu_button_opens_the_topic(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase
) -> None:
    fake, _ = bot
    kari = voter(fake)
    menu = await kari.say("/emner")
    title = kb.topic("landbruk").title  # type: ignore[union-attr]
    answer = await kari.press(menu, title)
    assert_answer(answer, kb, "landbruk")


async def test_deep_link_start_parameter(bot: tuple[FakeTelegram, Any], kb: KnowledgeBase) -> None:
    fake, _ = bot
    kari = voter(fake)
    answer = await kari.say("/start fergetakster")
    assert_answer(answer, kb, "fergetakster")
    assert FERRY_FACT in text_of(answer)

    welcome = await kari.say("/start bogus")
    assert messages.WELCOME.splitlines()[0] in text_of(welcome)
    assert_menu(welcome)


# --------------------------------------------------------------------------------------------
# Questions and votes
# --------------------------------------------------------------------------------------------


async def test_free_text_question_gets_the_html_answer(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase
) -> None:
    fake, _ = bot
    answer = await voter(fake).say(FERRY_QUESTION)
    assert_answer(answer, kb, "fergetakster")
    text = text_of(answer)
    assert "Halvere fergetakstene." in text
    assert FERRY_FACT in text
    assert AGREE_QUESTION in text
    assert [label for label, _ in answer.buttons()][:2] == ["Enig", "Uenig"]
    # HTML really was rendered: the title and the question are bold entities
    bold = [e for e in answer.message.get("entities", []) if e["type"] == "bold"]
    assert len(bold) >= 2


async def test_votes_are_counted_once_and_can_change(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase, db_path: Path
) -> None:
    fake, app = bot
    kari = voter(fake)
    answer = await kari.say(FERRY_QUESTION)

    thanks = await kari.press(answer, "Enig")
    text = text_of(thanks)
    assert text.startswith(AGREE_THANKS)
    assert AGREE_MORE in text
    related = kb.topic("fergetakster").related  # type: ignore[union-attr]
    assert related and topic_buttons(thanks) == list(related)
    assert thanks.button(messages.BUTTON_SUBSCRIBE) == "nb"

    again = await kari.press(answer, "Enig")
    assert text_of(again).startswith(AGREE_THANKS)
    assert messages.VOTE_REPEATED_AGREE in text_of(again)
    async with open_storage(db_path) as storage:
        [opinion] = await storage.votes.opinions()
        assert (opinion.topic_id, opinion.agree, opinion.disagree) == ("fergetakster", 1, 0)

    changed = await kari.press(answer, "Uenig")
    text = text_of(changed)
    assert text.startswith(DISAGREE_THANKS)
    assert DISAGREE_MORE in text
    assert messages.VOTE_CHANGED_DISAGREE in text
    suggested = topic_buttons(changed)
    assert suggested and "fergetakster" not in suggested
    assert all(t in TOPIC_IDS for t in suggested)
    async with open_storage(db_path) as storage:
        [opinion] = await storage.votes.opinions()
        assert (opinion.topic_id, opinion.agree, opinion.disagree) == ("fergetakster", 0, 1)
        assert await storage.votes.get(key_of(app, kari.user), "fergetakster") is False

    # a related-topic button leads on to that topic
    more = await kari.press(thanks, kb.topic(related[0]).title)  # type: ignore[union-attr]
    assert_answer(more, kb, related[0])


async def test_two_voters_are_counted_separately(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    fake, _ = bot
    kari, ola = voter(fake, 1001, "Kari"), voter(fake, 1002, "Ola")
    await kari.press(await kari.say(FERRY_QUESTION), "Enig")
    await ola.press(await ola.say(FERRY_QUESTION), "Uenig")
    async with open_storage(db_path) as storage:
        [opinion] = await storage.votes.opinions()
        assert (opinion.agree, opinion.disagree) == (1, 1)


async def test_did_you_mean_buttons_lead_to_the_topic(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase
) -> None:
    fake, _ = bot
    question, candidates = find_ambiguous_question(kb)
    kari = voter(fake)
    reply = await kari.say(question)
    assert "Mente du" in text_of(reply)
    offered = topic_buttons(reply)
    assert offered == candidates, (question, offered, candidates)
    chosen = offered[1]
    answer = await kari.press_data(reply, f"t:{chosen}")
    assert_answer(answer, kb, chosen)


async def test_unanswerable_question_is_admitted_and_logged(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    fake, app = bot
    reply = await voter(fake).say("Hva mener dere om abort?")
    await app.bot_data[SERVICES].dialogue.drain()  # logged off the reply path
    assert "vet jeg" in text_of(reply)
    assert text_of(reply) == messages.DONT_KNOW
    assert "Enig" not in [label for label, _ in reply.buttons()]
    assert_menu(reply)
    async with open_storage(db_path) as storage:
        logged = [q.text for q in await storage.unanswered.most_asked()]
    assert "Hva mener dere om abort?" in logged


# --------------------------------------------------------------------------------------------
# Newsletter and the right to be forgotten
# --------------------------------------------------------------------------------------------


async def test_newsletter_subscribe_stop_and_forget(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    fake, app = bot
    kari = voter(fake)
    answer = await kari.say(FERRY_QUESTION)
    thanks = await kari.press(answer, "Enig")

    subscribed = await kari.press(thanks, messages.BUTTON_SUBSCRIBE)
    assert SUBSCRIBED in text_of(subscribed)
    assert SUBSCRIBED_MORE in text_of(subscribed)
    async with open_storage(db_path) as storage:
        assert await storage.subscribers.chat_ids() == [kari.user.id]

    again = await kari.press(thanks, messages.BUTTON_SUBSCRIBE)
    assert messages.ALREADY_SUBSCRIBED in text_of(again)

    stopped = await kari.say("/stopp")
    assert messages.UNSUBSCRIBED in text_of(stopped)
    async with open_storage(db_path) as storage:
        assert await storage.subscribers.chat_ids() == []
    assert messages.NOT_SUBSCRIBED in text_of(await kari.say("/stopp"))

    # subscribe again, vote on a second topic, ask something unanswerable; then forget it all
    await kari.press(thanks, messages.BUTTON_SUBSCRIBE)
    broadband = await kari.say("/start bredband")
    await kari.press(broadband, "Uenig")
    await kari.say("Hva mener dere om abort?")
    ola = voter(fake, 1002, "Ola")
    await ola.press(await ola.say(FERRY_QUESTION), "Enig")

    forgotten = await kari.say("/slettmeg")
    text = text_of(forgotten)
    expected = messages.FORGOTTEN.format(
        votes=2, subscription=messages.FORGOTTEN_SUBSCRIBED, questions=1
    )
    assert text == expected

    async with open_storage(db_path) as storage:
        key = key_of(app, kari.user)
        assert await storage.votes.get(key, "fergetakster") is None
        assert await storage.votes.get(key, "bredband") is None
        assert await storage.subscribers.chat_ids() == []
        assert [q.text for q in await storage.unanswered.most_asked()] == []
        # Ola's vote is untouched
        opinions = {o.topic_id: (o.agree, o.disagree) for o in await storage.votes.opinions()}
        assert opinions == {"fergetakster": (1, 0)}

    assert messages.NOTHING_TO_FORGET in text_of(await kari.say("/slettmeg"))


def _all_rows(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = sqlite3.connect(db_path)
    try:
        tables = [
            r[0]
            for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        ]
        return {t: con.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
    finally:
        con.close()


def _cells_containing(rows: dict[str, list[tuple[Any, ...]]], needle: str) -> list[str]:
    found = []
    for table, table_rows in rows.items():
        for row in table_rows:
            for value in row:
                shown = value.hex() if isinstance(value, bytes) else str(value)
                if needle in shown or (isinstance(value, bytes) and needle.encode() in value):
                    found.append(f"{table}: {row!r}")
    return found


async def test_raw_user_id_is_never_stored(bot: tuple[FakeTelegram, Any], db_path: Path) -> None:
    """Votes and logged questions are stored under a keyed hash, never the Telegram id (or the
    username). A distinctive id makes an accidental substring match impossible."""
    fake, app = bot
    user_id = 7_345_129_876
    kari = voter(fake, user_id, "Kari")
    for question in (FERRY_QUESTION, "Hva med bredbånd på bygda?"):
        answer = await kari.say(question)
        await kari.press(answer, "Enig")
        await kari.press(answer, "Uenig")
    await kari.say("Hva mener dere om abort?")
    await app.bot_data[SERVICES].dialogue.drain()  # the question is logged off the reply path

    rows = _all_rows(db_path)
    assert rows["votes"] and rows["unanswered_questions"]
    for needle in (str(user_id), kari.user.username or "", "Kari"):
        assert _cells_containing(rows, needle) == [], needle
    key = key_of(app, kari.user)
    assert any(key in row for row in rows["votes"])

    # The newsletter has to know where to deliver, so a subscription stores the chat id (which
    # equals the user id in a private chat) -- under a second key that cannot be linked to the
    # votes, and only until /stopp or /slettmeg.
    thanks = await kari.press(await kari.say(FERRY_QUESTION), "Enig")
    await kari.press(thanks, messages.BUTTON_SUBSCRIBE)
    rows = _all_rows(db_path)
    holding = _cells_containing(rows, str(user_id))
    assert holding and all(h.startswith("subscribers:") for h in holding), holding
    [(subscriber_key, *_)] = rows["subscribers"]
    assert subscriber_key != key
    assert all(row[1] != subscriber_key for row in rows["votes"])
    await kari.say("/slettmeg")
    assert _cells_containing(_all_rows(db_path), str(user_id)) == []


# --------------------------------------------------------------------------------------------
# Inline mode and sharing
# --------------------------------------------------------------------------------------------


async def _inline(fake: FakeTelegram, user: FakeUser, query: str) -> dict[str, Any]:
    update_id = fake.inline_query(user, query)
    query_id = next(u["inline_query"]["id"] for u in fake.updates if u["update_id"] == update_id)
    call = await fake.wait_for(
        lambda c: (
            c.method == "answerInlineQuery" and str(c.params.get("inline_query_id")) == query_id
        )
    )
    assert call.ok, str(call)
    return call.params


async def test_inline_query_offers_answer_cards(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase
) -> None:
    fake, _ = bot
    kari = fake.user(1001, "Kari")
    answer = await _inline(fake, kari, "ferje")
    results = answer["results"]
    assert results and results[0]["id"] == "fergetakster"
    card = results[0]
    content = card["input_message_content"]
    plain, _ = parse_telegram_html(content["message_text"])
    assert kb.topic("fergetakster").pledge in plain  # type: ignore[union-attr]
    [[button]] = card["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Spør boten selv"
    assert button["url"] == f"https://t.me/{fake.bot_username}?start=fergetakster"

    everything = await _inline(fake, kari, "")
    ids = [r["id"] for r in everything["results"]]
    assert sorted(ids) == sorted(TOPIC_IDS)
    for result in everything["results"]:
        [[link]] = result["reply_markup"]["inline_keyboard"]
        assert link["url"] == f"https://t.me/{fake.bot_username}?start={result['id']}"

    nothing = await _inline(fake, kari, "xqzvw blorft")
    assert nothing["results"] == []
    assert nothing["button"]["text"] == messages.ASK_YOURSELF
    assert nothing["button"]["start_parameter"]


async def test_share_button_and_del_command_give_a_forwardable_deep_link(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase
) -> None:
    fake, _ = bot
    kari = voter(fake)
    answer = await kari.say(FERRY_QUESTION)
    shared = await kari.press(answer, messages.BUTTON_SHARE)
    link = f"https://t.me/{fake.bot_username}?start=fergetakster"
    assert link in text_of(shared)
    assert kb.topic("fergetakster").pledge in text_of(shared)  # type: ignore[union-attr]

    del_reply = await kari.say("/del bredband")
    link = f"https://t.me/{fake.bot_username}?start=bredband"
    assert link in text_of(del_reply)
    assert kb.topic("bredband").pledge in text_of(del_reply)  # type: ignore[union-attr]

    # whoever follows the link lands on the answer
    ola = voter(fake, 1002, "Ola")
    landed = await ola.say("/start " + link.rsplit("start=", 1)[1])
    assert_answer(landed, kb, "bredband")

    # /del alone lists the topics; a button there gives the forwardable text, not the answer
    usage = await kari.say("/del")
    shares = [d[len("del:") :] for _, d in usage.buttons() if d and d.startswith("del:")]
    assert sorted(shares) == sorted(TOPIC_IDS), usage.buttons()
    picked = await kari.press(usage, kb.topic("landbruk").title)  # type: ignore[union-attr]
    assert text_of(picked).startswith(messages.SHARE_INTRO)
    assert f"https://t.me/{fake.bot_username}?start=landbruk" in text_of(picked)
    assert messages.BUTTON_AGREE not in [label for label, _ in picked.buttons()]


# --------------------------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------------------------


async def test_group_chat_answers_only_when_addressed(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase
) -> None:
    fake, _ = bot
    group = fake.group(-100_200_300, "Bygdelaget")
    kari = Voter(fake, fake.user(1001, "Kari"), chat=group)
    me = fake.bot_username

    kari.send(FERRY_QUESTION)
    await fake.assert_no_message(group.id)

    mention = f"@{me} blir ferja billigere?"
    answer = await kari.say(mention)
    assert_answer(answer, kb, "fergetakster")
    asked = fake.updates[-1]["message"]["message_id"]
    assert answer.message["reply_to_message"]["message_id"] == asked

    follow_up = await kari.say("Og hva med bredbånd?", reply_to=answer.message_id)
    assert_answer(follow_up, kb, "bredband")

    menu = await kari.say(f"/emner@{me}")
    assert_menu(menu)

    kari.send("/emner@someotherbot")
    await fake.assert_no_message(group.id)
    kari.send("Hva med bredbånd?")  # a plain message, no mention: ignored
    await fake.assert_no_message(group.id)

    # a reply to another member's message is not addressed to the bot either
    other = fake.user(1002, "Ola")
    fake.send_text(other, "Jeg tror ikke på det", chat=group)
    own = fake.updates[-1]["message"]["message_id"]
    await fake.assert_no_message(group.id)
    kari.send("Blir ferja billigere?", reply_to=own)
    await fake.assert_no_message(group.id)


async def test_newsletter_button_in_a_group_never_subscribes_the_group(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    """One member's click must not send party newsletters to everyone in a group: the
    newsletter is a personal opt-in. The vote's reply goes to the member privately."""
    fake, _ = bot
    group = fake.group(-100_200_300, "Bygdelaget")
    kari = Voter(fake, fake.user(1001, "Kari"), chat=group)
    answer = await kari.say(f"@{fake.bot_username} blir ferja billigere?")
    fake.click(kari.user, answer, "Enig")
    thanks = await fake.next_message(kari.user.id)  # in Kari's private chat
    assert text_of(thanks).startswith(
        messages.VOTE_IN_GROUP.format(vote="Enig", title="Fergetakster")
    )
    assert AGREE_THANKS in text_of(thanks)
    # the opt-in is offered where only Kari sees it, and subscribes Kari, never the group
    private = Voter(fake, kari.user)
    done = await private.press(thanks, messages.BUTTON_SUBSCRIBE)
    assert "Takk for din interesse!" in text_of(done)
    async with open_storage(db_path) as storage:
        assert await storage.subscribers.chat_ids() == [kari.user.id]


async def test_slettmeg_and_stopp_in_a_group_tell_the_group_nothing(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    """Whether a member subscribes or has voted is theirs to know: in a group these commands
    only say to write privately, and nothing is deleted."""
    fake, _ = bot
    kari_private = Voter(fake, fake.user(1001, "Kari"))
    answer = await kari_private.say("Blir ferja billigere?")
    await kari_private.press(answer, "Enig")
    group = fake.group(-100_200_300, "Bygdelaget")
    kari = Voter(fake, fake.user(1001, "Kari"), chat=group)
    assert text_of(await kari.say(f"/slettmeg@{fake.bot_username}")) == messages.FORGET_PRIVATELY
    assert text_of(await kari.say(f"/stopp@{fake.bot_username}")) == messages.STOP_PRIVATELY
    async with open_storage(db_path) as storage:
        assert len(await storage.votes.opinions()) == 1
    # in private, /slettmeg does it
    assert text_of(await kari_private.say("/slettmeg")).startswith("Ferdig")


async def test_a_vote_in_a_group_is_never_posted_to_the_group(
    bot: tuple[FakeTelegram, Any], db_path: Path
) -> None:
    """Break 8: a vote's reply ("Takk for din tilbakemelding!", "Svaret ditt er endret …") told
    the whole group how a member voted. Now it goes to the member's private chat, and the
    button press is answered with a short notice; a member who never started the bot gets only
    the notice."""
    fake, _ = bot
    group = fake.group(-100_200_300, "Bygdelaget")
    kari = Voter(fake, fake.user(1001, "Kari"), chat=group)
    answer = await kari.say(f"@{fake.bot_username} blir ferja billigere?")

    fake.click(kari.user, answer, "Enig")
    thanks = await fake.next_message(kari.user.id)
    assert AGREE_THANKS in text_of(thanks)
    notice = await fake.wait_for("answerCallbackQuery")
    assert notice.params.get("text") == messages.VOTE_SENT_PRIVATELY

    fake.block(kari.user.id)  # as if Kari had never started the bot: no private chat
    fake.click(kari.user, answer, "Uenig")
    notice = await fake.wait_for("answerCallbackQuery")
    assert notice.params.get("text") == messages.VOTE_STORED_QUIETLY
    await fake.assert_no_message(group.id)
    async with open_storage(db_path) as storage:
        [opinion] = await storage.votes.opinions()
        assert (opinion.agree, opinion.disagree) == (0, 1)


# --------------------------------------------------------------------------------------------
# Odd input
# --------------------------------------------------------------------------------------------


@pytest.fixture
def no_bot_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test if the bot's error handler logged anything."""
    caplog.set_level(logging.INFO)
    yield
    errors = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith(("distriktsbot", "telegram"))
    ]
    assert errors == [], [r.getMessage() for r in errors]


async def test_non_text_messages_get_a_short_hint(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase, no_bot_errors: None
) -> None:
    fake, _ = bot
    kari = voter(fake)
    senders = [
        lambda: fake.send_sticker(kari.user),
        lambda: fake.send_photo(kari.user),
        lambda: fake.send_voice(kari.user),
        lambda: fake.send_location(kari.user),
        lambda: fake.send_message_content(
            kari.user, {"contact": {"phone_number": "+4712345678", "first_name": "Ola"}}
        ),
    ]
    for send in senders:
        send()
        reply = await fake.next_message(kari.user.id)
        assert text_of(reply).startswith("Jeg forstår bare tekst")
    assert_answer(await kari.say(FERRY_QUESTION), kb, "fergetakster")


async def test_edited_message_is_ignored(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase, no_bot_errors: None
) -> None:
    fake, _ = bot
    kari = voter(fake)
    kari.send(FERRY_QUESTION)
    asked = fake.updates[-1]["message"]["message_id"]
    await fake.next_message(kari.user.id)
    fake.edit_text(kari.user, asked, "Hva med bredbånd?")
    await fake.assert_no_message(kari.user.id)
    assert_answer(await kari.say("Hva med bredbånd?"), kb, "bredband")


async def test_very_long_message_gets_an_answer(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase, no_bot_errors: None
) -> None:
    fake, _ = bot
    kari = voter(fake)
    long_text = (FERRY_QUESTION + " ") * 500
    long_text = long_text[:10_000]
    assert len(long_text) == 10_000
    reply = await kari.say(long_text)
    assert len(text_of(reply)) <= 4096
    assert_answer(reply, kb, "fergetakster")

    noise = "".join(
        random.Random(7).choice("abcdefghijklmnopqrstuvwxyzæøå ") for _ in range(10_000)
    )
    reply = await kari.say(noise)
    assert len(text_of(reply)) <= 4096
    assert_menu(reply)
    failed = [str(c) for c in fake.calls if c.ok is False]
    assert failed == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("ja:../../x", messages.UNKNOWN_BUTTON),
        ("zzz", messages.UNKNOWN_BUTTON),
        (
            bytes(random.Random(64).randrange(256) for _ in range(64)).decode("latin-1"),
            messages.UNKNOWN_BUTTON,
        ),
        ("ja:removed-topic", messages.UNKNOWN_TOPIC),
        ("nb:extra", messages.UNKNOWN_BUTTON),
        ("t:", messages.UNKNOWN_BUTTON),
    ],
    ids=["path", "garbage", "random-bytes", "removed-topic", "extra-arg", "empty-topic"],
)
async def test_forged_callback_data_gets_a_polite_menu(
    bot: tuple[FakeTelegram, Any],
    kb: KnowledgeBase,
    db_path: Path,
    data: str,
    expected: str,
    no_bot_errors: None,
) -> None:
    fake, _ = bot
    kari = voter(fake)
    answer = await kari.say(FERRY_QUESTION)
    reply = await kari.press_data(answer, data)
    assert text_of(reply) == expected
    assert_menu(reply)
    async with open_storage(db_path) as storage:
        assert await storage.votes.opinions() == []
    assert_answer(await kari.say(FERRY_QUESTION), kb, "fergetakster")


async def test_blocked_user_does_not_stop_the_bot(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase, no_bot_errors: None
) -> None:
    fake, _ = bot
    ola, kari = voter(fake, 1002, "Ola"), voter(fake, 1001, "Kari")
    answer = await ola.say(FERRY_QUESTION)
    fake.block(ola.user.id)

    def refused(call: Call) -> bool:
        return call.method == "sendMessage" and call.error_code == 403

    ola.send("Hva med bredbånd?")
    await fake.wait_for(refused)
    fake.press_button(ola.user, answer, "ja:fergetakster")
    await fake.wait_for(refused)

    assert_answer(await kari.say(FERRY_QUESTION), kb, "fergetakster")
    fake.unblock(ola.user.id)
    assert_answer(await ola.say("Hva med bredbånd?"), kb, "bredband")


async def test_unknown_command_in_private(bot: tuple[FakeTelegram, Any]) -> None:
    fake, _ = bot
    reply = await voter(fake).say("/finnesikke")
    assert text_of(reply) == messages.UNKNOWN_COMMAND


# --------------------------------------------------------------------------------------------
# Database trouble
# --------------------------------------------------------------------------------------------


def _rename_table(db_path: Path, old: str, new: str) -> None:
    con = sqlite3.connect(db_path, timeout=30)
    try:
        con.execute(f"ALTER TABLE {old} RENAME TO {new}")
        con.commit()
    finally:
        con.close()


@pytest.mark.parametrize("how", ["storage-closed", "table-missing"])
async def test_database_down_is_polite_and_questions_still_work(
    bot: tuple[FakeTelegram, Any], kb: KnowledgeBase, db_path: Path, how: str
) -> None:
    fake, app = bot
    kari = voter(fake)
    ferry = await kari.say(FERRY_QUESTION)
    await kari.press(ferry, "Enig")

    if how == "storage-closed":
        await app.bot_data[SERVICES].storage.close()
    else:  # in a thread: blocking the bot's event loop mid-transaction would deadlock SQLite
        await asyncio.to_thread(_rename_table, db_path, "votes", "votes_away")

    broadband = await kari.say("Hva med bredbånd?")
    assert_answer(broadband, kb, "bredband")
    failed = await kari.press(broadband, "Enig")
    assert text_of(failed).startswith(STORAGE_DOWN_START)
    assert "Takk" not in text_of(failed)

    # questions are still answered, also ones that would be logged as unanswered
    assert_answer(await kari.say("Hva med lading av elbil?"), kb, "ladestasjoner")
    assert text_of(await kari.say("Hva mener dere om abort?")) == messages.DONT_KNOW

    if how == "table-missing":
        await asyncio.to_thread(_rename_table, db_path, "votes_away", "votes")
    async with open_storage(db_path) as storage:
        opinions = {o.topic_id: (o.agree, o.disagree) for o in await storage.votes.opinions()}
    assert opinions == {"fergetakster": (1, 0)}


# --------------------------------------------------------------------------------------------
# Logs never hold the token
# --------------------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes global logging state (levels, handler filters); put it back."""
    root = logging.getLogger()
    handlers = {h: list(h.filters) for h in root.handlers}
    names = ["", *logging.root.manager.loggerDict]
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for handler, filters in handlers.items():
        handler.filters[:] = filters
    for handler in root.handlers:
        if handler not in handlers:
            handler.filters[:] = [f for f in handler.filters if not isinstance(f, RedactSecrets)]
    for name in ["", *logging.root.manager.loggerDict]:
        logger = logging.getLogger(name)
        logger.setLevel(levels.get(name, logging.NOTSET))


def test_configure_logging_quiets_httpx_and_redacts(cfg: Config, restore_logging: None) -> None:
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    configure_logging(cfg)
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("httpx").level == logging.WARNING

    token = cfg.telegram.token
    redact = RedactSecrets(token, cfg.privacy.hash_secret)
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: POST %s", (f"/bot{token}/getMe",), None
    )
    assert redact.filter(record)
    assert token not in record.getMessage() and "<redacted>" in record.getMessage()

    try:
        raise RuntimeError(f"failed calling /bot{token}/sendMessage")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("telegram", logging.ERROR, __file__, 1, "boom", (), exc_info)
    assert redact.filter(record)
    formatted = logging.Formatter().format(record)
    assert token not in formatted and "<redacted>" in formatted


async def test_token_never_appears_in_logs(
    fake: FakeTelegram,
    cfg: Config,
    kb: KnowledgeBase,
    caplog: pytest.LogCaptureFixture,
    restore_logging: None,
) -> None:
    caplog.set_level(logging.DEBUG)
    configure_logging(cfg)
    # Even if a library logs a request URL (the token is in each one), nothing leaks.
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    logging.getLogger("aiohttp").setLevel(logging.DEBUG)
    async with serving(cfg, kb) as _app:
        logging.getLogger("httpx").info(
            "HTTP Request: POST %s/getMe", f"{cfg.telegram.base_url}{cfg.telegram.token}"
        )  # dropped: HTTP clients log below WARNING only request URLs
        logging.getLogger("telegram.ext").warning(
            "failed: POST %s/getMe", f"{cfg.telegram.base_url}{cfg.telegram.token}"
        )  # kept, redacted
        kari = voter(fake)
        answer = await kari.say(FERRY_QUESTION)
        await kari.press(answer, "Enig")
        await kari.press_data(answer, "zzz")
        fake.send_sticker(kari.user)
        await fake.next_message(kari.user.id)
        await _inline(fake, kari.user, "ferje")
        await kari.say("/slettmeg")
        fake.block(kari.user.id)
        kari.send(FERRY_QUESTION)
        await fake.wait_for(lambda c: c.method == "sendMessage" and c.error_code == 403)
    token, secret = cfg.telegram.token, cfg.privacy.hash_secret
    assert caplog.records
    assert "<redacted>" in caplog.text  # the logged request URL was redacted
    assert token not in caplog.text
    assert secret not in caplog.text
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token not in (record.exc_text or "")


async def test_debug_logs_never_tie_a_user_to_a_vote(
    fake: FakeTelegram,
    db_path: Path,
    kb: KnowledgeBase,
    caplog: pytest.LogCaptureFixture,
    restore_logging: None,
) -> None:
    """config.example.yaml: "Logs never contain the token, and never the text of votes" -- also
    at log_level DEBUG, no record may show who (user id or username) voted what."""
    cfg = make_config(fake, db_path)
    cfg = dataclasses.replace(cfg, log_level="DEBUG")
    caplog.set_level(logging.DEBUG)
    configure_logging(cfg)
    user_id = 7_345_129_876
    async with serving(cfg, kb) as _app:
        kari = voter(fake, user_id, "Kari")
        answer = await kari.say(FERRY_QUESTION)
        await kari.press(answer, "Enig")
        await kari.press(answer, "Uenig")
    vote = re.compile(r"""\bdata['"]?\s*[:=]\s*['"](?:ja|nei):""")  # a pressed Enig/Uenig
    leaks = [
        f"{r.name}: {r.getMessage()[:300]}"
        for r in caplog.records
        if vote.search(r.getMessage())
        and (str(user_id) in r.getMessage() or "kari_7345129876" in r.getMessage())
    ]
    assert leaks == []
