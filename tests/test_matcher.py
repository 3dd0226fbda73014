"""The matcher: accuracy floors on the labelled sets, robustness, declines, small talk, the
shape of a Match, determinism and a bounded fuzz."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.evaluate import evaluate, read_labelled
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.matcher import MAX_WORDS, Match, Matcher, MatchKind
from bot.normalize import rarity
from bot.normalize import words as words_of
from tests.conftest import (
    DEV_QUESTIONS,
    QUESTIONS_A,
    QUESTIONS_B,
    QUESTIONS_C,
    ROOT,
    VALID_AREA,
)

# Regression floors on every labelled set (tests/data; how each was written and what it was used
# for is in the README, "The matcher"): in-scope top-1, out-of-scope declined, confidently
# wrong. Each floor is the figure reached on 2026-11-27 less a margin of about three points
# (more on the small sets, where one question is two points or more); None: the set has no
# questions of that kind.
DATA = Path(__file__).parent / "data"
FLOORS = {
    # the plain kinds ("easy")
    "dev-questions.jsonl": (0.96, 0.95, 0.02),
    "questions-a.jsonl": (0.95, 0.95, 0.02),
    "questions-b.jsonl": (0.95, 0.95, 0.02),
    "questions-c.jsonl": (0.96, 0.92, 0.03),
    "questions-h.jsonl": (0.96, None, 0.02),
    "questions-l.jsonl": (0.95, None, 0.02),
    "questions-j.jsonl": (0.95, 0.95, 0.02),  # final hold-out: measured once, never tuned on
    # the harder kinds
    "dev-questions-hard.jsonl": (0.93, 0.88, 0.05),
    "questions-d.jsonl": (0.91, 0.91, 0.04),
    "questions-e.jsonl": (0.90, 0.92, 0.03),
    "questions-f.jsonl": (0.89, 0.92, 0.03),
    "questions-g.jsonl": (0.89, 0.92, 0.03),
    "questions-k.jsonl": (None, 0.94, 0.03),
    "questions-i.jsonl": (0.87, 0.89, 0.06),  # final hold-out: measured once, never tuned on
}
LABELLED_SETS = [QUESTIONS_A, QUESTIONS_B, QUESTIONS_C, DEV_QUESTIONS]


def all_labelled_texts() -> list[str]:
    out = []
    for path in LABELLED_SETS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["text"])
    return out


def test_every_labelled_set_has_floors() -> None:
    assert sorted(FLOORS) == sorted(p.name for p in DATA.glob("*.jsonl"))


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_accuracy_floors(kb: KnowledgeBase, matcher: Matcher, name: str) -> None:
    top1, declined, wrong = FLOORS[name]
    report = evaluate(matcher, read_labelled(DATA / name, kb.topic_ids))
    figures = report.as_dict()
    misses = "\n".join(m.describe() for m in report.misses)
    if top1 is not None:
        assert report.in_scope >= 20, "the labelled set shrank"
        assert figures["in_scope_top1"] >= top1, misses
        assert figures["in_scope_top3"] >= figures["in_scope_top1"]
    if declined is not None:
        assert report.out_of_scope >= 8, "the labelled set shrank"
        assert figures["out_of_scope_declined"] >= declined, misses
    assert figures["confidently_wrong"] <= wrong, misses


# --- robustness: how voters actually write ---------------------------------------------------

ROBUST = [
    # no æøå
    ("kommuneokonomi", "kommuneokonomi"),
    ("naeringspolitikk", "naeringspolitikk"),
    ("bredband", "bredband"),
    ("hva gjor dere for bondene", "landbruk"),
    # "aa" for å
    ("Naar kommer bredbaandet?", "bredband"),
    ("blir det billigere aa ta ferja", "fergetakster"),
    # typos
    ("bredbnd", "bredband"),
    ("hurtigladre", "hurtigladere"),
    ("kommuneøkonmi", "kommuneokonomi"),
    ("landbrukspolitkken", "landbruk"),
    # compounds and inflections
    ("fergebillettene", "fergetakster"),
    ("hurtigladerne", "hurtigladere"),
    ("ladestasjonene", "ladestasjoner"),
    # nynorsk and dialect
    ("Kva gjer de med ferjeprisane?", "fergetakster"),
    ("Kjem det breiband til bygda vår?", "bredband"),
    ("Kor mykje kostar ferja?", "fergetakster"),
    # English
    ("ferry prices", "fergetakster"),
    ("broadband", "bredband"),
    ("more chargers for electric cars?", "ladestasjoner"),
    # one word
    ("ferje", "fergetakster"),
    ("havvind", "gront-industriloft"),
    ("landbruk", "landbruk"),
    # a long, rambling message that ends with the question
    (
        "Jeg har bodd her i tretti år og vi har alltid hatt det fint, men nå har det blitt så "
        "dyrt å reise og barna mine vil flytte, og naboen sier det samme, så jeg lurer "
        "egentlig bare på en ting: blir ferja billigere?",
        "fergetakster",
    ),
    # upper case
    ("BLIR FERJA BILLIGERE?", "fergetakster"),
    ("KOMMUNEØKONOMI", "kommuneokonomi"),
]


@pytest.mark.parametrize(("text", "topic_id"), ROBUST, ids=[t[:30] for t, _ in ROBUST])
def test_robust_in_scope(matcher: Matcher, text: str, topic_id: str) -> None:
    m = matcher.match(text)
    assert m.kind is MatchKind.TOPIC, m
    assert m.topic_id == topic_id, m
    assert m.score > 0


DECLINE = [
    "abort",
    "skatt",
    "bompenger",
    "ulv",
    "strømpris",
    "sykehus",
    "asdf",
    "🙂🙂",
    "SELECT * FROM users;",
    "",
    "!!!",
    "Hva mener dere om abort?",
    "Hva med ulven?",
]


@pytest.mark.parametrize("text", DECLINE)
def test_declines_what_it_does_not_cover(matcher: Matcher, text: str) -> None:
    m = matcher.match(text)
    assert m.kind is MatchKind.NONE, m
    assert m.topic_id is None
    assert m.alternatives == ()
    assert m.candidates == []


def _long_messages() -> dict[str, str]:
    rng = random.Random(20230816)
    letters = string.ascii_lowercase + "æøå"
    return {
        "spaced-words": " ".join(
            "".join(rng.choice(letters) for _ in range(rng.randint(2, 12))) for _ in range(1500)
        )[:10_000],
        "one-long-token": "".join(rng.choice(letters) for _ in range(10_000)),
        "repeated-question": ("blir ferja billigere? " * 500)[:10_000],
        "emoji": "🙂" * 10_000,
        "punctuation": "!?.," * 2_500,
    }


@pytest.mark.parametrize("shape", sorted(_long_messages()))
def test_a_10000_character_message_is_read_only_so_far(matcher: Matcher, shape: str) -> None:
    """The work is bounded by the words read, not by the length of the message."""
    text = _long_messages()[shape]
    assert len(text) == 10_000
    reading = matcher._read(text)
    assert sum(len(p) for p in reading.parts) <= MAX_WORDS
    assert len(reading.content) <= MAX_WORDS and len(reading.weights) == len(reading.parts)
    m = matcher.match(text)
    assert m.topic_id is None or m.topic_id in matcher.topic_ids
    if shape == "repeated-question":
        assert m.topic_id == "fergetakster"


# --- small talk -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["hei", "takk!", "god morgen", "Hallo", "takk for svaret"])
def test_small_talk(matcher: Matcher, text: str) -> None:
    m = matcher.match(text)
    assert m.kind is MatchKind.SMALLTALK, m
    assert m.topic_id is None


@pytest.mark.parametrize(
    ("text", "topic_id"),
    [
        ("hei, blir ferja billigere?", "fergetakster"),
        ("god morgen! hva gjør dere for bøndene?", "landbruk"),
        ("takk! og hva med bredbånd?", "bredband"),
    ],
)
def test_a_greeting_with_a_question_gets_the_topic(
    matcher: Matcher, text: str, topic_id: str
) -> None:
    m = matcher.match(text)
    assert m.kind is MatchKind.TOPIC
    assert m.topic_id == topic_id


# --- the shape of a match --------------------------------------------------------------------


def check_shape(m: Match, ids: list[str]) -> None:
    assert isinstance(m.kind, MatchKind)
    assert isinstance(m.score, float) and m.score >= 0
    if m.kind is MatchKind.TOPIC:
        assert m.topic_id in ids
    else:
        assert m.topic_id is None
        assert m.alternatives == ()
        assert not m.ambiguous
    alt_ids = [t for t, _ in m.alternatives]
    scores = [s for _, s in m.alternatives]
    assert m.topic_id not in alt_ids, m
    assert len(set(alt_ids)) == len(alt_ids), m
    assert all(t in ids for t in alt_ids), m
    assert scores == sorted(scores, reverse=True), m
    assert all(s <= m.score for s in scores), m
    assert len(m.alternatives) <= 3
    assert m.candidates == ([m.topic_id] if m.topic_id else []) + alt_ids
    if m.ambiguous:
        assert m.alternatives, m


def test_alternatives_are_other_topics_sorted_by_score(matcher: Matcher) -> None:
    texts = all_labelled_texts()
    assert len(texts) > 600
    with_alternatives = 0
    for text in texts:
        m = matcher.match(text)
        check_shape(m, matcher.topic_ids)
        with_alternatives += bool(m.alternatives)
    assert with_alternatives >= 10, "the check above should see some alternatives"


def test_two_topics_in_one_question_are_both_candidates(matcher: Matcher) -> None:
    m = matcher.match("bredbånd og ferje")
    assert m.kind is MatchKind.TOPIC
    assert set(m.candidates[:2]) == {"bredband", "fergetakster"}
    assert m.ambiguous
    assert m.candidates[0] == m.topic_id
    assert m.candidates[1:] == [t for t, _ in m.alternatives]


def test_candidates_of_a_clear_match(matcher: Matcher) -> None:
    m = matcher.match("Blir ferja billigere?")
    assert m.candidates[0] == "fergetakster"
    assert not m.ambiguous


def test_same_input_same_output(kb: KnowledgeBase, matcher: Matcher) -> None:
    fresh = Matcher(kb)
    for text in all_labelled_texts()[::7] + [t for t, _ in ROBUST] + DECLINE:
        first = matcher.match(text)
        assert matcher.match(text) == first
        assert fresh.match(text) == first


def test_every_example_in_the_knowledge_lands_on_its_own_topic(
    kb: KnowledgeBase, matcher: Matcher
) -> None:
    wrong = [
        (t.id, ex, matcher.match(ex).topic_id)
        for t in kb.topics
        for ex in t.examples
        if matcher.match(ex).topic_id != t.id
    ]
    assert not wrong


# --- fuzz -------------------------------------------------------------------------------------


def _random_text(rng: random.Random) -> str:
    pools = [
        lambda: chr(rng.randint(0x20, 0x7E)),
        lambda: rng.choice("æøåÆØÅéüß "),
        lambda: chr(rng.randint(0, 0x10FFFF)),
        lambda: chr(rng.randint(0xD800, 0xDFFF)),  # lone surrogates
        lambda: rng.choice(["ferje", "bredbånd", "hei", "takk", "abort", " ", "\n", "\u200b"]),
        lambda: chr(rng.randint(0x0300, 0x036F)),  # combining marks
    ]
    return "".join(rng.choice(pools)() for _ in range(rng.randint(0, 60)))


def test_fuzz_never_raises_and_returns_a_valid_topic_or_none(matcher: Matcher) -> None:
    rng = random.Random(1234)
    ids = matcher.topic_ids
    for _ in range(400):
        text = _random_text(rng)
        m = matcher.match(text)
        check_shape(m, ids)
        assert m.topic_id is None or m.topic_id in ids


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("what about broadband in rural areas", "bredband"),
        ("ladestasjoner i utkanten, når kommer de", "ladestasjoner"),
        ("kva gjer de for bøndene i bygda", "landbruk"),
        ("hva mener dere om distriktene", "by-og-land"),
        ("distriktan", "by-og-land"),
    ],
)
def test_a_specific_topic_beats_the_overview_but_broad_words_alone_reach_it(
    matcher: Matcher, question: str, topic: str
) -> None:
    """Broad keywords ("bygda", "rural areas") count as evidence but little in the ranking,
    also when they form a phrase."""
    assert matcher.match(question).topic_id == topic


OOS_AREA = VALID_AREA + (
    "out_of_scope:\n"
    "  examples:\n"
    "    - Kan jeg ta med hunden på ferja?\n"
    "  subjects: [bompenger]\n"
    "  practical: [rutetabell, hvordan … jeg]\n"
)


@pytest.fixture
def small(write_kb: Callable[..., Path]) -> Matcher:
    return Matcher(load_knowledge(write_kb({"a.yaml": OOS_AREA})))


@pytest.mark.parametrize(
    ("text", "topic_id"),
    [
        ("Blir ferja billigere?", "forste"),
        ("Hvor finner jeg rutetabellen for ferja?", None),  # a practical cue
        ("Hvordan bestiller jeg ferje?", None),  # "hvordan … jeg": how to do it oneself
        ("Hvordan skal ferja bli billigere?", "forste"),  # no "jeg": a policy question
        ("Hva vil dere gjøre med rutetabellen for ferja?", "forste"),  # policy cues weigh up
        ("bompenger", None),  # an uncovered subject
        ("ferje og bompenger", None),  # as much the uncovered subject as the topic
        ("Kan jeg ta med katten på ferja?", None),  # nearest to a must-decline example
        ("Kan ferja bli billigere for barnefamilier?", "forste"),
    ],
)
def test_what_the_knowledge_says_is_out_of_scope_is_declined(
    small: Matcher, text: str, topic_id: str | None
) -> None:
    assert small.match(text).topic_id == topic_id


def test_the_evidence_for_declining_is_reported(small: Matcher) -> None:
    ev = small.evidence("Hvordan bestiller jeg ferje hos dere?")
    assert ev.practical >= 1.0 and ev.policy >= 1.0
    ev = small.evidence("Kan jeg ta med hunden på ferja?")
    assert ev.near_decline > 0.99
    assert small.evidence("bompenger").subjects >= 1.0


def test_the_question_sentence_weighs_more_than_the_story(matcher: Matcher) -> None:
    story = (
        "Vi tar ferja hver dag, og nå er det kommet en ny elbillader ved kaia. "
        "Men det jeg lurer på er når vi får fiber hit"
    )
    assert matcher.match(story).topic_id == "bredband"
    asked = "Vi har fått fiber og alt er fint. Når blir ferja billigere?"
    assert matcher.match(asked).topic_id == "fergetakster"


@pytest.mark.parametrize(
    ("text", "topic_id"),
    [
        ("Vad gör ni för att äldre ska kunna bo kvar hemma?", "bo-trygt-hjemme"),
        ("Wird es mehr Schnellladesäulen auf dem Land geben?", "hurtigladere"),
        ("Co zrobicie dla rolnictwa w Norwegii?", "landbruk"),
        ("Hvad vil I gøre ved færgepriserne?", "fergetakster"),
        ("Quelle est votre stratégie pour l'éolien en mer ?", "gront-industriloft"),
    ],
)
def test_other_languages_about_a_covered_topic_are_matched(
    matcher: Matcher, text: str, topic_id: str
) -> None:
    assert matcher.match(text).topic_id == topic_id


def test_common_words_weigh_less_than_rare_ones() -> None:
    assert rarity("ferje") == 1.0
    assert rarity("hurtiglader") == 1.0  # not in the list: rare
    assert rarity("og") < rarity("bil") < rarity("ferje")
    assert 0.0 < rarity("og") <= 0.35


def test_the_packed_typo_index_finds_what_the_dict_finds(
    kb: KnowledgeBase, matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large knowledge's typo index is a sorted numpy array, a small one a dict: the same
    answers either way (the shipped knowledge, built once each way), and the same terms in the
    same order for every near spelling asked."""
    import bot.matcher as matcher_module

    monkeypatch.setattr(matcher_module, "_PACK_FROM", 0)
    packed = Matcher(kb)
    assert packed._typos._packed is not None and matcher._typos._dict is not None
    texts = [
        json.loads(line)["text"]
        for path in sorted((ROOT / "tests" / "data").glob("questions-*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(texts) > 1000
    assert [repr(packed.match(t)) for t in texts] == [repr(matcher.match(t)) for t in texts]
    words = {w for t in texts for w in words_of(t) if len(w) >= 5} | set(matcher._vocab)
    for word in sorted(words):
        variants = (word, *matcher_module._deletions(word))
        assert list(packed._typos.terms(variants)) == list(matcher._typos.terms(variants)), word
