"""Long polling that confirms an update to Telegram only once it has been handled.

Telegram confirms everything below the `offset` of the next getUpdates call. This loop asks with
the offset of the oldest update still in hand, so an update is confirmed only after
`UpdatePipeline.handle` returned for it and for every update before it: a crash loses nothing
that Telegram still believes delivered. Updates come back raw (JSON), so one update the library
cannot parse is skipped by the pipeline instead of failing the whole batch; updates already in
hand that Telegram sends again are not started twice.

A burst waits at Telegram, not in memory: at most `limit` (100, Telegram's maximum) updates are
fetched beyond the oldest unconfirmed one.

Network errors, timeouts and 5xx answers are retried with exponential backoff and jitter, for as
long as it takes (logged); a rejected token (401/404) ends the loop with `InvalidToken`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from telegram import Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import BaseRequest

from handlers.pipeline import UpdatePipeline
from handlers.retry import retry_after_seconds

log = logging.getLogger("distriktsbot.polling")

BATCH = 100  # Telegram's maximum per getUpdates
PEEK_INTERVAL = 0.01  # seconds between polls while updates are in hand (new arrivals)
MAX_BACKOFF = 30.0


def backoff(attempt: int, base: float = 0.5, cap: float = MAX_BACKOFF) -> float:
    """Exponential backoff with full jitter: the n-th retry waits up to base * 2^n, capped."""
    delay: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return random.uniform(0.5, 1.0) * delay


class Poller:
    def __init__(
        self,
        request: BaseRequest,
        base_url: str,
        pipeline: UpdatePipeline,
        *,
        timeout: int = 10,
        allowed_updates: list[str] | None = None,
    ) -> None:
        self._request = request
        self._url = base_url.rstrip("/") + "/getUpdates"
        self._pipeline = pipeline
        self._timeout = timeout
        self._allowed = json.dumps(allowed_updates or list(Update.ALL_TYPES))
        self._next = 0  # the offset once nothing is in hand: one past the newest update seen
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._progress = asyncio.Event()
        self._stopping = asyncio.Event()
        self.fetched = 0
        self.task: asyncio.Task[None] | None = None

    def start(self, drain_timeout: float = 5.0) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self.run(drain_timeout))
        return self.task

    async def wait_closed(self) -> None:
        """Wait until the loop has ended (stopped, or failed: see `raise_if_failed`)."""
        if self.task is not None:
            await asyncio.wait({self.task})

    def raise_if_failed(self) -> None:
        task = self.task
        if task is not None and task.done() and not task.cancelled():
            exc = task.exception()
            if exc is not None:
                raise exc

    def stop(self) -> None:
        """Stop fetching; the updates in hand are finished by `run` before it returns."""
        self._stopping.set()
        self._progress.set()

    @property
    def offset(self) -> int:
        """The offset to send: the oldest update still in hand, else one past the newest."""
        return min(self._tasks, default=self._next)

    async def run(self, drain_timeout: float = 5.0) -> None:
        """Poll until `stop()`; then wait (bounded) for the updates in hand and confirm them."""
        attempt = 0
        try:
            while not self._stopping.is_set():
                idle = not self._tasks
                try:
                    batch = await self._get_updates(self._timeout if idle else 0)
                    attempt = 0
                except InvalidToken:
                    raise
                except RetryAfter as exc:
                    await self._sleep(retry_after_seconds(exc))
                    continue
                except TelegramError as exc:
                    attempt += 1
                    delay = backoff(attempt)
                    log.warning(
                        "getUpdates failed (%s); retrying in %.1f s (attempt %d)",
                        exc.message,
                        delay,
                        attempt,
                    )
                    await self._sleep(delay)
                    continue
                new = self._start(batch)
                if not self._tasks:
                    continue  # all handled: the next poll confirms them and waits for more
                if len(batch) < BATCH:
                    # Telegram had no more: look again shortly (new arrivals of other people)
                    await self._wait_until(self._idle, PEEK_INTERVAL)
                elif new:
                    # a full window: poll again once half of it is free. Every poll brings the
                    # updates still in hand again (Telegram sends from the offset on), so polling
                    # at each tenth freed re-read 90 updates for 10 new ones; half a window in
                    # hand still keeps the Application's concurrent updates busy
                    await self._wait_until(self._room, None)
                else:
                    # the whole window is in hand already: wait until something is handled
                    await self._wait_until(self._fewer_than(len(self._tasks)), None)
        finally:
            await self._finish(drain_timeout)

    def _start(self, batch: list[Any]) -> int:
        new = 0
        for data in batch:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            if not isinstance(update_id, int) or update_id < self._next:
                if update_id is None:  # nothing to confirm it by: the pipeline counts it
                    asyncio.create_task(self._pipeline.handle(data))  # noqa: RUF006
                continue
            self._next = update_id + 1
            new += 1
            self.fetched += 1
            task = asyncio.create_task(self._pipeline.handle(data))
            self._tasks[update_id] = task
            task.add_done_callback(functools.partial(self._done, update_id))
        return new

    def _idle(self) -> bool:
        return not self._tasks

    def _room(self) -> bool:
        return len(self._tasks) <= BATCH // 2

    def _fewer_than(self, n: int) -> Callable[[], bool]:
        return lambda: len(self._tasks) < n

    def _done(self, update_id: int, _task: object = None) -> None:
        self._tasks.pop(update_id, None)
        self._progress.set()

    async def _wait_until(self, condition: Callable[[], bool], timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not condition() and not self._stopping.is_set():
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            pass

    async def _sleep(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def _get_updates(self, timeout: int) -> list[Any]:
        params = {
            "offset": self.offset,
            "limit": BATCH,
            "timeout": timeout,
            "allowed_updates": self._allowed,
        }
        poll = asyncio.ensure_future(
            self._request.post(f"{self._url}?{urlencode(params)}", read_timeout=timeout + 10.0)
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not poll.done():  # stopping: abandon the long poll (nothing in it is confirmed)
            poll.cancel()
            return []
        result = poll.result()
        if not isinstance(result, list):
            raise NetworkError("getUpdates returned something other than a list")
        return result

    async def _finish(self, drain_timeout: float) -> None:
        """Let the updates in hand finish (bounded), then confirm what was handled."""
        if self._tasks:
            await asyncio.wait(set(self._tasks.values()), timeout=drain_timeout)
        await self._pipeline.drain(1.0)  # the done-marks of what was handled
        for task in self._tasks.values():
            task.cancel()
        await self.confirm()

    async def confirm(self) -> None:
        """Tell Telegram which updates are handled (a getUpdates with the offset, no wait)."""
        params = {"offset": self.offset, "limit": 1, "timeout": 0}
        try:
            async with asyncio.timeout(5.0):
                await self._request.post(f"{self._url}?{urlencode(params)}", read_timeout=5.0)
        except (TelegramError, TimeoutError) as exc:
            log.warning("could not confirm the handled updates to Telegram: %s", exc)
