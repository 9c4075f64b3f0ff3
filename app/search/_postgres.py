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
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.visibility import visible_in_copy
from app.models import Document
from app.search._query import ParsedQuery, Term
from app.search._tables import postgres_documents as docs

# PostgreSQL's limits: positions stop at 16383, 256 positions per lexeme, a tsvector under 1 MiB.
_MAX_POSITION = 16383
_MAX_POSITIONS_PER_LEXEME = 256
_MAX_TSVECTOR_BYTES = 900_000


def _quote(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


# Each position as tsvector writes it, made once: `12A` (title), `340B` (body).
_LABELS = {weight: tuple(f"{position}{weight}" for position in range(_MAX_POSITION + 1)) for weight in "AB"}


def _plain(tokens: Iterable[str]) -> bool:
    """No token holds a quote or a backslash, so each needs only its quotes (our tokenizer's never
    do: a token is letters, digits and marks); checked once for all of them."""
    joined = "".join(tokens)
    return "'" not in joined and "\\" not in joined


def _lexemes_size(lexemes: dict[str, Any], positions: int) -> int:
    """What `tsvector_literal`'s bound counts: each lexeme's bytes + 8, each position 2."""
    return len(" ".join(lexemes).encode()) + 7 * len(lexemes) + 1 + 2 * positions


def tsvector_literal(title: list[str], body: list[str]) -> str:
    """Title at weight A from position 1; body at weight B after a gap, so no phrase spans both."""
    start = len(title) + 2
    if start + len(body) > _MAX_POSITION + 1:
        return _literal(_bounded_positions(title, body))  # PostgreSQL's limits apply: the slow way
    positions: dict[str, list[str]] = {}
    for first, stream, labels in ((1, title, _LABELS["A"]), (start, body, _LABELS["B"])):
        for position, token in enumerate(stream, first):
            entry = positions.get(token)
            if entry is None:
                positions[token] = [labels[position]]
            else:
                entry.append(labels[position])
    count = len(title) + len(body)
    if _lexemes_size(positions, count) > _MAX_TSVECTOR_BYTES:
        positions = _bounded_positions(title, body)
    elif count > _MAX_POSITIONS_PER_LEXEME:
        for token, entry in positions.items():
            if len(entry) > _MAX_POSITIONS_PER_LEXEME:
                positions[token] = entry[:_MAX_POSITIONS_PER_LEXEME]
    return _literal(positions)


def _literal(positions: dict[str, list[str]]) -> str:
    quote = "'{}'".format if _plain(positions) else _quote
    return " ".join([f"{quote(token)}:{','.join(entry)}" for token, entry in positions.items()])


def _bounded_positions(title: list[str], body: list[str]) -> dict[str, list[str]]:
    """Each token's positions within PostgreSQL's limits: 256 per lexeme, none past 16383 (a
    token first seen there keeps that one), and tokens past 900 000 bytes left out."""
    positions: dict[str, list[str]] = {}
    size = 0
    for first, stream, labels in ((1, title, _LABELS["A"]), (len(title) + 2, body, _LABELS["B"])):
        for position, token in enumerate(stream, first):
            entry = positions.get(token)
            if entry is None:
                size += len(token.encode()) + 8
                if size > _MAX_TSVECTOR_BYTES:
                    if position > _MAX_POSITION:
                        return positions  # neither a new token nor a position can be added now
                    continue
                entry = positions[token] = []
            if len(entry) < _MAX_POSITIONS_PER_LEXEME and position <= _MAX_POSITION:
                entry.append(labels[position])
                size += 2
            elif not entry:  # past the last position PostgreSQL keeps: still findable, without position
                entry.append(labels[_MAX_POSITION])
    return positions


def title_literal(title: list[str]) -> str:
    return tsvector_literal(title, [])


# Pairs are made this many tokens at a time, so that a long text stops being read at the limit.
_PAIRS_CHUNK = 16_384


def pairs_literal(title: list[str], body: list[str]) -> str:
    """Adjacent tokens of the title, and of the body (never across the two), as lexemes, the first
    ones up to 900 000 bytes."""
    pairs: dict[str, None] = {}
    for stream in (title, body):
        for start in range(0, len(stream) - 1, _PAIRS_CHUNK):
            pairs.update(dict.fromkeys(map(" ".join, pairwise(stream[start : start + _PAIRS_CHUNK + 1]))))
            if _lexemes_size(pairs, 0) > _MAX_TSVECTOR_BYTES:
                return _pairs_text(_first_pairs(pairs))
    return _pairs_text(pairs)


def _first_pairs(pairs: dict[str, None]) -> dict[str, None]:
    size = 0
    kept: dict[str, None] = {}
    for pair in pairs:
        size += len(pair.encode()) + 8
        if size > _MAX_TSVECTOR_BYTES:
            break
        kept[pair] = None
    return kept


def _pairs_text(pairs: dict[str, None]) -> str:
    if not pairs:
        return ""
    return "'" + "' '".join(pairs) + "'" if _plain(pairs) else " ".join(map(_quote, pairs))


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


_FOLLOWED = ("owner_id", "updated_at", "trashed_at")  # copied from the document (migration 0008)


def index_rows(source: sa.FromClause, *, new: bool) -> list[sa.Executable]:
    """The document's index row, replacing any it had, from the parameters `index_tsv`,
    `index_title_tsv` and `index_pairs` (`index_values`' literals). `source`: a relation with the
    document's id, owner_id, updated_at and trashed_at (copied into the row). `new`: the document
    has no index row yet (the same statement inserts it), so a plain INSERT, without ON
    CONFLICT's speculative insertion, which costs PostgreSQL CPU on every create."""
    columns = sa.select(source.c.id, *(source.c[name] for name in _FOLLOWED))
    literals = {
        name: sa.cast(sa.bindparam("index_" + name, type_=sa.Text), TSVECTOR) for name in ("tsv", "title_tsv", "pairs")
    }
    stmt = insert(docs).from_select(["document_id", *_FOLLOWED, *literals], columns.add_columns(*literals.values()))
    if new:
        return [stmt]
    return [
        stmt.on_conflict_do_update(
            index_elements=[docs.c.document_id], set_={name: stmt.excluded[name] for name in (*_FOLLOWED, *literals)}
        )
    ]


async def remove(session: AsyncSession, *, document_id: uuid.UUID) -> None:
    await session.execute(sa.delete(docs).where(docs.c.document_id == document_id))


# ts_rank reads a document's whole tsv (from TOAST): only this many matches are ranked by it.
RANK_WINDOW = 200
_INDEX_SCANS_ONLY = sa.text("SET LOCAL enable_seqscan = off")


async def find(
    session: AsyncSession, *, query: ParsedQuery, viewer: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[sa.Row[Any]], int]:
    """One query: the page, ranked, and the total on each row (a count alone past the end).

    The matches come from `search_documents` alone (visibility and recency from its copies of
    the document's columns; `documents` is read for the page's titles only), once per visibility
    condition, each through the GIN index that starts with `owner_id`. They are read once (a CTE,
    read twice: so materialized) and counted; only the first RANK_WINDOW of them in title-hit,
    then recency order are sorted (a top-N sort) and ranked. A page past the window reads the
    matches after it in the same order, as far as the page needs."""
    q = match_queries(query)
    conditions = []
    if q.words is not None:
        conditions.append(docs.c.tsv.op("@@")(sa.cast(q.words, TSQUERY)))
    if q.pairs is not None:
        conditions.append(docs.c.pairs.op("@@")(sa.cast(q.pairs, TSQUERY)))
    title_hit = sa.case((docs.c.title_tsv.op("@@")(sa.cast(q.title, TSQUERY)), 1.0), else_=0.0).label("title_hit")
    visible = (
        [docs.c.trashed_at.is_(None)]
        if viewer is None
        else visible_in_copy(
            viewer, document_id=docs.c.document_id, owner_id=docs.c.owner_id, trashed_at=docs.c.trashed_at
        )
    )
    columns = [docs.c.document_id.label("id"), docs.c.updated_at, title_hit]
    if q.check is not None:
        columns.append(docs.c.tsv)
    branches = [sa.select(*columns).where(condition, *conditions) for condition in visible]
    candidates = sa.union_all(*branches) if len(branches) > 1 else branches[0]
    if q.check is None:
        matches = candidates.cte("matches").prefix_with("MATERIALIZED")
    else:
        # The check reads each candidate's tsv, so it runs on the visible candidates only
        # (MATERIALIZED keeps PostgreSQL from folding it into the index scan of the whole table).
        fenced = candidates.cte("candidates").prefix_with("MATERIALIZED")
        checked = fenced.c.tsv.op("@@")(sa.cast(q.check, TSQUERY))
        matches = (
            sa.select(fenced.c.id, fenced.c.updated_at, fenced.c.title_hit)
            .where(checked)
            .cte("matches")
            .prefix_with("MATERIALIZED")
        )
    by_title_then_recency = (matches.c.title_hit.desc(), matches.c.updated_at.desc(), matches.c.id.desc())
    total = sa.select(sa.func.count()).select_from(matches).scalar_subquery().label("total")
    window = sa.select(matches).order_by(*by_title_then_recency).limit(RANK_WINDOW).subquery()
    # Normalization 32 maps ts_rank into [0, 1): a title hit's 1.0 always comes first. Only the
    # window's tsv values are read (from TOAST), joined back by id.
    ts_rank = sa.func.ts_rank(docs.c.tsv, sa.cast(q.rank, TSQUERY), 32)
    ranked = (window.c.title_hit + ts_rank).label("rank")
    parts = [
        sa.select(window.c.id, window.c.updated_at, ranked, sa.literal(0).label("part")).join(
            docs, docs.c.document_id == window.c.id
        )
    ]
    beyond = offset + limit - RANK_WINDOW
    if beyond > 0:
        parts.append(
            sa.select(matches.c.id, matches.c.updated_at, matches.c.title_hit, sa.literal(1))
            .order_by(*by_title_then_recency)
            .offset(RANK_WINDOW)
            .limit(beyond)
        )
    page = (sa.union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    stmt = (
        sa.select(page.c.id, Document.title, page.c.updated_at, page.c.rank, total)
        .join(Document, Document.id == page.c.id)
        .order_by(page.c.part, page.c.rank.desc(), page.c.updated_at.desc(), page.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    # The planner prices `tsv @@ q` as if reading a tsv were free: for a word in most documents
    # it would pick a sequential scan that de-TOASTs every tsv in the table, far slower than the
    # GIN index for a common word or prefix (docs/benchmarks.md). This transaction only.
    await session.execute(_INDEX_SCANS_ONLY)
    rows = list((await session.execute(stmt)).all())
    if rows or offset == 0:
        return rows, rows[0].total if rows else 0
    return [], await session.scalar(sa.select(total)) or 0
