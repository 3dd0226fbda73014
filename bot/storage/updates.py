"""Updates taken on: each Telegram update is handled once, however often it arrives.

Telegram redelivers an update until it is confirmed, and two processes behind a proxy can both
receive one. A process *claims* an update (a row keyed by ``update_id``) before handling it and
marks it *done* afterwards. A claim that is not done and older than the lease belongs to a
process that died: it may be taken over. Claims and done-marks of many updates are written in
one statement each, so a busy bot pays for them per batch, not per update.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.storage.engine import Database
from bot.storage.schema import ProcessedUpdateRow, utcnow


class Claim(enum.Enum):
    MINE = "mine"  # handle it
    DONE = "done"  # already handled: a duplicate
    BUSY = "busy"  # being handled by someone else right now


_FINISH_UPSERTS: dict[str, Any] = {}  # dialect -> the statement, built once


def _finish_upsert(db: Database) -> Any:
    stmt = _FINISH_UPSERTS.get(db.dialect)
    if stmt is None:
        insert = (pg_insert if db.dialect == "postgresql" else sqlite_insert)(
            cast(Table, ProcessedUpdateRow.__table__)
        )
        stmt = insert.on_conflict_do_update(index_elements=["update_id"], set_={"done": True})
        _FINISH_UPSERTS[db.dialect] = stmt
    return stmt


class Updates:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, update_ids: Collection[int], lease: float) -> dict[int, Claim]:
        """Claim the updates; what became of each (a stale claim older than ``lease``
        seconds, left by a process that died, is taken over)."""
        ids = sorted(set(update_ids))
        if not ids:
            return {}
        now = utcnow()
        insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
        stmt = (
            insert(ProcessedUpdateRow)
            .values([{"update_id": i, "done": False, "claimed_at": now} for i in ids])
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(ProcessedUpdateRow.update_id)
        )
        async with self._db.unit_of_work("claim updates") as conn:
            mine = {int(i) for i in (await conn.execute(stmt)).scalars()}
            result = dict.fromkeys(mine, Claim.MINE)
            others = [i for i in ids if i not in mine]
            if others:
                rows = await conn.execute(
                    select(ProcessedUpdateRow.update_id, ProcessedUpdateRow.done).where(
                        ProcessedUpdateRow.update_id.in_(others)
                    )
                )
                busy = []
                for update_id, done in rows:
                    result[int(update_id)] = Claim.DONE if done else Claim.BUSY
                    if not done:
                        busy.append(int(update_id))
                if busy:
                    taken = await conn.execute(
                        update(ProcessedUpdateRow)
                        .where(
                            ProcessedUpdateRow.update_id.in_(busy),
                            ProcessedUpdateRow.done.is_(False),
                            ProcessedUpdateRow.claimed_at < now - timedelta(seconds=lease),
                        )
                        .values(claimed_at=now)
                        .returning(ProcessedUpdateRow.update_id)
                    )
                    for update_id in taken.scalars():
                        result[int(update_id)] = Claim.MINE
        for i in ids:  # deleted between the insert and the select (release): take it
            result.setdefault(i, Claim.MINE)
        return result

    async def finish(self, update_ids: Collection[int]) -> None:
        """Mark the updates handled (claimed or not: a polling bot does not claim)."""
        ids = sorted(set(update_ids))
        if not ids:
            return
        now = utcnow()
        rows = [{"update_id": i, "done": True, "claimed_at": now} for i in ids]
        async with self._db.unit_of_work("mark updates handled") as conn:
            # one statement, built once, executed for every row (one driver call): a VALUES
            # list built per batch cost more to construct and compile than to run
            await conn.execute(_finish_upsert(self._db), rows)

    async def recent_done(self, limit: int) -> list[int]:
        """The ids of the newest `limit` handled updates, oldest first."""
        async with self._db.unit_of_work("read handled updates") as conn:
            rows = await conn.execute(
                select(ProcessedUpdateRow.update_id)
                .where(ProcessedUpdateRow.done.is_(True))
                .order_by(ProcessedUpdateRow.update_id.desc())
                .limit(limit)
            )
            return sorted(int(i) for i in rows.scalars())

    async def state(self, update_id: int) -> bool | None:
        """True when handled, False while claimed, None when unknown."""
        async with self._db.unit_of_work("read an update's state") as conn:
            done = (
                await conn.execute(
                    select(ProcessedUpdateRow.done).where(ProcessedUpdateRow.update_id == update_id)
                )
            ).scalar_one_or_none()
        return None if done is None else bool(done)

    async def release_unfinished(self) -> int:
        """Forget claims that were never finished (a polling bot at start: only one process
        can poll, so they were left by a process that died). Returns how many."""
        async with self._db.unit_of_work("release unfinished updates") as conn:
            deleted = await conn.execute(
                delete(ProcessedUpdateRow)
                .where(ProcessedUpdateRow.done.is_(False))
                .returning(ProcessedUpdateRow.update_id)
            )
            return len(deleted.all())

    async def prune(self, older_than: float) -> None:
        """Forget updates claimed more than ``older_than`` seconds ago (Telegram keeps an
        unconfirmed update for 24 hours, so a day is enough)."""
        cutoff = utcnow() - timedelta(seconds=older_than)
        async with self._db.unit_of_work("prune processed updates") as conn:
            await conn.execute(
                delete(ProcessedUpdateRow).where(ProcessedUpdateRow.claimed_at < cutoff)
            )
