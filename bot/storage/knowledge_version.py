"""The knowledge version shared by every process of one deployment (one row, id 1).

A process that reloaded its knowledge successfully bumps the counter; the others see a higher
number on their next look (`bot.knowledge_sync`) and reload too. No row means version 0.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.storage.engine import Database
from bot.storage.schema import KnowledgeVersionRow, utcnow

_ROW_ID = 1


class KnowledgeVersions:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current(self) -> int:
        """The version now in the database (0 before the first bump)."""
        async with self._db.unit_of_work("read the knowledge version") as conn:
            found = await conn.scalar(
                select(KnowledgeVersionRow.version).where(KnowledgeVersionRow.id == _ROW_ID)
            )
        return int(found or 0)

    async def bump(self) -> int:
        """Add one to the version, atomically across processes; returns the new version."""
        now = utcnow()
        statement = self._db.upsert(
            KnowledgeVersionRow,
            {"id": _ROW_ID, "version": 1, "updated_at": now},
            conflict_columns=["id"],
            update={"version": KnowledgeVersionRow.version + 1, "updated_at": now},
        ).returning(KnowledgeVersionRow.version)
        async with self._db.unit_of_work("bump the knowledge version") as conn:
            version = (await conn.execute(statement)).scalar_one()
        return int(version)
