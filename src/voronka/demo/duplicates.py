"""A labelled set of contacts with duplicates, drawn from the demo vocabulary: the people a
duplicate scan must group (tests/domain/test_dom_dedup_quality.py, bench/dedup.py).

Duplicates are entered the way they arrive in a real base — the phone in another format (8 …,
+7 …, (495) …), the e-mail in other case or with Gmail dots, the name transliterated
(Иванов/Ivanov, another scheme than the one the keys fold with), in swapped order, with a typo
or without the middle name — and hard negatives: namesakes with another phone, e-mail and
birthday. `labelled_set()` returns (contact data for contact_create, true cluster) pairs."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from voronka.demo.vocabulary import FIRST_F, FIRST_M, LAST, MIDDLE_F, MIDDLE_M, MOBILE

# ICAO-style passport transliteration: another scheme than the one the keys fold with.
_ICAO = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}  # fmt: skip


def icao(text: str) -> str:
    out = "".join(_ICAO.get(ch.lower(), ch) for ch in text)
    return out[:1].upper() + out[1:]


def typo(rng: random.Random, word: str) -> str:
    """One letter replaced, dropped or two swapped — past the fourth letter, where people
    mistype (and where the blocking keys keep the pair together)."""
    if len(word) < 6:
        return word
    i = rng.randrange(4, len(word) - 1)
    kind = rng.choice("rds")
    if kind == "r":
        return word[:i] + rng.choice("аоеиу") + word[i + 1 :]
    if kind == "d":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def phone_variant(rng: random.Random, e164: str) -> str:
    d = e164[2:]
    return rng.choice(
        [
            f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}",
            f"+7 {d[:3]} {d[3:]}",
            f"8{d}",
            f"+7({d[:3]}){d[3:6]}{d[6:]}",
        ]
    )


def person(rng: random.Random, n: int) -> dict[str, Any]:
    female = rng.random() < 0.5
    last = rng.choice(LAST) + ("а" if female else "")
    first = rng.choice(FIRST_F if female else FIRST_M)
    middle = rng.choice(MIDDLE_F if female else MIDDLE_M)
    login = f"{icao(first).lower()}.{icao(last).lower()}{n}"
    return {
        "last_name": last,
        "first_name": first,
        "middle_name": middle,
        "birthday": dt.date(1960 + rng.randrange(40), 1 + rng.randrange(12), 1 + rng.randrange(28))
        if rng.random() < 0.7
        else None,
        "phones": [f"+7{rng.choice(MOBILE)}{rng.randrange(1000000, 9999999)}"],
        "emails": [f"{login}@{rng.choice(['gmail.com', 'mail.ru', 'yandex.ru'])}"],
    }


def duplicate(rng: random.Random, p: dict[str, Any]) -> dict[str, Any]:
    """The same person entered again: some fields changed the way people change them, at
    least one identifying field (phone, e-mail, or name with birthday) still there."""
    d = dict(p)
    last, first, middle = p["last_name"], p["first_name"], p["middle_name"]
    style = rng.choice(["translit", "swap", "typo", "short", "same"])
    if style == "translit":
        last, first, middle = icao(last), icao(first), ""
    elif style == "swap":
        last, first = first, last
    elif style == "typo":
        last = typo(rng, last)
    elif style == "short":
        middle = ""
    d.update(last_name=last, first_name=first, middle_name=middle)
    keep = rng.choice(["phone", "email", "both", "name"] if p["birthday"] else ["phone", "email"])
    d["phones"] = [phone_variant(rng, p["phones"][0])] if keep in ("phone", "both") else []
    email = p["emails"][0]
    if email.endswith("@gmail.com"):
        local = email.split("@")[0].replace(".", "")
        email = f"{local[:3]}.{local[3:]}@GMail.com"
    d["emails"] = [email.upper() if rng.random() < 0.5 else email] if keep != "phone" else []
    if keep == "name":
        d["phones"], d["emails"] = [], []
    return d


def namesake(rng: random.Random, p: dict[str, Any], n: int) -> dict[str, Any]:
    """Another person with the same full name: other phone, e-mail and birthday."""
    other = person(rng, n)
    other.update(last_name=p["last_name"], first_name=p["first_name"], middle_name=p["middle_name"])
    return other


def labelled_set(seed: int = 10, people: int = 240) -> list[tuple[dict[str, Any], int]]:
    rng = random.Random(seed)
    rows: list[tuple[dict[str, Any], int]] = []
    for n in range(people):
        p = person(rng, n)
        rows.append((p, n))
        roll = rng.random()
        if roll < 0.5:
            rows.append((duplicate(rng, p), n))
        if roll < 0.15:
            rows.append((duplicate(rng, p), n))
        if 0.5 <= roll < 0.7:
            rows.append((namesake(rng, p, people + n), people + n))
    return rows
