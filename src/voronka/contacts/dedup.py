"""Duplicate control: the keys of each record (ClientKey rows) and the check of a new record.

Every entry point — the forms, the API, the import, later the web forms, calls and e-mail —
creates and edits clients through contacts.services, which rewrites the record's keys in the
same transaction (`keys_sync`). The check (`find_candidates`) looks the keys of a record that
is about to be created up in the one index (entity, kind, key) and scores what it finds with
`score_pair`, the same scoring the full scan uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from voronka.contacts.keys import (
    address_key,
    company_name_key,
    email_key,
    name_tokens,
    person_name_key,
    unique,
)
from voronka.contacts.models import ClientEntity, ClientKey, Company, Contact, KeyKind
from voronka.kernel.bulk import insert_rows

Key = tuple[str, str]  # (kind, key)


# --- the keys of a record ------------------------------------------------------------------------


def name_blocks(tokens: Sequence[str]) -> list[str]:
    """Blocking keys of a person's name that survive a typo after the fourth letter and any word
    order: the first four letters of every pair of its words ("ivan petr")."""
    heads = sorted({t[:4] for t in tokens if len(t) >= 2})
    return [f"s:{a} {b}" for i, a in enumerate(heads) for b in heads[i + 1 :]]


def contact_keys(
    *,
    last_name: str,
    first_name: str,
    middle_name: str = "",
    birthday: dt.date | None = None,
    phones: Iterable[str] = (),
    emails: Iterable[str] = (),
) -> list[Key]:
    """The keys of a contact from its cleaned values (phones in E.164, e-mails lower-cased)."""
    tokens = name_tokens(last_name, first_name, middle_name)
    keys: list[Key] = [(KeyKind.PHONE, p) for p in unique(phones)]
    keys += [(KeyKind.EMAIL, e) for e in unique(email_key(e) for e in emails)]
    if tokens:
        keys.append((KeyKind.NAME, person_name_key(last_name, first_name, middle_name)))
        keys += [(KeyKind.BLOCK, b) for b in name_blocks(tokens)]
    if birthday is not None:
        keys.append((KeyKind.BLOCK, f"b:{birthday.isoformat()}"))
    return keys


def company_keys(
    *,
    name: str,
    inn: str = "",
    phone: str = "",
    email: str = "",
    addresses: Iterable[str] = (),
) -> list[Key]:
    keys: list[Key] = []
    if inn:
        keys.append((KeyKind.INN, inn))
    if phone:
        keys.append((KeyKind.PHONE, phone))
    if email:
        keys.append((KeyKind.EMAIL, email_key(email)))
    name_key = company_name_key(name)
    if name_key:
        keys.append((KeyKind.NAME, name_key))
    keys += [(KeyKind.ADDRESS, a) for a in unique(address_key(t) for t in addresses)]
    return keys


def keys_of_contact(contact: Contact) -> list[Key]:
    return contact_keys(
        last_name=contact.last_name,
        first_name=contact.first_name,
        middle_name=contact.middle_name,
        birthday=contact.birthday,
        phones=[p.number for p in contact.phones.all()],
        emails=[e.address for e in contact.emails.all()],
    )


def keys_of_company(company: Company) -> list[Key]:
    return company_keys(
        name=company.name,
        inn=company.inn,
        phone=company.phone,
        email=company.email,
        addresses=[a.text for a in company.addresses.all()],
    )


def _clip(keys: Iterable[Key]) -> list[Key]:
    limit = ClientKey._meta.get_field("key").max_length or 254
    return list(dict.fromkeys((kind, key[:limit]) for kind, key in keys if key))


def keys_sync(entity: str, object_id: int, keys: Iterable[Key]) -> None:
    """Make the stored keys of one record exactly `keys` (inside the caller's transaction)."""
    wanted = set(_clip(keys))
    stored = ClientKey.objects.filter(entity=entity, object_id=object_id)
    have = {(k.kind, k.key): k.pk for k in stored.only("id", "kind", "key")}
    gone = [pk for key, pk in have.items() if key not in wanted]
    if gone:
        ClientKey.objects.filter(pk__in=gone).delete()
    new = [
        ClientKey(entity=entity, object_id=object_id, kind=kind, key=key)
        for kind, key in wanted - have.keys()
    ]
    if new:
        insert_rows(new, ignore_conflicts=True)


def keys_drop(entity: str, object_ids: Iterable[int]) -> None:
    ClientKey.objects.filter(entity=entity, object_id__in=list(object_ids)).delete()


def contact_keys_sync(contact: Contact) -> None:
    keys_sync(ClientEntity.CONTACT, contact.pk, keys_of_contact(contact))


def company_keys_sync(company: Company) -> None:
    keys_sync(ClientEntity.COMPANY, company.pk, keys_of_company(company))


# --- the check of a new record -------------------------------------------------------------------


@dataclass
class Candidate:
    """An existing record that may be the one being entered."""

    entity: str
    id: int
    score: float
    matched: list[str] = field(default_factory=list)
    exact: bool = False  # a phone, e-mail or INN is the same: the existing one is used

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "id": self.id,
            "score": round(self.score, 3),
            "matched": self.matched,
            "exact": self.exact,
        }


def lookup(entity: str, keys: Iterable[Key], *, limit: int = 200) -> dict[int, set[str]]:
    """Records sharing any of `keys`: {object_id: {kinds matched}} (one indexed query)."""
    from django.db.models import Q

    wanted = _clip(keys)
    if not wanted:
        return {}
    by_kind: dict[str, list[str]] = {}
    for kind, key in wanted:
        by_kind.setdefault(kind, []).append(key)
    cond = Q()
    for kind, values in by_kind.items():
        cond |= Q(kind=kind, key__in=values)
    rows = ClientKey.objects.filter(cond, entity=entity).values_list("object_id", "kind")[
        : limit * 4
    ]
    found: dict[int, set[str]] = {}
    for object_id, kind in rows:
        found.setdefault(object_id, set()).add(kind)
    return found


def as_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(data)
