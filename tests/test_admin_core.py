"""The admin side's core without Telegram: opinion counters kept exact, retention, grouping of
unanswered questions, the period parser, the Norwegian problem texts, error-report limits."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import case, func, select, update

from bot import messages
from bot.admin import ErrorReports, problem_text
from bot.inbox import open_groups
from bot.knowledge import KnowledgeBase, KnowledgeError, Problem, load_knowledge
from bot.matcher import Matcher
from bot.selftest import self_test
from bot.statistics import MAX_DAYS, Period, StatsRequest, parse_request
from bot.storage import Count, Missed, Storage, pseudonymize
from bot.storage.schema import UnansweredQuestionRow, VoteRow
from tests.conftest import VALID_AREA, line_of

SECRET = "core-admin-secret-0123456789abcdef"


async def _truth(storage: Storage) -> dict[str, tuple[int, int]]:
    """Agree/disagree per topic counted from the votes themselves."""
    async with storage.db.unit_of_work("count") as conn:
        rows = await conn.execute(
            select(
                VoteRow.topic_id, func.sum(case((VoteRow.agree, 1), else_=0)), func.count()
            ).group_by(VoteRow.topic_id)
        )
        return {t: (int(a), int(n) - int(a)) for t, a, n in rows}


async def test_opinion_counters_stay_exact_through_changes_and_forget(db_url: str) -> None:
    rng = random.Random(3)
    storage = await Storage.open(db_url)
    try:
        keys = [pseudonymize(SECRET, uid) for uid in range(40)]
        topics = ["fergetakster", "bredband", "landbruk"]
        for _ in range(400):
            await storage.votes.record(rng.choice(keys), rng.choice(topics), rng.random() < 0.6)
        for key in keys[:7]:
            await storage.forget(key)
        today = datetime.now(UTC).date()
        figures = await storage.stats.period(today - timedelta(days=1), today)
        counted = {
            t: (f.agree, f.disagree) for t, f in figures.topics.items() if f.agree or f.disagree
        }
        assert counted == await _truth(storage)
        # a vote last changed in an earlier period is counted there, and moves when changed
        key = keys[-1]
        await storage.votes.record(key, "by-og-land", True)
        async with storage.db.unit_of_work("age") as conn:
            await conn.execute(
                update(VoteRow)
                .where(VoteRow.user_key == key, VoteRow.topic_id == "by-og-land")
                .values(updated_at=datetime.now(UTC) - timedelta(days=20))
            )
        # (the counter was written for today; move it as an old vote would have been counted)
        await storage.stats.bump(Count.AGREE, "by-og-land", today - timedelta(days=20))
        async with storage.db.unit_of_work("fix") as conn:
            from bot.storage.stats import add_to_counter

            await add_to_counter(storage.db, conn, Count.AGREE, "by-og-land", today, -1)
        before = await storage.stats.period(today - timedelta(days=30), today - timedelta(days=10))
        assert before.topics["by-og-land"].agree == 1
        await storage.votes.record(key, "by-og-land", False)
        old = await storage.stats.period(today - timedelta(days=30), today - timedelta(days=10))
        now = await storage.stats.period(today, today)
        assert old.topics["by-og-land"].agree == 0
        assert now.topics["by-og-land"].disagree == 1
        # exported per day: no person, same totals
        daily = await storage.stats.daily_votes()
        totals: dict[str, list[int]] = {}
        for row in daily:
            pair = totals.setdefault(row.topic_id, [0, 0])
            pair[0] += row.agree
            pair[1] += row.disagree
        assert {t: tuple(v) for t, v in totals.items() if any(v)} == await _truth(storage)
    finally:
        await storage.close()


async def test_answer_counters_and_totals(db_url: str) -> None:
    storage = await Storage.open(db_url)
    try:
        for kind, topic in [
            (Count.MATCH, "bredband"),
            (Count.MATCH, "bredband"),
            (Count.OPEN, "bredband"),
            (Count.AMBIGUOUS, ""),
            (Count.DECLINED, ""),
        ]:
            await storage.stats.bump(kind, topic)
        today = datetime.now(UTC).date()
        f = await storage.stats.period(today, today)
        assert (f.topics["bredband"].matched, f.topics["bredband"].opened) == (2, 1)
        assert f.questions == 4 and f.matched_share == 0.5 and f.declined_share == 0.25
        empty = await storage.stats.period(today - timedelta(days=9), today - timedelta(days=3))
        assert empty.questions == 0 and empty.matched_share is None
    finally:
        await storage.close()


async def test_grouping_and_retention(db_url: str) -> None:
    storage = await Storage.open(db_url)
    try:
        key = pseudonymize(SECRET, 77)
        for text in (
            "Hva med ulven?",
            "hva med ulven",
            "Hva med ulvene?",
            "Hva med skatten?",
            "Kan jeg stemme fra utlandet?",
        ):
            await storage.unanswered.log(text, key)
        await storage.unanswered.log("Hva med ulven og bjørnen?", None, Missed.AMBIGUOUS)
        groups = await open_groups(storage)
        assert [g.count for g in groups][:1] == [3]
        # the wording shown is one written as a question (capital letter, "?")
        assert groups[0].text in ("Hva med ulven?", "Hva med ulvene?")
        assert groups[0].wordings == 3
        assert {g.text for g in groups[1:]} >= {"Hva med skatten?", "Kan jeg stemme fra utlandet?"}
        # stable ids: listing again sorts nothing anew
        assert [g.id for g in await open_groups(storage)] == [g.id for g in groups]
        # a new near-duplicate joins the open group
        await storage.unanswered.log("Hva med ulven??", key)
        assert (await open_groups(storage))[0].count == 4

        # retention: everything older than the cut-off goes, and groups left empty with it
        async with storage.db.unit_of_work("age") as conn:
            await conn.execute(
                update(UnansweredQuestionRow)
                .where(
                    UnansweredQuestionRow.text.in_(
                        ["Hva med ulven?", "hva med ulven", "Hva med ulvene?", "Hva med ulven??"]
                    )
                )
                .values(created_at=datetime.now(UTC) - timedelta(days=31))
            )
        deleted = await storage.unanswered.delete_older_than(datetime.now(UTC) - timedelta(days=30))
        assert deleted == 4
        left = await open_groups(storage)
        assert {g.text for g in left} == {
            "Hva med skatten?",
            "Kan jeg stemme fra utlandet?",
            "Hva med ulven og bjørnen?",
        }
        assert await storage.unanswered.group_state(groups[0].id) is None  # deleted with them
    finally:
        await storage.close()


def test_period_parsing() -> None:
    today = date(2026, 11, 27)
    default = parse_request("", today)
    assert isinstance(default, StatsRequest) and default.period == Period(date(2026, 11, 21), today)
    assert default.period.before() == Period(date(2026, 11, 14), date(2026, 11, 20))
    thirty = parse_request("30 csv", today)
    assert isinstance(thirty, StatsRequest) and thirty.csv and thirty.period.days == 30
    span = parse_request("2026-01-01 2026-01-31", today)
    assert isinstance(span, StatsRequest) and span.period.days == 31
    assert span.period.before() == Period(date(2025, 12, 1), date(2025, 12, 31))
    # what is wrong is said (the usage follows it in the reply)
    assert parse_request("i fjor", today) == ""  # not a period at all: the usage says it
    assert parse_request("0", today) == messages.STATS_BAD_DAYS.format(days=0, low=1, high=MAX_DAYS)
    assert parse_request("99999", today) == messages.STATS_BAD_DAYS.format(
        days=99999, low=1, high=MAX_DAYS
    )
    assert parse_request("2026-02-30", today) == messages.STATS_BAD_DATE.format(value="2026-02-30")
    assert parse_request("2026-02-01 2026-01-01", today) == messages.STATS_END_BEFORE_START.format(
        start="1.2.2026", end="1.1.2026"
    )


def test_problems_read_in_norwegian_with_file_line_and_field(
    write_kb: Callable[..., Path],
) -> None:
    """/oppdater shows the loader's own Norwegian words, after the file's name, line and field."""
    text = VALID_AREA.replace("keywords: [bredbånd]", "keywords: [nett]\n    keywrods: [bredbånd]")
    text = text.replace("  question: Er du enig?\n", "")
    folder = write_kb({"distriktspolitikk.yaml": text})
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(folder)
    texts = sorted(problem_text(p) for p in info.value.problems)
    assert len(texts) == 2, texts
    missing, unknown = texts
    assert unknown.startswith(
        f"• distriktspolitikk.yaml, linje {line_of(text, 'keywrods')}, felt topics[1].keywrods: "
        "ukjent felt «keywrods». Mente du «keywords»? Tillatte felt her: "
    ), unknown
    assert missing == (
        f"• distriktspolitikk.yaml, linje {line_of(text, 'area:')}, felt area: "
        "feltet «question» mangler. Legg det til."
    )
    assert str(folder) not in unknown + missing  # the file's name, not where it lies
    # a problem without a field, without a line, or with neither still says where
    no_field = problem_text(Problem("/x/a.yaml", 3, "", "melding."))
    assert no_field == "• a.yaml, linje 3: melding."
    no_line = problem_text(Problem("/x/a.yaml", None, "topics", "melding."))
    assert no_line == "• a.yaml, felt topics: melding."
    other = problem_text(Problem("/x/a.yaml", None, "", "fila er for stor."))
    assert other == "• a.yaml: fila er for stor."


def test_error_reports_are_rate_limited_and_carry_no_message() -> None:
    clock = [0.0]
    reports = ErrorReports(2, clock=lambda: clock[0])
    try:
        raise ValueError("the voter wrote: mitt personnummer")
    except ValueError as exc:
        error = exc
    first = reports.report(error, "message")
    assert first is not None and "ValueError" in first and "personnummer" not in first
    assert reports.report(error, "message") is not None
    assert reports.report(error, "message") is None
    assert reports.report(error, "message") is None
    clock[0] = 3601.0
    later = reports.report(error, "callback_query")
    assert later is not None and "2 feil til" in later


def test_an_example_that_gets_mente_du_is_reported_as_uncertain_not_as_a_pass(
    kb: KnowledgeBase,
) -> None:
    """An example whose answer is "Mente du …?" (its topic among the choices) is not wrong, and
    not sure either: the self-test says so instead of counting it as landing."""
    matcher = Matcher(kb)
    uncertain = {
        (t.id, e)
        for t in kb.topics
        for e in t.examples
        if (m := matcher.match(e)).topic_id == t.id and m.ambiguous
    }
    assert uncertain  # the shipped knowledge has some; the report must not hide them
    test = self_test(kb, matcher)
    assert {(u.topic_id, u.example) for u in test.uncertain} == uncertain
    assert all(u.topic_id in u.choices for u in test.uncertain)
    assert test.ok  # not errors
    lines = test.lines()
    assert messages.SELFTEST_LINE_UNCERTAIN in lines
    topic_id, example = sorted(uncertain)[0]
    assert any(f"{topic_id}: «{example}» velger mellom" in line for line in lines)
