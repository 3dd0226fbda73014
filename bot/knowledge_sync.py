"""One knowledge version across the processes of a deployment.

N bot processes share one database. When an admin reloads the knowledge in one of them
(`/oppdater`), the others must follow without a restart. The mechanism:

* the database holds a version counter (`storage.knowledge_version`, table `knowledge_version`);
* the process that reloaded successfully calls :meth:`KnowledgeSync.published`, which bumps the
  counter and remembers the new number as its own;
* every process looks at the counter every ``poll_seconds`` (one indexed one-row read) and, when
  it is higher than the version it has, calls its ``reload`` callback, then takes that number.

Polling was chosen over PostgreSQL LISTEN/NOTIFY: it works on SQLite as well, needs no
dedicated connection to keep alive and re-listen after a database restart, and a missed
notification cannot leave a process behind for good. The price is a delay of at most
``poll_seconds`` (2 s by default) before the other processes answer from the new knowledge.

The reload callback is anything ``async () -> object`` that raises on failure (issue-7a's
``Services.reload_knowledge()``). A reload that fails is logged and not retried for that version
(the files are what they are; the next successful reload anywhere bumps the version again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.storage import KnowledgeVersions, StorageError

log = logging.getLogger("distriktsbot.knowledge_sync")

Reload = Callable[[], Awaitable[object]]


class KnowledgeSync:
    def __init__(
        self, versions: KnowledgeVersions, reload: Reload, *, poll_seconds: float = 2.0
    ) -> None:
        self._versions = versions
        self._reload = reload
        self.poll_seconds = poll_seconds
        self.version = 0  # the version this process's knowledge corresponds to
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one check (and reload) at a time in this process
        self._following = False  # inside the reload callback

    async def start(self) -> None:
        """Take the database's version as this process's own (the knowledge was just loaded
        from the files), then start looking for changes in the background."""
        self.version = await self._versions.current()
        if self.poll_seconds > 0 and self._task is None:
            self._task = asyncio.create_task(self._poll_forever(), name="knowledge-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def published(self) -> int:
        """Call after this process reloaded its knowledge successfully: bumps the shared version
        so the other processes reload too. Returns the new version."""
        if self._following:
            # called from our own reload callback while following another process's reload:
            # publishing again would make the processes reload each other for ever
            return self.version
        bumped = await self._versions.bump()
        self.version = max(self.version, bumped)
        log.info("knowledge version %d published", bumped)
        return bumped

    async def check(self) -> bool:
        """Look once; reload when another process published a newer version. True if reloaded."""
        async with self._lock:
            latest = await self._versions.current()
            if latest <= self.version:
                return False
            log.info(
                "knowledge version %d published elsewhere (have %d): reloading",
                latest,
                self.version,
            )
            self._following = True
            try:
                await self._reload()
            except Exception as exc:
                log.error(
                    "reload for knowledge version %d failed, keeping the knowledge "
                    "loaded before: %s",
                    latest,
                    exc,
                )
                self.version = max(self.version, latest)  # not retried for this version
                return False
            finally:
                self._following = False
            self.version = max(self.version, latest)
            return True

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.check()
            except StorageError as exc:  # the database is down: try again at the next tick
                log.warning("cannot read the knowledge version: %s", exc)
            except Exception:
                log.exception("knowledge version check failed")
