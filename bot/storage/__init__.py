"""Persistent storage: votes, newsletter subscribers and unanswered questions.

One module per aggregate (`votes`, `subscribers`, `unanswered`), each a small repository over
the shared `Database` (`engine`: engine, units of work, errors, migrations); the models live in
`schema`, pseudonymous keys in `pseudonym`. `Storage` opens the database and hands out the
repositories: ``storage.votes.record(...)``, ``storage.subscribers.subscribe(...)``.

Votes are political opinions and therefore sensitive personal data: storage never sees a raw
Telegram user id, only the keyed HMAC made by `pseudonymize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from sqlalchemy import delete, select

from bot.storage.engine import (
    DEFAULT_DATABASE_URL,
    Database,
    SchemaNotAtHead,
    StorageError,
    head_revision,
    upgrade_database,
)
from bot.storage.knowledge_version import KnowledgeVersions
from bot.storage.outbox import Outbox
from bot.storage.pseudonym import check_user_key, pseudonymize
from bot.storage.schema import SubscriberRow, UnansweredQuestionRow, VoteRow
from bot.storage.stats import (
    Count,
    PeriodFigures,
    Stats,
    TopicFigures,
    add_to_counter,
    day_of,
    vote_count,
)
from bot.storage.subscribers import Subscribers
from bot.storage.unanswered import (
    GroupState,
    LoggedQuestion,
    Missed,
    Unanswered,
    UnansweredQuestion,
)
from bot.storage.updates import Claim, Updates
from bot.storage.votes import TopicOpinion, VoteOutcome, Votes

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Claim",
    "Count",
    "ForgetResult",
    "GroupState",
    "KnowledgeVersions",
    "LoggedQuestion",
    "Missed",
    "PeriodFigures",
    "SchemaNotAtHead",
    "Stats",
    "Storage",
    "StorageError",
    "TopicFigures",
    "TopicOpinion",
    "UnansweredQuestion",
    "VoteOutcome",
    "head_revision",
    "pseudonymize",
    "upgrade_database",
]


@dataclass(frozen=True)
class ForgetResult:
    votes: int
    subscribed: bool
    questions: int


class Storage:
    """The bot's database and its repositories.  Create with :meth:`Storage.open`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.votes = Votes(db)
        self.subscribers = Subscribers(db)
        self.unanswered = Unanswered(db)
        self.stats = Stats(db)
        self.knowledge_version = KnowledgeVersions(db)
        self.updates = Updates(db)
        self.outbox = Outbox(db)

    @classmethod
    async def open(cls, url: str = DEFAULT_DATABASE_URL, *, migrate: bool = True) -> Storage:
        """Connect to ``url`` (and upgrade the schema to head when ``migrate``).

        Raises :class:`StorageError` if the database cannot be reached or migrated.
        """
        return cls(await Database.open(url, migrate=migrate))

    async def check_writable(self) -> None:
        """Raise StorageError unless the database accepts writes (a read-only SQLite file, a
        read-only replica, missing permissions), so it is noticed at start, not at a vote."""
        await self.db.check_writable()

    async def close(self) -> None:
        """Close all connections.  Further calls raise :class:`StorageError`."""
        await self.db.close()

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def forget(self, user_key: str) -> ForgetResult:
        """Delete all votes, the subscription and the logged questions of ``user_key``.

        Everything happens in one transaction: either all of it is deleted or nothing is.
        """
        check_user_key(user_key)
        async with self.db.unit_of_work("forget a user") as conn:
            # the opinion counters hold no person, but they must not keep counting these votes
            opinions = await conn.execute(
                select(VoteRow.topic_id, VoteRow.agree, VoteRow.updated_at).where(
                    VoteRow.user_key == user_key
                )
            )
            for topic_id, agree, updated_at in opinions.all():
                await add_to_counter(
                    self.db, conn, vote_count(bool(agree)), topic_id, day_of(updated_at), -1
                )
            deleted = [
                len(
                    (
                        await conn.execute(
                            delete(model).where(model.user_key == user_key).returning(returned)
                        )
                    ).all()
                )
                for model, returned in (
                    (VoteRow, VoteRow.id),
                    (SubscriberRow, SubscriberRow.user_key),
                    (UnansweredQuestionRow, UnansweredQuestionRow.id),
                )
            ]
        votes, subscriptions, questions = deleted
        return ForgetResult(votes=votes, subscribed=bool(subscriptions), questions=questions)
