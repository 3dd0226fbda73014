"""The update pipeline: every update from Telegram, polled or posted to a webhook, goes through
`UpdatePipeline.handle`.

What it guarantees:

* **Order per person**: updates of one user (or, without a user, one chat) are handled one
  after the other, in the order `handle` was called; other people's updates run concurrently.
* **Exactly once**: an update is claimed in the database (`processed_updates`) before it is
  handled and marked done after, so a duplicate `update_id` (Telegram redelivers; two processes
  can receive one) is handled once. Claims and done-marks of concurrent updates are written in
  one statement per batch. While the database is unreachable, an in-memory record keeps a
  process from handling an update twice and answers do not wait.
* **Bad updates are skipped**: an update python-telegram-bot cannot parse is logged (its id and
  the exception type, never its content), counted, and passed over.
* **Rate limit per person**: beyond `user_burst` updates at once (refilled at `user_per_minute`)
  a person gets one polite notice and further updates are skipped until the limit refills.
* `handle` returns only once the update has been handled or deliberately skipped, and never
  raises: the caller (the polling loop, the webhook server) confirms the update to Telegram
  only after it returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Hashable, Iterable
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot import messages
from bot.batching import Batcher
from bot.services import Services
from bot.storage import Claim, StorageError

log = logging.getLogger("distriktsbot.pipeline")

CLAIM_WAIT = 2.0
"""Seconds an update waits for its claim before it is handled anyway (database trouble)."""
DONE_WAIT = 10.0
"""Seconds a done-mark (written off the caller's path) may take before the database counts as
in trouble."""
DONE_PAUSE = 0.05
"""Seconds between two writes of done-marks: the marks of ~50 ms of updates in one transaction,
not one transaction per handful (under load they held the one SQLite connection longer than the
votes did, and the votes queued behind them)."""
DB_PAUSE = 10.0
"""After a claim failed, seconds during which claims are not even tried (answers never wait)."""
RECENT_UPDATES = 20_000
"""Update ids remembered in memory after handling (duplicates skipped without the database)."""
PRUNE_EVERY = 3600.0
KEEP_PROCESSED = 2 * 86400.0
"""Telegram keeps an unconfirmed update for 24 hours; a claim is kept twice as long."""

# update kinds that carry a person, and where: (kind, path to the user, path to the chat)
_KINDS_WITH_MESSAGE = ("message", "edited_message", "channel_post", "edited_channel_post")
# kinds a person can flood the bot with; inline queries (typed live) and others are not limited
_LIMITED_KINDS = ("message", "edited_message", "callback_query")


class RateLimit:
    """A token bucket per key: `burst` at once, refilled at `per_minute`."""

    def __init__(self, burst: int, per_minute: int) -> None:
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self._buckets: dict[Hashable, list[float]] = {}  # key -> [tokens, last time, notified]

    def take(self, key: Hashable, now: float) -> bool | None:
        """True: go ahead. None: over the limit, tell the person once. False: over, skip."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= 50_000:
                self._forget_full(now)
            bucket = self._buckets[key] = [self.burst, now, 0.0]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0], bucket[2] = tokens - 1.0, 0.0
            return True
        bucket[0] = tokens
        if bucket[2]:
            return False
        bucket[2] = 1.0
        return None

    def _forget_full(self, now: float) -> None:
        full = [
            k
            for k, (tokens, last, _) in self._buckets.items()
            if tokens + (now - last) * self.rate >= self.burst
        ]
        for k in full:
            del self._buckets[k]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def describe_update(data: dict[str, Any]) -> tuple[str, int | None, int | None]:
    """(kind, user id, chat id) of a raw update, read defensively from its JSON."""
    kind = next((k for k in data if k != "update_id"), "")
    body = data.get(kind)
    if not isinstance(body, dict):
        return kind, None, None
    sender = body.get("from")
    user = _int(sender.get("id")) if isinstance(sender, dict) else None
    chat_obj = body.get("chat")
    if kind == "callback_query":
        message = body.get("message")
        chat_obj = message.get("chat") if isinstance(message, dict) else None
    chat = _int(chat_obj.get("id")) if isinstance(chat_obj, dict) else None
    return kind, user, chat


class UpdatePipeline:
    """Handles raw updates (JSON objects as Telegram sends them) through the PTB Application.

    Built once the Application is initialised and the services are open::

        pipeline = UpdatePipeline(app, services)
        await pipeline.handle(update_json)   # returns when handled; never raises
        await pipeline.drain(5.0)            # wait for the updates in hand (shutdown)
    """

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        services: Services,
        *,
        in_flight: int | None = None,
        claim_lease: float | None = None,
        user_burst: int | None = None,
        user_per_minute: int | None = None,
        claims: bool = True,
    ) -> None:
        """`claims=False` for the only consumer of a bot's updates (polling: Telegram allows one
        getUpdates client): duplicates can then only be redeliveries after a restart, which
        `load_handled` catches from the done-marks, so no claim round trip is needed before
        each update. Webhook processes (several may receive one update) keep claims on."""
        limits = services.config.limits
        self.app = app
        self.services = services
        self.claim_lease = claim_lease if claim_lease is not None else limits.claim_lease
        self._slots = asyncio.Semaphore(in_flight if in_flight is not None else limits.in_flight)
        self._rate = RateLimit(
            user_burst if user_burst is not None else limits.user_burst,
            user_per_minute if user_per_minute is not None else limits.user_per_minute,
        )
        self._tails: dict[Hashable, asyncio.Future[None]] = {}
        self._in_hand: dict[int, asyncio.Future[None]] = {}
        self._recent: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._claims: Batcher[int, Claim] = Batcher(self._claim_batch)
        self._dones: Batcher[int, None] = Batcher(self._finish_batch, pause=DONE_PAUSE)
        self._db_paused_until = 0.0
        self.claims = claims
        self._writes: set[asyncio.Task[None]] = set()
        self._next_prune = time.monotonic() + 60.0
        self.stats: collections.Counter[str] = collections.Counter()

    # --- the contract --------------------------------------------------------------------------

    async def handle(self, data: dict[str, Any]) -> None:
        """Handle one update (a JSON object); return once it is handled or skipped."""
        try:
            await self._handle(data)
        except Exception as exc:  # never raise into the transport; the update is passed over
            self.stats["failed"] += 1
            log.error("an update could not be handled: %s", type(exc).__name__)

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the updates in hand; True if all were handled."""
        pending = [f for f in self._in_hand.values() if not f.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=timeout)
            if still:
                return False
        # (the done-marks below are written by then in all but a database outage)
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=min(timeout, DONE_WAIT))
        await self.services.dialogue.drain(timeout=1.0)
        return True

    async def load_handled(self) -> int:
        """Remember the newest handled updates from the database (at start: a restarted
        process skips the updates Telegram redelivers that its predecessor handled)."""
        storage = self.services.storage
        if storage is None:
            return 0
        ids = await storage.updates.recent_done(RECENT_UPDATES)
        for update_id in ids:
            self._remember(update_id)
        return len(ids)

    @property
    def in_hand(self) -> int:
        """Updates being handled or waiting for their turn."""
        return len(self._in_hand)

    # --- one update ----------------------------------------------------------------------------

    async def _handle(self, data: dict[str, Any]) -> None:
        update_id = _int(data.get("update_id")) if isinstance(data, dict) else None
        if update_id is None:
            self._skip_unparsable(None, "no update_id")
            return
        running = self._in_hand.get(update_id)
        if running is not None or update_id in self._recent:
            self.stats["duplicate"] += 1
            if running is not None:  # answered to the caller only once the first copy is done
                await asyncio.shield(running)
            return
        kind, user, chat = describe_update(data)
        person: tuple[str, int | None] = ("user", user) if user is not None else ("chat", chat)
        if user is None and chat is None:
            person = ("update", update_id)
        allowed: bool | None = True
        if kind in _LIMITED_KINDS and person[0] != "update":
            allowed = self._rate.take(person, time.monotonic())

        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_hand[update_id] = done
        before = self._tails.get(person)
        self._tails[person] = done
        claim = self._claim(update_id) if allowed else None
        try:
            if before is not None:  # the person's earlier update goes first
                await asyncio.shield(before)
            if not allowed:
                self.stats["rate_limited"] += 1
                if allowed is None:
                    await self._slow_down(data, kind, user, chat)
                return
            if await self._claimed(update_id, claim) is Claim.DONE:
                self.stats["duplicate"] += 1
                return
            try:
                update = Update.de_json(data, self.app.bot)
            except Exception as exc:
                self._skip_unparsable(update_id, type(exc).__name__)
                self._finish_later(update_id)
                return
            async with self._slots:
                await self.app.process_update(update)
            self.stats["handled"] += 1
            self._finish_later(update_id)
        finally:
            done.set_result(None)
            del self._in_hand[update_id]
            self._remember(update_id)
            if self._tails.get(person) is done:
                del self._tails[person]
            self._maybe_prune()

    def _skip_unparsable(self, update_id: int | None, reason: str) -> None:
        self.stats["unparsable"] += 1
        log.warning(
            "skipped update %s: it cannot be read (%s); %d skipped so far",
            update_id if update_id is not None else "without an id",
            reason,
            self.stats["unparsable"],
        )

    async def _slow_down(
        self, data: dict[str, Any], kind: str, user: int | None, chat: int | None
    ) -> None:
        """The one polite notice when a person goes over the rate limit."""
        bot = self.app.bot
        log.info("rate limit: a person is sending too fast; further updates skipped for now")
        with contextlib.suppress(TelegramError):
            if kind == "callback_query":
                query_id = data[kind].get("id")
                if isinstance(query_id, str):
                    await bot.answer_callback_query(query_id, text=messages.SLOW_DOWN[:200])
            elif chat is not None and (user is None or user == chat):  # a private chat
                await bot.send_message(chat, messages.SLOW_DOWN)

    def _remember(self, update_id: int) -> None:
        self._recent[update_id] = None
        if len(self._recent) > RECENT_UPDATES:
            self._recent.popitem(last=False)

    # --- claims (exactly once across processes) --------------------------------------------

    def _storage_ok(self) -> bool:
        storage = self.services.storage
        return storage is not None and time.monotonic() >= self._db_paused_until

    def _claim(self, update_id: int) -> asyncio.Future[Claim] | None:
        if not self.claims or not self._storage_ok():
            return None
        return self._claims.submit(update_id)

    async def _claim_batch(self, ids: list[int]) -> dict[int, Claim]:
        storage = self.services.storage
        if storage is None:
            return dict.fromkeys(ids, Claim.MINE)
        return await storage.updates.claim(ids, self.claim_lease)

    async def _finish_batch(self, ids: list[int]) -> dict[int, None]:
        storage = self.services.storage
        if storage is not None:
            await storage.updates.finish(ids)
        return dict.fromkeys(ids)

    def _db_trouble(self, what: str, exc: BaseException) -> None:
        self.stats["database_trouble"] += 1
        now = time.monotonic()
        if now < self._db_paused_until:  # told already (many updates share one batch)
            return
        self._db_paused_until = now + DB_PAUSE
        reason = str(exc) or "timed out"
        log.warning("%s: %s; duplicates are caught in memory for now", what, reason)

    async def _claimed(self, update_id: int, claim: asyncio.Future[Claim] | None) -> Claim:
        """Wait for the claim; wait out another process handling the same update."""
        deadline = time.monotonic() + self.claim_lease + CLAIM_WAIT
        while True:
            if claim is None:
                return Claim.MINE
            try:
                async with asyncio.timeout(CLAIM_WAIT):
                    result = await asyncio.shield(claim)
            except (StorageError, TimeoutError) as exc:
                self._db_trouble("could not record an update as taken on", exc)
                return Claim.MINE
            if result is not Claim.BUSY:
                return result
            if time.monotonic() > deadline:
                return Claim.MINE
            # another process has it in hand: wait for it (handled: a duplicate) or its lease
            self.stats["waited_for_other_process"] += 1
            await asyncio.sleep(0.2)
            claim = self._claim(update_id)

    def _finish_later(self, update_id: int) -> None:
        """Mark the update done without holding up the caller: the mark only matters to a
        duplicate arriving later (which waits for it), and a process that dies before writing it
        leaves a claim that is retaken (polling: at the next start), as it would mid-handling.
        `drain` waits for these writes."""
        if not self._storage_ok():
            return
        task = asyncio.create_task(self._finish(update_id))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _finish(self, update_id: int) -> None:
        if not self._storage_ok():
            return
        try:
            async with asyncio.timeout(DONE_WAIT):
                await asyncio.shield(self._dones.submit(update_id))
        except (StorageError, TimeoutError) as exc:
            self._db_trouble("could not record an update as handled", exc)

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        storage = self.services.storage
        if now < self._next_prune or storage is None:
            return
        self._next_prune = now + PRUNE_EVERY

        async def prune() -> None:
            try:
                async with asyncio.timeout(30):
                    await storage.updates.prune(KEEP_PROCESSED)
            except (StorageError, TimeoutError) as exc:
                log.warning("could not prune processed updates: %s", str(exc) or "timed out")

        task = asyncio.create_task(prune())
        _background.add(task)
        task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()


def kinds(updates: Iterable[dict[str, Any]]) -> collections.Counter[str]:
    """How many updates of each kind (for logs and tests)."""
    return collections.Counter(describe_update(u)[0] for u in updates)
