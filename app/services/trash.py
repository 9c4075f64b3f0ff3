"""The trash's retention: documents trashed longer than TRASH_RETENTION_DAYS are purged."""

from __future__ import annotations

import logging
from contextlib import suppress
from datetime import datetime, timedelta

from app.core.errors import NotFound
from app.crud import document as document_crud
from app.crud import periodic as periodic_crud
from app.db.session import Database
from app.services.documents import purge_document
from app.storage import Storage

log = logging.getLogger(__name__)
PURGE_BATCH = 100


async def purge_expired_trash(*, db: Database, storage: Storage, now: datetime, retention: timedelta) -> int:
    """Purge every document trashed before `now - retention`, a batch per transaction."""
    purged = 0
    while True:
        async with db.unit_of_work() as session:
            batch = await document_crud.list_trash_older_than(
                session=session, cutoff=now - retention, limit=PURGE_BATCH
            )
            for document in batch:
                with suppress(NotFound):  # its owner purged it meanwhile
                    await purge_document(
                        session=session, storage=storage, document=document, actor=None, reason="retention"
                    )
        purged += len(batch)
        if len(batch) < PURGE_BATCH:
            log.info("trash.purged count=%d", purged)
            return purged


async def purge_trash_once_per_day(
    *, db: Database, storage: Storage, now: datetime, retention: timedelta
) -> int | None:
    """The daily periodic purge: None if another consumer already ran today's."""
    async with db.unit_of_work() as session:
        day = int(now.timestamp()) // 86_400
        if not await periodic_crud.claim_periodic_slot(session=session, name="trash.purge", slot=day, now=now):
            return None
    return await purge_expired_trash(db=db, storage=storage, now=now, retention=retention)
