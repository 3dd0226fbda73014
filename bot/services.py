"""The one place that builds the bot's services for every entry point.

Telegram (`handlers/`), the console chat, `ask` and the command line's admin tools all open the
same services here and close them the same way:

    async with open_services(cfg, kb, storage=StorageMode.REQUIRED) as services:
        reply = await services.dialogue.ask(person, "Blir ferja billigere?")
"""

from __future__ import annotations

import enum
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config
from bot.dialogue import Dialogue
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.newsletter import Newsletter
from bot.storage import Storage, StorageError

log = logging.getLogger(__name__)


class StorageMode(enum.Enum):
    REQUIRED = "required"  # the Telegram bot: no database, no start
    OPTIONAL = "optional"  # the console chat: answers work without it, votes are not saved
    NONE = "none"  # one-off answers (`ask`): never touch the database


@dataclass
class Services:
    config: Config
    knowledge_path: Path
    storage: Storage | None
    dialogue: Dialogue
    newsletter: Newsletter | None = None  # the admins' /kringkast (needs the database)

    @property
    def kb(self) -> KnowledgeBase:
        return self.dialogue.kb

    async def close(self) -> None:
        if self.storage is not None:
            storage, self.storage = self.storage, None
            await storage.close()


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
) -> Services:
    """Open the services. Raises KnowledgeError, or StorageError when storage is REQUIRED."""
    path = knowledge_path(cfg, knowledge)
    kb = kb if kb is not None else load_knowledge(path)
    store: Storage | None = None
    if storage is not StorageMode.NONE:
        try:
            store = await Storage.open(cfg.database.url)
        except StorageError as exc:
            if storage is StorageMode.REQUIRED:
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
    )
    newsletter = Newsletter(store.outbox, cfg.admins) if store is not None else None
    return Services(
        config=cfg, knowledge_path=path, storage=store, dialogue=dialogue, newsletter=newsletter
    )


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
