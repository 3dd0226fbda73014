"""Retrying the Bot API calls of one update when Telegram or the network fails.

Plugged in as python-telegram-bot's rate limiter (`ApplicationBuilder.rate_limiter`), the hook
PTB offers for wrapping every Bot API call. PTB's own `AIORateLimiter` does not fit here: when
Telegram answers 429 it pauses *every* request of the process until retry_after has passed (one
flooded chat stalls all voters), and its throttle is per process (N processes send N times its
limit) and caps replies at 30/s. This one waits and retries only the call that got the 429, so
other chats go on; it never throttles by itself.

* 429 RetryAfter: wait what Telegram asked (plus jitter) and retry, up to `max_attempts`.
* 5xx, timeouts, network errors (PTB's NetworkError but not BadRequest): exponential backoff with
  full jitter, up to `max_attempts` in all. A timed-out sendMessage may have been delivered, so a
  retry can rarely show a reply twice; losing it would be worse.
* 400, 403, 401: not retried (the handlers deal with them: resend without the quote, end a
  blocked person's subscription, stop with a clear message).
"""

from __future__ import annotations

import asyncio
import logging
import random
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger("distriktsbot.telegram")

JSON = bool | dict[str, Any] | list[dict[str, Any]]

ONCE = frozenset({"getMe"})
"""Calls not retried here: start-up (getMe) has its own retry loop with one log line a try."""


def retry_after_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked to wait (PTB 22 warns that the type of `retry_after` will
    change from int to timedelta; both are read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    total = getattr(value, "total_seconds", None)
    seconds: float = float(total()) if callable(total) else float(value)
    return seconds


class RetryingLimiter(BaseRateLimiter[None]):
    def __init__(
        self,
        max_attempts: int = 5,
        base_delay: float = 0.25,
        max_delay: float = 8.0,
        max_retry_after: float = 60.0,
    ) -> None:
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.retries = 0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> JSON:
        if endpoint in ONCE:
            return await callback(*args, **kwargs)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if attempt >= self.max_attempts or wait > self.max_retry_after:
                    raise
                delay = wait + random.uniform(0.0, 0.25)
                log.info("%s: Telegram asked to wait %.0f s; retrying then", endpoint, wait)
            except BadRequest:
                raise
            except NetworkError as exc:  # 5xx, timeouts, connection errors
                if attempt >= self.max_attempts:
                    log.warning("%s failed %d times, giving up: %s", endpoint, attempt, exc)
                    raise
                delay = random.uniform(0.5, 1.0) * min(
                    self.max_delay, self.base_delay * 2 ** (attempt - 1)
                )
                log.info("%s failed (%s); retry %d in %.2f s", endpoint, exc, attempt, delay)
            self.retries += 1
            await asyncio.sleep(delay)
