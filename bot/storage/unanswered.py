"""Questions the bot could not answer, kept so the team can extend the knowledge base."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select

from bot.storage.engine import Database
from bot.storage.pseudonym import check_user_key
from bot.storage.schema import QUESTION_MAX_LENGTH, UnansweredQuestionRow, utcnow


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

    async def log(self, text: str, user_key: str | None = None) -> None:
        """Remember a question the bot could not answer (stripped, at most 500 characters)."""
        await self.log_many([(text, user_key)])

    async def log_many(self, questions: Sequence[tuple[str, str | None]]) -> None:
        """Remember several questions in one statement (concurrent voters, one round trip)."""
        now = utcnow()
        rows = []
        for text, user_key in questions:
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
                    }
                )
        if not rows:
            return
        async with self._db.unit_of_work("log unanswered questions") as conn:
            await conn.execute(insert(UnansweredQuestionRow).values(rows))

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
