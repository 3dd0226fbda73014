"""Hostile input, by property (hypothesis): no exception escapes the matcher, the dialogue, the
action parser, the knowledge loader or the update handling, for any text, any callback data,
any YAML and any JSON update shape."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.dialogue import Dialogue, Person
from bot.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from bot.matcher import Matcher
from bot.normalize import MAX_WORD_CHARS, fold, words
from bot.reply import ARGUMENTS, MAX_ACTION_BYTES, Action, Do, Reply
from bot.storage import Storage
from handlers.app import running
from tests.conftest import CONTRACT_IDS, VALID_AREA
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent

# every character, lone surrogates (undecodable input) and NUL included
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=300) | st.text(
    st.sampled_from("ferjebilighvamedæøå \u200b\u00ad\x00?!"), max_size=60
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def shipped() -> KnowledgeBase:
    return load_knowledge(ROOT / "knowledge")


@pytest.fixture(scope="module")
def matcher(shipped: KnowledgeBase) -> Matcher:
    return Matcher(shipped)


@pytest.fixture(scope="module")
def talk(
    shipped: KnowledgeBase,
    loop: asyncio.AbstractEventLoop,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Dialogue]:
    db = tmp_path_factory.mktemp("props") / "bot.sqlite3"
    storage = loop.run_until_complete(Storage.open(f"sqlite+aiosqlite:///{db}"))
    yield Dialogue(shipped, storage, secret="property-secret-0123456789", bot_username="b_bot")
    loop.run_until_complete(storage.close())


def check_reply(reply: Reply) -> None:
    assert isinstance(reply, Reply)
    assert reply.text.strip()
    for action in reply.actions:
        if action.do is not Do.LINK:
            assert len(action.encode().encode()) <= MAX_ACTION_BYTES


# --- matcher and text folding ------------------------------------------------------------------


@PROPERTY
@given(ANY_TEXT)
def test_the_matcher_takes_any_text(matcher: Matcher, text: str) -> None:
    m = matcher.match(text)
    assert m.topic_id is None or m.topic_id in CONTRACT_IDS
    # folded words: one token each, no spaces or invisible characters left inside
    assert all(w and w.isalnum() and len(w) <= MAX_WORD_CHARS for w in words(text))
    assert "\u200b" not in fold(text)


@PROPERTY
@given(st.sampled_from(["ferja", "bredbånd", "kommuneøkonomi"]), st.integers(1, 4))
def test_zero_width_characters_never_split_a_word(matcher: Matcher, word: str, at: int) -> None:
    plain = matcher.match(f"Hva med {word}?")
    hidden = word[:at] + "\u200b" + word[at:]
    assert matcher.match(f"Hva med {hidden}?").topic_id == plain.topic_id


# --- the dialogue ------------------------------------------------------------------------------


@PROPERTY
@given(ANY_TEXT, st.integers(-(2**40), 2**40), st.booleans())
def test_the_dialogue_answers_any_text(
    talk: Dialogue, loop: asyncio.AbstractEventLoop, text: str, user: int, private: bool
) -> None:
    who = Person(user_id=user, chat_id=user, private=private)
    check_reply(loop.run_until_complete(talk.ask(who, text)))
    loop.run_until_complete(talk.drain())


@PROPERTY
@given(st.one_of(st.none(), ANY_TEXT, st.sampled_from(["ja:", "nei:x", "t:../", "nb:1", "m:"])))
def test_the_dialogue_answers_any_button_data(
    talk: Dialogue, loop: asyncio.AbstractEventLoop, data: str | None
) -> None:
    check_reply(loop.run_until_complete(talk.press(Person(1, 1), data)))


@PROPERTY
@given(st.text(max_size=40) | st.sampled_from(["start", "del", "slettmeg", "stopp"]), ANY_TEXT)
def test_the_dialogue_answers_any_command(
    talk: Dialogue, loop: asyncio.AbstractEventLoop, name: str, arg: str
) -> None:
    check_reply(loop.run_until_complete(talk.command(Person(2, 2), name, arg)))


# --- the action parser -------------------------------------------------------------------------


@PROPERTY
@given(st.one_of(st.none(), ANY_TEXT, st.binary(max_size=80).map(lambda b: b.decode("latin-1"))))
def test_the_action_parser_never_raises(data: str | None) -> None:
    parsed = Action.decode(data)
    if parsed is not None:
        do, topic = parsed
        assert do is not Do.LINK
        assert Action.decode(Action(do, "x", topic).encode()) == parsed


def _argument(do: Do) -> st.SearchStrategy[str | None]:
    """A valid argument for `do`: what its pattern in bot.reply.ARGUMENTS accepts."""
    pattern = ARGUMENTS[do]
    if pattern is None:
        return st.none()
    return st.from_regex(pattern, fullmatch=True).filter(lambda a: len(a) <= 40)


@PROPERTY
@given(
    st.sampled_from([d for d in Do if d is not Do.LINK]).flatmap(
        lambda do: st.tuples(st.just(do), _argument(do))
    )
)
def test_actions_round_trip(case: tuple[Do, str | None]) -> None:
    do, arg = case
    assert Action.decode(Action(do, "label", arg=arg).encode()) == (do, arg or None)


# --- the knowledge loader ----------------------------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[str]:
    lines = VALID_AREA.splitlines()
    return st.tuples(st.integers(0, len(lines) - 1), st.text(ANY_CHAR, max_size=40)).map(
        lambda change: "\n".join([*lines[: change[0]], change[1], *lines[change[0] + 1 :]])
    )


@PROPERTY
@given(
    st.one_of(
        st.text(ANY_CHAR, max_size=400),
        JSONISH.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
        _mutations(),
        st.binary(max_size=200),
    )
)
def test_the_knowledge_loader_takes_any_file(
    tmp_path_factory: pytest.TempPathFactory, content: str | bytes
) -> None:
    folder = tmp_path_factory.mktemp("kb")
    path = folder / "area.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8", "surrogatepass"))
    try:
        kb = load_knowledge(folder)
    except KnowledgeError as exc:
        assert str(exc).strip()
    else:
        assert kb.topics


# --- the update handling -----------------------------------------------------------------------

IDS = st.integers(-(2**52), 2**52)
USER = st.fixed_dictionaries(
    {"id": IDS | st.text(max_size=5), "is_bot": st.booleans(), "first_name": st.text(max_size=10)}
)
CHAT = st.fixed_dictionaries(
    {"id": IDS, "type": st.sampled_from(["private", "group", "supergroup", "channel", "x"])}
)
MESSAGE = st.fixed_dictionaries(
    {"message_id": st.integers(1, 2**31), "chat": CHAT, "date": st.integers(0, 2**31)},
    optional={
        "from": USER,
        "text": ANY_TEXT,
        "entities": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["bot_command", "mention", "bold"]),
                    "offset": st.integers(-5, 50),
                    "length": st.integers(-5, 50),
                }
            ),
            max_size=3,
        ),
        "sticker": JSONISH,
        "reply_to_message": st.just({"message_id": 1, "chat": {"id": 1, "type": "private"}}),
    },
)
CALLBACK = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=10), "from": USER, "chat_instance": st.just("1")},
    optional={"data": ANY_TEXT, "message": MESSAGE, "inline_message_id": st.text(max_size=10)},
)
INLINE = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=10), "from": USER, "query": ANY_TEXT, "offset": st.just("")}
)
UPDATE = st.one_of(
    st.fixed_dictionaries({"update_id": IDS, "message": MESSAGE}),
    st.fixed_dictionaries({"update_id": IDS, "edited_message": MESSAGE}),
    st.fixed_dictionaries({"update_id": IDS, "callback_query": CALLBACK}),
    st.fixed_dictionaries({"update_id": IDS, "inline_query": INLINE}),
    st.dictionaries(st.sampled_from(["update_id", "message", "poll", "x"]), JSONISH, max_size=3),
    JSONISH,
)


@dataclasses.dataclass
class Live:
    loop: asyncio.AbstractEventLoop
    fake: FakeTelegram
    pipeline: Any
    errors: list[BaseException]


@pytest.fixture(scope="module")
def live(
    loop: asyncio.AbstractEventLoop,
    shipped: KnowledgeBase,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Live]:
    from telegram.error import TelegramError

    fake = FakeTelegram()
    fake.start()
    db = tmp_path_factory.mktemp("live") / "bot.sqlite3"
    cfg = load_config(
        None,
        environ={
            "DISTRIKTSBOT_TOKEN": fake.token,
            "DISTRIKTSBOT_HASH_SECRET": "property-secret-0123456789",
            "DISTRIKTSBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        },
    )
    cfg = dataclasses.replace(
        cfg,
        telegram=dataclasses.replace(cfg.telegram, base_url=fake.base_url),
        limits=dataclasses.replace(cfg.limits, user_burst=10_000),
    )
    context = running(cfg, shipped)
    started = loop.run_until_complete(context.__aenter__())
    assert started is not None
    app, poller = started
    errors: list[BaseException] = []

    async def record(update: object, ctx: Any) -> None:
        if ctx.error is not None and not isinstance(ctx.error, TelegramError):
            errors.append(ctx.error)

    app.add_error_handler(record)
    try:
        yield Live(loop, fake, poller._pipeline, errors)
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        fake.stop()


@PROPERTY
@given(UPDATE)
def test_any_json_update_is_handled_or_skipped_never_raised(live: Live, data: Any) -> None:
    """Telegram errors (the stand-in refusing a chat it does not know) are fine; an exception of
    our own code, or one escaping the pipeline, is not."""
    failed = live.pipeline.stats["failed"]
    json.dumps(data)  # a JSON shape
    live.loop.run_until_complete(live.pipeline.handle(data))
    assert live.pipeline.stats["failed"] == failed
    assert live.errors == [], [repr(e) for e in live.errors]


def test_the_update_strategy_reaches_the_handlers(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """The property above is only worth something if generated updates get past parsing."""
    caplog.set_level(logging.INFO)
    handled = live.pipeline.stats["handled"]
    data = {
        "update_id": 2**60,  # never generated above (a seen id is skipped as a duplicate)
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 31, "type": "private"},
            "from": {"id": 31, "is_bot": False, "first_name": "A"},
            "text": "Blir ferja billigere?",
        },
    }
    live.loop.run_until_complete(live.pipeline.handle(data))
    assert live.pipeline.stats["handled"] == handled + 1


def _fold_reference(text: str) -> str:
    """`bot.normalize.fold` as it was written first (str.translate, re.sub): the faster one must
    give the same."""
    import re
    import unicodedata

    from bot.normalize import _FOLD, _TOKEN

    text = unicodedata.normalize("NFKC", text).lower().translate(_FOLD)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_TOKEN.findall(re.sub("aa", "a", text)))


_FOLDED_CHARS = "æøåäöüßœłđÆØÅÄÖÜŒŁĐ\u00ad\u180e\u200b\u200c\u200d\u2060\ufeffaAeé\u0301 .?\n"


@PROPERTY
@given(st.text() | st.text(alphabet=_FOLDED_CHARS) | st.text(alphabet=_FOLDED_CHARS + "abcxyz"))
def test_fold_is_the_reference_fold(text: str) -> None:
    from bot.normalize import _FOLD, _fold_letters

    assert fold(text) == _fold_reference(text)
    assert _fold_letters(text.lower()) == text.lower().translate(_FOLD)
