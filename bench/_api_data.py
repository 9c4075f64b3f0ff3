"""Databases for bench.api: create, migrate, seed with COPY, drop.

Users share one real argon2id hash of a known password (hashing 1 000 would take a minute and
measure nothing). Every document has its version-1 row, as the app writes on create, and
created_by/updated_by name its owner. The test user's documents are the same rows (same ids,
text and times) in every database, so the small and the large one differ only by the others'.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from alembic import command

from app.core.config import Settings
from app.core.emails import email_key
from app.core.security import Passwords
from app.db.migrate import alembic_config

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_EMAIL = "bench@example.com"
TEST_PASSWORD = "Lekhamudra bench पासवर्ड 2081"  # noqa: S105 (a throwaway account in a throwaway database)
TEST_USER_DOCUMENTS = 1_000
BATCH = 10_000
START = datetime(2024, 1, 1, tzinfo=UTC)
DOCUMENT_COLUMNS = [
    "id",
    "owner_id",
    "title",
    "content",
    "version",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
]

NEPALI = [
    "सम्बन्धित सबैको जानकारीका लागि यो सूचना प्रकाशित गरिएको छ।",
    "निवेदन दिँदा नागरिकताको प्रमाणपत्रको प्रतिलिपि र वडा कार्यालयको सिफारिस पत्र संलग्न गर्नुपर्नेछ।",
    "म्याद नाघेपछि प्राप्त हुन आएका निवेदन उपर कुनै कारबाही हुने छैन।",
    "राजस्व दस्तुर रु. ५००।- कार्यालयको बैंक खातामा जम्मा गरी सक्कल भौचर पेस गर्नुपर्नेछ।",
    "आर्थिक वर्ष २०८१/८२ को वार्षिक बजेट तथा कार्यक्रम नगर सभाबाट पारित भएको छ।",
    "विद्यालय व्यवस्थापन समितिको बैठक आगामी आइतबार बिहान ११ बजे बस्ने भएको छ।",
    "स्वास्थ्य चौकीमा निःशुल्क खोप कार्यक्रम सञ्चालन हुने भएकाले सबै अभिभावकलाई अनुरोध छ।",
    "जग्गा नापजाँचको लागि मालपोत कार्यालयमा आवश्यक कागजात सहित उपस्थित हुनुहोला।",
    "यस गाउँपालिकाको खानेपानी आयोजनाको प्रगति प्रतिवेदन संलग्न गरिएको छ।",
    "कर्मचारीहरूको सरुवा तथा पदस्थापन सम्बन्धी निर्णय तल उल्लेख गरिए बमोजिम छ।",
    "बाढी पहिरो प्रभावित परिवारलाई राहत वितरण कार्य सम्पन्न भएको छ।",
    "सार्वजनिक खरिद ऐन बमोजिम बोलपत्र आह्वान गरिएको छ।",
]
ENGLISH = [
    "Minutes of the ward committee meeting held on the first Sunday of the month.",
    "The contractor shall complete the drinking water project before the monsoon.",
    "Please find attached the progress report for the second trimester.",
    "Applications received after the deadline will not be considered.",
    "The budget allocation for road maintenance has been revised upward by ten percent.",
    "All staff are requested to submit their attendance records by Friday.",
    "The audit found no irregularities in the procurement of medical supplies.",
    "Scanned copies of the land ownership certificate must be legible.",
]
TITLES_NP = ["सूचना", "बैठकको निर्णय", "बजेट प्रतिवेदन", "प्रगति विवरण", "निवेदन", "परिपत्र", "सिफारिस पत्र"]
TITLES_EN = ["Notice", "Meeting minutes", "Budget report", "Progress report", "Application", "Circular"]
WARDS = ["वडा नं. ३", "काठमाडौं महानगरपालिका", "पोखरा", "Ward 7", "Lalitpur", "धरान उपमहानगरपालिका"]


@dataclass(frozen=True)
class Seeded:
    """What a seeded database holds, for the load and the report."""

    name: str
    test_user_id: uuid.UUID
    test_document_ids: list[uuid.UUID]
    users: int
    documents: int
    mean_content_bytes: float


class Text:
    """Mixed Nepali + English titles and bodies, a few hundred bytes to a few KiB."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (reproducible text, not secrets)

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def document(self) -> tuple[str, str]:
        rng = self.rng
        nepali = rng.random() < 0.7
        kind = rng.choice(TITLES_NP if nepali else TITLES_EN)
        title = f"{kind}: {rng.choice(WARDS)} ({rng.randint(2075, 2082)}-{rng.randint(1, 999):03})"
        paragraphs = []
        for _ in range(rng.randint(1, 6)):
            pool = NEPALI if rng.random() < (0.8 if nepali else 0.3) else ENGLISH
            paragraphs.append(" ".join(rng.choices(pool, k=rng.randint(1, 5))))
        return title, "\n\n".join(paragraphs)

    def times(self) -> tuple[datetime, datetime]:
        created = START + timedelta(seconds=self.rng.randrange(2 * 365 * 86_400))
        return created, created + timedelta(seconds=self.rng.randrange(30 * 86_400))


def password_hash() -> str:
    """One real hash with the server's default argon2 parameters (no rehash at login)."""
    fields = Settings.model_fields
    passwords = Passwords(
        memory_kib=fields["argon2_memory_kib"].default,
        time_cost=fields["argon2_time_cost"].default,
        parallelism=fields["argon2_parallelism"].default,
        max_concurrent=1,
    )
    return asyncio.run(passwords.hash(TEST_PASSWORD, anonymous=False))


def _rows(owners: list[uuid.UUID], documents: int) -> Iterator[tuple[uuid.UUID, str, str, datetime, datetime]]:
    """(owner, title, content, created, updated): the test user's 1 000 spread evenly among the others."""
    mine, others = Text(seed=2081), Text(seed=2082)
    every = max(1, documents // TEST_USER_DOCUMENTS)
    placed = 0
    for i in range(documents):
        if placed < TEST_USER_DOCUMENTS and (i % every == 0 or documents - i <= TEST_USER_DOCUMENTS - placed):
            placed += 1
            yield (owners[0], *mine.document(), *mine.times())
        else:
            yield (owners[1 + i % (len(owners) - 1)], *others.document(), *others.times())


async def create_database(name: str) -> str:
    """A fresh database, migrated to head; returns its postgresql:// URL."""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    await asyncio.to_thread(command.upgrade, alembic_config(url.replace("postgresql:", "postgresql+asyncpg:")), "head")
    return url


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def seed(name: str, url: str, *, users: int, documents: int, hashed: str) -> Seeded:
    """Users, documents and their version-1 rows through COPY; then VACUUM ANALYZE and a
    CHECKPOINT, so that the server does not spend the first measured minutes writing the seed
    out (the checkpointer runs on the server's pinned core)."""
    ids = Text(seed=1)
    owners = [ids.uuid() for _ in range(users)]
    now = datetime.now(UTC)
    emails = [TEST_EMAIL if i == 0 else f"user{i:04}@example.com" for i in range(users)]
    user_rows = [
        (owner, email, email_key(email), f"प्रयोगकर्ता {i}", hashed, START)
        for i, (owner, email) in enumerate(zip(owners, emails, strict=True))
    ]
    conn = await asyncpg.connect(url)
    doc_ids, mine, size = Text(seed=3), [], 0
    mine_ids = Text(seed=4)  # the test user's ids do not depend on how many others there are
    try:
        await conn.copy_records_to_table(
            "users", records=user_rows, columns=["id", "email", "email_key", "full_name", "password_hash", "created_at"]
        )
        batch_docs: list[tuple] = []
        batch_versions: list[tuple] = []
        for owner, title, content, created, updated in _rows(owners, documents):
            doc_id = mine_ids.uuid() if owner == owners[0] else doc_ids.uuid()
            if owner == owners[0]:
                mine.append(doc_id)
            updated = min(updated, now)
            size += len(content.encode())
            batch_docs.append((doc_id, owner, title, content, 1, created, updated, owner, owner))
            batch_versions.append((doc_id, 1, title, content, owner, updated))
            if len(batch_docs) == BATCH:
                await _copy(conn, batch_docs, batch_versions)
                batch_docs, batch_versions = [], []
        if batch_docs:
            await _copy(conn, batch_docs, batch_versions)
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return Seeded(name, owners[0], mine, users, documents, size / max(1, documents))


async def _copy(conn: asyncpg.Connection, documents: list[tuple], versions: list[tuple]) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table(
            "documents",
            records=documents,
            columns=DOCUMENT_COLUMNS,
        )
        await conn.copy_records_to_table(
            "document_versions",
            records=versions,
            columns=["document_id", "version", "title", "content", "author_id", "created_at"],
        )


async def server_facts(url: str) -> dict[str, str]:
    """PostgreSQL version and the settings that matter for this load."""
    conn = await asyncpg.connect(url)
    try:
        facts = {"version": await conn.fetchval("SHOW server_version")}
        for setting in ("shared_buffers", "max_connections", "synchronous_commit"):
            facts[setting] = await conn.fetchval(f"SHOW {setting}")
        facts["size"] = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        return facts
    finally:
        await conn.close()
