"""The one place that builds the bot's services for every entry point.

Telegram (`handlers/`), the console chat, `ask` and the command line's admin tools all open the
same services here and close them the same way:

    async with open_services(cfg, kb, storage=StorageMode.REQUIRED) as services:
        reply = await services.dialogue.ask(person, "Blir ferja billigere?")
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import messages
from bot.admin import Admin, ErrorReports
from bot.config import Config
from bot.dialogue import Dialogue
from bot.knowledge import (
    KnowledgeBase,
    KnowledgeError,
    Problem,
    knowledge_files,
    load_knowledge,
)
from bot.knowledge_sync import KnowledgeSync
from bot.newsletter import Newsletter
from bot.selftest import KnowledgeDiff, SelfTest, diff_knowledge, self_test
from bot.storage import Storage, StorageError
from bot.storage.engine import sqlite_file
from bot.writeback import Written, add_example, add_not_ours

log = logging.getLogger(__name__)


class StorageMode(enum.Enum):
    REQUIRED = "required"  # the Telegram bot: no database, no start
    EXISTING = "existing"  # the admins' command line: the bot's database, never a new empty one
    OPTIONAL = "optional"  # the console chat: answers work without it, votes are not saved
    NONE = "none"  # one-off answers (`ask`): never touch the database


@dataclass(frozen=True)
class ReloadResult:
    """What /oppdater (or a write-back, or the file watch) did."""

    kb: KnowledgeBase  # the knowledge served now (the old one when `problems`)
    problems: list[Problem] = field(default_factory=list)
    diff: KnowledgeDiff | None = None
    selftest: SelfTest | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


Fingerprint = tuple[tuple[str, int, int], ...]


def _fingerprint(path: Path) -> Fingerprint:
    """The knowledge files' names, modification times and sizes (to notice a change)."""
    out = []
    try:
        files = knowledge_files(path) if path.exists() else []
    except OSError:
        files = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


@dataclass
class Services:
    config: Config
    knowledge_path: Path
    storage: Storage | None
    dialogue: Dialogue
    # several processes: follows reloads made by the others (set by the Telegram wiring)
    knowledge_sync: KnowledgeSync | None = None
    admin: Admin = field(init=False)
    newsletter: Newsletter | None = field(init=False)  # /kringkast (needs the database)
    errors: ErrorReports = field(init=False)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)
    _fingerprint: Fingerprint = field(init=False, default=())

    def __post_init__(self) -> None:
        self.admin = Admin(self, self.config.admins)
        self.newsletter = (
            Newsletter(self.storage.outbox, self.admin.is_admin) if self.storage else None
        )
        self.errors = ErrorReports(self.config.admin_tools.error_reports_per_hour)
        self.dialogue.start_note = self.admin.start_note
        self._fingerprint = _fingerprint(self.knowledge_path)

    @property
    def kb(self) -> KnowledgeBase:
        return self.dialogue.kb

    async def close(self) -> None:
        await self.dialogue.drain()
        if self.knowledge_sync is not None:
            sync, self.knowledge_sync = self.knowledge_sync, None
            await sync.stop()
        if self.storage is not None:
            storage, self.storage = self.storage, None
            await storage.close()

    # --- the knowledge: reload, write-back ---------------------------------------------------

    async def reload_knowledge(self, *, publish: bool = True) -> ReloadResult:
        """Load and validate the knowledge files again. On any problem the old knowledge keeps
        being served and the problems are returned; otherwise the new one is swapped in, and
        the result says what changed and how the self-test went.

        With several processes, a successful reload is published (the shared knowledge version
        is bumped) so the others reload too; they reload with `publish=False`."""
        async with self._lock:
            result = await self._reload()
        if result.ok and publish and self.knowledge_sync is not None:
            try:
                await self.knowledge_sync.published()
            except StorageError as exc:  # this process has it; the others follow a later bump
                log.warning("knowledge reload not published to other processes: %s", exc)
        return result

    async def _reload(self) -> ReloadResult:
        old = self.kb
        fingerprint = _fingerprint(self.knowledge_path)
        try:
            new = await asyncio.to_thread(load_knowledge, self.knowledge_path)
        except KnowledgeError as exc:
            self._fingerprint = fingerprint  # reported once; a new edit is a new change
            log.warning("knowledge not reloaded: %d problem(s)", len(exc.problems))
            return ReloadResult(old, list(exc.problems))
        self.dialogue.reload(new)
        self._fingerprint = fingerprint
        test = self_test(new, self.dialogue.matcher)
        log.info("knowledge reloaded: %d topics", len(new.topics))
        return ReloadResult(new, diff=diff_knowledge(old, new), selftest=test)

    def knowledge_changed(self) -> bool:
        """Whether the knowledge files changed on disk since they were last (re)loaded."""
        return _fingerprint(self.knowledge_path) != self._fingerprint

    async def reload_if_changed(self) -> ReloadResult | None:
        async with self._lock:
            if not self.knowledge_changed():
                return None
            return await self._reload()

    async def learn(self, topic_id: str, question: str) -> tuple[Written, ReloadResult]:
        """Add `question` as an example of `topic_id` in its YAML file (validated, atomic),
        then reload. Raises WriteError (file untouched) when the change would be invalid."""
        async with self._lock:
            written = await asyncio.to_thread(
                add_example, self.kb, self.knowledge_path, topic_id, question
            )
            return written, await self._reload()

    async def mark_not_ours(self, area_id: str, question: str) -> tuple[Written, ReloadResult]:
        """Add `question` to the area's out_of_scope examples (validated, atomic), then reload."""
        async with self._lock:
            written = await asyncio.to_thread(
                add_not_ours, self.kb, self.knowledge_path, area_id, question
            )
            return written, await self._reload()

    # --- privacy ---------------------------------------------------------------------------

    async def delete_old_questions(self, now: datetime | None = None) -> int:
        """Delete unanswered questions older than `admin_tools.unanswered_days`."""
        if self.storage is None:
            return 0
        cutoff = _days_before(now, self.config.admin_tools.unanswered_days)
        return _retained(
            await self.storage.unanswered.delete_older_than(cutoff), "unanswered question(s)"
        )

    async def delete_old_recipients(self, now: datetime | None = None) -> int:
        """Delete the recipient rows of newsletters reported more than
        `broadcast.keep_recipients_days` ago (each row holds a subscriber's chat id)."""
        if self.storage is None:
            return 0
        cutoff = _days_before(now, self.config.broadcast.keep_recipients_days)
        return _retained(
            await self.storage.outbox.forget_finished_before(cutoff),
            "newsletter recipient row(s)",
        )


def _days_before(now: datetime | None, days: int) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=days)


def _retained(deleted: int, what: str) -> int:
    if deleted:
        log.info("retention: deleted %d %s", deleted, what)
    return deleted


def knowledge_path(cfg: Config, override: str | Path | None = None) -> Path:
    return Path(override) if override else cfg.knowledge_path()


def load_kb(cfg: Config, override: str | Path | None = None) -> KnowledgeBase:
    """Load and validate the knowledge (raises KnowledgeError listing every problem)."""
    return load_knowledge(knowledge_path(cfg, override))


async def build_services(
    cfg: Config,
    kb: KnowledgeBase | None = None,
    *,
    knowledge: str | Path | None = None,
    storage: StorageMode = StorageMode.REQUIRED,
    bot_username: str | None = None,
    migrate: bool = True,
) -> Services:
    """Open the services. Raises KnowledgeError, or StorageError when storage is REQUIRED.

    ``migrate=False`` (webhook processes, several at once): the schema is not migrated here but
    must already be at head (`distriktsbot deploy`), else SchemaNotAtHead (a StorageError)."""
    path = knowledge_path(cfg, knowledge)
    kb = kb if kb is not None else load_knowledge(path)
    store: Storage | None = None
    if storage is StorageMode.EXISTING:
        file = sqlite_file(cfg.database.url)
        if file is not None and not file.exists():
            raise StorageError(messages.CLI_NO_DATABASE.format(path=file.absolute()))
    if storage is not StorageMode.NONE:
        try:
            store = await Storage.open(cfg.database.url, migrate=migrate)
            if storage is not StorageMode.OPTIONAL:
                await _check_ready(store, at_head=not migrate)
        except StorageError as exc:
            if storage is not StorageMode.OPTIONAL:
                raise
            print(
                f"(the database is not available, votes will not be saved: {exc})",
                file=sys.stderr,
            )
    # without a configured secret (the console, `ask`), one run gets one random key: votes of
    # different runs are not linked
    secret = cfg.privacy.hash_secret or secrets.token_hex(16)
    dialogue = Dialogue(
        kb,
        store,
        secret=secret,
        engage_url=cfg.links.engage or None,
        bot_username=bot_username,
        write_timeout=cfg.limits.database_wait,
    )
    return Services(config=cfg, knowledge_path=path, storage=store, dialogue=dialogue)


async def _check_ready(store: Storage, *, at_head: bool) -> None:
    """The schema is at head (when this process did not migrate it) and the database accepts
    writes; else the storage is closed and StorageError raised."""
    try:
        if at_head:
            await store.db.check_schema_at_head()
        await store.check_writable()
    except BaseException:
        await store.close()
        raise


@asynccontextmanager
async def open_services(
    cfg: Config,
    kb: KnowledgeBase | None = None,
    *,
    knowledge: str | Path | None = None,
    storage: StorageMode = StorageMode.REQUIRED,
    bot_username: str | None = None,
) -> AsyncIterator[Services]:
    services = await build_services(
        cfg, kb, knowledge=knowledge, storage=storage, bot_username=bot_username
    )
    try:
        yield services
    finally:
        await services.close()
