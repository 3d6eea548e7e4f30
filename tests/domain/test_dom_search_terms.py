"""Property tests for the search-box parser (kernel/search.py): it never raises, and what it
derives from a query is always something the selectors can compare with stored values."""

from __future__ import annotations

import re

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
