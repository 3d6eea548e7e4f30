"""Property tests for the search-box parser (kernel/search.py): it never raises, and what it
derives from a query is always something the selectors can compare with stored values."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voronka.kernel.search import MAX_QUERY, MAX_WORDS, SearchTerms

PHONE_ALPHABET = st.sampled_from(list("0123456789 +-().8"))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.text(alphabet=PHONE_ALPHABET, max_size=30)))
def test_parse_never_raises_and_derives_only_clean_terms(raw: str) -> None:
    terms = SearchTerms.parse(raw)
    assert len(terms.text) <= MAX_QUERY and len(terms.words) <= MAX_WORDS
    assert "\x00" not in terms.text
    for value in (terms.digits, terms.phone_part, terms.inn):
        assert value == "" or (value.isascii() and value.isdigit() and len(value) >= 5)
    assert terms.phone == "" or re.fullmatch(r"\+\d{8,15}", terms.phone)
    if terms.phone_part and terms.phone_part != terms.digits:
        # Only a leading Russian 8 is ever rewritten, and only to 7.
        assert terms.phone_part[0] == "7" and terms.digits[0] == "8"
        assert terms.phone_part[1:] == terms.digits[1:]
    assert terms.email == "" or ("@" in terms.email and terms.email == terms.email.lower())


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_parse_is_stable_on_its_own_text(raw: str) -> None:
    once = SearchTerms.parse(raw)
    assert SearchTerms.parse(once.text) == once


def test_a_phone_begun_the_russian_way_is_also_read_with_7() -> None:
    terms = SearchTerms.parse("8 916 12")
    assert (terms.digits, terms.phone_part) == ("891612", "791612")
    assert SearchTerms.parse("+8 916 12").phone_part == "891612"  # a + means as typed
    assert SearchTerms.parse("89161234567").digits == "79161234567"


# --- issue 10: the folding and the matching rule (kernel.search, decision 0019) ----------------

from voronka.kernel.search import (  # noqa: E402
    PG_FOLD_FROM,
    PG_FOLD_TO,
    fold,
    fold_words,
    match,
    sql_fold,
    typo_similarity,
    within_one_edit,
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_folding_never_raises_and_is_idempotent(raw: str) -> None:
    assert fold(fold(raw)) == fold(raw)
    assert sql_fold(sql_fold(raw)) == sql_fold(raw)
    words = fold_words(raw)
    assert fold_words(" ".join(words)) == words
    assert all(w and "ё" not in w and w == fold(w) for w in words)
    terms = SearchTerms.parse(raw)
    assert SearchTerms.parse(terms.text).tokens == terms.tokens
    assert len(terms.tokens) <= MAX_WORDS


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.lists(st.text(max_size=16), max_size=3))
def test_match_never_raises_and_finds_a_record_by_its_own_name(
    query: str, name: str, phones: list[str]
) -> None:
    terms = SearchTerms.parse(query)
    hit = match(terms, fields={"name": name}, phones=phones, emails=[query], inn="")
    assert hit is None or 0 <= hit.tier <= 3
    own = SearchTerms.parse(name)  # stored names are cleaned the way queries are
    if own.tokens and len(fold_words(own.text)) <= MAX_WORDS:
        found = match(own, fields={"name": own.text})
        assert found is not None and found.tier <= 2


def test_the_fold_maps_cyrillic_one_to_one_onto_ascii() -> None:
    assert len(PG_FOLD_FROM) == len(PG_FOLD_TO)
    assert sql_fold("Семёнов ПЁТР Ivanov") == sql_fold("семенов петр ivanov")
    assert sql_fold("Семёнов").isascii()
    lower = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
    assert len({sql_fold(c) for c in lower}) == len(lower)


@pytest.mark.parametrize(
    ("a", "b", "one"),
    [
        ("иванов", "иваноф", True),
        ("иванов", "иванова", True),
        ("иванов", "иванв", True),
        ("иванов", "ивнаов", False),  # two neighbours swapped: two edits
        ("иванов", "петров", False),
    ],
)
def test_within_one_edit(a: str, b: str, one: bool) -> None:
    assert within_one_edit(a, b) is one and within_one_edit(b, a) is one


def test_typo_similarity_is_what_a_typo_keeps() -> None:
    assert typo_similarity(["ольга"]) == 0.313  # (5 - 2) / (5 + 4) - 0.02
    assert typo_similarity(["семенова", "ольга"]) == 0.313  # the shortest word decides
    assert typo_similarity(["семенова"]) == 0.48
