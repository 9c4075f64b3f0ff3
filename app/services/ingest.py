"""Upload: stream the files to storage while they arrive, then record them and queue their OCR.

One request may carry several `file` parts (a letter photographed page by page): one document,
its pages the files in order. A PDF comes on its own. A rejected upload leaves nothing behind:
the objects are aborted or deleted, and no row is written.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import ocr, search
from app.core.config import Settings
from app.core.errors import AppError, BadRequest, Invalid, TooLarge, UnsupportedMedia
from app.core.filenames import filename_stem, sanitize_filename
from app.crud import ocr as ocr_crud
from app.db.session import Database, after_commit
from app.schemas.types import Title
from app.services import audit, document_writes, idempotency
from app.services.audit import Actor, document_target
from app.services.ocr_pipeline import Enqueue
from app.services.upload_parts import Field, FileData, FileEnd, FileStart, Part
from app.storage import Storage, new_object_key

log = logging.getLogger(__name__)
MULTIPART_OVERHEAD = 1024 * 1024  # form framing and fields around the file
SNIFF_BYTES = 64 * 1024  # enough for magic bytes and an image header (JPEG's may follow EXIF)
_ALLOWED_FIELDS = frozenset({"title", "languages"})
PDF = "application/pdf"
_title = TypeAdapter(Title)


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    filename: str
    size: int
    content_type: str
    sha256: str


def check_languages(languages: str, installed: list[str]) -> str:
    """`nep+eng`-style codes, each installed. With no language data at all, jobs fail instead."""
    codes = [code.strip() for code in languages.split("+")]
    if not all(code.isascii() and code.replace("_", "").isalnum() and len(code) <= 16 for code in codes):
        raise Invalid("languages must look like 'nep+eng'", code="invalid_languages", installed_languages=installed)
    missing = [code for code in codes if installed and code not in installed]
    if missing:
        raise Invalid(
            f"OCR language not installed: {', '.join(missing)}; {ocr.install_hint(missing)}",
            code="language_not_installed",
            installed_languages=installed,
        )
    return "+".join(codes)


@dataclass(frozen=True, slots=True)
class UploadRules:
    """What one upload request may hold."""

    fields: frozenset[str]  # the form fields allowed besides the files
    max_files: int  # files it may add (the document's room left)
    photos_only: bool  # a PDF is refused: the request appends to a document


async def _store_file(
    storage: Storage, start: FileStart, parts: AsyncIterator[Part], settings: Settings, *, received: int
) -> StoredFile:
    """Stream one file part to storage; `received`: the bytes of the request's earlier files."""
    key = new_object_key()
    hasher = hashlib.sha256()
    size = 0
    head = b""
    content_type: str | None = None
    limit = settings.max_upload_bytes

    def sniff(data: bytes) -> str:
        media_type = ocr.sniff_media_type(data)
        if media_type is None:
            raise UnsupportedMedia("Upload a PNG, JPEG, HEIC, TIFF, WebP or PDF file", code="unsupported_file_type")
        try:
            ocr.check_image_header(data, max_pixels=settings.max_image_pixels)
        except ocr.OcrError as exc:
            raise Invalid(str(exc), code="image_too_large") from None
        return media_type

    async with storage.writer(key) as writer:
        async for part in parts:
            if isinstance(part, FileEnd):
                break
            if not isinstance(part, FileData):
                raise BadRequest("Malformed multipart body")
            size += len(part.data)
            if size > limit:
                raise TooLarge(
                    f"The file is larger than {settings.max_upload_mb} MB",
                    code="file_too_large",
                    stop_reading=True,
                )
            if received + size > settings.max_upload_request_bytes:
                raise request_too_large(settings)
            hasher.update(part.data)
            if content_type is None:
                head += part.data
                if len(head) < SNIFF_BYTES:
                    continue
                content_type = sniff(head)
                await writer.write(head)
            else:
                await writer.write(part.data)
        else:
            raise BadRequest("The upload ended before the file did")
        if size == 0:
            raise Invalid("The file is empty", code="empty_file")
        if content_type is None:
            content_type = sniff(head)
            await writer.write(head)
    filename = sanitize_filename(start.filename)
    return StoredFile(key=key, filename=filename, size=size, content_type=content_type, sha256=hasher.hexdigest())


def request_too_large(settings: Settings) -> TooLarge:
    mib = settings.max_upload_request_bytes // (1024 * 1024)
    return TooLarge(f"The upload is larger than {mib} MB in all", code="request_too_large", stop_reading=True)


def check_declared_size(declared_bytes: int | None, settings: Settings) -> None:
    """Refuse at once a request whose Content-Length is over the upload bounds."""
    if declared_bytes is not None and declared_bytes > settings.max_upload_request_bytes + MULTIPART_OVERHEAD:
        raise request_too_large(settings)


def too_many_files(settings: Settings) -> Invalid:
    return Invalid(
        f"A document holds at most {settings.max_files_per_document} files",
        code="too_many_files",
        max_files=settings.max_files_per_document,
    )


async def read_files(
    parts: AsyncIterator[Part], storage: Storage, settings: Settings, rules: UploadRules
) -> tuple[list[StoredFile], dict[str, str]]:
    """Stream every `file` part to storage, in order, and collect the fields. On any refusal the
    objects already stored are deleted: a refused request leaves nothing behind."""
    fields: dict[str, str] = {}
    stored: list[StoredFile] = []
    try:
        async for part in parts:
            if isinstance(part, Field):
                if part.name not in rules.fields or part.name in fields:
                    raise Invalid(f"Unexpected form field {part.name!r}", code="validation_error")
                fields[part.name] = part.value
            elif isinstance(part, FileStart):
                if part.name != "file":
                    raise Invalid("Send the files in form fields named 'file'", code="validation_error")
                if len(stored) >= rules.max_files:
                    raise too_many_files(settings)
                received = sum(file.size for file in stored)
                stored.append(await _store_file(storage, part, parts, settings, received=received))
                if (rules.photos_only or len(stored) > 1) and any(f.content_type == PDF for f in stored):
                    raise UnsupportedMedia(
                        "A PDF is uploaded on its own; several files, or pages added to a document, are images",
                        code="pdf_among_photos",
                    )
            else:
                raise BadRequest("Malformed multipart body")
        if not stored:
            raise Invalid("Send the file in the form field 'file'", code="validation_error")
    except BaseException:
        await _delete_files(storage, stored)
        raise
    return stored, fields


async def upload_document(
    *,
    db: Database,
    storage: Storage,
    enqueue: Enqueue,
    settings: Settings,
    actor: Actor,
    parts: AsyncIterator[Part],
    installed_languages: list[str],
    now: datetime,
    declared_bytes: int | None = None,
    idempotency_key: str | None = None,
) -> uuid.UUID:
    """Store the upload, create its document and OCR job, and enqueue the job once committed.

    With `idempotency_key`, a retry of the same upload (the same file, title and languages) by
    the same user within a day gives the first one's document and stores nothing
    (app.services.idempotency). A refused upload is audited (`upload.rejected`) in a transaction
    of its own.
    """
    try:
        check_declared_size(declared_bytes, settings)
        key = idempotency.checked_key(idempotency_key)
        return await _accept(db, storage, enqueue, settings, actor, parts, installed_languages, now, key)
    except AppError as exc:
        await audit.record_alone(db, "upload.rejected", actor=actor, details={"code": exc.code})
        raise


async def _accept(
    db: Database,
    storage: Storage,
    enqueue: Enqueue,
    settings: Settings,
    actor: Actor,
    parts: AsyncIterator[Part],
    installed_languages: list[str],
    now: datetime,
    key: str | None,
) -> uuid.UUID:
    rules = UploadRules(fields=_ALLOWED_FIELDS, max_files=settings.max_files_per_document, photos_only=False)
    files, fields = await read_files(parts, storage, settings, rules)
    stored = files[0]
    request = {"files": [[file.sha256, file.filename] for file in files], **fields}
    asked = idempotency.idempotency(key, route="POST /documents/upload", request=request)
    try:
        first = asked and await idempotency.replay(db=db, user_id=actor.id, asked=asked, now=now)
        if first:
            await _delete_files(storage, files)  # the first upload's files are the document's
            return first.document_id
        languages = check_languages(fields.get("languages") or settings.ocr_default_languages, installed_languages)
        try:
            title = _title.validate_python(fields.get("title") or filename_stem(stored.filename))
        except ValidationError as exc:
            raise Invalid(f"title: {exc.errors()[0]['msg']}") from None
        document_id, dialect = uuid.uuid4(), db.engine.dialect.name
        index = await search.index_values(dialect, title=title, content="", pages=[])
        details: dict[str, object] = {
            "filename": stored.filename,
            "size": stored.size,
            "content_type": stored.content_type,
        }
        if len(files) > 1:
            details["files"] = len(files)
        event = audit.event_values("upload.accepted", actor=actor, target=document_target(document_id), details=details)
        params = document_writes.create_params(
            document_id=document_id, owner_id=actor.id, title=title, content="", now=now, index=index, event=event
        )
        if asked is not None:
            params |= document_writes.key_params(key=asked.key, request_hash=asked.request_hash, status_code=202)
        async with db.unit_of_work() as session:
            await document_writes.create(dialect, keyed=asked is not None).run(session, params)
            await add_files(session=session, document_id=document_id, files=files, first_position=1, now=now)
            await ocr_crud.create_job(
                session=session, document_id=document_id, languages=languages, base_version=1, now=now
            )
            # After commit, so the worker finds the rows; if this enqueue is lost, the reaper re-sends it.
            after_commit(session, lambda: enqueue(document_id, 1))
    except IntegrityError:
        await _delete_files(storage, files)
        # A duplicate of this upload wrote the key first: its document is the answer.
        first = asked and await idempotency.replay(db=db, user_id=actor.id, asked=asked, now=now)
        if not first:
            raise
        return first.document_id
    except BaseException:
        await _delete_files(storage, files)
        raise
    log.info(
        "upload.accepted document_id=%s files=%d size=%d type=%s",
        document_id,
        len(files),
        sum(file.size for file in files),
        stored.content_type,
    )
    return document_id


async def _delete_files(storage: Storage, files: list[StoredFile]) -> None:
    for file in files:
        await storage.delete(file.key)


async def add_files(
    *, session: AsyncSession, document_id: uuid.UUID, files: list[StoredFile], first_position: int, now: datetime
) -> None:
    """Record stored files as the document's files from `first_position` on, in order."""
    for position, file in enumerate(files, start=first_position):
        await ocr_crud.create_file(
            session=session,
            document_id=document_id,
            position=position,
            storage_key=file.key,
            filename=file.filename,
            size=file.size,
            content_type=file.content_type,
            sha256=file.sha256,
            now=now,
        )
