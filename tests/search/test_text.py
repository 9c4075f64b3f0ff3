"""The normalizer and stemmer, the same for indexing and querying on both engines."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest
import snowballstemmer

from app.search import _text
from app.search._text import _MARKS, _POSTPOSITIONS, PIECEWISE_MAX_CHARS, normalize, stem, stems, tokens, words


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("प्रधानमन्त्रीले", "प्रधानमन्त्री"),
        ("काठमाडौंमा", "काठमाडौं"),
        ("कामको", "काम"),
        ("नेपालीहरू", "नेपाली"),
        ("पानीमा", "पानी"),
    ],
)
def test_nepali_words_are_stemmed(word: str, stem: str) -> None:
    assert tokens(word) == [stem]


@pytest.mark.parametrize(
    "pair", [("पानी", "पनि"), ("दिन", "दान"), ("काम", "कुम"), ("काम", "कम"), ("मन्त्री", "प्रधानमन्त्री")]
)
def test_words_keep_their_vowel_signs_and_stay_apart(pair: tuple[str, str]) -> None:
    first, second = pair

    assert tokens(first) != tokens(second)


def test_conjuncts_stay_one_word() -> None:
    assert tokens("ज्ञान श्री") == ["ज्ञान", "श्री"]


def test_precomposed_and_decomposed_nukta_are_the_same_word() -> None:
    assert tokens("\u0958ानून") == tokens("\u0915\u093cानून")


def test_zero_width_joiners_are_ignored() -> None:
    assert tokens("गर्\u200dयो") == tokens("गर्यो") == tokens("गर्\u200cयो")


def test_devanagari_digits_are_ascii_digits() -> None:
    assert tokens("२०८१") == tokens("2081") == ["2081"]


def test_fiscal_year_is_two_adjacent_tokens() -> None:
    assert tokens("आ.व. २०८१/८२ को") == ["आ", "व", "2081", "82", "को"]


def test_latin_is_case_folded_and_english_stemmed() -> None:
    assert tokens("Budgets RUNNING Straße") == ["budget", "run", "strass"]


def test_a_word_that_is_all_suffix_is_kept() -> None:
    assert tokens("को ले") == ["को", "ले"]


def test_lone_combining_marks_are_no_word() -> None:
    assert tokens("ा ् ़") == []


def test_normalize_is_nfc_without_joiners() -> None:
    assert normalize("क\u093c\u200d") == "\u0915\u093c"


def test_stacked_suffixes_reach_the_same_stem() -> None:
    assert tokens("महानगरपालिकाको") == tokens("महानगरपालिका")


def test_a_stem_of_one_letter_is_not_taken() -> None:
    # Snowball Nepali strips दी from नदी, नदीमा, नदीको: न would match every word stemmed to न.
    assert tokens("नदी") == ["नदी"]
    assert tokens("नदीमा") == tokens("नदीहरूले") == tokens("नदीको") == ["नदी"]
    assert tokens("सकिने") == ["सकि"]  # one pass (सकि) is fine, the next (स) is not taken
    assert tokens("न") == ["न"]


def test_a_joiner_between_a_letter_and_its_mark_is_ignored() -> None:
    assert tokens("न\u200d\u093c") == tokens("\u0929") == ["\u0929"]
    assert tokens("cafe\u200c\u0301") == tokens("café")


def _reference_words(text: str) -> list[str]:
    """The definition `normalize` and `words` implement faster: joiners out, Devanagari digits to
    ASCII, NFC, case-folded; a token is a run of letters, digits (`[^\\W_]`) and marks holding at
    least one letter or digit, cut at 64 characters."""
    text = text.translate(dict.fromkeys(map(ord, "\u200c\u200d")))
    text = text.translate({0x0966 + i: str(i) for i in range(10)})
    text = unicodedata.normalize("NFC", text).casefold()
    token = re.compile(rf"(?:[^\W_]|[{_MARKS}])+")
    return [m.group()[:64] for m in token.finditer(text) if re.search(r"[^\W_]", m.group())]


_ALPHABET = (
    "कखगघनपमरलसहज्ञत्रक़ड़"  # letters, precomposed nukta letters
    "ािीुूेैोौंँः़्"  # vowel signs, anusvara, candrabindu, visarga, virama, nukta
    "०१२३४५६७८९0123456789"
    "\u200c\u200d"  # joiners
    "abcXYZßİ_-/'. ,।॥\n\t"
    "\u0301\u20d0ﬁ"  # a Latin combining mark, a symbol mark, a ligature that case-folds to two letters
)


_SNOWBALL = {"nepali": snowballstemmer.stemmer("nepali"), "english": snowballstemmer.stemmer("english")}


def _letters(text: str) -> int:
    return len(re.findall(r"[^\W_]", text))


def _reference_stem(token: str) -> str:
    """The definition `stem` implements faster: digits stay; Snowball Nepali for a word with a
    Devanagari character, English for the rest, one word at a time, repeated until nothing
    changes (three passes at most); a stem of fewer than two letters is refused for the word
    without its postposition, if it has one that leaves two letters."""
    if token.isdigit():
        return token
    stemmer = _SNOWBALL["nepali" if re.search("[\u0900-\u097f]", token) else "english"]
    for _ in range(3):
        stemmed = stemmer.stemWord(token) or token
        if _letters(stemmed) < 2:
            stemmed = next(
                (token[: -len(s)] for s in _POSTPOSITIONS if token.endswith(s) and _letters(token[: -len(s)]) >= 2),
                token,
            )
        if stemmed == token:
            break
        token = stemmed
    return token


_SYLLABLES = [c + v for c in "कखगचजटडतदनपबमयरलवसह" for v in ["", "ा", "ि", "ी", "ु", "े", "ो", "ं", "्"]]
_SUFFIXES = [*_POSTPOSITIONS, "", "", "", "दी", "ने", "िने", "ेको", "हरूको", "s", "ing", "ed", "ly"]


def _random_word(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 9))) + rng.choice(
            ["", "s", "ing", "ed", "ly", "ness", "ation", "fully"]
        )
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(0, 4))) + rng.choice(_SUFFIXES)


def test_stems_are_their_definition_one_at_a_time_and_together() -> None:
    rng = random.Random(2083)
    found = [w for w in (_random_word(rng) for _ in range(20_000)) if w] + ["को", "नदीमा", "2081", "सकिने"]
    expected = [_reference_stem(word) for word in found]
    assert sum(e != w for e, w in zip(expected, found, strict=True)) > len(found) // 3  # most are stemmed
    for memo in _text.MEMOS:
        memo.clear()
    assert stems(found) == expected  # together: none remembered yet
    assert stems(found) == expected  # together again: from what was remembered
    for memo in _text.MEMOS:
        memo.clear()
    assert [stem(word) for word in found] == expected


def test_long_text_is_tokenized_whole_as_its_definition() -> None:
    rng = random.Random(2084)
    alphabet = _ALPHABET + " " * 8
    text = " ".join(_random_word(rng) for _ in range(4000)) + "".join(rng.choice(alphabet) for _ in range(8000))
    assert len(text) > PIECEWISE_MAX_CHARS
    assert tokens(text) == [_reference_stem(word) for word in _reference_words(text)]


def test_the_tokenizer_is_its_definition_on_random_text() -> None:
    rng = random.Random(2081)
    for _ in range(3000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 80)))
        assert words(normalize(text)) == _reference_words(text), repr(text)


# Every kind of whitespace `str.split` splits at, beside the tokenizer's alphabet.
_SPACES = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000"


@pytest.mark.parametrize("spaces", [2, 0])
def test_indexed_tokens_are_the_stems_of_the_definitions_words_on_random_text(spaces: int) -> None:
    rng = random.Random(2082 + spaces)
    alphabet = _ALPHABET + _SPACES * spaces + " "  # without spaces: pieces past 64 characters
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 240)))
        assert tokens(text) == [_reference_stem(word) for word in _reference_words(text)], repr(text)


def test_long_pieces_are_tokenized_but_not_remembered() -> None:
    blob = "".join(random.Random(7).choice("abcdefgh/+=") for _ in range(5000))  # base64-like
    text = f"{blob} सूचना {blob[::-1]}"
    assert tokens(text) == [stem(word) for word in _reference_words(text)]
    assert "सूचना" in _text._PIECES.data
    assert max(map(len, _text._PIECES.data)) <= 64
