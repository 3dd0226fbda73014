"""Write many small things in one statement: a batcher for concurrent writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
R = TypeVar("R")


class Batcher(Generic[K, R]):
    """Collects items submitted while a batch is being written and writes them in one call.

    At most one call runs at a time: under load, items pile up behind it and the next call
    takes them all, so the database sees one statement per batch instead of one per item.

    `pause`: seconds to wait after a call before the next one when more items are already
    waiting, so that they gather into fewer, larger calls. For writes nobody waits for (the
    done-marks of updates): each is a transaction on a database connection that the writes someone
    does wait for (a vote) must queue behind. Items written later are seen later: not for writes
    that a reader expects right after the reply (unanswered questions, answer counters)."""

    def __init__(self, run: Callable[[list[K]], Awaitable[dict[K, R]]], pause: float = 0.0) -> None:
        self._run = run
        self._pause = pause
        self._pending: list[tuple[K, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    def submit(self, item: K) -> asyncio.Future[R]:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None:
            self._task = asyncio.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._run([item for item, _ in batch])
                except Exception as exc:  # every waiter learns of the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # retrieved here: a waiter may have timed out
                    continue
                for item, future in batch:
                    if not future.done():
                        future.set_result(results[item])
                if self._pending and self._pause:
                    await asyncio.sleep(self._pause)
        finally:
            self._task = None

    @property
    def busy(self) -> bool:
        return self._task is not None

    async def wait_idle(self) -> None:
        """Wait until everything submitted so far is written (or failed)."""
        while self._task is not None:
            await asyncio.wait({self._task})
