"""PostgreSQL engine: tsvector/tsquery built from our tokens as literals, so PostgreSQL's own word
parser (which reads `2081/82` as a file path and splits Devanagari at vowel signs) never runs.

Three columns per document, so that a query reads a document's large `tsv` (out of line, in
TOAST) only to rank a bounded number of them:
- `tsv`: every token with its positions, title at weight A, body at B (GIN): words, prefixes, rank.
- `title_tsv`: the title's tokens alone (small, in line): is this a title hit?
- `pairs`: each two adjacent tokens as one lexeme, `"a b"`, without positions (GIN). A GIN index
  cannot check that a phrase's words are adjacent, so `tsv @@ 'a <-> b'` re-reads the `tsv` of
  every document holding both words (for common words, most of the table); `pairs @@ 'a b'`
  is answered by the index alone, and a longer phrase only re-reads documents holding all its pairs.
Ranking (`ts_rank`) reads `tsv`: it is computed for the first RANK_WINDOW matches in title-hit,
then recency order; the rest follow in that order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from itertools import pairwise
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
    positions: dict[str, list[str]] = {}
    size = 0
    for first, stream, weight in ((1, title, "A"), (len(title) + 2, body, "B")):
        for position, token in enumerate(stream, first):
            entry = positions.get(token)
            if entry is None:
                size += len(token.encode()) + 8
                if size > _MAX_TSVECTOR_BYTES:
                    continue
                entry = positions[token] = []
            if len(entry) < _MAX_POSITIONS_PER_LEXEME and position <= _MAX_POSITION:
                entry.append(f"{position}{weight}")
                size += 2
            elif not entry:  # past the last position PostgreSQL keeps: still findable, without position
                entry.append(f"{_MAX_POSITION}{weight}")
    return " ".join(f"{_quote(tok)}:{','.join(pos)}" for tok, pos in positions.items())


def title_literal(title: list[str]) -> str:
    return tsvector_literal(title, [])


def pairs_literal(title: list[str], body: list[str]) -> str:
    """Adjacent tokens of the title, and of the body (never across the two), as lexemes."""
    pairs: dict[str, None] = {}
    size = 0
    for stream in (title, body):
        for first, second in pairwise(stream):
            pair = f"{first} {second}"
            if pair not in pairs:
                size += len(pair.encode()) + 8
                if size > _MAX_TSVECTOR_BYTES:
                    break
                pairs[pair] = None
    return " ".join(_quote(pair) for pair in pairs)


def _pair_lexemes(term: Term) -> list[str]:
    """A phrase's adjacent pairs as tsquery lexemes; with a prefix, the last pair is one too."""
    found = list(zip(term.tokens, term.tokens[1:], strict=False))
    return [
        _quote(f"{a} {b}") + (":*" if term.prefix and i == len(found) - 1 else "") for i, (a, b) in enumerate(found)
    ]


def _phrase(term: Term) -> str:
    """The term's tokens, each next to the one before; with a prefix, the last one is one."""
    last = len(term.tokens) - 1
    parts = [_quote(token) + (":*" if term.prefix and i == last else "") for i, token in enumerate(term.tokens)]
    return "(" + " <-> ".join(parts) + ")"


@dataclass(frozen=True)
class MatchQueries:
    """How a query finds its matches. `words` (over `tsv`) and `pairs` (over `pairs`) are
    answered exactly by their GIN indexes; `check` (over `tsv`) needs each candidate's positions
    (phrases of three or more tokens, excluded terms), so it runs on the candidates alone."""

    words: str | None
    pairs: str | None
    check: str | None
    title: str  # over `title_tsv`
    rank: str  # over `tsv`, for ts_rank


def match_queries(query: ParsedQuery) -> MatchQueries:
    """A word or prefix goes to `words`; a phrase to `pairs` (two tokens: exactly; more: as
    candidates, with the phrase itself in `check`); an excluded term to `check`."""
    words = [_phrase(t) for t in query.required if len(t.tokens) == 1]
    pairs = [lexeme for t in query.required if len(t.tokens) > 1 for lexeme in _pair_lexemes(t)]
    check = [_phrase(t) for t in query.required if len(t.tokens) > 2]
    check += ["!" + _phrase(t) for t in query.excluded]
    return MatchQueries(
        words=" & ".join(words) or None,
        pairs=" & ".join(pairs) or None,
        check=" & ".join(check) or None,
        title=" & ".join(_phrase(t) for t in query.required),
        rank=" & ".join([_phrase(t) for t in query.required] + ["!" + _phrase(t) for t in query.excluded]),
    )


def index_values(title: list[str], body: list[str]) -> dict[str, str]:
    """The three columns' literals for one document (also used by migrations)."""
    return {
        "tsv": tsvector_literal(title, body),
        "title_tsv": title_literal(title),
        "pairs": pairs_literal(title, body),
    }


def upsert_statement(document_id: sa.ColumnElement[uuid.UUID] | None = None) -> sa.Insert:
    """Insert or replace one document's row, from the literals of `index_values` (bound by name).
    `document_id`: a parameter of that name, or a column of a CTE (an UPDATE's RETURNING), which
    makes the row depend on that CTE's (see app.db.hot.HotWrite)."""
    if document_id is None:
        document_id = sa.bindparam("document_id", type_=docs.c.document_id.type)
    literals = {name: sa.cast(sa.bindparam(name, type_=sa.Text), TSVECTOR) for name in ("tsv", "title_tsv", "pairs")}
    stmt = insert(docs).from_select(["document_id", *literals], sa.select(document_id, *literals.values()))
    return stmt.on_conflict_do_update(
        index_elements=[docs.c.document_id], set_={name: stmt.excluded[name] for name in literals}
    )


_UPSERT = upsert_statement()


async def index(session: AsyncSession, *, document_id: uuid.UUID, title: list[str], body: list[str]) -> None:
    await session.execute(_UPSERT, {"document_id": document_id, **index_values(title, body)})


async def remove(session: AsyncSession, *, document_id: uuid.UUID) -> None:
    await session.execute(sa.delete(docs).where(docs.c.document_id == document_id))


# ts_rank reads a document's whole tsv (from TOAST): only this many matches are ranked by it.
RANK_WINDOW = 200


async def find(
    session: AsyncSession, *, query: ParsedQuery, visible: sa.ColumnElement[bool], limit: int, offset: int
) -> tuple[list[sa.Row[Any]], int]:
    """One query: the page, ranked, and the total on each row (a count alone past the end).

    The matches are read once (a CTE, read twice: so materialized) and counted; only the first
    RANK_WINDOW of them in title-hit, then recency order are sorted (a top-N sort, not a sort of
    every match, which for a word in most documents was most of the query) and ranked. A page past
    the window reads the matches after it in the same order, as far as the page needs."""
    q = match_queries(query)
    conditions = [visible]
    if q.words is not None:
        conditions.append(docs.c.tsv.op("@@")(sa.cast(q.words, TSQUERY)))
    if q.pairs is not None:
        conditions.append(docs.c.pairs.op("@@")(sa.cast(q.pairs, TSQUERY)))
    title_hit = sa.case((docs.c.title_tsv.op("@@")(sa.cast(q.title, TSQUERY)), 1.0), else_=0.0)
    candidates = (
        sa.select(Document.id, Document.title, Document.updated_at, title_hit.label("title_hit"), docs.c.tsv)
        .select_from(docs)
        .join(Document, Document.id == docs.c.document_id)
        .where(*conditions)
    )
    if q.check is None:
        matches = candidates.cte("matches")
    else:
        # MATERIALIZED keeps PostgreSQL from folding the check into the index scan, where it
        # would re-read the tsv of every candidate in the table rather than of the visible ones.
        fenced = candidates.cte("candidates").prefix_with("MATERIALIZED")
        matches = sa.select(fenced).where(fenced.c.tsv.op("@@")(sa.cast(q.check, TSQUERY))).cte("matches")
    by_title_then_recency = (matches.c.title_hit.desc(), matches.c.updated_at.desc(), matches.c.id.desc())
    total = sa.select(sa.func.count()).select_from(matches).scalar_subquery().label("total")
    window = sa.select(matches).order_by(*by_title_then_recency).limit(RANK_WINDOW).subquery()
    # Normalization 32 maps ts_rank into [0, 1): a title hit's 1.0 always comes first.
    ts_rank = sa.func.ts_rank(window.c.tsv, sa.cast(q.rank, TSQUERY), 32)
    ranked = (window.c.title_hit + ts_rank).label("rank")
    parts = [sa.select(window.c.id, window.c.title, window.c.updated_at, ranked, sa.literal(0).label("part"))]
    beyond = offset + limit - RANK_WINDOW
    if beyond > 0:
        parts.append(
            sa.select(matches.c.id, matches.c.title, matches.c.updated_at, matches.c.title_hit, sa.literal(1))
            .order_by(*by_title_then_recency)
            .offset(RANK_WINDOW)
            .limit(beyond)
        )
    page = sa.union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    stmt = (
        sa.select(page.c.id, page.c.title, page.c.updated_at, page.c.rank, total)
        .order_by(page.c.part, page.c.rank.desc(), page.c.updated_at.desc(), page.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = list((await session.execute(stmt)).all())
    if rows or offset == 0:
        return rows, rows[0].total if rows else 0
    return [], await session.scalar(sa.select(total)) or 0
