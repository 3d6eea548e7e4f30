"""What a search box query means, and whether a record matches it — one rule for every search
(the header box, the board filter, the lists' `q`, the pickers, GET /api/v1/search).

A query is read as folded words (lower case, ё → е, Cyrillic too: `fold`) and — when the text looks
like one — a phone number (E.164, as phones are stored), its last digits, an INN or an e-mail
address. The databases only produce bounded candidates (contacts.search, deals.search: pg_trgm on
PostgreSQL, FTS5 on SQLite); `match` decides what is found and how it ranks, in Python, so both
databases answer the same (decision 0019):

  tier 0  the exact phone, INN or e-mail
  tier 1  every word is a whole word of the name/title
  tier 2  some word is only a prefix (type-ahead: "Иван Пе" finds Иванов Пётр), or the last digits
          of a phone, the start of an INN, a part of an e-mail
  tier 3  some word of 5+ letters differs from a word of the record by one letter (a typo)

`sql_fold` is the same folding spelled in ASCII (Cyrillic letters one-to-one onto Latin letters and
digits): PostgreSQL's trigram index sees only ASCII word characters whatever the database's locale
(pg_trgm and lower() ignore Cyrillic in a C-locale database). Its translate() map, `PG_FOLD_FROM`
and `PG_FOLD_TO`, is spelled in the indexes of contacts 0004 and deals 0007."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from voronka.kernel.normalize import clean_text, normalize_phone

MAX_QUERY = 200
MAX_WORDS = 5
MIN_TAIL = 4  # "the last 4+ digits of a phone"
TYPO_MIN = 5  # a word of this many letters may have one letter wrong
# Only digits and what people type around them in a phone number.
_PHONE_CHARS = re.compile(r"^[+\d\s().\-]+$")
_WHOLE_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# What a part of an e-mail address may be made of (ASCII: the trigram index on addresses sees
# only ASCII word characters, and a Cyrillic word is searched as a name).
_EMAIL_CHARS = re.compile(r"^[A-Za-z0-9._%+\-@]+$")


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
    tokens: tuple[str, ...] = ()  # the folded words (fold), at most MAX_WORDS
    tail: str = ""  # the digits of a phone-like query (4+): its last digits, or (5+) a part
    email_part: str = ""  # a part of an e-mail address (one word of 3+ characters, lower-cased)

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
        digits = phone_part = phone = inn = email = tail = email_part = ""
        only_digits = bool(_PHONE_CHARS.match(text))
        if _PHONE_CHARS.match(text):
            only = re.sub(r"\D", "", text)
            if len(only) >= MIN_TAIL:
                tail = only[-15:]
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
        if len(words) == 1 and len(text) >= 3 and _EMAIL_CHARS.match(text) and not only_digits:
            email_part = text.lower()
        # A whole e-mail address or a phone-like run of digits is a key, not words
        # ("andrey.petrov@bk.ru" is nobody's name, "8 916 12" nobody's title).
        keys_only = bool(email) or only_digits
        tokens = () if keys_only else tuple(dict.fromkeys(fold_words(text)))[:MAX_WORDS]
        return cls(
            text=text,
            words=words,
            digits=digits,
            phone_part=phone_part,
            phone=phone,
            inn=inn,
            email=email,
            tokens=tokens,
            tail=tail,
            email_part=email_part,
        )


# --- folding -----------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case (Cyrillic too) with ё read as е: what every comparison of words sees."""
    return text.lower().replace("ё", "е")


def fold_words(text: str) -> list[str]:
    """The folded words of `text` (letters and digits; anything else separates)."""
    return _WORD.findall(fold(text))


_CYR_LOWER = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_CYR_ASCII = "abvgdeejziyklmnoprstufhcxwq312456"  # one-to-one but ё (= е); collisions only add
_LAT_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # candidates, which `match` then refuses
PG_FOLD_FROM = _CYR_LOWER + _CYR_LOWER.upper() + _LAT_UPPER
PG_FOLD_TO = _CYR_ASCII + _CYR_ASCII + _LAT_UPPER.lower()
_SQL_FOLD = str.maketrans(PG_FOLD_FROM, PG_FOLD_TO)


def sql_fold(text: str) -> str:
    """`text` as PostgreSQL's `translate(column, PG_FOLD_FROM, PG_FOLD_TO)` spells it."""
    return text.translate(_SQL_FOLD)


def pg_fold_sql(column_sql: str) -> str:
    """The SQL of the folded column, exactly as the indexes spell it (the planner matches it)."""
    return f"translate({column_sql}, '{PG_FOLD_FROM}', '{PG_FOLD_TO}')"


# --- matching ----------------------------------------------------------------------------------

EXACT, WHOLE, PREFIX, TYPO = 0, 1, 2, 3


@dataclass(frozen=True)
class Hit:
    """How a record matched: its tier (lower ranks first) and what matched ("name", "phone"…)."""

    tier: int
    matched: tuple[str, ...]


def within_one_edit(a: str, b: str) -> bool:
    """a and b differ by at most one letter: replaced, added or dropped (Levenshtein ≤ 1)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        return sum(1 for x, y in zip(a, b, strict=True) if x != y) == 1
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def _word_tier(token: str, word: str) -> int | None:
    if word == token:
        return WHOLE
    if word.startswith(token):
        return PREFIX
    if (
        len(token) >= TYPO_MIN
        and token.isalpha()
        and (within_one_edit(token, word) or within_one_edit(token, word[: len(token)]))
    ):
        return TYPO
    return None


def match_words(tokens: Sequence[str], fields: dict[str, Sequence[str]]) -> Hit | None:
    """Every token matches a different word of the fields (in any order): a whole word, the start
    of one, or — 5+ letters — one letter off. The hit's tier is the worst token's."""
    words = [(name, w) for name, ws in fields.items() for w in ws]
    used: set[int] = set()
    worst = WHOLE
    matched: list[str] = []
    # Longer tokens first: "иван иванов" gives "иванов" its whole word before "иван" takes it.
    for token in sorted(tokens, key=len, reverse=True):
        best: tuple[int, int] | None = None
        for i, (_name, word) in enumerate(words):
            if i in used:
                continue
            tier = _word_tier(token, word)
            if tier is not None and (best is None or tier < best[0]):
                best = (tier, i)
                if tier == WHOLE:
                    break
        if best is None:
            return None
        used.add(best[1])
        worst = max(worst, best[0])
        name = words[best[1]][0]
        if name not in matched:
            matched.append(name)
    return Hit(worst, tuple(matched))


def match(
    terms: SearchTerms,
    *,
    fields: dict[str, str],
    phones: Sequence[str] = (),
    emails: Sequence[str] = (),
    inn: str = "",
) -> Hit | None:
    """Whether a record (its name/title fields, phones in E.164, e-mails, INN) matches the query,
    and how well (the best of its ways). The one rule every search ranks with."""
    if terms.is_empty:
        return None
    hits: list[Hit] = []
    if terms.phone and terms.phone in phones:
        hits.append(Hit(EXACT, ("phone",)))
    elif terms.tail and any(
        p.endswith(terms.tail)
        or (len(terms.tail) >= 5 and terms.tail in p)
        or (terms.phone_part and p.startswith("+" + terms.phone_part))
        for p in phones
    ):
        hits.append(Hit(PREFIX, ("phone",)))
    if inn and terms.inn and inn == terms.inn:
        hits.append(Hit(EXACT, ("inn",)))
    elif inn and terms.digits and inn.startswith(terms.digits):
        hits.append(Hit(PREFIX, ("inn",)))
    lowered = [e.lower() for e in emails if e]
    if terms.email and terms.email in lowered:
        hits.append(Hit(EXACT, ("email",)))
    elif terms.email_part and any(terms.email_part in e for e in lowered):
        hits.append(Hit(PREFIX, ("email",)))
    if terms.tokens:
        by_words = match_words(terms.tokens, {k: fold_words(v) for k, v in fields.items()})
        if by_words is not None:
            hits.append(by_words)
    if not hits:
        return None
    best = min(hits, key=lambda h: h.tier)
    return best


def typo_tokens(terms: SearchTerms) -> tuple[str, ...]:
    """The words looked for with a typo: letters only (no digits), TYPO_MIN or more."""
    return tuple(t for t in terms.tokens if len(t) >= TYPO_MIN and t.isalpha())


def typo_similarity(tokens: Sequence[str]) -> float:
    """The pg_trgm word similarity a one-letter typo keeps at least, for the shortest token. A
    word of n letters has n + 1 trigrams (pg_trgm pads it); a letter replaced breaks 3 of them on
    each side, and word_similarity is shared / (query's + the word's − shared) trigrams:
    (n − 2) / (n + 4) — a letter added or dropped keeps more."""
    n = min(len(t) for t in tokens)
    return round(max(0.3, (n - 2) / (n + 4) - 0.02), 3)
