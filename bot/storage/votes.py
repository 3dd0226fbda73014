"""Votes: one opinion (Enig/Uenig) per pseudonymous person and topic."""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.batching import Batcher
from bot.storage.engine import Database
from bot.storage.pseudonym import check_user_key
from bot.storage.schema import TOPIC_ID_MAX_LENGTH, VoteRow, utcnow
from bot.storage.stats import Count, counter_upsert, day_of, vote_count


class VoteOutcome(enum.Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    SUPERSEDED = "superseded"  # a later press of the same person is already stored


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


_Vote = tuple[str, str, bool, int | None, datetime]  # user key, topic, agree, update id, time
_VOTE_UPSERTS: dict[str, Any] = {}  # dialect -> the statement, built once


def _vote_upsert(db: Database) -> Any:
    """The vote's upsert, built once per dialect with its values bound at execution (building
    and cache-keying it per vote was a tenth of a busy bot's CPU). The update happens only for
    a press from the same or a later update than the stored one; it keeps the stored opinion
    and its time as the previous ones, and a repeated opinion keeps the day it was given."""
    stmt = _VOTE_UPSERTS.get(db.dialect)
    if stmt is None:
        table = cast(Table, VoteRow.__table__)
        c = table.c
        insert = (pg_insert if db.dialect == "postgresql" else sqlite_insert)(table)
        new = insert.excluded
        stmt = insert.on_conflict_do_update(
            index_elements=["user_key", "topic_id"],
            set_={
                "agree": new.agree,
                "previous_agree": c.agree,
                "previous_updated_at": c.updated_at,
                # excluded.updated_at is this write's time
                "updated_at": case((c.agree == new.agree, c.updated_at), else_=new.updated_at),
                "update_id": func.coalesce(new.update_id, c.update_id),
            },
            where=or_(new.update_id.is_(None), c.update_id.is_(None), c.update_id <= new.update_id),
        ).returning(c.user_key, c.topic_id, c.previous_agree, c.previous_updated_at)
        _VOTE_UPSERTS[db.dialect] = stmt
    return stmt


class Votes:
    def __init__(self, db: Database) -> None:
        self._db = db
        # votes submitted while a batch is being written go into the next one together
        self._batcher: Batcher[int, VoteOutcome] = Batcher(self._record_batch)
        self._waiting: dict[int, _Vote] = {}
        self._tokens = itertools.count()

    async def record(
        self, user_key: str, topic_id: str, agree: bool, update_id: int | None = None
    ) -> VoteOutcome:
        """Store the opinion of ``user_key`` on ``topic_id``; one vote per user and topic.

        Returns NEW for a first vote, UNCHANGED when the same opinion is repeated (nothing is
        counted twice) and CHANGED when the user switched sides. ``update_id`` is the Telegram
        update the press came in: a press from an earlier update than the stored one (handled
        late, e.g. by another process) changes nothing and returns SUPERSEDED, so the last
        press always wins. An upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``), plus the
        opinion counters when the vote is new or changed, in one transaction; safe under
        concurrency, the unique constraint arbitrates.

        Votes recorded concurrently are written together: one transaction, one upsert for all
        of them (several when one person's vote on a topic comes more than once: in the order
        they came) and one counter statement. Under load every vote was its own transaction of
        eight round trips to the database driver's thread, and the votes queued for the one
        SQLite connection. A batch that fails fails every vote in it (StorageError).
        """
        check_user_key(user_key)
        check_topic_id(topic_id)
        token = next(self._tokens)
        self._waiting[token] = (user_key, topic_id, bool(agree), update_id, utcnow())
        try:
            return await self._batcher.submit(token)
        finally:  # a caller that gave up before its batch started: the vote is not written
            self._waiting.pop(token, None)

    async def _record_batch(self, tokens: list[int]) -> dict[int, VoteOutcome]:
        outcomes = dict.fromkeys(tokens, VoteOutcome.SUPERSEDED)  # (given up: nobody reads it)
        rounds: list[list[tuple[int, _Vote]]] = []  # each (user, topic) at most once per round
        seen: dict[tuple[str, str], int] = {}
        for token in tokens:
            vote = self._waiting.pop(token, None)
            if vote is None:
                continue
            n = seen[vote[0], vote[1]] = seen.get((vote[0], vote[1]), -1) + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append((token, vote))
        if not rounds:
            return outcomes
        counts: dict[tuple[str, str, date], int] = {}

        def count(kind: Count, topic_id: str, day: date, n: int) -> None:
            key = (kind.value, topic_id, day)
            counts[key] = counts.get(key, 0) + n

        async with self._db.unit_of_work("record a vote") as conn:
            for votes in rounds:
                rows = (
                    await conn.execute(
                        _vote_upsert(self._db),
                        [
                            {
                                "user_key": user_key,
                                "topic_id": topic_id,
                                "agree": agree,
                                "created_at": now,
                                "updated_at": now,
                                "update_id": update_id,
                                "previous_agree": None,
                                "previous_updated_at": None,
                            }
                            for _, (user_key, topic_id, agree, update_id, now) in votes
                        ],
                    )
                ).all()
                # a press from an earlier update than the stored one returns no row
                written = {(row[0], row[1]): (row[2], row[3]) for row in rows}
                for token, (user_key, topic_id, agree, _, now) in votes:
                    if (user_key, topic_id) not in written:
                        continue
                    previous, previous_at = written[user_key, topic_id]
                    # the per-day opinion counters (/statistikk) follow the vote in its own
                    # transaction: each current vote is counted once, on the day it was last given
                    if previous is None:
                        count(vote_count(agree), topic_id, day_of(now), 1)
                        outcomes[token] = VoteOutcome.NEW
                    elif bool(previous) == agree:
                        outcomes[token] = VoteOutcome.UNCHANGED
                    else:
                        count(vote_count(not agree), topic_id, day_of(previous_at or now), -1)
                        count(vote_count(agree), topic_id, day_of(now), 1)
                        outcomes[token] = VoteOutcome.CHANGED
            if counts:
                await conn.execute(
                    counter_upsert(self._db),
                    [
                        {"day": day, "topic_id": topic_id, "kind": kind, "count": n}
                        for (kind, topic_id, day), n in sorted(counts.items())
                    ],
                )
        return outcomes

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
