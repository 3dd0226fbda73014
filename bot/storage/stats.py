"""Statistics: aggregate answer counters per day, topic and kind, and opinions per topic.

The counters hold no person: (day, topic, kind) -> count, one upsert per question. Opinions are
counted from the votes table (one row per pseudonymous person and topic) with an index-only range
scan over `updated_at`, so a period's figures cost the votes cast in it, not all votes ever.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, select

from bot.storage.engine import Database
from bot.storage.schema import AnswerCountRow, SubscriberRow, VoteRow
from bot.storage.votes import check_topic_id


class Count(enum.StrEnum):
    """What a counter counts."""

    MATCH = "match"  # a question answered with the topic
    OPEN = "open"  # the topic opened from a button or a link
    AMBIGUOUS = "ambiguous"  # "Mente du …?"
    DECLINED = "declined"  # the bot did not know


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


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class Stats:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def bump(self, kind: Count, topic_id: str = "", day: date | None = None) -> None:
        """Add one to a counter (one upsert)."""
        if topic_id:
            check_topic_id(topic_id)
        day = day or datetime.now(UTC).date()
        insert: Any = self._db.upsert_module()
        stmt = insert(AnswerCountRow).values(day=day, topic_id=topic_id, kind=kind.value, count=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["day", "topic_id", "kind"],
            set_={"count": AnswerCountRow.count + 1},
        )
        async with self._db.unit_of_work("count an answer") as conn:
            await conn.execute(stmt)

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
            votes = await conn.execute(
                select(
                    VoteRow.topic_id,
                    func.sum(case((VoteRow.agree, 1), else_=0)),
                    func.count(),
                )
                .where(
                    VoteRow.updated_at >= _start_of(start),
                    VoteRow.updated_at < _start_of(end + timedelta(days=1)),
                )
                .group_by(VoteRow.topic_id)
            )
            for topic_id, agree, total in votes:
                t = figures.topic(topic_id)
                t.agree, t.disagree = int(agree or 0), int(total) - int(agree or 0)
        return figures

    async def subscribers(self) -> int:
        async with self._db.unit_of_work("count subscribers") as conn:
            n = (await conn.execute(select(func.count()).select_from(SubscriberRow))).scalar_one()
        return int(n)

    async def daily_votes(self, since: date | None = None) -> list[DailyVotes]:
        """Agree/disagree per topic and day the opinion was last given (UTC): no person."""
        if self._db.dialect == "postgresql":
            day: Any = func.to_char(func.timezone("UTC", VoteRow.updated_at), "YYYY-MM-DD")
        else:
            day = func.date(VoteRow.updated_at)
        stmt = select(
            day.label("day"),
            VoteRow.topic_id,
            func.sum(case((VoteRow.agree, 1), else_=0)),
            func.count(),
        )
        if since is not None:
            stmt = stmt.where(VoteRow.updated_at >= _start_of(since))
        stmt = stmt.group_by(day, VoteRow.topic_id).order_by(day, VoteRow.topic_id)
        async with self._db.unit_of_work("export votes per day") as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            DailyVotes(str(d), topic_id, int(agree or 0), int(total) - int(agree or 0))
            for d, topic_id, agree, total in rows
        ]
