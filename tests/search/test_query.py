"""Parsing the query language; unusable input is InvalidQuery, never anything else."""

from __future__ import annotations

import pytest

from app.search import InvalidQuery, ParsedQuery, Term, parse_query


def test_words_are_all_required() -> None:
    assert parse_query("प्रधानमन्त्रीले काम") == ParsedQuery((Term(("प्रधानमन्त्री",)), Term(("काम",))))


def test_quoted_text_is_a_phrase() -> None:
    assert parse_query('"काठमाडौंमा बजेट"').required == (Term(("काठमाडौं", "बजेट")),)


def test_unbalanced_quote_runs_to_the_end() -> None:
    assert parse_query('नेपाल "बजेट भाषण').required == (Term(("नेपाल",)), Term(("बजेट", "भाषण")))


def test_star_makes_a_prefix() -> None:
    assert parse_query("काठ*").required == (Term(("काठ",), prefix=True),)


def test_a_whole_inflected_word_as_prefix_uses_its_stem() -> None:
    assert parse_query("काठमाडौंमा*").required == (Term(("काठमाडौं",), prefix=True),)


def test_minus_excludes() -> None:
    assert parse_query('काम -कुम -"ठूलो घर"').excluded == (Term(("कुम",)), Term(("ठूलो", "घर")))


def test_fiscal_year_is_a_phrase() -> None:
    assert parse_query("२०८१/८२").required == (Term(("2081", "82")),)


def test_operator_words_are_just_words() -> None:
    assert parse_query("NEAR AND OR NOT").required == tuple(Term((w,)) for w in ("near", "and", "or", "not"))


@pytest.mark.parametrize(
    "q",
    ["", "   ", "%", "_", "\\", '"', '""', "\x00", "ा", "*", "-", "-काम", "- * \" ' %", "x" * 1001],
    ids=repr,
)
def test_unusable_input_is_invalid(q: str) -> None:
    with pytest.raises(InvalidQuery):
        parse_query(q)


def test_invalid_query_is_a_value_error() -> None:
    assert issubclass(InvalidQuery, ValueError)


def test_too_many_terms_is_invalid() -> None:
    with pytest.raises(InvalidQuery):
        parse_query(" ".join(f"w{i}" for i in range(40)))
