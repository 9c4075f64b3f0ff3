"""What a search returns: order, page numbers, snippets, visibility, and keeping the index current."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.db.session import Database
from app.models import Document, DocumentShare
from app.search import _postgres, index_document, reindex_document, remove_document
from tests.databases import is_postgres
from tests.search.conftest import AddDocument, Find, make_user


async def test_title_match_ranks_above_body_matches(add_document: AddDocument, find: Find) -> None:
    in_body = await add_document("साधारण सूचना", "बजेट बजेट बजेट: यो बजेटको बारेमा हो। बजेट।")
    in_title = await add_document("बजेट", "अरू कुरा")
    await add_document("अरू", "बजेट एक पटक")

    hits = (await find("बजेट")).hits

    assert hits[0].document_id == in_title
    assert hits[0].rank > hits[1].rank
    assert in_body in {h.document_id for h in hits[1:]}


async def test_recency_breaks_ties(add_document: AddDocument, find: Find) -> None:
    older = await add_document("सूचना", "विद्यालय बन्द हुनेछ")
    newer = await add_document("सूचना", "विद्यालय बन्द हुनेछ")

    hits = (await find("विद्यालय")).hits

    assert [h.document_id for h in hits] == [newer, older]
    assert hits[0].rank == hits[1].rank


async def test_ocr_hit_names_its_best_page(add_document: AddDocument, find: Find) -> None:
    pages = [(1, "पहिलो पृष्ठमा परिचय"), (2, "दोस्रो पृष्ठ"), (3, "तेस्रो पृष्ठमा कर र राजस्व, राजस्वको विवरण")]
    await add_document("स्क्यान गरिएको पत्र", "\n\n".join(text for _, text in pages), pages)

    [hit] = (await find("राजस्व")).hits

    assert hit.page == 3
    assert "<mark>राजस्व</mark>" in hit.snippet


async def test_ocr_pages_edited_out_of_the_content_are_still_found(add_document: AddDocument, find: Find) -> None:
    await add_document("पत्र", "प्रयोगकर्ताले सम्पादन गरेको पाठ", [(1, "परिचय"), (2, "अनुसूची")])

    [hit] = (await find("अनुसूची")).hits

    assert hit.page == 2


async def test_hit_in_content_has_no_page(add_document: AddDocument, find: Find) -> None:
    await add_document("पत्र", "बजेट पारित भयो", [(1, "परिचय")])

    [hit] = (await find("बजेट")).hits

    assert hit.page is None


async def test_snippet_escapes_html_and_marks_the_original_words(add_document: AddDocument, find: Find) -> None:
    await add_document("xss", '<script>alert("x")</script> प्रधानमन्त्रीले <b>भाषण</b> & गरे')

    [hit] = (await find("प्रधानमन्त्री")).hits

    assert hit.snippet == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <mark>प्रधानमन्त्रीले</mark> &lt;b&gt;भाषण&lt;/b&gt; &amp; गरे"
    )


async def test_snippet_is_a_window_around_the_first_match(add_document: AddDocument, find: Find) -> None:
    content = "शुरु " + "अरू कुरा " * 100 + "यहाँ २०८१/८२ को बजेट " + "अझै कुरा " * 100
    await add_document("लामो", content)

    [hit] = (await find("2081")).hits

    assert "<mark>२०८१</mark>/<mark>८२</mark>" not in hit.snippet  # 82 was not asked for
    assert "<mark>२०८१</mark>" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet.replace("<mark>", "").replace("</mark>", "")) <= 170


async def test_documents_outside_visible_never_appear(db: Database, add_document: AddDocument, find: Find) -> None:
    stranger = await make_user(db)
    mine = await add_document("मेरो बजेट", "बजेट")
    await add_document("अर्काको बजेट", "बजेट", owner_id=stranger)

    page = await find("बजेट")

    assert [h.document_id for h in page.hits] == [mine]
    assert page.total == 1


async def test_shared_documents_are_found_by_their_member_until_unshared(
    db: Database, add_document: AddDocument, find: Find
) -> None:
    stranger, member = await make_user(db), await make_user(db)
    shared = await add_document("बजेट साझा", "", owner_id=stranger)
    await add_document("बजेट अर्को", "", owner_id=stranger)
    own = await add_document("बजेट मेरो", "", owner_id=member)
    async with db.unit_of_work() as session:
        session.add(DocumentShare(document_id=shared, user_id=member, role="viewer"))

    found = await find("बजेट", viewer=member)
    async with db.unit_of_work() as session:
        await session.execute(sa.delete(DocumentShare).where(DocumentShare.document_id == shared))
    after = await find("बजेट", viewer=member)

    assert [h.document_id for h in found.hits] == [own, shared] and found.total == 2
    assert [h.document_id for h in after.hits] == [own] and after.total == 1


async def test_trash_and_restore_are_followed_without_reindexing(
    db: Database, add_document: AddDocument, find: Find
) -> None:
    kept, trashed = await add_document("बजेट एक", ""), await add_document("बजेट दुई", "")

    async def set_trashed(when: datetime | None) -> None:
        async with db.unit_of_work() as session:
            await session.execute(sa.update(Document).where(Document.id == trashed).values(trashed_at=when))

    await set_trashed(datetime.now(UTC))
    in_trash = await find("बजेट")
    in_trash_everyone = await find("बजेट", everyone=True)
    await set_trashed(None)
    restored = await find("बजेट")

    assert [h.document_id for h in in_trash.hits] == [kept] and in_trash.total == 1
    assert [h.document_id for h in in_trash_everyone.hits] == [kept]
    assert [h.document_id for h in restored.hits] == [trashed, kept] and restored.total == 2


async def test_order_follows_a_later_updated_at(db: Database, add_document: AddDocument, find: Find) -> None:
    older, newer = await add_document("अरू", "बजेट"), await add_document("अरू", "बजेट")
    before = [h.document_id for h in (await find("बजेट")).hits]
    async with db.unit_of_work() as session:
        await session.execute(
            sa.update(Document).where(Document.id == older).values(updated_at=datetime.now(UTC) + timedelta(days=1))
        )

    after = (await find("बजेट")).hits

    assert before == [newer, older]
    assert [h.document_id for h in after] == [older, newer]
    assert after[0].updated_at > after[1].updated_at


async def test_limit_and_offset_page_through_hits(add_document: AddDocument, find: Find) -> None:
    ids = [await add_document(f"बजेट {i}", "") for i in range(5)]

    first, second = await find("बजेट", limit=3), await find("बजेट", limit=3, offset=3)

    assert [h.document_id for h in first.hits + second.hits] == ids[::-1]
    assert first.total == second.total == 5


async def test_reindexing_replaces_the_old_text(db: Database, add_document: AddDocument, find: Find) -> None:
    document_id = await add_document("पुरानो शीर्षक", "पुरानो पाठ")
    async with db.unit_of_work() as session:
        for _ in range(2):  # idempotent
            await index_document(session, document_id=document_id, title="नयाँ शीर्षक", content="नयाँ पाठ", pages=[])

    assert (await find("पुरानो")).total == 0
    assert [h.document_id for h in (await find("नयाँ")).hits] == [document_id]


async def test_indexing_a_document_not_in_the_database_is_an_error(db: Database) -> None:
    with pytest.raises(LookupError, match="flush it before indexing"):
        async with db.unit_of_work() as session:
            await index_document(session, document_id=uuid.uuid4(), title="बजेट", content="", pages=[])

    async with db.unit_of_work(write=False) as session:
        assert await session.scalar(sa.text("SELECT count(*) FROM search_documents")) == 0


async def test_removed_document_is_not_found(db: Database, add_document: AddDocument, find: Find) -> None:
    document_id = await add_document("बजेट", "")
    async with db.unit_of_work() as session:
        await remove_document(session, document_id=document_id)
        await remove_document(session, document_id=document_id)

    assert (await find("बजेट")).total == 0


async def test_deleting_the_document_drops_its_index_entry(db: Database, add_document: AddDocument) -> None:
    document_id = await add_document("बजेट", "")
    async with db.unit_of_work() as session:
        await session.execute(sa.delete(Document).where(Document.id == document_id))

    async with db.unit_of_work(write=False) as session:
        left = await session.scalar(sa.text("SELECT count(*) FROM search_documents"))

    assert left == 0


async def test_nothing_visible_is_an_empty_page(add_document: AddDocument, find: Find) -> None:
    await add_document("बजेट", "")

    page = await find("बजेट", viewer=uuid.uuid4())

    assert page.hits == [] and page.total == 0


async def test_reindex_reads_the_document_and_its_pages(db: Database, add_document: AddDocument, find: Find) -> None:
    document_id = await add_document("पत्र", "")
    async with db.unit_of_work() as session:
        await session.execute(sa.update(Document).where(Document.id == document_id).values(content="नयाँ राजस्व"))
        await reindex_document(session, document_id=document_id)

    assert [h.document_id for h in (await find("राजस्व")).hits] == [document_id]


async def test_beyond_the_rank_window_title_hits_then_recency(
    add_document: AddDocument, find: Find, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL ranks (ts_rank) only the first RANK_WINDOW matches by title hit, then recency;
    # the rest follow in that order. The pages stay one consistent order.
    monkeypatch.setattr(_postgres, "RANK_WINDOW", 2)
    dense_old = await add_document("पत्र", "बजेट बजेट बजेट बजेट बजेट")
    titled_old = await add_document("बजेट", "अरू")
    sparse_new = await add_document("पत्र", "बजेट एक पटक, अरू धेरै कुरा, अरू कुरा")
    titled_new = await add_document("बजेट", "अरू")

    pages = [(await find("बजेट", limit=2, offset=offset)).hits for offset in (0, 2)]
    order = [hit.document_id for page in pages for hit in page]
    # Pages that start inside the window and end past it, or lie wholly past it, agree.
    for limit in (1, 3):
        paged = [(await find("बजेट", limit=limit, offset=offset)) for offset in range(0, 4, limit)]
        assert [hit.document_id for page in paged for hit in page.hits] == order
        assert {page.total for page in paged} == {4}

    if is_postgres():
        assert order == [titled_new, titled_old, sparse_new, dense_old]
    else:  # FTS5 ranks every match
        assert order[:2] == [titled_new, titled_old]
        assert set(order[2:]) == {sparse_new, dense_old}


async def test_snippet_finds_the_first_match_far_into_the_text(add_document: AddDocument, find: Find) -> None:
    # The snippet skips ahead to the first word that could match; what it skips must not match.
    filler = "अरू कुरा " * 300
    content = filler + "कालो कामदार Report गर्‍यो २०८१ मा कामको " + filler
    await add_document("लामो", content)

    snippets = {q: (await find(q)).hits[0].snippet for q in ("काम", "report", "2081", "गर्यो")}

    assert "<mark>कामदार</mark>" not in snippets["काम"]  # काम and कामदार are different words
    assert "<mark>कामको</mark>" in snippets["काम"] and "<mark>कालो</mark>" not in snippets["काम"]
    assert "<mark>Report</mark>" in snippets["report"]
    assert "<mark>२०८१</mark>" in snippets["2081"]
    assert "<mark>गर्\u200dयो</mark>" in snippets["गर्यो"]
