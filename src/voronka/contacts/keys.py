"""The normalized keys duplicate control compares: pure functions, no database.

A contact or company is found again by its keys (contacts.models.ClientKey holds one row per
key): a phone in E.164, an e-mail with what its provider ignores removed, an INN, a name folded
so that spelling variants meet (Иванов / Ivanov, Юлия / Yulia / Julia, ё / е, any word order),
an address. Every function is total on text (never raises) and idempotent on its own output
(property-tested): key(key(x)) == key(x).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# Cyrillic → Latin, one letter at a time; the Latin folding below then makes the common
# transliteration schemes (ГОСТ, passport, BGN, informal) meet: Щукин/Shchukin/Schukin → shukin.
_CYR = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "c",
    "ч": "ch", "ш": "sh", "щ": "sh", "ъ": "", "ы": "i", "ь": "", "э": "e", "ю": "iu",
    "я": "ia", "і": "i", "ї": "i", "є": "e", "ў": "u",
}  # fmt: skip
_CYR_TABLE = str.maketrans(_CYR)
# Applied in order to Latin text (both transliterated and typed in Latin).
_LATIN_FOLDS = (
    ("shch", "sh"),
    ("sch", "sh"),
    ("tch", "ch"),
    ("kh", "h"),
    ("tz", "c"),
    ("ts", "c"),
    ("ck", "k"),
    ("ph", "f"),
    ("x", "ks"),
    ("q", "k"),
    ("w", "v"),
    ("yo", "e"),
    ("jo", "e"),
    ("y", "i"),
    ("j", "i"),
)
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_DOUBLE = re.compile(r"(.)\1+")


@lru_cache(maxsize=65536)  # names repeat: a base of a million contacts has a few thousand
def fold_word(text: str) -> str:
    """Lower-case Latin skeleton of one word: transliterated, schemes folded, accents and
    doubled letters dropped ("Наталья" and "Natalya" → "natalia")."""
    text = unicodedata.normalize("NFKD", text.lower()).translate(_CYR_TABLE)
    # NFKD splits ё into е + U+0308 (and й into и + U+0306): the marks go, the letters stay.
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_CYR_TABLE)
    text = _NOT_WORD.sub("", text)
    while True:  # to a fixed point: a fold may make another's pattern ("qh" → "kh" → "h")
        before = text
        for old, new in _LATIN_FOLDS:
            text = text.replace(old, new)
        text = _DOUBLE.sub(r"\1", text)
        if text == before:
            return text


# Everyday forms of first names people type in place of the full one («Петя» for «Пётр»): read
# as the full name, so they meet. Only unambiguous ones (Саша is Александр and Александра).
DIMINUTIVES = {
    "петя": "петр", "ваня": "иван", "вова": "владимир", "володя": "владимир", "дима": "дмитрий",
    "коля": "николай", "миша": "михаил", "сережа": "сергей", "серега": "сергей",
    "андрюша": "андрей", "леша": "алексей", "алеша": "алексей", "паша": "павел",
    "костя": "константин", "толя": "анатолий", "гена": "геннадий", "витя": "виктор",
    "слава": "вячеслав", "юра": "юрий", "боря": "борис", "гоша": "георгий", "егорка": "егор",
    "маша": "мария", "таня": "татьяна", "оля": "ольга", "лена": "елена", "наташа": "наталья",
    "катя": "екатерина", "аня": "анна", "юля": "юлия", "настя": "анастасия", "света": "светлана",
    "ира": "ирина", "галя": "галина", "люба": "любовь", "надя": "надежда", "даша": "дарья",
    "ксюша": "ксения", "вика": "виктория", "лиза": "елизавета", "поля": "полина",
    "bob": "robert", "bill": "william", "jim": "james", "dick": "richard", "kate": "katherine",
}  # fmt: skip


def name_tokens(*parts: str) -> list[str]:
    """The folded words of a name, in order (empty words dropped; diminutives read in full)."""
    tokens: list[str] = []
    for part in parts:
        for word in re.split(r"[\s\-.,]+", part or ""):
            lower = word.lower().replace("ё", "е")
            folded = fold_word(DIMINUTIVES.get(lower, word))
            if folded:
                tokens.append(folded)
    return tokens


def person_name_key(*parts: str) -> str:
    """A person's name in any word order: "Пётр Иванов" and "Иванов Петр" give the same key."""
    return tokens_key(name_tokens(*parts))


def tokens_key(tokens: Iterable[str]) -> str:
    return " ".join(sorted(tokens))


# Legal forms removed from a company name before comparing (Russian and common foreign).
_LEGAL_FORMS = {
    "ооо", "оао", "зао", "пао", "нао", "ао", "ип", "нко", "ано", "гуп", "муп", "фгуп", "тоо",
    "llc", "ltd", "inc", "gmbh", "jsc", "pjsc", "cjsc", "co", "corp", "ooo", "zao", "oao", "pao",
    "ao", "ip",
}  # fmt: skip
_LONG_FORMS = re.compile(
    r"общество с ограниченной ответственностью|(?:публичное |закрытое |открытое )?"
    r"акционерное общество|индивидуальный предприниматель",
)


def company_name_key(name: str) -> str:
    """A company name without its legal form, quotes and word order: «ООО "Ромашка"» and
    "Romashka LLC" give the same key."""
    text = _LONG_FORMS.sub(" ", (name or "").lower().replace("ё", "е"))
    words = [w for w in re.split(r"[\s\-.,«»\"'“”„()]+", text) if w and w not in _LEGAL_FORMS]
    tokens = [t for t in (fold_word(w) for w in words) if t and t not in _LEGAL_FORMS]
    return " ".join(sorted(tokens))


# Providers that ignore dots in the local part, and the domains that are one mailbox.
_DOMAIN_ALIASES = {
    "googlemail.com": "gmail.com",
    "ya.ru": "yandex.ru",
    "yandex.com": "yandex.ru",
    "yandex.by": "yandex.ru",
    "yandex.kz": "yandex.ru",
    "yandex.ua": "yandex.ru",
    "narod.ru": "yandex.ru",
}
_DOTLESS = {"gmail.com"}
_PLUS_TAGS = {"gmail.com", "yandex.ru", "outlook.com", "hotmail.com", "icloud.com"}


def email_key(address: str) -> str:
    """The mailbox an address reaches: lower-cased, the domain's aliases merged, dots removed
    where the provider ignores them (Gmail), "+tag" removed where the provider delivers it to
    the same box. Yandex reads "." and "-" in a login as the same character."""
    text = (address or "").strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local:
        return text
    domain = _DOMAIN_ALIASES.get(domain, domain)
    if domain in _PLUS_TAGS and "+" in local:
        local = local.split("+", 1)[0] or local
    if domain in _DOTLESS:
        local = local.replace(".", "")
    elif domain == "yandex.ru":
        local = local.replace(".", "-")
    return f"{local}@{domain}"


_ADDRESS_WORDS = {
    "улица": "ул", "проспект": "пр", "просп": "пр", "пр-т": "пр", "переулок": "пер",
    "бульвар": "б-р", "бул": "б-р", "шоссе": "ш", "площадь": "пл", "набережная": "наб",
    "дом": "д", "корпус": "к", "корп": "к", "строение": "стр", "квартира": "кв",
    "город": "г", "область": "обл", "район": "р-н", "микрорайон": "мкр",
}  # fmt: skip
_ADDRESS_DROP = {"г", "д", "россия", "рф"}


def address_key(text: str) -> str:
    """An address compared as a set of words: abbreviations unified ("улица" = "ул."), "г." and
    "д." dropped, punctuation ignored, word order free. Empty when nothing is left."""
    words = re.split(r"[\s,.;/]+", (text or "").lower().replace("ё", "е"))
    result: set[str] = set()
    for word in words:
        if not word:
            continue
        word = _ADDRESS_WORDS.get(word, word)
        if word in _ADDRESS_DROP or re.fullmatch(r"[0-9]{6}", word):  # the postal code
            continue
        result.add(word)
    return " ".join(sorted(result))


def digits_tail(number: str, n: int = 7) -> str:
    """The last `n` digits of a phone number (a number typed without its code still meets)."""
    digits = re.sub(r"[^0-9]", "", number or "")
    return digits[-n:]


def unique(keys: Iterable[str]) -> list[str]:
    return [k for k in dict.fromkeys(keys) if k]
