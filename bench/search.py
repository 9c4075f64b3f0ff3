"""Search benchmark on PostgreSQL: index 100 000 Nepali + English documents, time the queries.

`uv run python -m bench.search` creates a database on 127.0.0.1:5432 (user postgres), migrates it,
inserts users and documents with Core, indexes every document through `app.search.index_document`,
then times `app.search.search` (SQL, snippets and page numbers) for each kind of query, for one
user's 1 000 documents and for all documents. The database is dropped at the end.

Vocabulary: real words from the dictionaries inside Tesseract's `nep` and `eng` models
(bench/wordlists/, extracted once), drawn with Zipf-like frequencies (weight 1/rank).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import math
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic import command

from app.db.migrate import alembic_config
from app.db.session import Database
from app.models import Document, User
from app.search import index_document, search
from bench._docs import add_write_option, publish

log = logging.getLogger("bench.search")
SECTION = "## Search"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
WORDS = Path(__file__).resolve().parent / "wordlists"


def wordlist(lang: str, limit: int, rng: random.Random) -> list[str]:
    """`limit` words from Tesseract's dictionary for `lang`, in a random (seeded) order."""
    words = gzip.decompress((WORDS / f"words-{lang}.txt.gz").read_bytes()).decode().split()
    rng.shuffle(words)
    return words[:limit]


class Corpus:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (reproducible text, not secrets)
        nepali, english = wordlist("nep", 3000, self.rng), wordlist("eng", 1500, self.rng)
        # Mostly Nepali text with English mixed in, as in Nepali office documents.
        self.vocabulary = [w for pair in zip(nepali, english, strict=False) for w in (pair[0], pair[0], pair[1])]
        self.vocabulary += nepali[len(english) :]
        self.weights = [1 / rank for rank in range(1, len(self.vocabulary) + 1)]

    def words(self, n: int) -> list[str]:
        return self.rng.choices(self.vocabulary, self.weights, k=n)

    def fiscal_year(self) -> str:
        year = self.rng.randint(2070, 2082)
        return f"{year}/{(year + 1) % 100:02d}".translate(str.maketrans("0123456789", "०१२३४५६७८९"))

    def document(self) -> tuple[str, str]:
        title = " ".join(self.words(self.rng.randint(3, 8)))
        sentences = []
        for _ in range(self.rng.randint(15, 30)):
            sentence = self.words(self.rng.randint(6, 14))
            if self.rng.random() < 0.1:
                sentence.insert(self.rng.randrange(len(sentence)), self.fiscal_year())
            sentences.append(" ".join(sentence) + "।")
        return title, " ".join(sentences)

    def mid_word(self) -> str:
        """A word neither everywhere nor nowhere: ranks 100 to 3 000."""
        return self.vocabulary[self.rng.randrange(100, 3000)]


async def build(db: Database, corpus: Corpus, *, documents: int, per_user: int) -> tuple[uuid.UUID, float, int]:
    """Insert users and documents, index them all; return one user, the indexing rate, bytes of text."""
    users = [uuid.uuid4() for _ in range(documents // per_user)]
    async with db.unit_of_work() as session:
        await session.execute(
            sa.insert(User),
            [{"id": u, "email": f"u{i}@example.com", "password_hash": "x"} for i, u in enumerate(users)],
        )
    t0, size, batch = datetime(2025, 1, 1, tzinfo=UTC), 0, 500
    elapsed = 0.0
    for start in range(0, documents, batch):
        rows = []
        for i in range(start, min(documents, start + batch)):
            title, content = corpus.document()
            size += len(content.encode())
            when = t0 + timedelta(minutes=i)
            rows.append(
                {"id": uuid.uuid4(), "owner_id": users[i % len(users)], "title": title, "content": content}
                | {"created_at": when, "updated_at": when, "version": 1}
            )
        async with db.unit_of_work() as session:
            await session.execute(sa.insert(Document), rows)
        began = time.perf_counter()
        async with db.unit_of_work() as session:
            for row in rows:
                await index_document(
                    session, document_id=row["id"], title=row["title"], content=row["content"], pages=[]
                )
        elapsed += time.perf_counter() - began
        if (start // batch) % 20 == 0:
            log.info("indexed %d documents, %.0f docs/s", start + len(rows), (start + len(rows)) / elapsed)
    return users[0], documents / elapsed, size


def queries(corpus: Corpus, n: int) -> dict[str, list[str]]:
    def phrase() -> str:
        words = corpus.document()[1].replace("।", "").split()
        i = corpus.rng.randrange(len(words) - 1)
        return f'"{words[i]} {words[i + 1]}"'

    return {
        "one word": [corpus.mid_word() for _ in range(n)],
        "two words": [f"{corpus.mid_word()} {corpus.mid_word()}" for _ in range(n)],
        "phrase": [phrase() for _ in range(n)],
        "prefix": [corpus.mid_word()[:3] + "*" for _ in range(n)],
    }


async def time_queries(db: Database, texts: list[str], viewer: uuid.UUID | None) -> tuple[list[float], float]:
    """Latencies in ms, and the mean number of matching documents."""
    latencies, totals = [], []
    for text in texts:
        began = time.perf_counter()
        async with db.unit_of_work(write=False) as session:
            page = await search(session, query=text, viewer=viewer, limit=20, offset=0)
        latencies.append((time.perf_counter() - began) * 1000)
        totals.append(page.total)
    return latencies, statistics.mean(totals)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def admin_scalar(sql: str) -> str:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        return str(await conn.fetchval(sql))
    finally:
        await conn.close()


async def reuse(db: Database, corpus: Corpus, *, documents: int) -> tuple[uuid.UUID, float, int]:
    """A kept database from an earlier run: its first user; no indexing rate (nothing was indexed)."""
    async with db.engine.connect() as conn:
        user = await conn.scalar(sa.select(User.id).where(User.email == "u0@example.com"))
        size = await conn.scalar(sa.select(sa.func.sum(sa.func.octet_length(Document.content))))
    corpus.document()  # move the generator on, as building would have (queries differ from the build's text)
    return user, float("nan"), int(size or 0)


async def run(args: argparse.Namespace) -> str:
    name = args.keep or f"lekhamudra_bench_search_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    if not exists:
        await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        db = Database(url)
        corpus = Corpus(args.seed)
        load_before = os.getloadavg()[0]
        if exists:
            user, rate, size = await reuse(db, corpus, documents=args.documents)
        else:
            user, rate, size = await build(db, corpus, documents=args.documents, per_user=args.per_user)
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("VACUUM ANALYZE"))
            index_mb = await conn.scalar(sa.text("SELECT pg_total_relation_size('search_documents') / 1048576.0"))
        rows = []
        for kind, texts in queries(corpus, args.queries).items():
            await time_queries(db, texts[:10], None)  # warm the cache
            for label, viewer in ((f"one user ({args.per_user:,} docs)", user), ("all docs", None)):
                latencies, matches = await time_queries(db, texts, viewer)
                p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
                rows.append(f"| {kind} | {label} | {len(texts)} | {matches:,.0f} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
                log.info(rows[-1])
        await db.dispose()
        load = (load_before, os.getloadavg()[0])
    finally:
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    server = await admin_scalar("SHOW server_version")
    return "\n".join(
        [
            SECTION,
            "",
            f"`uv run python -m bench.search {' '.join(sys.argv[1:])}`".replace(" `", "`")
            + f" ({datetime.now(UTC).date()}): PostgreSQL {server} on 127.0.0.1, a fresh database.",
            f"{args.documents:,} documents ({size / args.documents / 1024:.1f} KiB of text each on average), "
            f"{args.documents // args.per_user} users owning {args.per_user:,} each; words from Tesseract's `nep` "
            "and `eng` dictionaries with 1/rank frequencies, a Devanagari fiscal year (२०८१/८२) in 1 sentence of 10.",
            "",
            f"Machine: nproc {os.cpu_count()}, {platform.processor() or platform.machine()}, Python "
            f"{platform.python_version()}, default PostgreSQL settings. "
            f"Load average {load[0]:.2f} before, {load[1]:.2f} after.",
            "",
            "Indexing through `index_document` (tokenize, stem, one upsert per document, 500 per transaction): "
            + (f"**{rate:,.0f} docs/s**" if not math.isnan(rate) else "not measured (a database kept with --keep)")
            + f". Index table with its GIN indexes: {index_mb:,.0f} MiB.",
            "",
            "Query latency: `search(limit=20)` end to end from Python: count, ranked page, snippets, page numbers; "
            "words drawn uniformly from vocabulary ranks 100 to 3 000, phrases from generated text, "
            "prefixes are 3 letters + `*`.",
            "",
            "| query | visible | queries | mean matches | p50 ms | p95 ms | p99 ms |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--per-user", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=8182)
    parser.add_argument(
        "--keep", metavar="DB", help="use database DB if it exists (else build it) and keep it: for tuning queries"
    )
    add_write_option(parser)
    args = parser.parse_args()
    markdown = asyncio.run(run(args))
    publish(SECTION, markdown, write=args.write)


if __name__ == "__main__":
    main()
