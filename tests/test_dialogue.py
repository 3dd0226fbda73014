"""The dialogue against a real SQLite storage: answers, votes, subscriptions, privacy, forged
buttons, a storage that is down and a reloaded knowledge base."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
import yaml
from sqlalchemy.ext.asyncio import create_async_engine

from bot import messages
from bot.dialogue import Dialogue, Person
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.reply import MAX_ACTION_BYTES, Action, BlockKind, Do, Reply
from bot.storage import Storage, TopicOpinion
from bot.storage.engine import Database
from tests.conftest import (
    CHAT_ID,
    CONTRACT_IDS,
    ENGAGE_URL,
    SECRET,
    SHIPPED_YAML,
    USER_ID,
    copy_knowledge,
)

QUESTION = "Er du enig med Arbeiderpartiet om Distriktspolitikk?"
AGREE = "Takk for din tilbakemelding!"
AGREE_MORE = "Vil du vite hva mer vi kanskje er enig om?"
DISAGREE = "Takk for tilbakemeldingen. Vi kan ikke være enige om alt!"
DISAGREE_MORE = "Kanskje er det andre saker du er enig med oss i?"
SUBSCRIBED = "Takk for din interesse!"
SUBSCRIBED_MORE = "Du vil nå motta nyhetsbrev fra oss :)"


def block_texts(reply: Reply) -> list[str]:
    return [b.text for b in reply.blocks]


def action(reply: Reply, do: Do, topic_id: str | None = None) -> Action:
    found = [a for a in reply.actions if a.do is do and a.topic_id == topic_id]
    assert len(found) == 1, (do, topic_id, reply.actions)
    return found[0]


def topic_actions(reply: Reply) -> list[str]:
    return [a.topic_id for a in reply.actions if a.do is Do.TOPIC and a.topic_id]


def assert_menu(reply: Reply) -> None:
    assert topic_actions(reply) == list(CONTRACT_IDS)


def dump_rows(db_path: Path) -> list[tuple[str, dict[str, object]]]:
    """Every row of every table of the SQLite file, as (table, {column: value})."""
    con = sqlite3.connect(db_path)
    con.row_factory = sqlite3.Row
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [(t, dict(row)) for t in tables for row in con.execute(f'SELECT * FROM "{t}"')]
    finally:
        con.close()


# --- asking ---------------------------------------------------------------------------------


async def test_a_question_gets_the_topic_with_pledge_facts_and_the_agree_question(
    dialogue: Dialogue, kb: KnowledgeBase, person: Person
) -> None:
    reply = await dialogue.ask(person, "Blir ferja billigere?")
    topic = kb.topic("fergetakster")
    assert topic is not None
    assert reply.topic_id == "fergetakster"
    blocks = block_texts(reply)
    assert topic.pledge in blocks
    assert topic.explanation in blocks
    facts = [b.text for b in reply.blocks if b.kind is BlockKind.FACT]
    assert facts == ["16. august 2023 er ferjeprisene halvert siden 1. januar 2021."]
    assert reply.blocks[-1].kind is BlockKind.QUESTION
    assert reply.blocks[-1].text == QUESTION
    assert blocks.index(topic.pledge) < blocks.index(topic.explanation) < blocks.index(QUESTION)
    first_row = [a.label for a in reply.rows[0]]
    assert first_row == ["Enig", "Uenig"]
    assert action(reply, Do.AGREE, "fergetakster").label == "Enig"
    assert action(reply, Do.DISAGREE, "fergetakster").label == "Uenig"


@pytest.mark.parametrize("topic_id", CONTRACT_IDS)
async def test_every_topic_answer_has_its_facts_and_enig_uenig(
    dialogue: Dialogue, kb: KnowledgeBase, topic_id: str
) -> None:
    topic = kb.topic(topic_id)
    assert topic is not None
    reply = dialogue.topic_reply(topic)
    assert [b.text for b in reply.blocks if b.kind is BlockKind.FACT] == [
        f.text for f in topic.facts
    ]
    assert [a.label for a in reply.actions if a.do in (Do.AGREE, Do.DISAGREE)] == [
        "Enig",
        "Uenig",
    ]
    for a in reply.actions:
        if a.do is not Do.LINK:
            data = a.encode()
            assert len(data.encode()) <= MAX_ACTION_BYTES
            assert Action.decode(data) == (a.do, a.topic_id)


async def test_an_unknown_question_is_declined_honestly_and_logged(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    reply = await dialogue.ask(person, "Hva mener dere om abort?")
    assert reply.topic_id is None
    assert reply.text.startswith(messages.DONT_KNOW)
    assert "vet jeg" in reply.text and "ikke" in reply.text
    assert_menu(reply)
    assert not [a for a in reply.actions if a.do in (Do.AGREE, Do.DISAGREE)]
    await dialogue.drain()  # logged off the reply path
    logged = await storage.unanswered.most_asked()
    assert [(q.text, q.count) for q in logged] == [("Hva mener dere om abort?", 1)]


@pytest.mark.parametrize("noise", ["🙂🙂", "!!!", "…", "👍 ?"])
async def test_noise_gets_an_honest_reply_but_is_not_logged_as_a_question(
    dialogue: Dialogue, storage: Storage, person: Person, noise: str
) -> None:
    reply = await dialogue.ask(person, noise)
    assert reply.topic_id is None
    assert reply.text.startswith(messages.DONT_KNOW)
    assert_menu(reply)
    assert await storage.unanswered.most_asked() == []


async def test_an_answered_question_is_not_logged(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    await dialogue.ask(person, "Blir ferja billigere?")
    await dialogue.ask(person, "hei")
    assert await storage.unanswered.most_asked() == []


async def test_an_ambiguous_question_asks_mente_du(dialogue: Dialogue, person: Person) -> None:
    reply = await dialogue.ask(person, "bredbånd og ferje")
    assert "Mente du" in reply.text
    assert reply.topic_id is None
    candidates = topic_actions(reply)
    assert set(candidates[:2]) == {"bredband", "fergetakster"}
    assert len(candidates) <= 3
    assert not [a for a in reply.actions if a.do in (Do.AGREE, Do.DISAGREE)]
    # pressing a candidate opens that topic
    opened = await dialogue.press(person, action(reply, Do.TOPIC, "bredband").encode())
    assert opened.topic_id == "bredband"


@pytest.mark.parametrize(
    ("text", "intro"), [("hei", messages.GREETING), ("takk!", messages.THANKS)]
)
async def test_small_talk_gets_a_friendly_menu(
    dialogue: Dialogue, storage: Storage, person: Person, text: str, intro: str
) -> None:
    reply = await dialogue.ask(person, text)
    assert reply.blocks[0].text == intro
    assert_menu(reply)
    assert await storage.unanswered.most_asked() == []


async def test_an_empty_message_asks_for_a_question(dialogue: Dialogue, person: Person) -> None:
    reply = await dialogue.ask(person, "   ")
    assert reply.blocks[0].text == messages.EMPTY
    assert_menu(reply)


async def test_a_question_without_a_person_is_answered(dialogue: Dialogue) -> None:
    """Inline queries and `distriktsbot ask` have no person."""
    reply = await dialogue.ask(None, "Blir ferja billigere?")
    assert reply.topic_id == "fergetakster"
    reply = await dialogue.ask(None, "Hva mener dere om abort?")
    assert reply.text.startswith(messages.DONT_KNOW)


async def test_text_the_database_cannot_store_still_gets_an_answer(
    dialogue: Dialogue, person: Person
) -> None:
    """A lone surrogate (what undecodable bytes become on a console) must not crash ask()."""
    reply = await dialogue.ask(person, "abort \udcff\udcfe")
    assert reply.text.startswith(messages.DONT_KNOW)
    assert_menu(reply)


# --- voting ---------------------------------------------------------------------------------


async def test_enig_thanks_and_offers_related_topics_and_the_newsletter(
    dialogue: Dialogue, kb: KnowledgeBase, person: Person
) -> None:
    answer = await dialogue.ask(person, "Blir ferja billigere?")
    reply = await dialogue.press(person, action(answer, Do.AGREE, "fergetakster").encode())
    blocks = block_texts(reply)
    assert blocks[0] == AGREE
    assert blocks[-1] == AGREE_MORE
    assert blocks.index(AGREE) < blocks.index(AGREE_MORE)
    topic = kb.topic("fergetakster")
    assert topic is not None and topic.related
    assert topic_actions(reply) == list(topic.related)
    assert "fergetakster" not in topic_actions(reply)
    action(reply, Do.SUBSCRIBE)
    link = action(reply, Do.LINK)
    assert link.url == ENGAGE_URL
    assert link.label == "Se andre måter å engasjere seg"
    assert action(reply, Do.MENU).label == "Se andre politiske saker"


async def test_uenig_thanks_and_suggests_other_topics(dialogue: Dialogue, person: Person) -> None:
    reply = await dialogue.press(person, "nei:bredband")
    blocks = block_texts(reply)
    assert blocks[0] == DISAGREE
    assert blocks[-1] == DISAGREE_MORE
    others = topic_actions(reply)
    assert others and "bredband" not in others
    assert len(others) == len(set(others))
    assert not [a for a in reply.actions if a.do is Do.SUBSCRIBE]
    assert action(reply, Do.MENU).label == "Se andre politiske saker"


async def test_voting_twice_counts_once(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    first = await dialogue.press(person, "ja:fergetakster")
    second = await dialogue.press(person, "ja:fergetakster")
    assert await storage.votes.opinions() == [TopicOpinion("fergetakster", agree=1, disagree=0)]
    assert messages.VOTE_REPEATED_AGREE not in first.text
    assert messages.VOTE_REPEATED_AGREE in second.text
    assert block_texts(second)[0] == AGREE


async def test_switching_changes_the_vote(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    await dialogue.press(person, "ja:fergetakster")
    switched = await dialogue.press(person, "nei:fergetakster")
    assert await storage.votes.opinions() == [TopicOpinion("fergetakster", agree=0, disagree=1)]
    assert messages.VOTE_CHANGED_DISAGREE in switched.text
    back = await dialogue.press(person, "ja:fergetakster")
    assert messages.VOTE_CHANGED_AGREE in back.text
    assert await storage.votes.opinions() == [TopicOpinion("fergetakster", agree=1, disagree=0)]


async def test_votes_of_two_people_are_counted_apart(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    other = Person(user_id=USER_ID + 1, chat_id=USER_ID + 1)
    await dialogue.press(person, "ja:landbruk")
    await dialogue.press(other, "nei:landbruk")
    await dialogue.press(other, "ja:bredband")
    assert await storage.votes.opinions() == [
        TopicOpinion("bredband", agree=1, disagree=0),
        TopicOpinion("landbruk", agree=1, disagree=1),
    ]


# --- newsletter, /stopp, /slettmeg ----------------------------------------------------------


async def test_subscribe_thanks_and_twice_says_already(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    vote = await dialogue.press(person, "ja:fergetakster")
    reply = await dialogue.press(person, action(vote, Do.SUBSCRIBE).encode())
    assert block_texts(reply)[:2] == [SUBSCRIBED, SUBSCRIBED_MORE]
    assert await storage.subscribers.chat_ids() == [person.chat_id]
    again = await dialogue.press(person, "nb")
    assert again.text.startswith(messages.ALREADY_SUBSCRIBED)
    assert SUBSCRIBED not in again.text
    assert await storage.subscribers.chat_ids() == [person.chat_id]


async def test_stopp_unsubscribes(dialogue: Dialogue, storage: Storage, person: Person) -> None:
    await dialogue.press(person, "nb")
    reply = await dialogue.command(person, "stopp")
    assert reply.text == messages.UNSUBSCRIBED
    assert await storage.subscribers.chat_ids() == []
    again = await dialogue.command(person, "stopp")
    assert again.text == messages.NOT_SUBSCRIBED


async def test_slettmeg_deletes_votes_subscription_and_questions(
    dialogue: Dialogue, storage: Storage, person: Person, db_path: Path
) -> None:
    other = Person(user_id=USER_ID + 1, chat_id=USER_ID + 1)
    await dialogue.press(person, "ja:fergetakster")
    await dialogue.press(person, "nei:bredband")
    await dialogue.press(person, "nb")
    await dialogue.ask(person, "Hva mener dere om abort?")
    await dialogue.press(other, "ja:landbruk")
    await dialogue.ask(other, "Hva med ulven?")

    reply = await dialogue.command(person, "slettmeg")
    assert reply.text == messages.FORGOTTEN.format(
        votes=2, subscription=messages.FORGOTTEN_SUBSCRIBED, questions=1
    )
    assert await storage.votes.opinions() == [TopicOpinion("landbruk", agree=1, disagree=0)]
    assert await storage.subscribers.chat_ids() == []
    await dialogue.drain()  # logged off the reply path
    assert [q.text for q in await storage.unanswered.most_asked()] == ["Hva med ulven?"]
    # nothing of the person is left in any table
    key, nkey = dialogue.key(person), dialogue.newsletter_key(person)
    for table, row in dump_rows(db_path):
        values = set(row.values())
        assert key not in values and nkey not in values, table
        assert "Hva mener dere om abort?" not in values, table

    again = await dialogue.command(person, "slettmeg")
    assert again.text == messages.NOTHING_TO_FORGET


async def test_commands_in_words_act_as_the_command_and_are_never_logged(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    """People on a phone type "stopp" where the newsletter says /stopp."""
    # the word alone is not consent: offered with its button, nothing stored
    offer = await dialogue.ask(person, "nyhetsbrev?")
    assert offer.text == messages.NEWSLETTER_OFFER
    assert [a.do for row in offer.rows for a in row] == [Do.SUBSCRIBE]
    assert await storage.subscribers.chat_ids() == []
    subscribed = await dialogue.ask(person, "Meld meg på nyhetsbrevet!")
    assert "subscribed" in subscribed.tags
    assert await storage.subscribers.chat_ids() == [person.chat_id]
    assert (await dialogue.ask(person, "STOPP")).text == messages.UNSUBSCRIBED
    assert await storage.subscribers.chat_ids() == []
    assert (await dialogue.ask(person, "meld meg av")).text == messages.NOT_SUBSCRIBED
    # deleting everything needs the command itself: a phrase only says how
    await dialogue.press(person, "ja:fergetakster")
    forget = await dialogue.ask(person, "slett dataene mine")
    assert forget.text == messages.FORGET_IN_WORDS and "/slettmeg" in forget.text
    assert len(await storage.votes.opinions()) == 1
    # a vote typed instead of pressed: told how, nothing stored
    typed = await dialogue.ask(person, "Enig.")
    assert typed.text.startswith(messages.VOTE_IN_WORDS)
    assert (await dialogue.ask(person, "hva kan du svare på?")).text.startswith(messages.MENU)
    assert (await dialogue.ask(person, "hjelp")).text.startswith(messages.HELP)
    assert (await dialogue.ask(person, "Hvem er du?")).text.startswith(messages.WELCOME)
    await dialogue.drain()
    assert await storage.unanswered.most_asked() == []
    # inside a real question, the words are only words
    assert (await dialogue.ask(person, "Blir ferja billigere, eller stopp det?")).topic_id


async def test_nyhetsbrev_command_subscribes(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    reply = await dialogue.command(person, "nyhetsbrev")
    assert "subscribed" in reply.tags
    assert await storage.subscribers.chat_ids() == [person.chat_id]
    assert (await dialogue.command(person, "abonner")).text.startswith(messages.ALREADY_SUBSCRIBED)


async def test_stopp_and_slettmeg_in_a_group_are_only_done_privately(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    """Their answer would tell the group whether the person subscribes or voted."""
    in_group = Person(user_id=person.user_id, chat_id=-1_001_234, private=False)
    await dialogue.press(person, "nb")
    await dialogue.press(person, "ja:fergetakster")
    assert (await dialogue.command(in_group, "stopp")).text == messages.STOP_PRIVATELY
    assert (await dialogue.command(in_group, "slettmeg")).text == messages.FORGET_PRIVATELY
    assert (await dialogue.ask(in_group, "stopp")).text == messages.STOP_PRIVATELY
    assert (await dialogue.ask(in_group, "slett meg")).text == messages.FORGET_PRIVATELY
    assert await storage.subscribers.chat_ids() == [person.chat_id]  # nothing done
    assert len(await storage.votes.opinions()) == 1


# --- privacy ----------------------------------------------------------------------------------


async def test_the_raw_user_id_is_never_stored(
    dialogue: Dialogue, storage: Storage, db_path: Path
) -> None:
    # chat id and user id differ here, so the user id has no reason at all to be stored
    person = Person(user_id=USER_ID, chat_id=-1_009_876_543_210)
    await dialogue.press(person, "ja:fergetakster")
    await dialogue.press(person, "nei:bredband")
    await dialogue.press(person, "nb")
    await dialogue.ask(person, "Hva mener dere om abort?")
    await dialogue.drain()  # logged off the reply path
    rows = dump_rows(db_path)
    assert {t for t, _ in rows} >= {"votes", "subscribers", "unanswered_questions"}
    unkeyed = hashlib.sha256(str(USER_ID).encode()).hexdigest()
    for table, row in rows:
        for value in row.values():
            assert str(USER_ID) not in str(value), (table, row)
            assert unkeyed not in str(value), (table, row)


async def test_a_private_chat_id_is_only_in_the_newsletter_table_and_unlinkable(
    dialogue: Dialogue, storage: Storage, person: Person, db_path: Path
) -> None:
    """In a private chat the chat id is the user id; the newsletter needs it to deliver, but
    votes and questions must not be linkable to it."""
    await dialogue.press(person, "ja:fergetakster")
    await dialogue.press(person, "nb")
    await dialogue.ask(person, "Hva mener dere om abort?")
    await dialogue.drain()  # logged off the reply path
    rows = dump_rows(db_path)
    for table, row in rows:
        if table != "subscribers":
            assert not any(str(USER_ID) in str(v) for v in row.values()), (table, row)
    vote_keys = {row["user_key"] for table, row in rows if table == "votes"}
    question_keys = {row["user_key"] for table, row in rows if table == "unanswered_questions"}
    subscriber_keys = {row["user_key"] for table, row in rows if table == "subscribers"}
    assert [row["chat_id"] for table, row in rows if table == "subscribers"] == [CHAT_ID]
    assert vote_keys == question_keys
    assert vote_keys and subscriber_keys
    assert not vote_keys & subscriber_keys


# --- /start, /hjelp, /emner, /del -----------------------------------------------------------


async def test_start_with_a_topic_opens_it(dialogue: Dialogue, person: Person) -> None:
    reply = await dialogue.command(person, "start", "fergetakster")
    assert reply.topic_id == "fergetakster"
    assert reply.blocks[-1].text == QUESTION


@pytest.mark.parametrize("payload", ["", "../../etc", "finnes-ikke", "x" * 300, "ja:bredband"])
async def test_start_with_a_bogus_payload_welcomes(
    dialogue: Dialogue, person: Person, payload: str
) -> None:
    reply = await dialogue.command(person, "start", payload)
    # a payload that is not a topic: said so (a link to a topic that is gone), then the welcome
    said = f"{messages.START_UNKNOWN_TOPIC}\n\n" if payload else ""
    assert reply.blocks[0].text == f"{said}{messages.WELCOME}"
    assert reply.topic_id is None
    assert_menu(reply)


async def test_emner_and_hjelp(dialogue: Dialogue, person: Person) -> None:
    assert_menu(await dialogue.command(person, "emner"))
    help_reply = await dialogue.command(person, "hjelp")
    assert help_reply.blocks[0].text == messages.HELP
    unknown = await dialogue.command(person, "finnesikke")
    assert unknown.text == messages.UNKNOWN_COMMAND


async def test_del_gives_a_forwardable_text_with_a_deep_link(
    dialogue: Dialogue, kb: KnowledgeBase, person: Person
) -> None:
    reply = await dialogue.command(person, "del", "fergetakster")
    topic = kb.topic("fergetakster")
    assert topic is not None
    assert topic.pledge in block_texts(reply)
    link = "https://t.me/distriktsbot_test?start=fergetakster"
    assert link in reply.text
    assert action(reply, Do.LINK).url == link
    by_words = await dialogue.command(person, "del", "ferja")
    assert by_words.topic_id == "fergetakster"


async def test_del_without_a_topic_offers_choices_that_lead_to_the_share_text(
    dialogue: Dialogue, kb: KnowledgeBase, person: Person
) -> None:
    """/del alone lists the topics; picking one gives the text to forward, not the answer."""
    menu = await dialogue.command(person, "del")
    assert menu.blocks[0].text == messages.SHARE_USAGE
    assert [a.topic_id for a in menu.actions if a.do is Do.SHARE] == list(CONTRACT_IDS)
    assert not [a for a in menu.actions if a.do is Do.TOPIC]
    picked = await dialogue.press(person, action(menu, Do.SHARE, "bredband").encode())
    assert picked.blocks[0].text == messages.SHARE_INTRO
    assert "https://t.me/distriktsbot_test?start=bredband" in picked.text
    assert not [a for a in picked.actions if a.do in (Do.AGREE, Do.DISAGREE)]


@pytest.mark.parametrize("text", ["1", "7", "12", "3.", "2 3", "ok", "OK!", "ok 👍", "👍"])
async def test_numbers_ok_and_emoji_are_never_logged_as_unanswered(
    dialogue: Dialogue, storage: Storage, person: Person, text: str
) -> None:
    """No question to learn from: the voter gets the menu, the admins' list stays clean."""
    reply = await dialogue.ask(person, text)
    assert reply.topic_id is None
    assert "unanswered" not in reply.tags
    assert_menu(reply)
    assert await storage.unanswered.most_asked() == []


# --- forged and malformed buttons -----------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    ["", None, "ja:", "ja:../../etc", "x" * 200, "ja:nonexistent", "url:foo", "m:extra",
     "nei:FERGETAKSTER", "t:ferge takster", "ja:fergetakster:extra", "\x00", "ja:\udcff",
     "ja:ferjeø", ":", "nb:x"],
)  # fmt: skip
async def test_forged_action_data_gets_a_polite_menu(
    dialogue: Dialogue, storage: Storage, person: Person, data: str | None
) -> None:
    reply = await dialogue.press(person, data)
    assert reply.blocks[0].text in (messages.UNKNOWN_BUTTON, messages.UNKNOWN_TOPIC)
    assert_menu(reply)
    assert await storage.votes.opinions() == []
    assert await storage.subscribers.chat_ids() == []


async def test_a_button_for_an_unknown_topic_says_so(dialogue: Dialogue, person: Person) -> None:
    reply = await dialogue.press(person, "ja:nonexistent")
    assert reply.blocks[0].text == messages.UNKNOWN_TOPIC


# --- storage down ---------------------------------------------------------------------------


async def test_a_closed_storage_gives_storage_down_and_questions_still_work(
    dialogue: Dialogue, storage: Storage, person: Person
) -> None:
    await storage.close()
    vote = await dialogue.press(person, "ja:fergetakster")
    assert vote.text == messages.STORAGE_DOWN
    sub = await dialogue.press(person, "nb")
    assert sub.text == messages.STORAGE_DOWN
    assert (await dialogue.command(person, "stopp")).text == messages.STORAGE_DOWN
    assert (await dialogue.command(person, "slettmeg")).text == messages.STORAGE_DOWN
    answer = await dialogue.ask(person, "Blir ferja billigere?")
    assert answer.topic_id == "fergetakster"
    unknown = await dialogue.ask(person, "Hva mener dere om abort?")
    assert unknown.text.startswith(messages.DONT_KNOW)


async def test_an_unusable_database_gives_storage_down(
    kb: KnowledgeBase, tmp_path: Path, person: Person
) -> None:
    """The storage points at a file that is not a database (a disk gone bad, a wrong path)."""
    bad = tmp_path / "not-a-database.sqlite3"
    bad.write_bytes(b"this is not an SQLite file\n" * 100)
    engine = create_async_engine(f"sqlite+aiosqlite:///{bad}")
    dialogue = Dialogue(kb, Storage(Database(engine)), secret=SECRET)
    try:
        vote = await dialogue.press(person, "nei:landbruk")
        assert vote.text == messages.STORAGE_DOWN
        sub = await dialogue.press(person, "nb")
        assert sub.text == messages.STORAGE_DOWN
        unknown = await dialogue.ask(person, "Hva mener dere om abort?")
        assert unknown.text.startswith(messages.DONT_KNOW)
        assert (await dialogue.ask(person, "bredbånd")).topic_id == "bredband"
    finally:
        await dialogue.drain()  # the unanswered log is written off the reply path: let it end
        await engine.dispose()


async def test_no_storage_at_all(kb: KnowledgeBase, person: Person) -> None:
    dialogue = Dialogue(kb, None, secret=SECRET)
    assert (await dialogue.press(person, "ja:landbruk")).text == messages.STORAGE_DOWN
    assert (await dialogue.ask(person, "landbruk")).topic_id == "landbruk"
    assert (await dialogue.ask(person, "abort")).text.startswith(messages.DONT_KNOW)


def test_an_empty_secret_is_refused(kb: KnowledgeBase) -> None:
    with pytest.raises(ValueError):
        Dialogue(kb, None, secret="")


# --- reload ---------------------------------------------------------------------------------


def _kb_without(tmp_path: Path, topic_id: str) -> KnowledgeBase:
    data = yaml.safe_load(SHIPPED_YAML.read_text(encoding="utf-8"))
    data["topics"] = [t for t in data["topics"] if t["id"] != topic_id]
    for t in data["topics"]:
        t["related"] = [r for r in t.get("related", []) if r != topic_id]
    folder = tmp_path / "knowledge"
    copy_knowledge(folder).write_text(  # with the party's text beside it (area.source_text)
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return load_knowledge(folder)


async def test_reload_removes_a_topic(
    dialogue: Dialogue, storage: Storage, person: Person, tmp_path: Path
) -> None:
    old = await dialogue.ask(person, "Blir ferja billigere?")
    agree = action(old, Do.AGREE, "fergetakster").encode()
    dialogue.reload(_kb_without(tmp_path, "fergetakster"))

    reply = await dialogue.press(person, agree)
    assert reply.blocks[0].text == messages.UNKNOWN_TOPIC
    menu = topic_actions(reply)
    assert "fergetakster" not in menu and len(menu) == 11
    assert await storage.votes.opinions() == []
    assert (await dialogue.press(person, "t:fergetakster")).blocks[0].text == messages.UNKNOWN_TOPIC
    start = await dialogue.command(person, "start", "fergetakster")
    assert start.topic_id is None
    # the matcher follows the new knowledge too
    after = await dialogue.ask(person, "Blir ferja billigere?")
    assert after.topic_id != "fergetakster"
    assert (await dialogue.ask(person, "bredbånd")).topic_id == "bredband"
    # the related buttons of the remaining topics no longer offer the removed one
    vote = await dialogue.press(person, "ja:bredband")
    assert "fergetakster" not in topic_actions(vote)


# --- Action encoding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("do", "topic_id"),
    [
        (Do.TOPIC, "fergetakster"),
        (Do.AGREE, "statlige-arbeidsplasser"),
        (Do.DISAGREE, "by-og-land"),
        (Do.SHARE, "bredband"),
        (Do.MENU, None),
        (Do.SUBSCRIBE, None),
    ],
)
def test_action_round_trip(do: Do, topic_id: str | None) -> None:
    data = Action(do, "label", topic_id).encode()
    assert Action.decode(data) == (do, topic_id)


def test_action_data_fits_in_64_bytes() -> None:
    longest = "a" * 40  # topic ids are at most 40 characters (checked when loading)
    for do in (Do.TOPIC, Do.AGREE, Do.DISAGREE, Do.SHARE):
        data = Action(do, "x", longest).encode()
        assert len(data.encode()) <= MAX_ACTION_BYTES
        assert Action.decode(data) == (do, longest)
    with pytest.raises(ValueError):
        Action(Do.DISAGREE, "x", "a" * 61).encode()  # "nei:" + 61 = 65 bytes
    assert Action.decode("nei:" + "a" * 60) == (Do.DISAGREE, "a" * 60)  # exactly 64
    assert Action.decode("nei:" + "a" * 61) is None  # 65


def test_link_actions_are_never_accepted_back() -> None:
    assert Action.decode("url") is None
    assert Action.decode("url:fergetakster") is None


# --- what the answer leads with, and the language it is in ---------------------------------


@pytest.mark.parametrize(
    ("question", "topic_id"),
    [
        ("Når får alle 100 Mbit/s?", "bredband"),
        ("Hvor mye har ferjeprisene gått ned?", "fergetakster"),
        ("Hvor mange hurtigladere har Enova støttet?", "hurtigladere"),
    ],
)
async def test_a_question_for_a_figure_or_date_gets_the_fact_first(
    dialogue: Dialogue, person: Person, question: str, topic_id: str
) -> None:
    reply = await dialogue.ask(person, question)
    assert reply.topic_id == topic_id
    kinds = [b.kind for b in reply.blocks]
    assert kinds[0] is BlockKind.TITLE and kinds[1] is BlockKind.FACT, kinds
    assert kinds[-1] is BlockKind.QUESTION


async def test_a_question_without_a_figure_gets_the_pledge_first(
    dialogue: Dialogue, person: Person, kb: KnowledgeBase
) -> None:
    reply = await dialogue.ask(person, "Hva gjør dere med bredbånd på bygda?")
    topic = kb.topic("bredband")
    assert topic is not None and reply.topic_id == "bredband"
    assert reply.blocks[1].text == topic.pledge
    assert reply.blocks[2].kind is BlockKind.FACT


@pytest.mark.parametrize(
    "question",
    [
        "Wird die Fähre billiger für Familien auf den Inseln?",
        "Vad gör ni för att äldre ska kunna bo kvar hemma?",
        "Will ferry tickets get cheaper?",
    ],
)
async def test_another_language_is_answered_in_norwegian_and_says_so(
    dialogue: Dialogue, person: Person, question: str
) -> None:
    reply = await dialogue.ask(person, question)
    assert reply.topic_id is not None
    assert reply.blocks[0].kind is BlockKind.NOTE
    assert reply.blocks[0].text == messages.IN_NORWEGIAN
    assert reply.blocks[1].kind is BlockKind.TITLE


@pytest.mark.parametrize(
    "question", ["Blir ferja billigere?", "Ka dokker ska gjær me ferja?", "kva med breibandet"]
)
async def test_norwegian_gets_no_language_note(
    dialogue: Dialogue, person: Person, question: str
) -> None:
    reply = await dialogue.ask(person, question)
    assert messages.IN_NORWEGIAN not in [b.text for b in reply.blocks]


async def test_a_link_to_a_topic_that_is_gone_says_so_above_the_welcome(
    dialogue: Dialogue, person: Person
) -> None:
    for arg in ("landbruket", "fergetakster-gammel"):
        reply = await dialogue.command(person, "start", arg)
        assert reply.text.startswith(f"{messages.START_UNKNOWN_TOPIC}\n\n{messages.WELCOME}")
        assert len(topic_actions(reply)) == 12  # the menu follows
    # a link with something after the id still opens the topic
    assert (await dialogue.command(person, "start", "fergetakster ekstra")).topic_id == (
        "fergetakster"
    )
