"""Votes: one opinion (Enig/Uenig) per pseudonymous person and topic."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.sql.expression import Executable

from bot.storage.engine import Database
from bot.storage.pseudonym import check_user_key
from bot.storage.schema import TOPIC_ID_MAX_LENGTH, VoteRow, utcnow
from bot.storage.stats import add_to_counter, day_of, vote_count


class VoteOutcome(enum.Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    CHANGED = "changed"


@dataclass(frozen=True)
class TopicOpinion:
    topic_id: str
    agree: int
    disagree: int


def check_topic_id(topic_id: str) -> None:
    if not isinstance(topic_id, str) or not topic_id:
        raise ValueError("topic_id must be a non-empty string")
    if len(topic_id) > TOPIC_ID_MAX_LENGTH:
        raise ValueError(f"topic_id must be at most {TOPIC_ID_MAX_LENGTH} characters")


class Votes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, user_key: str, topic_id: str, agree: bool) -> VoteOutcome:
        """Store the opinion of ``user_key`` on ``topic_id``; one vote per user and topic.

        Returns NEW for a first vote, UNCHANGED when the same opinion is repeated (nothing is
        counted twice) and CHANGED when the user switched sides.  Safe under concurrency: the
        unique constraint arbitrates, and the insert never fails on a duplicate.
        """
        check_user_key(user_key)
        check_topic_id(topic_id)
        agree = bool(agree)
        now = utcnow()
        async with self._db.unit_of_work("record a vote") as conn:
            insert_stmt: Executable = self._db.insert_ignoring_conflict(
                VoteRow,
                {
                    "user_key": user_key,
                    "topic_id": topic_id,
                    "agree": agree,
                    "created_at": now,
                    "updated_at": now,
                },
                ("user_key", "topic_id"),
            ).returning(VoteRow.id)
            inserted = (await conn.execute(insert_stmt)).scalar_one_or_none()
            if inserted is not None:
                await add_to_counter(self._db, conn, vote_count(agree), topic_id, day_of(now))
                return VoteOutcome.NEW
            # A vote exists (possibly committed a moment ago by a concurrent call).  Flip it
            # only if it differs (the row is locked for that on PostgreSQL), and move the
            # opinion counter from the old vote's day and side to today's new side.
            old = (
                await conn.execute(
                    select(VoteRow.agree, VoteRow.updated_at)
                    .where(VoteRow.user_key == user_key, VoteRow.topic_id == topic_id)
                    .with_for_update()
                )
            ).one_or_none()
            if old is None or bool(old.agree) == agree:
                return VoteOutcome.UNCHANGED
            await conn.execute(
                update(VoteRow)
                .where(VoteRow.user_key == user_key, VoteRow.topic_id == topic_id)
                .values(agree=agree, updated_at=now)
            )
            await add_to_counter(
                self._db, conn, vote_count(not agree), topic_id, day_of(old.updated_at), -1
            )
            await add_to_counter(self._db, conn, vote_count(agree), topic_id, day_of(now))
            return VoteOutcome.CHANGED

    async def get(self, user_key: str, topic_id: str) -> bool | None:
        """The stored opinion of ``user_key`` on ``topic_id`` or None if there is none."""
        check_user_key(user_key)
        check_topic_id(topic_id)
        async with self._db.unit_of_work("read a vote") as conn:
            return (
                await conn.execute(
                    select(VoteRow.agree).where(
                        VoteRow.user_key == user_key, VoteRow.topic_id == topic_id
                    )
                )
            ).scalar_one_or_none()

    async def opinions(self) -> list[TopicOpinion]:
        """Agree/disagree counts per topic, sorted by topic id."""
        async with self._db.unit_of_work("count opinions") as conn:
            rows = (
                await conn.execute(
                    select(
                        VoteRow.topic_id,
                        func.sum(case((VoteRow.agree, 1), else_=0)),
                        func.sum(case((VoteRow.agree, 0), else_=1)),
                    )
                    .group_by(VoteRow.topic_id)
                    .order_by(VoteRow.topic_id)
                )
            ).all()
        return [
            TopicOpinion(topic_id=topic_id, agree=int(agree or 0), disagree=int(disagree or 0))
            for topic_id, agree, disagree in rows
        ]
