"""Everything political the bot says is the source's own text.

The source (docs/source/distriktspolitikk.txt) has two typos the knowledge corrects, and only
those two: "brebånd" -> "bredbånd" and "kompentasemiljø" -> "kompetansemiljø". Every sentence of
every pledge, explanation and fact must appear verbatim in the corrected source (whitespace
normalised), every figure must come from the source, and bot/messages.py must hold no figure at all.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

import pytest
import yaml

from bot import messages
from bot.dialogue import Dialogue
from bot.faithfulness import corrected, normalise, sentences
from bot.knowledge import KnowledgeBase, Topic
from bot.reply import BlockKind
from tests.conftest import CONTRACT_IDS, SECRET, SHIPPED_YAML, SOURCE_TEXT

TYPO_CORRECTIONS = {"brebånd": "bredbånd", "kompentasemiljø": "kompetansemiljø"}

SOURCE_QUESTION = "Er du enig med Arbeiderpartiet om Distriktspolitikk?"
SOURCE_REPLIES = {
    "agree": "Takk for din tilbakemelding!",
    "agree_more": "Vil du vite hva mer vi kanskje er enig om?",
    "disagree": "Takk for tilbakemeldingen. Vi kan ikke være enige om alt!",
    "disagree_more": "Kanskje er det andre saker du er enig med oss i?",
    "subscribed": "Takk for din interesse!",
    "subscribed_more": "Du vil nå motta nyhetsbrev fra oss :)",
}

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
WORD = re.compile(r"\w+")
MONTHS = [
    "januar", "februar", "mars", "april", "mai", "juni",
    "juli", "august", "september", "oktober", "november", "desember",
]  # fmt: skip


@cache
def raw_source() -> str:
    return SOURCE_TEXT.read_text(encoding="utf-8")


@cache
def source() -> str:
    return corrected(raw_source(), TYPO_CORRECTIONS)


def test_the_knowledge_file_names_the_source_and_its_corrections() -> None:
    """What the loader checks every change against (`area.source_text`), the same text and the
    same two corrections as these tests."""
    area = yaml.safe_load(SHIPPED_YAML.read_text(encoding="utf-8"))["area"]
    assert (SHIPPED_YAML.parent / area["source_text"]).resolve() == SOURCE_TEXT.resolve()
    assert area["source_corrections"] == TYPO_CORRECTIONS


def voter_texts(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(where, text) for every text of the knowledge a voter can see."""
    out: list[tuple[str, str]] = []
    for area in kb.areas:
        out += [(f"{area.id}.title", area.title), (f"{area.id}.intro", area.intro)]
        out.append((f"{area.id}.question", area.question))
        for name, value in vars(area.replies).items():
            out.append((f"{area.id}.replies.{name}", value))
    for t in kb.topics:
        out += [(f"{t.id}.title", t.title), (f"{t.id}.pledge", t.pledge)]
        if t.explanation:
            out.append((f"{t.id}.explanation", t.explanation))
        out += [(f"{t.id}.facts[{i}]", f.text) for i, f in enumerate(t.facts)]
    return out


# Where a topic's texts may come from besides the place of its pledge (a bullet of the source's
# summary list, or a paragraph): the paragraphs (or bullets) that elaborate it, each named by its
# first words. An empty list: the source says nothing about the topic beyond its pledge, so it has
# no explanation.
PASSAGES: dict[str, list[str]] = {
    "kommuneokonomi": ["Kommuneøkonomien er avgjørende"],
    "bo-trygt-hjemme": [],
    "fergetakster": ["Vi har de siste årene hørt sterke historier"],
    "bredband": ["Bredbånd skal være en rettighet"],
    "ladestasjoner": ["Alle skal ha mulighet til å være med"],
    "hurtigladere": ["Alle skal ha mulighet til å være med"],
    "naeringspolitikk": ["Framtidsrettede arbeidsplasser", "Arbeiderpartiet vil føre en aktiv"],
    "landbruk": [],
    "gront-industriloft": ["Norge skal gjennom en storstilt"],
    "naertjenestesentre": ["Mange som bor i distriktene"],
    "statlige-arbeidsplasser": ["Statlige virksomheter bidrar", "Skjerpet retningslinjene"],
    "by-og-land": ["Alle innbyggere, uansett bosted", "Det trengs politikk"],
}


@cache
def paragraphs() -> list[str]:
    """The source's paragraphs and bullets, typos corrected, whitespace normalised."""
    text = raw_source()
    for typo, right in TYPO_CORRECTIONS.items():
        text = text.replace(typo, right)
    parts = []
    for block in re.split(r"\n\s*\n", text):
        for line in block.split("\n •"):
            if line.strip():
                parts.append(normalise(line.replace("•", "")))
    return parts


def paragraph(start: str) -> str:
    (found,) = [p for p in paragraphs() if p.startswith(start)]
    return found


def topic(kb: KnowledgeBase, topic_id: str) -> Topic:
    found = kb.topic(topic_id)
    assert found is not None, topic_id
    return found


# --- the source and its two corrections -----------------------------------------------------


def test_the_source_has_exactly_the_two_documented_typos() -> None:
    raw = raw_source()
    for typo in TYPO_CORRECTIONS:
        assert raw.count(typo) == 1, typo
    corrected = source()
    for typo in TYPO_CORRECTIONS:
        assert typo not in corrected


def test_the_knowledge_carries_the_corrections_not_the_typos(kb: KnowledgeBase) -> None:
    everything = " ".join(text for _, text in voter_texts(kb))
    for typo, right in TYPO_CORRECTIONS.items():
        assert typo not in everything
        assert right in everything
    assert "tilbud om bredbånd med minst 100 Mbit/s" in " ".join(
        f.text for f in topic(kb, "bredband").facts
    )
    assert "ressurser og kompetansemiljø i hele landet" in (
        topic(kb, "gront-industriloft").explanation or ""
    )


def test_sentence_splitting_keeps_dates_whole() -> None:
    """The splitter used below must not cut "16. august 2023" into pieces."""
    assert sentences("Halvere. 16. august 2023 er prisene halvert siden 1. januar 2021. Ja!") == [
        "Halvere.",
        "16. august 2023 er prisene halvert siden 1. januar 2021.",
        "Ja!",
    ]


# --- pledges, explanations and facts are verbatim -------------------------------------------


@pytest.mark.parametrize("topic_id", CONTRACT_IDS)
def test_every_sentence_of_a_topic_is_in_the_source(kb: KnowledgeBase, topic_id: str) -> None:
    t = topic(kb, topic_id)
    texts_of_topic = {"pledge": t.pledge, "explanation": t.explanation or ""}
    texts_of_topic.update({f"facts[{i}]": f.text for i, f in enumerate(t.facts)})
    not_in_source = [
        f"{field}: {sentence!r}"
        for field, text in texts_of_topic.items()
        for sentence in sentences(text)
        if sentence not in source()
    ]
    assert not not_in_source, "\n".join(not_in_source)


def test_every_knowledge_file_topic_is_checked(kb: KnowledgeBase) -> None:
    """The parametrised checks cover every topic there is, not a stale list."""
    assert set(kb.topic_ids) == set(CONTRACT_IDS) == set(PASSAGES)


def test_the_passages_are_paragraphs_of_the_source() -> None:
    assert len(paragraphs()) > 20
    for starts in PASSAGES.values():
        for start in starts:
            paragraph(start)  # exactly one paragraph starts so


def misplaced(topic_id: str, pledge: str, explanation: str | None, facts: list[str]) -> list[str]:
    """Sentences of a topic that do not come from its own place in the source."""
    (bullet,) = [p for p in paragraphs() if sentences(pledge)[0] in p]
    own = [bullet, *(paragraph(start) for start in PASSAGES[topic_id])]
    out = []
    if explanation is not None:
        if not PASSAGES[topic_id]:
            out.append("the source has no passage to explain it with")
        for sentence in sentences(explanation):
            if not any(sentence in p for p in own):
                out.append(f"explanation: {sentence!r} is from elsewhere")
            if set(WORD.findall(sentence.lower())) <= set(WORD.findall(pledge.lower())):
                out.append(f"explanation: {sentence!r} repeats the pledge")
    for text in facts:
        out += [f"fact: {s!r}" for s in sentences(text) if not any(s in p for p in own)]
    return out


@pytest.mark.parametrize("topic_id", CONTRACT_IDS)
def test_a_topic_says_only_what_the_source_says_in_its_own_place(
    kb: KnowledgeBase, topic_id: str
) -> None:
    """Faithful in place: the explanation comes from the place of the pledge or the paragraphs
    that elaborate it, never from another topic's passage, and does not repeat the pledge; a fact
    comes from the same places."""
    t = topic(kb, topic_id)
    assert not misplaced(t.id, t.pledge, t.explanation, [f.text for f in t.facts])


@pytest.mark.parametrize(
    ("topic_id", "explanation"),
    [
        # what these topics used to say: verbatim, but from other topics' passages
        ("landbruk", "Framtidsrettede arbeidsplasser, basert på ressursene og styrkene til "
         "norske distrikter, er forutsetningen for en vellykket distriktspolitikk."),
        ("bo-trygt-hjemme", "Alle innbyggere, uansett bosted, skal ha et godt tjenestetilbud i "
         "sitt nærmiljø. Kommuneøkonomien er avgjørende for det lokale velferdstilbudet, som "
         "skole, helsetjenester og en trygg eldreomsorg."),
        ("bredband", "Bredbånd skal være en rettighet på lik linje med strøm."),
        ("kommuneokonomi", "Kommunene må sikres ressurser og handlefrihet til å løse viktige "
         "velferdsoppgaver."),
    ],
)  # fmt: skip
def test_an_explanation_from_elsewhere_is_caught(
    kb: KnowledgeBase, topic_id: str, explanation: str
) -> None:
    t = topic(kb, topic_id)
    for sentence in sentences(explanation):
        assert sentence in source()  # verbatim: the wording check alone would pass it
    assert misplaced(t.id, t.pledge, explanation, [])


@pytest.mark.parametrize("fact_first", [False, True])
def test_what_a_topic_answer_says_is_all_from_the_source(
    kb: KnowledgeBase, fact_first: bool
) -> None:
    """The rendered answer (not just the YAML) holds no composed political claim, whichever
    comes first."""
    dialogue = Dialogue(kb, None, secret=SECRET)
    for t in kb.topics:
        reply = dialogue.topic_reply(t, fact_first=fact_first)
        for block in reply.blocks:
            if block.kind is BlockKind.TITLE:
                assert block.text == t.title
                continue
            for sentence in sentences(block.text):
                assert sentence in source(), f"{t.id}: {sentence!r}"


# --- figures and dates ----------------------------------------------------------------------


def test_bot_texts_hold_no_figures_or_dates() -> None:
    constants = {
        name: value
        for name, value in vars(messages).items()
        if not name.startswith("_") and isinstance(value, str)
    }
    assert len(constants) > 20, "bot.messages should hold the bot's own texts"
    with_figures = {name: v for name, v in constants.items() if re.search(r"\d", v)}
    assert not with_figures
    months = re.compile(r"\b(" + "|".join(MONTHS) + r")\b", re.IGNORECASE)
    assert not {name: v for name, v in constants.items() if months.search(v)}


def test_every_figure_in_the_knowledge_is_in_the_source(kb: KnowledgeBase) -> None:
    in_source = set(NUMBER.findall(source()))
    assert {"16", "2023", "1", "2021", "100", "2025", "2022", "58", "12", "70", "15"} <= in_source
    foreign = [
        f"{where}: {number}"
        for where, text in voter_texts(kb)
        for number in NUMBER.findall(text)
        if number not in in_source
    ]
    assert not foreign, foreign


def test_every_fact_date_comes_from_the_source(kb: KnowledgeBase) -> None:
    text = source()
    for t in kb.topics:
        for f in t.facts:
            if f.date is None:
                continue
            parts = [int(p) for p in f.date.split("-")]
            year = parts[0]
            assert str(year) in f.text and str(year) in text, (t.id, f.date)
            if len(parts) == 3:
                day = dt.date(*parts)
                written = f"{day.day}. {MONTHS[day.month - 1]} {day.year}"
                end_of_year = (day.month, day.day) == (12, 31) and f"utgangen av {year}" in text
                assert written in text or end_of_year, (t.id, f.date)


def test_the_ferry_fact_keeps_its_dates(kb: KnowledgeBase) -> None:
    (fact,) = topic(kb, "fergetakster").facts
    assert "16. august 2023" in fact.text
    assert "1. januar 2021" in fact.text
    assert fact.date == "2023-08-16"


def test_the_broadband_fact_keeps_its_figures(kb: KnowledgeBase) -> None:
    (fact,) = topic(kb, "bredband").facts
    assert "100 Mbit/s" in fact.text
    assert "innen utgangen av 2025" in fact.text
    assert fact.date is not None and fact.date.startswith("2025")


def test_the_enova_fact_keeps_its_figures_in_order(kb: KnowledgeBase) -> None:
    (fact,) = topic(kb, "hurtigladere").facts
    assert NUMBER.findall(fact.text) == ["2022", "58", "12", "70", "15"]
    assert "58 hurtiglader og 12 normalladere" in fact.text
    assert "gikk fra 70 til 15" in fact.text
    assert fact.date == "2022"


def test_figures_only_come_in_dated_facts(kb: KnowledgeBase) -> None:
    """A figure comes with the date it is tied to, never loose in a pledge or explanation."""
    for t in kb.topics:
        for f in t.facts:
            if NUMBER.findall(f.text):
                assert f.date, f"{t.id}: {f.text!r} has figures but no date"
        for where, text in (("pledge", t.pledge), ("explanation", t.explanation or "")):
            assert not NUMBER.findall(text.replace("CO2", "")), f"{t.id}.{where}"
