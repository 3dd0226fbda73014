"""The knowledge version across processes (`bot.knowledge_sync`): a reload published by one
process reaches the others through the database. Two `Storage` objects on one database stand in
for two processes; the reload callbacks are stand-ins that count their calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.knowledge_sync import KnowledgeSync
from bot.storage import Storage, StorageError


class Reloads:
    """A stand-in reload callback: counts its calls, fails when told to."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.called = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        self.called.set()
        if self.fail:
            raise ValueError("knowledge/x.yaml: line 3: broken")


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[tuple[Storage, Storage]]:
    a = await Storage.open(db_url)
    b = await Storage.open(db_url, migrate=False)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_a_published_reload_reaches_the_other_process_once(
    two: tuple[Storage, Storage],
) -> None:
    a, b = two
    reload_a, reload_b = Reloads(), Reloads()
    sync_a = KnowledgeSync(a.knowledge_version, reload_a, poll_seconds=0)
    sync_b = KnowledgeSync(b.knowledge_version, reload_b, poll_seconds=0)
    await sync_a.start()
    await sync_b.start()
    assert (sync_a.version, sync_b.version) == (0, 0)
    assert not await sync_b.check()  # nothing new

    assert await sync_a.published() == 1  # /oppdater in process A, after its own reload
    assert not await sync_a.check()  # A does not reload its own publication
    assert await sync_b.check()
    assert reload_b.calls == 1 and sync_b.version == 1
    assert not await sync_b.check()  # once
    assert reload_b.calls == 1 and reload_a.calls == 0

    await sync_b.published()  # and the other way round
    assert await sync_a.check() and reload_a.calls == 1
    assert not await sync_b.check()


async def test_a_new_process_takes_the_current_version_without_reloading(
    two: tuple[Storage, Storage],
) -> None:
    a, b = two
    await KnowledgeSync(a.knowledge_version, Reloads(), poll_seconds=0).published()
    await KnowledgeSync(a.knowledge_version, Reloads(), poll_seconds=0).published()
    reload_b = Reloads()
    sync_b = KnowledgeSync(b.knowledge_version, reload_b, poll_seconds=0)
    await sync_b.start()  # it just loaded the files: it is at version 2
    assert sync_b.version == 2
    assert not await sync_b.check() and reload_b.calls == 0


async def test_concurrent_publications_each_count(two: tuple[Storage, Storage]) -> None:
    a, b = two
    syncs = [
        KnowledgeSync(storage.knowledge_version, Reloads(), poll_seconds=0)
        for storage in (a, b, a, b)
    ]
    versions = await asyncio.gather(*(s.published() for s in syncs))
    assert sorted(versions) == [1, 2, 3, 4]


async def test_a_failed_reload_is_logged_and_not_retried_for_that_version(
    two: tuple[Storage, Storage], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = two
    reload_b = Reloads()
    reload_b.fail = True
    sync_b = KnowledgeSync(b.knowledge_version, reload_b, poll_seconds=0)
    await sync_b.start()
    sync_a = KnowledgeSync(a.knowledge_version, Reloads(), poll_seconds=0)
    await sync_a.published()
    assert not await sync_b.check()
    assert "reload for knowledge version 1 failed" in caplog.text
    assert not await sync_b.check()
    assert reload_b.calls == 1
    reload_b.fail = False
    await sync_a.published()  # the next good reload anywhere
    assert await sync_b.check() and reload_b.calls == 2


async def test_the_poller_reloads_by_itself(two: tuple[Storage, Storage]) -> None:
    a, b = two
    reload_b = Reloads()
    sync_b = KnowledgeSync(b.knowledge_version, reload_b, poll_seconds=0.05)
    await sync_b.start()
    try:
        await KnowledgeSync(a.knowledge_version, Reloads(), poll_seconds=0).published()
        await asyncio.wait_for(reload_b.called.wait(), timeout=10)
        assert reload_b.calls == 1
    finally:
        await sync_b.stop()


async def test_publishing_from_inside_the_followers_reload_does_not_bump(
    two: tuple[Storage, Storage],
) -> None:
    """A reload callback that (wrongly) publishes again must not make the processes reload
    each other for ever, nor deadlock."""
    a, b = two
    holder: list[KnowledgeSync] = []

    async def reload_and_publish() -> None:
        await holder[0].published()

    sync_b = KnowledgeSync(b.knowledge_version, reload_and_publish, poll_seconds=0)
    holder.append(sync_b)
    await sync_b.start()
    sync_a = KnowledgeSync(a.knowledge_version, Reloads(), poll_seconds=0)
    await sync_a.published()
    assert await asyncio.wait_for(sync_b.check(), timeout=10)
    assert await a.knowledge_version.current() == 1
    assert not await sync_a.check()


async def test_the_poller_survives_a_database_outage(db_url: str) -> None:
    storage = await Storage.open(db_url)
    reloads = Reloads()
    sync = KnowledgeSync(storage.knowledge_version, reloads, poll_seconds=0.01)
    await sync.start()
    await storage.close()  # every look now fails with StorageError
    with pytest.raises(StorageError):
        await storage.knowledge_version.current()
    await asyncio.sleep(0.1)
    assert sync._task is not None and not sync._task.done()
    await sync.stop()
