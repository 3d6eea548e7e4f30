"""What a search box query means: words for names and titles, and — when the text looks like one —
a phone number (E.164, as phones are stored), an INN or an e-mail address. No business rules:
the selectors of each app decide which columns the terms are matched against.

Exact terms (a whole phone number, a 10/12-digit INN, a whole e-mail address) are compared with
`=` on the stored normalized value, so they use the existing indexes. Words are matched with
`icontains`; SQLite folds case only for ASCII, so each word is also tried lower-cased, capitalized
and upper-cased ("иванов" finds "Иванов", "ооо" finds "ООО"). Search at scale (trigram indexes)
is a later issue."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q

from voronka.kernel.normalize import clean_text, normalize_phone

MAX_QUERY = 200
MAX_WORDS = 5
# Only digits and what people type around them in a phone number.
_PHONE_CHARS = re.compile(r"^[+\d\s().\-]+$")
_WHOLE_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class SearchTerms:
    text: str = ""
    words: tuple[str, ...] = ()
    digits: str = ""  # the digits of a numeric query (≥ 5), a leading Russian 8 read as 7
    # A part of a number typed the Russian way ("8 916 12"): its stored form starts with 7.
    phone_part: str = ""
    phone: str = ""  # E.164 when the query is a whole phone number
    inn: str = ""  # 10 or 12 digits
    email: str = ""  # lower-cased, when the query contains "@"

    @property
    def is_empty(self) -> bool:
        return not self.text

    @classmethod
    def parse(cls, raw: object) -> SearchTerms:
        """Never raises: a query that is too long is cut (the selectors of the lists refuse it
        with a message before calling this)."""
        text = clean_text(str(raw or ""))[:MAX_QUERY].strip()
        if not text:
            return cls()
        words = tuple(dict.fromkeys(w for w in re.split(r"\s+", text) if w))[:MAX_WORDS]
        digits = phone_part = phone = inn = email = ""
        if _PHONE_CHARS.match(text):
            only = re.sub(r"\D", "", text)
            if len(only) >= 5:
                digits = phone_part = only
                if not text.lstrip().startswith("+") and only[0] == "8":
                    phone_part = "7" + only[1:]
                    if len(only) == 11:
                        digits = phone_part
            if 10 <= len(only) <= 15:
                try:
                    phone = normalize_phone(text)
                except ValueError:
                    phone = ""
            if len(only) in (10, 12) and only == text.replace(" ", ""):
                inn = only
        if _WHOLE_EMAIL.match(text):  # a part ("ivan@") is searched as a substring instead
            email = text.lower()
        return cls(
            text=text,
            words=words,
            digits=digits,
            phone_part=phone_part,
            phone=phone,
            inn=inn,
            email=email,
        )


def phone_part_q(field: str, terms: SearchTerms) -> Q:
    """`field` (an E.164 number) containing the typed digits — as typed, and with a leading
    Russian 8 read as +7 when the query starts with it."""
    cond = Q(**{f"{field}__contains": terms.digits})
    if terms.phone_part and terms.phone_part != terms.digits:
        cond |= Q(**{f"{field}__startswith": "+" + terms.phone_part})
    return cond


def _case_variants(word: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((word, word.lower(), word.capitalize(), word.upper())))


def word_q(fields: Sequence[str], word: str) -> Q:
    """`word` inside any of `fields` (case-insensitive also for Cyrillic on SQLite)."""
    return reduce(
        or_, (Q(**{f"{name}__icontains": v}) for name in fields for v in _case_variants(word))
    )


def words_q(fields: Sequence[str], words: Sequence[str]) -> Q:
    """Every word in one of `fields` ("Иванов Пётр" finds last name Иванов, first name Пётр)."""
    return reduce(lambda acc, w: acc & word_q(fields, w), words, Q())
