"""Questions the bot could not answer, kept so the team can extend the knowledge base."""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, func, insert, or_, select, update

from bot.storage.engine import Database
from bot.storage.pseudonym import check_user_key
from bot.storage.schema import (
    QUESTION_MAX_LENGTH,
    UnansweredGroupRow,
    UnansweredQuestionRow,
    utcnow,
)


class Missed(enum.StrEnum):
    """How the bot failed a logged question."""

    DECLINED = "declined"  # "Det vet jeg dessverre ikke"
    AMBIGUOUS = "ambiguous"  # "Mente du …?"


class GroupState(enum.StrEnum):
    OPEN = "open"  # in the /ubesvarte inbox
    LEARNED = "learned"  # added as an example to a topic
    NOT_OURS = "not-ours"  # added to an area's out-of-scope examples
    IGNORED = "ignored"


@dataclass(frozen=True)
class LoggedQuestion:
    id: int
    text: str
    normalized: str
    kind: Missed
    group_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class UnansweredQuestion:
    text: str
    count: int
    last_asked: datetime


def normalize_question(question: str) -> str:
    normalized = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    return normalized[:QUESTION_MAX_LENGTH]


class Unanswered:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def log(
        self, text: str, user_key: str | None = None, kind: Missed = Missed.DECLINED
    ) -> None:
        """Remember a question the bot could not answer (stripped, at most 500 characters)."""
        await self.log_many([(text, user_key, kind)])

    async def log_many(self, questions: Sequence[tuple[str, str | None, Missed]]) -> None:
        """Remember several questions in one statement (concurrent voters, one round trip)."""
        now = utcnow()
        rows = []
        for text, user_key, kind in questions:
            if user_key is not None:
                check_user_key(user_key)
            # NUL is refused by PostgreSQL in text columns; lone surrogates by every encoder
            text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
            question = text.strip()[:QUESTION_MAX_LENGTH].rstrip()
            if question:
                rows.append(
                    {
                        "text": question,
                        "normalized_text": normalize_question(question),
                        "user_key": user_key,
                        "created_at": now,
                        "kind": kind.value,
                    }
                )
        if not rows:
            return
        async with self._db.unit_of_work("log unanswered questions") as conn:
            # executemany of one statement (compiled once), not a VALUES list built per batch
            await conn.execute(insert(cast(Table, UnansweredQuestionRow.__table__)), rows)

    async def most_asked(self, limit: int = 50) -> list[UnansweredQuestion]:
        """Unanswered questions grouped by normalized text, most frequent first, then most recent.

        ``text`` is the wording of the most recent occurrence of each group.
        """
        if limit <= 0:
            return []
        async with self._db.unit_of_work("list unanswered questions") as conn:
            last_asked = func.max(UnansweredQuestionRow.created_at)
            count = func.count(UnansweredQuestionRow.id)
            groups = (
                await conn.execute(
                    select(UnansweredQuestionRow.normalized_text, count, last_asked)
                    .group_by(UnansweredQuestionRow.normalized_text)
                    .order_by(
                        count.desc(), last_asked.desc(), UnansweredQuestionRow.normalized_text
                    )
                    .limit(limit)
                )
            ).all()
            if not groups:
                return []
            wording: dict[str, str] = {}
            rows = await conn.execute(
                select(UnansweredQuestionRow.normalized_text, UnansweredQuestionRow.text)
                .where(UnansweredQuestionRow.normalized_text.in_([g[0] for g in groups]))
                .order_by(UnansweredQuestionRow.created_at.desc(), UnansweredQuestionRow.id.desc())
            )
            for normalized, original in rows:
                wording.setdefault(normalized, original)
        return [
            UnansweredQuestion(text=wording[normalized], count=int(n), last_asked=last)
            for normalized, n, last in groups
        ]

    # --- the admins' inbox (/ubesvarte): groups of near-duplicates ------------------------------

    async def open_questions(self) -> list[LoggedQuestion]:
        """Questions not yet sorted into a group, and those in open groups; oldest first."""
        q = UnansweredQuestionRow
        async with self._db.unit_of_work("list open unanswered questions") as conn:
            open_groups = select(UnansweredGroupRow.id).where(
                UnansweredGroupRow.state == GroupState.OPEN.value
            )
            rows = await conn.execute(
                select(q.id, q.text, q.normalized_text, q.kind, q.group_id, q.created_at)
                .where(or_(q.group_id.is_(None), q.group_id.in_(open_groups)))
                .order_by(q.created_at, q.id)
            )
            return [
                LoggedQuestion(i, text, norm, Missed(kind), group, created)
                for i, text, norm, kind, group, created in rows
            ]

    async def assign(
        self, new_groups: Sequence[Sequence[int]], joins: Mapping[int, Sequence[int]]
    ) -> list[int]:
        """Create one open group per list of question ids in `new_groups`, and put the question
        ids of `joins` into existing groups. Returns the new groups' ids, in order."""
        q = UnansweredQuestionRow
        created: list[int] = []
        async with self._db.unit_of_work("group unanswered questions") as conn:
            for members in new_groups:
                group_id = (
                    await conn.execute(
                        insert(UnansweredGroupRow)
                        .values(state=GroupState.OPEN.value, created_at=utcnow())
                        .returning(UnansweredGroupRow.id)
                    )
                ).scalar_one()
                created.append(int(group_id))
                await conn.execute(update(q).where(q.id.in_(members)).values(group_id=group_id))
            for group_id, members in joins.items():
                await conn.execute(update(q).where(q.id.in_(members)).values(group_id=group_id))
        return created

    async def group_state(self, group_id: int) -> GroupState | None:
        async with self._db.unit_of_work("read an unanswered group") as conn:
            state = (
                await conn.execute(
                    select(UnansweredGroupRow.state).where(UnansweredGroupRow.id == group_id)
                )
            ).scalar_one_or_none()
        return GroupState(state) if state is not None else None

    async def close_group(
        self, group_id: int, state: GroupState, topic_id: str | None = None
    ) -> bool:
        """Take an open group out of the inbox; False if it was not open (any more)."""
        g = UnansweredGroupRow
        async with self._db.unit_of_work("close an unanswered group") as conn:
            done = (
                await conn.execute(
                    update(g)
                    .where(g.id == group_id, g.state == GroupState.OPEN.value)
                    .values(state=state.value, topic_id=topic_id, handled_at=utcnow())
                    .returning(g.id)
                )
            ).scalar_one_or_none()
        return done is not None

    async def delete_older_than(self, cutoff: datetime) -> int:
        """Delete the questions logged before `cutoff`, and groups left without questions.
        Returns the number of questions deleted."""
        q, g = UnansweredQuestionRow, UnansweredGroupRow
        async with self._db.unit_of_work("delete old unanswered questions") as conn:
            deleted = len(
                (await conn.execute(delete(q).where(q.created_at < cutoff).returning(q.id))).all()
            )
            await conn.execute(delete(g).where(~select(q.id).where(q.group_id == g.id).exists()))
        return deleted
