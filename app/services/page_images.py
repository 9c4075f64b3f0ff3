"""The picture of a page, as the user sees it.

A photo's page is the photo stage's flattened page, stored by the OCR worker beside the file. A
page that was not a photo (a scan, a PDF page) is drawn from the original file the first time it
is asked for and kept in storage. Either way the page's row names the object, which is never
rewritten (a new picture gets a new key), so its key is its ETag. Purged with the document,
copied with a duplicate, replaced when the OCR runs again.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app import ocr
from app.core.config import Settings
from app.core.errors import NotFound
from app.crud import ocr as ocr_crud
from app.db.session import Database
from app.models import DocumentFile
from app.storage import Storage, StorageNotFound, new_object_key


@dataclass(frozen=True, slots=True)
class PageImage:
    """A page's stored picture: stream `key`, or send `data` when it was just drawn."""

    etag: str
    key: str
    data: bytes | None = None


def etag_of(key: str) -> str:
    return f'"{key.rsplit("/", 1)[-1]}"'


async def page_image(
    *, session: AsyncSession, db: Database, storage: Storage, settings: Settings, document_id: uuid.UUID, number: int
) -> PageImage:
    """Page `number`'s picture; NotFound for a page the OCR has not read (yet)."""
    page = await ocr_crud.get_page(session=session, document_id=document_id, number=number)
    if page is None:
        raise NotFound("This page has not been read yet", code="no_page")
    if page.image_key is not None:
        return PageImage(etag=etag_of(page.image_key), key=page.image_key)
    file, number_in_file = _file_of_page(await ocr_crud.list_files(session=session, document_id=document_id), number)
    data = await _draw(storage, settings, file, number_in_file)
    key = new_object_key()
    await storage.put_bytes(key, data)
    async with db.unit_of_work() as writer:
        kept = await ocr_crud.set_page_image(session=writer, document_id=document_id, number=number, image_key=key)
    if not kept:  # drawn meanwhile by another request, or the page was read again: ours is not kept
        await storage.delete(key)
    return PageImage(etag=etag_of(key), key=key, data=data)


def _file_of_page(files: list[DocumentFile], number: int) -> tuple[DocumentFile, int]:
    """The file holding the document's page `number`, and the page's number in it."""
    offset = 0
    for file in files:
        if file.page_count is None:
            break  # not counted: the page cannot have been read
        if number <= offset + file.page_count:
            return file, number - offset
        offset += file.page_count
    raise NotFound("This page has not been read yet", code="no_page")


async def _draw(storage: Storage, settings: Settings, file: DocumentFile, number: int) -> bytes:
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="lekhamudra-page-"))
    try:
        path = workdir / "original"
        try:
            await storage.download_to(file.storage_key, path)
        except StorageNotFound:
            raise NotFound("The file is missing from storage", code="file_missing") from None
        limits = {"max_pages": settings.max_pdf_pages, "max_pixels": settings.max_image_pixels}
        return await asyncio.to_thread(_render_png, path, file.content_type, number, limits)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


def _render_png(path: Path, media_type: str, number: int, limits: dict[str, int]) -> bytes:
    try:
        image = ocr.render_page_image(path, media_type, number, **limits)
    except ocr.OcrError as exc:  # the file was read once; failing now is a corrupt store, not the user's input
        raise RuntimeError(f"cannot draw page {number}: {exc}") from exc
    return ocr.encode_page_image(image)
