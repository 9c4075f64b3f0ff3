"""PostgreSQL engine: tsvector/tsquery built from our tokens as literals, so PostgreSQL's own word
parser (which reads `2081/82` as a file path and splits Devanagari at vowel signs) never runs."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Document
from app.search._query import ParsedQuery, Term
from app.search._tables import postgres_documents as docs

# PostgreSQL's limits: positions stop at 16383, 256 positions per lexeme, a tsvector under 1 MiB.
_MAX_POSITION = 16383
_MAX_POSITIONS_PER_LEXEME = 256
_MAX_TSVECTOR_BYTES = 900_000


def _quote(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(title: list[str], body: list[str]) -> str:
    """Title at weight A from position 1; body at weight B after a gap, so no phrase spans both."""
    positions: dict[str, list[str]] = defaultdict(list)
    placed = [(p, tok, "A") for p, tok in enumerate(title, 1)]
    placed += [(p, tok, "B") for p, tok in enumerate(body, len(title) + 2)]
    size = 0
    for position, token, weight in placed:
        entry = positions.get(token)
        if entry is None:
            size += len(token.encode()) + 8
            if size > _MAX_TSVECTOR_BYTES:
                continue
            entry = positions[token]
        if len(entry) < _MAX_POSITIONS_PER_LEXEME and position <= _MAX_POSITION:
            entry.append(f"{position}{weight}")
            size += 2
        elif not entry:  # past the last position PostgreSQL keeps: still findable, without position
            entry.append(f"{_MAX_POSITION}{weight}")
    return " ".join(f"{_quote(tok)}:{','.join(pos)}" for tok, pos in positions.items())


def _phrase(term: Term, weight: str = "") -> str:
    last = len(term.tokens) - 1
    parts = []
    for i, token in enumerate(term.tokens):
        label = ("*" if term.prefix and i == last else "") + weight
        parts.append(_quote(token) + (":" + label if label else ""))
    return "(" + " <-> ".join(parts) + ")"


def tsquery_literals(query: ParsedQuery) -> tuple[str, str]:
    """(the full tsquery, the required terms restricted to the title's weight A)."""
    full = " & ".join([_phrase(t) for t in query.required] + ["!" + _phrase(t) for t in query.excluded])
    title = " & ".join(_phrase(t, "A") for t in query.required)
    return full, title


async def index(session: AsyncSession, *, document_id: uuid.UUID, title: list[str], body: list[str]) -> None:
    tsv = sa.cast(tsvector_literal(title, body), TSVECTOR)
    stmt = insert(docs).values(document_id=document_id, tsv=tsv)
    await session.execute(stmt.on_conflict_do_update(index_elements=[docs.c.document_id], set_={"tsv": tsv}))


async def remove(session: AsyncSession, *, document_id: uuid.UUID) -> None:
    await session.execute(sa.delete(docs).where(docs.c.document_id == document_id))


async def find(
    session: AsyncSession, *, query: ParsedQuery, visible: sa.ColumnElement[bool], limit: int, offset: int
) -> tuple[list[sa.Row[Any]], int]:
    full, title_only = tsquery_literals(query)
    tsq, title_tsq = sa.cast(full, TSQUERY), sa.cast(title_only, TSQUERY)
    title_hit = sa.case((docs.c.tsv.op("@@")(title_tsq), 1.0), else_=0.0)
    # Normalization 32 maps the rank into [0, 1): a title hit's 1.0 always comes first.
    rank = (title_hit + sa.func.ts_rank(docs.c.tsv, tsq, 32)).label("rank")
    base = (
        sa.select(Document.id)
        .select_from(docs)
        .join(Document, Document.id == docs.c.document_id)
        .where(docs.c.tsv.op("@@")(tsq), visible)
    )
    total = await session.scalar(sa.select(sa.func.count()).select_from(base.subquery()))
    stmt = (
        base.add_columns(Document.title, Document.updated_at, rank)
        .order_by(rank.desc(), Document.updated_at.desc(), Document.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.execute(stmt)).all()), total or 0
