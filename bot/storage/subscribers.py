"""Newsletter subscribers: a pseudonymous key and the chat the newsletter is delivered to."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.sql.expression import Executable

from bot.storage.engine import Database
from bot.storage.pseudonym import check_user_key
from bot.storage.schema import OutboxRow, SubscriberRow, utcnow


class Subscribers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def subscribe(self, user_key: str, chat_id: int) -> bool:
        """Subscribe to the newsletter; True if newly subscribed, False if already subscribed.

        For an existing subscription the delivery ``chat_id`` is updated.
        """
        check_user_key(user_key)
        async with self._db.unit_of_work("subscribe") as conn:
            insert_stmt: Executable = self._db.insert_ignoring_conflict(
                SubscriberRow,
                {"user_key": user_key, "chat_id": int(chat_id), "created_at": utcnow()},
                ("user_key",),
            ).returning(SubscriberRow.user_key)
            if (await conn.execute(insert_stmt)).scalar_one_or_none() is not None:
                return True
            await conn.execute(
                update(SubscriberRow)
                .where(SubscriberRow.user_key == user_key, SubscriberRow.chat_id != int(chat_id))
                .values(chat_id=int(chat_id))
            )
            return False

    async def unsubscribe(self, user_key: str, *, forget: bool = False) -> bool:
        """Cancel the subscription; True if there was one.

        Newsletters not yet sent to the person are dropped with it (their pending outbox rows);
        with ``forget`` (`/slettmeg`) every outbox row of the person goes too."""
        check_user_key(user_key)
        async with self._db.unit_of_work("unsubscribe") as conn:
            deleted = (
                await conn.execute(
                    delete(SubscriberRow)
                    .where(SubscriberRow.user_key == user_key)
                    .returning(SubscriberRow.user_key)
                )
            ).all()
            rows = delete(OutboxRow).where(OutboxRow.user_key == user_key)
            if not forget:
                rows = rows.where(OutboxRow.status == "pending")
            await conn.execute(rows)
        return bool(deleted)

    async def is_subscribed(self, user_key: str) -> bool:
        check_user_key(user_key)
        async with self._db.unit_of_work("check a subscription") as conn:
            found = (
                await conn.execute(
                    select(SubscriberRow.user_key).where(SubscriberRow.user_key == user_key)
                )
            ).scalar_one_or_none()
        return found is not None

    async def chat_ids(self) -> list[int]:
        """Chat ids of all subscribers, oldest subscription first."""
        async with self._db.unit_of_work("list subscribers") as conn:
            chat_ids = (
                await conn.execute(
                    select(SubscriberRow.chat_id).order_by(
                        SubscriberRow.created_at, SubscriberRow.user_key
                    )
                )
            ).scalars()
            return [int(chat_id) for chat_id in chat_ids]
