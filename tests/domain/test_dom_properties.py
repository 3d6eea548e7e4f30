"""Property tests (Hypothesis, RELIABILITY row 16 tier A) for what users type: the normalizers of
kernel/normalize.py and kernel/customfields.clean_value.

Oracle: only ValueError (a declared validation error) may escape; every output is canonical
(``norm(norm(x)) == norm(x)``); phones are valid E.164 per ``phonenumbers``; identifiers are
ASCII digits; no bidi or control characters survive. 200 examples per target, derandomized
(profile "voronka" in tests/conftest.py).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import phonenumbers
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from voronka.kernel import normalize
from voronka.kernel.customfields import clean_value

CONTROL = {"Cc", "Cf"}
SEPARATORS = st.sampled_from([" ", "-", "(", ")", ".", "\u00a0", "\u2011", "\t", ""])
NASTY = st.sampled_from(
    ["\u202e", "\u200b", "\u2066", "\x00", "\r", "\ufeff", "\u0660", "٣", "𝟗", "ß"]
)


def mixed(chars: st.SearchStrategy[str], *, max_size: int = 40) -> st.SearchStrategy[str]:
    """Text built from a plausible alphabet plus hostile characters."""
    return st.lists(st.one_of(chars, SEPARATORS, NASTY), max_size=max_size).map("".join)


digits = st.sampled_from("0123456789")
phone_like = st.one_of(
    st.text(max_size=50),
    mixed(digits, max_size=30),
    st.builds(
        lambda p, d: p + d,
        st.sampled_from(["+7", "8", "+44", "+1", "+375", "7", "+"]),
        mixed(digits, max_size=16),
    ),
    st.from_regex(r"\A(\+7|8)[ (]?9\d{2}[) ]?\d{3}[- ]?\d{2}[- ]?\d{2}\Z"),
)


def no_control(text: str) -> bool:
    return all(ch in "\n\t" or unicodedata.category(ch) not in CONTROL for ch in text)


@given(phone_like)
@example("8 (916) 123-45-67")
@example("+7 916 123 45 67\u202e")
@example("８９１６１２３４５６７")  # full-width digits
@example("+" + "9" * 39)
def test_phone_normalizer(raw: str) -> None:
    try:
        out = normalize.normalize_phone(raw)
    except ValueError:
        return
    assert re.fullmatch(r"\+[1-9][0-9]{6,14}", out), out
    assert phonenumbers.is_valid_number(phonenumbers.parse(out, None))
    assert normalize.normalize_phone(out) == out
    # Computed, not the cache's filed fixed point: idempotent, and what the cache answered.
    assert normalize._normalize_phone(out, normalize.DEFAULT_REGION) == out
    assert normalize._normalize_phone(str(raw), normalize.DEFAULT_REGION) == out


# Russian mobile numbers as people write them, and strings of the same characters.
ru_written = st.builds(
    lambda lead, nine, seps: (
        lead + "".join(d + sep for d, sep in zip(nine, seps, strict=False)).strip()
    ),
    st.sampled_from(["+7", "+7 ", "8", "8 ", "", "7", "+8", "+7(", "8 ("]),
    st.text(alphabet="0123456789", min_size=9, max_size=11).map(lambda d: "9" + d),
    st.lists(st.sampled_from(["", "", " ", "-", ") ", "(", "  "]), min_size=12, max_size=12),
)
plain_chars = st.text(alphabet="+0123456789 ()-", max_size=22)


@given(st.one_of(ru_written, plain_chars))
@example("+7 (930) 000-00-00")  # 930 00…: not a number phonenumbers knows
@example("+7 916 123 45 67")
@example("8 (916) 123-45-67")
@example("+7 (916)) 123-45-67")
def test_the_ru_mobile_shortcut_answers_as_phonenumbers(raw: str) -> None:
    """Wherever the shortcut answers, phonenumbers gives the same E.164 form (and says the
    number is valid); where it does not, the caller asks phonenumbers."""
    assert_shortcut_agrees(raw)


def assert_shortcut_agrees(raw: str) -> None:
    text = normalize.clean_text(raw)
    digits = re.sub(r"\D", "", text)
    if not text.startswith("+") and len(digits) == 11 and digits[0] == "8":
        text = "+7" + digits[1:]
    fast = normalize._ru_mobile(text)
    if fast is None:
        return
    assert normalize._parsed(text, "RU") == fast, raw


def test_the_shortcut_takes_the_common_forms() -> None:
    for raw in ("+7 (916) 123-45-67", "89161234567", "8 916 123 45 67", "9161234567"):
        text = normalize.clean_text(raw)
        digits = re.sub(r"\D", "", text)
        text = "+7" + digits[1:] if len(digits) == 11 and digits[0] == "8" else text
        assert normalize._ru_mobile(text) == "+79161234567", raw


def test_negative_control_a_shortcut_without_phonenumbers_metadata_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(normalize, "_RU_MOBILE", re.compile(r"9\d{9}"))
    with pytest.raises((AssertionError, ValueError)):
        assert_shortcut_agrees("+7 (930) 000-00-00")


email_like = st.one_of(
    st.emails(),
    st.text(max_size=80),
    st.builds(
        lambda a, b: f"{a}@{b}",
        mixed(st.sampled_from("abcXYZ._+-"), max_size=20),
        mixed(st.sampled_from("abc.-Я"), max_size=20),
    ),
)


@given(email_like)
@example("  Ivan.Petrov@Example.RU ")
@example("a\u202e@b.ru")
def test_email_normalizer(raw: str) -> None:
    try:
        out = normalize.normalize_email(raw)
    except ValueError:
        return
    assert out == out.lower() and out == out.strip() and len(out) <= 254
    assert no_control(out) and "@" in out
    assert normalize.normalize_email(out) == out


ident = st.one_of(
    st.text(max_size=30),
    mixed(digits, max_size=24),
    mixed(st.sampled_from("0123456789AZaz"), max_size=12),
)
ASCII_FORMS = {
    "normalize_inn": r"[0-9]{10}|[0-9]{12}",
    "normalize_ogrn": r"[0-9]{13}|[0-9]{15}",
    "normalize_kpp": r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}",
    "normalize_bik": r"04[0-9]{7}",
}


@pytest.mark.parametrize("name", sorted(ASCII_FORMS))
@given(raw=ident)
@example(raw="7707 083 893")
@example(raw="٧٧٣٦٠١٠٠١")  # Arabic-Indic digits: \d matches them, storage must not
@example(raw="04٤٥٢٥٢٢٥")
def test_identifier_validators(name: str, raw: str) -> None:
    func = getattr(normalize, name)
    try:
        out = func(raw)
    except ValueError:
        return
    assert re.fullmatch(ASCII_FORMS[name], out), out
    assert func(out) == out


@given(account=ident, bik=st.one_of(st.just("044525225"), st.just(""), st.text(max_size=9)))
@example(account="٤٠٧٠٢٨١٠٩٣٨٠٠٠٠٠٠٠٠١", bik="044525225")
def test_bank_account_validator(account: str, bik: str) -> None:
    try:
        out = normalize.normalize_bank_account(account, bik)
    except ValueError:
        return
    assert re.fullmatch(r"[0-9]{20}", out), out
    assert normalize.normalize_bank_account(out, bik) == out


@given(st.text(max_size=300), st.one_of(st.none(), st.integers(min_value=0, max_value=200)))
@example("a\u202eb\u2066c\u200bd\x00e\r\nf\tg", None)
def test_clean_text(raw: str, max_length: int | None) -> None:
    try:
        out = normalize.clean_text(raw, max_length=max_length)
    except ValueError:
        assert max_length is not None
        return
    assert no_control(out)
    assert max_length is None or len(out) <= max_length
    assert normalize.clean_text(out, max_length=max_length) == out


# --- custom-field values ------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.sampled_from(
            [
                "Альфа",
                "Бета",
                "2026-02-28",
                "0001-01-01T00:00",
                "0001-01-01T00:00+05:00",
                "9999-12-31T23:59:59-05:00",
                "2026-02-28T25:00",
                "1e999",
                "-1e-999",
                "NaN",
                "1_000",
                "https://example.ru",
                "javascript:alert(1)",
                "http://[::1",
                "да",
                "0,5",
            ]
        ),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["amount", "currency", "x"]), children, max_size=3),
    ),
    max_leaves=8,
)
FIELD_TYPES = [
    "string",
    "number",
    "money",
    "list",
    "multi",
    "date",
    "datetime",
    "boolean",
    "address",
    "link",
    "file",
]


@pytest.mark.django_db
@pytest.mark.parametrize("ftype", FIELD_TYPES)
@given(value=json_values)
@example(value="0001-01-01T00:00+05:00")  # before year 1 in UTC: OverflowError, not ValueError
@example(value="9999-12-31T23:59:59-05:00")
@example(value={"amount": "1e999"})
@example(value="0.0000001")
def test_clean_value_raises_only_value_error_and_is_canonical(
    pipeline: Any, ftype: str, value: Any
) -> None:
    field = pipeline.fields[f"f_{ftype}"]
    try:
        out = clean_value(field, value)
    except ValueError:
        return
    json.dumps(out)  # storable in the JSON column
    assert clean_value(field, out) == out  # canonical
    if isinstance(out, str):
        assert no_control(out)


def test_audit_changes_are_json_whatever_is_added_after_diff() -> None:
    """diff()'s answer skips audit_entry's second conversion; what a caller adds to it later
    (a loss reason, the merged ids, a date) is converted as it is added."""
    import datetime as dt
    from decimal import Decimal

    from voronka.kernel.audit import diff

    changes = diff({}, {"amount": Decimal("1.50"), "title": "A", "none": None})
    assert changes == {"amount": [None, "1.50"], "title": [None, "A"]}
    changes["closed"] = [None, dt.date(2026, 1, 2)]
    changes.update(extra=[Decimal("2"), None])
    changes.setdefault("more", [dt.datetime(2026, 1, 2, tzinfo=dt.UTC), None])
    assert changes["closed"] == [None, "2026-01-02"]
    assert changes["extra"] == ["2", None]
    assert changes["more"] == ["2026-01-02T00:00:00+00:00", None]
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": [2, 3]}
