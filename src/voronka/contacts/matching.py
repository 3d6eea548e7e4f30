"""Whether two records are one client: profiles built from keys, a score, groups. Pure code.

A profile is what the ClientKey rows of one record say (name key, birthday, phones, e-mails,
INN, addresses, company). The score adds evidence the way record-linkage models do
(Fellegi–Sunter): each field that agrees adds its weight, each that disagrees subtracts, a
missing field says nothing; the sum goes through a logistic curve to a 0…1 score. The same
`score` serves the check of a new record and the full scan; `group_pairs` joins the pairs over
the threshold into groups (union–find). Weights were set on the labelled sets in
tests/domain/test_dom_dedup_quality.py (ours and splink's fake_1000), not on the benchmark.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler, Levenshtein

from voronka.contacts.models import KeyKind

# A pair at or over this score is a duplicate (grouped by the scan; "possibly the same" on entry).
THRESHOLD = 0.8
# Candidates shown to a person entering a record start lower: a person decides.
SUGGEST = 0.5
# Blocks larger than this are too common to compare pair by pair ("Иванов Пётр" in a big base):
# their records still meet through their other keys.
MAX_BLOCK = 100


@dataclass(slots=True)
class Profile:
    id: int
    name: str = ""  # the NAME key: folded words in sorted order
    birthday: str = ""  # ISO date
    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    inn: str = ""
    places: set[str] = field(default_factory=set)  # address keys
    company: str = ""

    @classmethod
    def of(cls, object_id: int, keys: Iterable[tuple[str, str]]) -> Profile:
        p = cls(object_id)
        for kind, key in keys:
            p.add(kind, key)
        return p

    def add(self, kind: str, key: str) -> None:
        if kind == KeyKind.PHONE:
            self.phones.add(key)
        elif kind == KeyKind.EMAIL:
            self.emails.add(key)
        elif kind == KeyKind.INN:
            self.inn = key
        elif kind == KeyKind.NAME:
            self.name = key
        elif kind == KeyKind.ADDRESS:
            self.places.add(key)
        elif kind == KeyKind.BLOCK and key.startswith("b:"):
            self.birthday = key[2:12]  # "b:YYYY-MM-DD:<letter>"
        elif kind == KeyKind.BLOCK and key.startswith("c:"):
            self.company = key[2:]


@dataclass(slots=True)
class Match:
    score: float
    matched: list[str]
    exact: bool  # a phone, e-mail or INN is the same


def _name_weight(a: str, b: str) -> tuple[float, bool]:
    """Names as sets of folded words: every word of the shorter name must be in the longer one
    (a typo allowed in words of five letters or more) — "ivanov petr" agrees with "ivanov petr
    sergeevich"; one word that differs ("anna" for "irina") is another person."""
    if not a or not b:
        return 0.0, False
    if a == b:
        return 4.0, True
    small, big = sorted((a.split(), b.split()), key=lambda words: (len(words), words))
    found = 0
    for word in small:
        if word in big or (len(word) >= 3 and any(o.startswith(word) for o in big)):
            found += 1  # the word, or its beginning: Rob for Robert
        elif len(word) >= 4 and (
            max(JaroWinkler.similarity(word, o) for o in big) >= 0.88
            or max(fuzz.ratio(word, o) for o in big) >= 80
        ):
            found += 1  # a typo: Eliza/Ezia, Milller/Miller (Jaro–Winkler, as linkage models do)
    if found == len(small):
        return (3.0 if len(small) >= 2 else 1.0), True
    return -3.0, False


def _date_weight(a: str, b: str) -> tuple[float, bool]:
    if not a or not b:
        return 0.0, False
    if a == b:
        return 4.0, True
    try:
        days = abs((dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days)
    except ValueError:
        return 0.0, False
    if Levenshtein.distance(a, b) == 1 or days <= 31:  # one typed digit, a slipped day/month
        return 1.5, False
    if days <= 400:
        return -0.5, False
    return -2.5, False


def _set_weight(a: set[str], b: set[str], same: float, near: float, differ: float) -> float:
    if not a or not b:
        return 0.0
    if a & b:
        return same
    best = max(fuzz.ratio(x, y) for x in a for y in b)
    return near if best >= 90 else differ


# The centre of the logistic curve: a phone or e-mail alone (6.0) → 0.95, a name with its
# birthday (7.0–8.0) → 0.98–0.99, a name alone (4.0) → 0.73 — shown on entry, never grouped.
CENTRE = 3.0


def _logistic(total: float) -> float:
    return 1.0 / (1.0 + math.exp(-(total - CENTRE)))


@overload
def score(a: Profile, b: Profile) -> Match: ...
@overload
def score(a: Profile, b: Profile, *, floor: float) -> Match | None: ...
def score(a: Profile, b: Profile, *, floor: float | None = None) -> Match | None:
    """How likely `a` and `b` are one client (0…1), with the fields that agreed.

    `floor` (the scan): None as soon as the score cannot reach it whatever the fields not yet
    compared say — the cheap comparisons (sets, dates) go first, the fuzzy ones last. Without a
    floor it always answers."""
    matched: list[str] = []
    total = 0.0
    exact = False
    if a.inn and b.inn:
        if a.inn == b.inn:
            total += 8.0
            matched.append("inn")
            exact = True
        else:
            total -= 6.0  # two INNs: two legal entities, whatever the name says
    if a.phones & b.phones:
        matched.append("phone")
        exact = True
        total += 6.0
    if a.emails & b.emails:
        matched.append("email")
        exact = True
        total += 6.0
    weight, agrees = _date_weight(a.birthday, b.birthday)
    total += weight
    if agrees:
        matched.append("birthday")
    company = bool(a.company and a.company == b.company)
    if company:
        total += 1.0
    # What the fields still to compare can add at most: a name (4), a near e-mail (2.5), a
    # shared address (1.5). Phones that differ only subtract.
    near_mail = bool(a.emails and b.emails and not a.emails & b.emails)
    places = bool(a.places and b.places)
    if floor is not None:
        best = total + 4.0 + (2.5 if near_mail else 0.0) + (1.5 if places else 0.0)
        if _logistic(best) < floor:
            return None
    weight, agrees = _name_weight(a.name, b.name)
    total += weight
    if agrees:
        matched.append("name")
    if a.phones and b.phones and not a.phones & b.phones:
        total += _set_weight(a.phones, b.phones, 6.0, 0.0, -1.0)
    if near_mail:
        total += _set_weight(a.emails, b.emails, 6.0, 2.5, -1.0)
    if places:
        place = _set_weight(a.places, b.places, 1.5, 0.5, -0.5)
        total += place
        if place > 1:
            matched.append("address")
    if company:
        matched.append("company")
    return Match(round(_logistic(total), 4), matched, exact)


class _Groups:
    """Union–find over the ids of matched pairs only."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        root = parent.setdefault(x, x)
        while root != parent[root]:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class Group:
    ids: list[int]
    score: float
    matched: list[str]

    def as_dict(self) -> dict[str, object]:
        return {"ids": self.ids, "score": self.score, "matched": self.matched}


class GroupBuilder:
    """Collects matched pairs and hands out the groups (score = the weakest link kept)."""

    def __init__(self) -> None:
        self._uf = _Groups()
        self._score: dict[int, float] = {}
        self._matched: dict[int, set[str]] = {}
        self._edges: list[tuple[int, int, float, list[str]]] = []

    def add(self, a: int, b: int, match: Match) -> None:
        self._uf.union(a, b)
        self._edges.append((a, b, match.score, match.matched))

    def groups(self) -> list[Group]:
        score: dict[int, float] = {}
        matched: dict[int, dict[str, None]] = {}
        members: dict[int, set[int]] = {}
        for a, b, value, fields in self._edges:
            root = self._uf.find(a)
            score[root] = min(score.get(root, 1.0), value)
            matched.setdefault(root, {}).update(dict.fromkeys(fields))
            members.setdefault(root, set()).update((a, b))
        result = [
            Group(sorted(ids), round(score[root], 3), list(matched[root]))
            for root, ids in members.items()
        ]
        result.sort(key=lambda g: (-g.score, g.ids[0]))
        return result


def block_pairs(ids: Sequence[int]) -> Iterator[tuple[int, int]]:
    ordered = sorted(set(ids))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            yield a, b


def scan_profiles(
    profiles: Sequence[Profile], keys_of: dict[int, list[tuple[str, str]]]
) -> list[Group]:
    """The full scan in memory (the labelled sets, small bases): block on every shared key,
    score each pair once, group. The database scan (dedup.scan) does the same in batches."""
    blocks: dict[tuple[str, str], list[int]] = {}
    for object_id, keys in keys_of.items():
        for key in keys:
            blocks.setdefault(key, []).append(object_id)
    by_id = {p.id: p for p in profiles}
    builder = GroupBuilder()
    seen: set[tuple[int, int]] = set()
    for members in blocks.values():
        if not 2 <= len(members) <= MAX_BLOCK:
            continue
        for pair in block_pairs(members):
            if pair in seen:
                continue
            seen.add(pair)
            match = score(by_id[pair[0]], by_id[pair[1]], floor=THRESHOLD)
            if match is not None and match.score >= THRESHOLD:
                builder.add(*pair, match)
    return builder.groups()
