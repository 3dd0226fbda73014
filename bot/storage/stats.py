"""Statistics: aggregate counters per day, topic and kind; no person in them.

(day, topic, kind) -> count. Answers are counted with one upsert per question (best effort, off
the voter's path). Opinions (Enig/Uenig) are counted exactly, in the vote's own transaction: a new
vote adds one on its day, a changed vote moves one from the old side's day to today's new side,
/slettmeg takes the person's votes out. A period's figures therefore cost the days in it
(days x topics rows), not the number of votes ever stored.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.engine import Database
from bot.storage.schema import TOPIC_ID_MAX_LENGTH, AnswerCountRow, SubscriberRow


class Count(enum.StrEnum):
    """What a counter counts."""

    MATCH = "match"  # a question answered with the topic
    OPEN = "open"  # the topic opened from a button or a link
    AMBIGUOUS = "ambiguous"  # "Mente du …?"
    DECLINED = "declined"  # the bot did not know
    # opinions: the current votes whose last change (updated_at) fell on the day; kept exact in
    # the vote's own transaction (bot/storage/votes.py, Storage.forget)
    AGREE = "agree"
    DISAGREE = "disagree"


def vote_count(agree: bool) -> Count:
    return Count.AGREE if agree else Count.DISAGREE


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


_COUNTER_UPSERTS: dict[str, Any] = {}  # dialect -> the statement, built once


def counter_upsert(db: Database) -> Any:
    """counter += the inserted count, as one statement per dialect, built once: the values are
    bound at execution, so SQLAlchemy neither rebuilds it nor recomputes its cache key per call."""
    stmt = _COUNTER_UPSERTS.get(db.dialect)
    if stmt is None:
        table = cast(Table, AnswerCountRow.__table__)
        insert = db.upsert_module()(table)
        stmt = insert.on_conflict_do_update(
            index_elements=["day", "topic_id", "kind"],
            set_={"count": table.c.count + insert.excluded.count},
        )
        _COUNTER_UPSERTS[db.dialect] = stmt
    return stmt


async def add_to_counter(
    db: Database, conn: AsyncConnection, kind: Count, topic_id: str, day: date, n: int = 1
) -> None:
    """counter(day, topic, kind) += n, inside the caller's unit of work (one upsert)."""
    await conn.execute(
        counter_upsert(db), {"day": day, "topic_id": topic_id, "kind": kind.value, "count": n}
    )


@dataclass
class TopicFigures:
    matched: int = 0  # questions answered with this topic
    opened: int = 0  # opened from a button or a link
    agree: int = 0
    disagree: int = 0

    @property
    def answered(self) -> int:
        return self.matched + self.opened

    @property
    def agree_share(self) -> float | None:
        votes = self.agree + self.disagree
        return self.agree / votes if votes else None


@dataclass
class PeriodFigures:
    start: date
    end: date  # inclusive
    topics: dict[str, TopicFigures] = field(default_factory=dict)
    ambiguous: int = 0
    declined: int = 0

    def topic(self, topic_id: str) -> TopicFigures:
        return self.topics.setdefault(topic_id, TopicFigures())

    @property
    def matched(self) -> int:
        return sum(t.matched for t in self.topics.values())

    @property
    def questions(self) -> int:
        return self.matched + self.ambiguous + self.declined

    @property
    def matched_share(self) -> float | None:
        return self.matched / self.questions if self.questions else None

    @property
    def declined_share(self) -> float | None:
        return self.declined / self.questions if self.questions else None


@dataclass(frozen=True)
class DailyVotes:
    day: str  # YYYY-MM-DD (UTC)
    topic_id: str
    agree: int
    disagree: int


class Stats:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def bump(self, kind: Count, topic_id: str = "", day: date | None = None) -> None:
        """Add one to a counter (one upsert)."""
        if len(topic_id) > TOPIC_ID_MAX_LENGTH:
            raise ValueError(f"topic_id must be at most {TOPIC_ID_MAX_LENGTH} characters")
        day = day or datetime.now(UTC).date()
        async with self._db.unit_of_work("count an answer") as conn:
            await add_to_counter(self._db, conn, kind, topic_id, day)

    async def bump_many(self, counts: Mapping[tuple[Count, str], int]) -> None:
        """Add to several of today's counters at once (one unit of work)."""
        day = datetime.now(UTC).date()
        for _, topic_id in counts:
            if len(topic_id) > TOPIC_ID_MAX_LENGTH:
                raise ValueError(f"topic_id must be at most {TOPIC_ID_MAX_LENGTH} characters")
        rows = [
            {"day": day, "topic_id": topic_id, "kind": kind.value, "count": n}
            for (kind, topic_id), n in sorted(counts.items())
        ]
        if not rows:
            return
        async with self._db.unit_of_work("count answers") as conn:
            await conn.execute(counter_upsert(self._db), rows)  # one driver call for all

    async def period(self, start: date, end: date) -> PeriodFigures:
        """Counters and opinions for the days start..end (inclusive, UTC)."""
        figures = PeriodFigures(start, end)
        async with self._db.unit_of_work("read statistics") as conn:
            counts = await conn.execute(
                select(AnswerCountRow.topic_id, AnswerCountRow.kind, func.sum(AnswerCountRow.count))
                .where(AnswerCountRow.day >= start, AnswerCountRow.day <= end)
                .group_by(AnswerCountRow.topic_id, AnswerCountRow.kind)
            )
            for topic_id, kind, n in counts:
                n = int(n or 0)
                if kind == Count.MATCH and topic_id:
                    figures.topic(topic_id).matched += n
                elif kind == Count.OPEN and topic_id:
                    figures.topic(topic_id).opened += n
                elif kind == Count.AMBIGUOUS:
                    figures.ambiguous += n
                elif kind == Count.DECLINED:
                    figures.declined += n
                elif kind == Count.AGREE and topic_id:
                    figures.topic(topic_id).agree += n
                elif kind == Count.DISAGREE and topic_id:
                    figures.topic(topic_id).disagree += n
        return figures

    async def subscribers(self) -> int:
        async with self._db.unit_of_work("count subscribers") as conn:
            n = (await conn.execute(select(func.count()).select_from(SubscriberRow))).scalar_one()
        return int(n)

    async def daily_votes(self, since: date | None = None) -> list[DailyVotes]:
        """Agree/disagree per topic and day the opinion was last given (UTC): no person."""
        c = AnswerCountRow
        stmt = (
            select(c.day, c.topic_id, c.kind, c.count)
            .where(c.kind.in_([Count.AGREE.value, Count.DISAGREE.value]))
            .order_by(c.day, c.topic_id)
        )
        if since is not None:
            stmt = stmt.where(c.day >= since)
        async with self._db.unit_of_work("export votes per day") as conn:
            rows = (await conn.execute(stmt)).all()
        merged: dict[tuple[date, str], list[int]] = {}
        for day, topic_id, kind, n in rows:
            pair = merged.setdefault((day, topic_id), [0, 0])
            pair[0 if kind == Count.AGREE else 1] += int(n)
        return [
            DailyVotes(day.isoformat(), topic_id, agree, disagree)
            for (day, topic_id), (agree, disagree) in merged.items()
            if agree or disagree
        ]
