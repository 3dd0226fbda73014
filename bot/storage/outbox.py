"""The newsletter's outbox: broadcasts, one row per recipient, and who may send.

A broadcast is a draft until an admin presses Send; then one outbox row per subscriber is
written (``pending``) in the same transaction that marks it ``sending``. The sender claims rows
one at a time as it sends them (``pending -> sending``, committed *before* the message goes out),
and records the outcome (``sent``, ``blocked``, ``failed``). A row still ``sending`` when a new
sender takes over was in flight when the previous one died: Telegram has no idempotency key, so
nobody can know whether it arrived. It becomes ``unknown`` and is never sent again by itself
(the admin may choose to). Nobody gets a newsletter twice.

Exactly one process sends (`SenderLock`): on PostgreSQL the holder of a session-level advisory
lock, and rows are claimed with ``FOR UPDATE SKIP LOCKED``; on SQLite, the holder of a file lock
beside the database file (SQLite serves one host, and a SIGKILL releases the lock with the
process). One broadcast at a time is enforced by the database itself: a partial unique index
allows one ``sending`` row in ``broadcasts``.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

from sqlalchemy import Integer, String, delete, exists, func, insert, literal, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import Update

from bot.storage.engine import DB_ERRORS, Database, StorageError
from bot.storage.pseudonym import check_user_key
from bot.storage.schema import (
    OUTBOX_ERROR_MAX_LENGTH,
    BroadcastRow,
    OutboxRow,
    SubscriberRow,
    UTCDateTime,
    utcnow,
)

log = logging.getLogger("bot.storage")

# Arbitrary constant naming the sender's lock among PostgreSQL advisory locks ("nbrv").
_PG_SENDER_LOCK_ID: Final = 0x6E627276


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class RowStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed: being sent right now (or the sender died while sending)
    SENT = "sent"
    BLOCKED = "blocked"  # the person blocked the bot: unsubscribed
    FAILED = "failed"  # Telegram refused it (e.g. the chat no longer exists)
    UNKNOWN = "unknown"  # in flight when the sender died: maybe delivered, maybe not
    CANCELLED = "cancelled"  # the admin stopped the broadcast before this one was sent


FINAL_ROW_STATUSES: Final = frozenset(
    {RowStatus.SENT, RowStatus.BLOCKED, RowStatus.FAILED, RowStatus.UNKNOWN}
)


class Started(enum.Enum):
    STARTED = "started"
    BUSY = "busy"  # another broadcast is being sent
    NOT_FOUND = "not-found"
    WRONG_STATE = "wrong-state"  # already sent, being sent, or cancelled
    NOTHING = "nothing"  # no recipients (or no unknown rows to resend)


class Cancelled(enum.Enum):
    DRAFT = "draft"  # a draft was discarded: nothing was sent
    STOPPED = "stopped"  # a broadcast was stopped; rows not yet sent are cancelled
    TOO_LATE = "too-late"  # already finished or cancelled
    NOT_FOUND = "not-found"


@dataclass(frozen=True)
class Broadcast:
    id: int
    status: BroadcastStatus
    html: str
    progress_chat_id: int | None
    progress_message_id: int | None
    started: bool
    reported: bool


@dataclass(frozen=True)
class Counts:
    """A broadcast's rows by status."""

    pending: int = 0
    sending: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    unknown: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return (
            self.pending
            + self.sending
            + self.sent
            + self.blocked
            + self.failed
            + self.unknown
            + self.cancelled
        )

    @property
    def left(self) -> int:
        return self.pending + self.sending


@dataclass(frozen=True)
class Claimed:
    """A row claimed for sending (already committed as ``sending``)."""

    id: int
    chat_id: int
    user_key: str


_BROADCAST_COLUMNS = (
    BroadcastRow.id,
    BroadcastRow.status,
    BroadcastRow.html,
    BroadcastRow.progress_chat_id,
    BroadcastRow.progress_message_id,
    BroadcastRow.started_at,
    BroadcastRow.reported,
)


@dataclass(frozen=True)
class Finished:
    """How sending a claimed row ended."""

    row: Claimed
    status: RowStatus
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status not in FINAL_ROW_STATUSES:
            raise ValueError(f"not a final outbox status: {self.status}")


def _broadcast(row: Row[*tuple[Any, ...]]) -> Broadcast:
    return Broadcast(
        id=int(row.id),
        status=BroadcastStatus(row.status),
        html=str(row.html),
        progress_chat_id=row.progress_chat_id,
        progress_message_id=row.progress_message_id,
        started=row.started_at is not None,
        reported=bool(row.reported),
    )


class _NothingToSend(Exception):
    pass


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- the admin's side ------------------------------------------------------------------

    async def recipients(self) -> int:
        """How many people a broadcast started now would go to."""
        async with self._db.unit_of_work("count subscribers") as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(SubscriberRow))).scalar_one()
            )

    async def draft(self, html: str) -> Broadcast:
        """Store a newsletter (exactly as it will be sent) that nobody has been sent yet. It
        replaces any earlier draft (an admin corrects a letter by writing it again): the older
        ones are discarded, so Send on an old preview can never send the uncorrected text."""
        async with self._db.unit_of_work("store a newsletter draft") as conn:
            await conn.execute(
                update(BroadcastRow)
                .where(BroadcastRow.status == BroadcastStatus.DRAFT.value)
                .values(status=BroadcastStatus.CANCELLED.value)
            )
            new_id = (
                await conn.execute(
                    insert(BroadcastRow)
                    .values(
                        status=BroadcastStatus.DRAFT.value,
                        html=html,
                        created_at=utcnow(),
                        reported=False,
                    )
                    .returning(BroadcastRow.id)
                )
            ).scalar_one()
        return Broadcast(new_id, BroadcastStatus.DRAFT, html, None, None, False, False)

    async def get(self, broadcast_id: int) -> Broadcast | None:
        async with self._db.unit_of_work("read a newsletter") as conn:
            return await self._get(conn, broadcast_id)

    async def _get(self, conn: AsyncConnection, broadcast_id: int) -> Broadcast | None:
        row = (
            await conn.execute(select(*_BROADCAST_COLUMNS).where(BroadcastRow.id == broadcast_id))
        ).first()
        return _broadcast(row) if row is not None else None

    async def active(self) -> Broadcast | None:
        """The broadcast being sent, if any (there is at most one)."""
        async with self._db.unit_of_work("find the newsletter being sent") as conn:
            row = (
                await conn.execute(
                    select(*_BROADCAST_COLUMNS).where(
                        BroadcastRow.status == BroadcastStatus.SENDING.value
                    )
                )
            ).first()
        return _broadcast(row) if row is not None else None

    async def start(self, broadcast_id: int, progress: tuple[int, int] | None = None) -> Started:
        """Send a draft: one pending row per subscriber, and the broadcast becomes ``sending``.

        ``progress`` is (chat id, message id) of the message that shows the progress."""
        return await self._start(broadcast_id, progress, resend=False)

    async def resend_unknown(
        self, broadcast_id: int, progress: tuple[int, int] | None = None
    ) -> Started:
        """Send a finished broadcast again to its ``unknown`` rows only (the admin's choice)."""
        return await self._start(broadcast_id, progress, resend=True)

    async def _start(
        self, broadcast_id: int, progress: tuple[int, int] | None, *, resend: bool
    ) -> Started:
        now = utcnow()
        try:
            async with self._db.unit_of_work("start sending a newsletter") as conn:
                current = await self._get(conn, broadcast_id)
                if current is None:
                    return Started.NOT_FOUND
                allowed = (
                    (BroadcastStatus.DONE, BroadcastStatus.CANCELLED)
                    if resend
                    else (BroadcastStatus.DRAFT,)
                )
                if current.status not in allowed:
                    return Started.WRONG_STATE
                busy = (
                    await conn.execute(
                        select(BroadcastRow.id).where(
                            BroadcastRow.status == BroadcastStatus.SENDING.value
                        )
                    )
                ).first()
                if busy is not None:
                    return Started.BUSY
                values: dict[str, object] = {
                    "status": BroadcastStatus.SENDING.value,
                    "reported": False,
                    "finished_at": None,
                }
                if progress is not None:
                    values["progress_chat_id"], values["progress_message_id"] = progress
                if not resend:
                    values["started_at"] = now
                # the row lock (PostgreSQL) / write lock (SQLite) of this UPDATE makes two
                # admins pressing Send at once start it once
                moved = await conn.execute(_move_broadcast(broadcast_id, current.status, **values))
                if moved.first() is None:
                    return Started.WRONG_STATE
                if resend:
                    rows = await conn.execute(
                        _move_rows(RowStatus.UNKNOWN, RowStatus.PENDING, broadcast_id)
                    )
                    added = len(rows.all())
                else:
                    source = select(
                        literal(broadcast_id, Integer()),
                        SubscriberRow.user_key,
                        SubscriberRow.chat_id,
                        literal(RowStatus.PENDING.value, String()),
                        literal(now, UTCDateTime()),
                    ).order_by(SubscriberRow.created_at, SubscriberRow.user_key)
                    result = await conn.execute(
                        insert(OutboxRow).from_select(
                            ["broadcast_id", "user_key", "chat_id", "status", "updated_at"],
                            source,
                        )
                    )
                    added = result.rowcount
                if not added:
                    raise _NothingToSend  # nobody to send to: roll back, leave it as it was
        except _NothingToSend:
            return Started.NOTHING
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return Started.BUSY  # another process started one a moment ago
            raise
        return Started.STARTED

    async def cancel(self, broadcast_id: int) -> Cancelled:
        """Discard a draft, or stop a broadcast: its pending rows become ``cancelled`` (rows in
        flight finish as they will)."""
        async with self._db.unit_of_work("cancel a newsletter") as conn:
            current = await self._get(conn, broadcast_id)
            if current is None:
                return Cancelled.NOT_FOUND
            if current.status not in (BroadcastStatus.DRAFT, BroadcastStatus.SENDING):
                return Cancelled.TOO_LATE
            moved = await conn.execute(
                _move_broadcast(
                    broadcast_id, current.status, status=BroadcastStatus.CANCELLED.value
                )
            )
            if moved.first() is None:
                return Cancelled.TOO_LATE
            if current.status is BroadcastStatus.DRAFT:
                return Cancelled.DRAFT
            moved_rows = _move_rows(RowStatus.PENDING, RowStatus.CANCELLED, broadcast_id)
            (await conn.execute(moved_rows)).all()
        return Cancelled.STOPPED

    async def counts(self, broadcast_id: int) -> Counts:
        async with self._db.unit_of_work("count a newsletter's recipients") as conn:
            rows = (
                await conn.execute(
                    select(OutboxRow.status, func.count())
                    .where(OutboxRow.broadcast_id == broadcast_id)
                    .group_by(OutboxRow.status)
                )
            ).all()
        return Counts(**{str(status): int(n) for status, n in rows})

    # --- the sender's side -----------------------------------------------------------------

    async def recover(self) -> int:
        """Rows left ``sending`` by a sender that died become ``unknown``. Only a sender that has
        just taken the `SenderLock` calls this: any row still ``sending`` then is not its own."""
        async with self._db.unit_of_work("recover the outbox") as conn:
            rows = await conn.execute(_move_rows(RowStatus.SENDING, RowStatus.UNKNOWN))
            return len(rows.all())

    async def claim(self, broadcast_id: int, finished: Finished | None = None) -> Claimed | None:
        """Take the next pending row of a broadcast (committed as ``sending`` before it is sent);
        None when there is none left. PostgreSQL skips rows another transaction holds.

        ``finished`` records the outcome of the sender's previous row in the same transaction:
        one write per message instead of two."""
        candidate = aliased(OutboxRow)  # not correlated with the UPDATE's own table
        pick = (
            select(candidate.id)
            .where(
                candidate.broadcast_id == broadcast_id,
                candidate.status == RowStatus.PENDING.value,
            )
            .order_by(candidate.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        async with self._db.unit_of_work("claim an outbox row") as conn:
            if finished is not None:
                await self._finish(conn, finished)
            row = (
                await conn.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == pick, OutboxRow.status == RowStatus.PENDING.value)
                    .values(status=RowStatus.SENDING.value, updated_at=utcnow())
                    .returning(OutboxRow.id, OutboxRow.chat_id, OutboxRow.user_key)
                )
            ).first()
        if row is None:
            return None
        return Claimed(id=int(row[0]), chat_id=int(row[1]), user_key=str(row[2]))

    async def release(self, row_id: int) -> None:
        """Put back a claimed row that certainly was not sent (the sender stopped before it)."""
        async with self._db.unit_of_work("release an outbox row") as conn:
            moved = _move_rows(RowStatus.SENDING, RowStatus.PENDING).where(OutboxRow.id == row_id)
            (await conn.execute(moved)).all()

    async def finish(self, finished: Finished) -> None:
        """Record how sending a row ended. ``blocked`` also ends the person's subscription."""
        async with self._db.unit_of_work("record a newsletter delivery") as conn:
            await self._finish(conn, finished)

    @staticmethod
    async def _finish(conn: AsyncConnection, finished: Finished) -> None:
        row, status, error = finished.row, finished.status, finished.error
        await conn.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == row.id,
                OutboxRow.status.in_((RowStatus.SENDING.value, RowStatus.UNKNOWN.value)),
            )
            .values(
                status=status.value,
                error=error[:OUTBOX_ERROR_MAX_LENGTH] if error else None,
                updated_at=utcnow(),
            )
        )
        if status is RowStatus.BLOCKED:
            await conn.execute(
                delete(SubscriberRow).where(
                    SubscriberRow.user_key == row.user_key,
                    SubscriberRow.chat_id == row.chat_id,
                )
            )

    async def complete(self, broadcast_id: int) -> bool:
        """Mark a broadcast ``done`` once no row is pending or in flight; True if it now is."""
        async with self._db.unit_of_work("complete a newsletter") as conn:
            open_rows = exists().where(
                OutboxRow.broadcast_id == broadcast_id,
                OutboxRow.status.in_((RowStatus.PENDING.value, RowStatus.SENDING.value)),
            )
            done = (
                await conn.execute(
                    update(BroadcastRow)
                    .where(
                        BroadcastRow.id == broadcast_id,
                        BroadcastRow.status == BroadcastStatus.SENDING.value,
                        ~open_rows,
                    )
                    .values(status=BroadcastStatus.DONE.value, finished_at=utcnow())
                    .returning(BroadcastRow.id)
                )
            ).first()
        return done is not None

    async def unreported(self) -> list[Broadcast]:
        """Broadcasts that ended (done or stopped) whose final report has not been given."""
        async with self._db.unit_of_work("find unreported newsletters") as conn:
            rows = (
                await conn.execute(
                    select(*_BROADCAST_COLUMNS)
                    .where(
                        BroadcastRow.status.in_(
                            (BroadcastStatus.DONE.value, BroadcastStatus.CANCELLED.value)
                        ),
                        BroadcastRow.started_at.is_not(None),
                        BroadcastRow.reported.is_(False),
                    )
                    .order_by(BroadcastRow.id)
                )
            ).all()
        return [_broadcast(r) for r in rows]

    async def mark_reported(self, broadcast_id: int) -> None:
        async with self._db.unit_of_work("mark a newsletter reported") as conn:
            await conn.execute(
                update(BroadcastRow)
                .where(BroadcastRow.id == broadcast_id)
                .values(
                    reported=True,
                    finished_at=func.coalesce(BroadcastRow.finished_at, utcnow()),
                )
            )

    # --- privacy ---------------------------------------------------------------------------

    async def forget_finished_before(self, cutoff: datetime) -> int:
        """Delete the recipient rows (chat ids) of broadcasts that ended and were reported
        before `cutoff`; the broadcasts themselves stay. Returns how many rows went."""
        b = BroadcastRow
        ended = select(b.id).where(
            b.status.in_((BroadcastStatus.DONE.value, BroadcastStatus.CANCELLED.value)),
            b.reported.is_(True),
            b.finished_at < cutoff,
        )
        async with self._db.unit_of_work("forget old newsletter recipients") as conn:
            rows = await conn.execute(
                delete(OutboxRow).where(OutboxRow.broadcast_id.in_(ended)).returning(OutboxRow.id)
            )
            return len(rows.all())

    async def forget(self, user_key: str) -> int:
        """Delete every outbox row of a person (their newsletter key); returns how many."""
        check_user_key(user_key)
        async with self._db.unit_of_work("forget a person's newsletter deliveries") as conn:
            rows = (
                await conn.execute(
                    delete(OutboxRow).where(OutboxRow.user_key == user_key).returning(OutboxRow.id)
                )
            ).all()
        return len(rows)


def _move_broadcast(broadcast_id: int, expected: BroadcastStatus, **values: object) -> Update:
    """Change a broadcast only if it is still `expected` (the row lock of the UPDATE makes two
    processes or two admins racing move it once); returns its id when it moved."""
    return (
        update(BroadcastRow)
        .where(BroadcastRow.id == broadcast_id, BroadcastRow.status == expected.value)
        .values(**values)
        .returning(BroadcastRow.id)
    )


def _move_rows(old: RowStatus, new: RowStatus, broadcast_id: int | None = None) -> Update:
    """Move outbox rows from `old` to `new` (of one broadcast, or of all); returns their ids."""
    statement = update(OutboxRow).where(OutboxRow.status == old.value)
    if broadcast_id is not None:
        statement = statement.where(OutboxRow.broadcast_id == broadcast_id)
    return statement.values(status=new.value, updated_at=utcnow()).returning(OutboxRow.id)


# --- who sends -------------------------------------------------------------------------------


class SenderLock(Protocol):
    """Exactly one process per database sends newsletters: the holder of this lock."""

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True if this process now sends."""

    async def held(self) -> bool:
        """Whether the lock is still ours (False once lost: stop claiming rows)."""

    async def release(self) -> None: ...


def sender_lock(db: Database) -> SenderLock:
    if db.dialect == "postgresql":
        return _AdvisoryLock(db)
    database = db.engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return _NoLock()  # an in-memory database lives in this process only
    return _FileLock(Path(database).with_name(Path(database).name + ".sender.lock"))


class _NoLock:
    async def try_acquire(self) -> bool:
        return True

    async def held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class _FileLock:
    """An exclusive `flock` on a file beside the SQLite database; the kernel releases it when
    the process ends, however it ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on Windows: one process is assumed
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open the sender lock {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def held(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor releases the lock


class _AdvisoryLock:
    """A session-level PostgreSQL advisory lock on a connection of its own: the lock lives as
    long as that session, and ends with it (process killed, connection lost)."""

    CHECK_EVERY_SECONDS: Final = 1.0

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: AsyncConnection | None = None
        self._checked = 0.0

    async def try_acquire(self) -> bool:
        if self._conn is not None:
            return await self.held()
        try:
            conn = await self._db.engine.connect()
        except DB_ERRORS as exc:
            log.warning("sender lock: cannot connect: %s", type(exc).__name__)
            return False
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = (
                await conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_SENDER_LOCK_ID}
                )
            ).scalar_one()
        except DB_ERRORS as exc:
            log.warning("sender lock: %s", type(exc).__name__)
            await _close_quietly(conn)
            return False
        if not got:
            await _close_quietly(conn)
            return False
        self._conn, self._checked = conn, time.monotonic()
        return True

    async def held(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        if time.monotonic() - self._checked < self.CHECK_EVERY_SECONDS:
            return True
        try:
            await conn.execute(text("SELECT 1"))
        except DB_ERRORS as exc:
            log.warning("sender lock lost: %s", type(exc).__name__)
            self._conn = None
            await _close_quietly(conn)
            return False
        self._checked = time.monotonic()
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(*DB_ERRORS):  # closing the session releases it anyway
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_SENDER_LOCK_ID})
        await _close_quietly(conn)


async def _close_quietly(conn: AsyncConnection) -> None:
    with contextlib.suppress(*DB_ERRORS):
        await conn.close()
