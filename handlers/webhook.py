"""What the webhook server calls for each update: the contract with issue-9a's update pipeline.

=== STAND-IN, to be replaced at merge ===========================================================
Issue-9a builds `handlers/pipeline.py`: a class built from the PTB Application and the services
with `async def handle(self, data: dict[str, Any]) -> None` (returns only once the update is
handled, or skipped: unparsable, duplicate update_id, rate-limited; keeps per-chat order;
deduplicates update_id durably across processes; never raises) and `async def drain(timeout)`.
The webhook server (`handlers/server.py`) calls exactly that, through `make_pipeline` below.
Until 9a's pipeline is on this branch, `StandInPipeline` hands each update straight to PTB: no
per-chat order, no deduplication. The lead swaps `make_pipeline`'s body for 9a's class.
================================================================================================
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from telegram import Update
from telegram.ext import Application

from bot.services import Services

log = logging.getLogger("distriktsbot.telegram")

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class UpdatePipeline(Protocol):
    """The contract the webhook server relies on (issue-9a's pipeline implements it)."""

    async def handle(self, data: dict[str, Any]) -> None:
        """Handle one raw update; return once it is handled or skipped; never raise."""

    async def drain(self, timeout: float) -> None:
        """Finish the updates in hand within ``timeout`` seconds (at SIGTERM)."""


async def handle_update_json(app: AnyApplication, data: dict[str, Any]) -> None:
    """STAND-IN for issue-9a's pipeline: parse one update and let PTB handle it. Never raises;
    logs nothing of the update's content (it holds names, texts and votes)."""
    update_id = data.get("update_id") if isinstance(data, dict) else None
    try:
        update = Update.de_json(data, app.bot)
    except Exception as exc:
        log.warning("skipped an update that cannot be parsed (%s)", type(exc).__name__)
        return
    try:
        await app.process_update(update)
    except Exception as exc:  # PTB passes handler errors to the error handler; this is the rest
        log.error("update %s not handled: %s", update_id, type(exc).__name__)


class StandInPipeline:
    """STAND-IN with the interface of issue-9a's pipeline (see the module docstring)."""

    def __init__(self, app: AnyApplication, services: Services | None = None) -> None:
        self._app = app
        self._in_hand = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle(self, data: dict[str, Any]) -> None:
        self._in_hand += 1
        self._idle.clear()
        try:
            await handle_update_json(self._app, data)
        finally:
            self._in_hand -= 1
            if self._in_hand == 0:
                self._idle.set()

    async def drain(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("%d update(s) still in hand after %.1f s", self._in_hand, timeout)


def make_pipeline(app: AnyApplication, services: Services) -> UpdatePipeline:
    """The one place the webhook server gets its pipeline from.

    MERGE (lead): replace with issue-9a's `handlers.pipeline` class, e.g.
    ``return UpdatePipeline9a(app, services)``."""
    return StandInPipeline(app, services)
