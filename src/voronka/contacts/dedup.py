"""Duplicate control: the keys of each record (ClientKey rows) and the check of a new record.

Every entry point — the forms, the API, the import, later the web forms, calls and e-mail —
creates and edits clients through contacts.services, which rewrites the record's keys in the
same transaction (`keys_sync`). The check (`find_candidates`) looks the keys of a record that
is about to be created up in the one index (entity, kind, key) and scores what it finds with
`score_pair`, the same scoring the full scan uses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import resource
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from voronka.contacts.keys import (
    address_key,
    company_name_key,
    email_key,
    name_tokens,
    tokens_key,
    unique,
)
from voronka.contacts.matching import (
    MAX_BLOCK,
    SUGGEST,
    THRESHOLD,
    Group,
    GroupBuilder,
    Profile,
    block_pairs,
    score,
)
from voronka.contacts.models import (
    EXACT_KINDS,
    ClientEntity,
    ClientKey,
    Company,
    Contact,
    ContactEmail,
    ContactPhone,
    DuplicateGroup,
    DuplicateScan,
    KeyKind,
)
from voronka.kernel import clock
from voronka.kernel.bulk import insert_rows, insert_values

Key = tuple[str, str]  # (kind, key)


# --- the keys of a record ------------------------------------------------------------------------


def name_blocks(tokens: Sequence[str]) -> list[str]:
    """Blocking keys of a person's name that survive a typo after the fourth letter and any word
    order: the first four letters of every pair of its words ("ivan petr")."""
    heads = sorted({t[:4] for t in tokens if len(t) >= 2})
    pairs = [f"s:{a} {b}" for i, a in enumerate(heads) for b in heads[i + 1 :]]
    # Each word alone too: a record with the surname only still meets the full one.
    return pairs + [f"t:{t}" for t in sorted(set(tokens)) if len(t) >= 3]


def contact_keys(
    *,
    last_name: str,
    first_name: str,
    middle_name: str = "",
    birthday: dt.date | None = None,
    phones: Iterable[str] = (),
    emails: Iterable[str] = (),
    company_id: int | None = None,
) -> list[Key]:
    """The keys of a contact from its cleaned values (phones in E.164, e-mails lower-cased)."""
    tokens = name_tokens(last_name, first_name, middle_name)
    keys: list[Key] = [(KeyKind.PHONE, p) for p in unique(phones)]
    email_keys = unique(email_key(e) for e in emails)
    keys += [(KeyKind.EMAIL, e) for e in email_keys]
    # The mailbox name alone: a typo in the domain ("mh@wade.com", "mh@waoe.com") still meets.
    keys += [
        (KeyKind.BLOCK, f"e:{e.split('@')[0]}") for e in email_keys if len(e.split("@")[0]) >= 4
    ]
    if tokens:
        keys.append((KeyKind.NAME, tokens_key(tokens)))
        keys += [(KeyKind.BLOCK, b) for b in name_blocks(tokens)]
    if birthday is not None:
        # The birthday with the first letter of each word of the name: people born the same
        # day are compared when their names could be one (any word order), not all ~40 of a
        # day in a million. A record without a name meets every letter.
        day = birthday.isoformat()
        letters = sorted({t[0] for t in tokens}) or list("abcdefghijklmnopqrstuvwxyz0123456789")
        keys += [(KeyKind.BLOCK, f"b:{day}:{letter}") for letter in letters]
    if company_id is not None:  # colleagues are compared with each other
        keys.append((KeyKind.BLOCK, f"c:{company_id}"))
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
        company_id=contact.company_id,
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


def keys_insert_many(entity: str, keyed: Iterable[tuple[int, Iterable[Key]]]) -> None:
    """The keys of records just created (they have none yet): one statement for a batch (the
    import). The same rows keys_sync writes, clipped by the same rule."""
    rows = [
        (entity, object_id, str(kind), key)
        for object_id, keys in keyed
        for kind, key in _clip(keys)
    ]
    if rows:  # new records: none of their keys can be stored yet (PostgreSQL: COPY)
        insert_values(ClientKey, ["entity", "object_id", "kind", "key"], rows)


def key_owners(entity: str, keys: Iterable[Key]) -> dict[Key, int]:
    """For each of `keys` stored on some record: the lowest id holding it (the import matches a
    batch of rows with exact keys in one query)."""
    by_kind: dict[str, list[str]] = {}
    for kind, key in _clip(keys):
        by_kind.setdefault(kind, []).append(key)
    if not by_kind:
        return {}
    cond = Q()
    for kind, values in by_kind.items():
        cond |= Q(kind=kind, key__in=values)
    owners: dict[Key, int] = {}
    rows = ClientKey.objects.filter(cond, entity=entity).order_by("object_id")
    for kind, key, object_id in rows.values_list("kind", "key", "object_id"):
        owners.setdefault((kind, key), object_id)
    return owners


def keys_drop(entity: str, object_ids: Iterable[int]) -> None:
    ClientKey.objects.filter(entity=entity, object_id__in=list(object_ids)).delete()


def contact_keys_sync(contact: Contact) -> None:
    keys_sync(ClientEntity.CONTACT, contact.pk, keys_of_contact(contact))


def company_keys_sync(company: Company) -> None:
    keys_sync(ClientEntity.COMPANY, company.pk, keys_of_company(company))


# --- the check of a new record -------------------------------------------------------------------


def profiles_of(entity: str, ids: Iterable[int]) -> dict[int, Profile]:
    """The profiles of stored records, from their keys (one indexed query per 1,000 ids)."""
    wanted = list(dict.fromkeys(ids))
    result: dict[int, Profile] = {}
    for start in range(0, len(wanted), 1000):
        rows = ClientKey.objects.filter(
            entity=entity, object_id__in=wanted[start : start + 1000]
        ).values_list("object_id", "kind", "key")
        for object_id, kind, key in rows:
            profile = result.get(object_id)
            if profile is None:
                profile = result[object_id] = Profile(object_id)
            profile.add(kind, key)
    return result


# The most records one key may bring to the check: exact keys first, then names and blocks.
CHECK_LIMIT = 20


# Blocking keys selective enough for the check of one record: a birthday, a company, a mailbox
# name. The name-word keys ("s:", "t:") serve the scan's recall; in a big base one of them can
# hold tens of thousands of records, which the check of one record must never read.
CHECK_BLOCKS = ("b:", "c:", "e:")


def lookup(entity: str, keys: Iterable[Key], *, limit: int = CHECK_LIMIT) -> list[int]:
    """Ids of records sharing any of `keys` — those sharing a phone, e-mail or INN first, then a
    name, then the selective blocks — at most `limit` per key, in one statement (a UNION ALL of
    bounded index look-ups): a common name in a big base costs what a rare one does."""
    order: dict[str, int] = {KeyKind.PHONE: 0, KeyKind.EMAIL: 0, KeyKind.INN: 0, KeyKind.NAME: 1}
    wanted = sorted(
        (
            (kind, key)
            for kind, key in _clip(keys)
            if kind in order
            or kind == KeyKind.ADDRESS
            or (kind == KeyKind.BLOCK and key.startswith(CHECK_BLOCKS))
        ),
        key=lambda k: order.get(k[0], 2),
    )
    if not wanted:
        return []
    table = connection.ops.quote_name(ClientKey._meta.db_table)
    parts: list[str] = []
    params: list[str | int] = []
    for n, (kind, key) in enumerate(wanted):
        parts.append(
            f"SELECT * FROM (SELECT object_id, {n} AS n FROM {table} "
            f"WHERE entity = %s AND kind = %s AND key = %s LIMIT %s) AS k{n}"
        )
        params += [entity, kind, key, limit]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = sorted(cursor.fetchall(), key=lambda row: row[1])
    return list(dict.fromkeys(int(object_id) for object_id, _n in rows))[: limit * 2]


def lock_keys(entity: str, keys: Iterable[Key]) -> None:
    """Serialize, until the transaction ends, everyone checking or writing the same exact keys
    (PostgreSQL advisory locks on a hash of each; SQLite has one writer at a time already)."""
    if connection.vendor != "postgresql":
        return
    wanted = sorted({f"{entity}:{kind}:{key}" for kind, key in _clip(keys) if kind in EXACT_KINDS})
    if not wanted:
        return
    with connection.cursor() as cursor:
        # hashtextextended: a 64-bit hash; sorted, so two transactions lock in the same order.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 10)) FROM unnest(%s::text[]) AS k",
            [wanted],
        )


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


def find_candidates(
    entity: str, keys: Sequence[Key], *, exclude: int | None = None, limit: int = 10
) -> list[Candidate]:
    """Stored records that may be the record with `keys` (not yet saved, or `exclude` itself):
    exact ones (a phone, e-mail or INN is the same) first, then by score; only those worth
    showing (score ≥ matching.SUGGEST). No scope here: the caller decides what a user may see
    of a record outside their scope (selectors.duplicate_candidates)."""
    new = Profile.of(0, keys)
    ids = [i for i in lookup(entity, keys) if i != exclude]
    result: list[Candidate] = []
    for object_id, profile in profiles_of(entity, ids).items():
        match = score(new, profile)
        if match.exact or match.score >= SUGGEST:
            result.append(Candidate(entity, object_id, match.score, match.matched, match.exact))
    result.sort(key=lambda c: (not c.exact, -c.score, c.id))
    return result[:limit]


# --- the full scan ---------------------------------------------------------------------------------

# Records whose profiles are loaded together: bounds the scan's memory, whatever the base's size.
SCAN_BATCH = 20_000


def _blocks_sql(entity: str) -> tuple[str, list[Any]]:
    table = connection.ops.quote_name(ClientKey._meta.db_table)
    agg = "array_agg(object_id)" if connection.vendor == "postgresql" else "group_concat(object_id)"
    sql = (
        f"SELECT {agg} FROM {table} WHERE entity = %s "
        f"GROUP BY kind, key HAVING COUNT(*) BETWEEN 2 AND %s"
    )
    return sql, [entity, MAX_BLOCK]


def _blocks(entity: str) -> Iterator[list[int]]:
    """The member ids of every block worth comparing, streamed (a server-side cursor on
    PostgreSQL: the blocks of a million records never sit in memory at once)."""
    sql, params = _blocks_sql(entity)
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(2000):
            for (members,) in rows:
                if isinstance(members, str):
                    yield [int(x) for x in members.split(",")]
                else:
                    yield list(members)


def blocks_count(entity: str) -> int:
    sql, params = _blocks_sql(entity)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS b", params)
        return int(cursor.fetchone()[0])


def _score_batch(entity: str, batch: list[list[int]], builder: GroupBuilder) -> None:
    profiles = profiles_of(entity, {i for members in batch for i in members})
    seen: set[tuple[int, int]] = set()
    for members in batch:
        for pair in block_pairs(members):
            if pair in seen:
                continue
            seen.add(pair)
            a, b = profiles.get(pair[0]), profiles.get(pair[1])
            if a is None or b is None:  # deleted while the scan ran
                continue
            match = score(a, b, floor=THRESHOLD)
            if match is not None and match.score >= THRESHOLD:
                builder.add(pair[0], pair[1], match)


def find_groups(entity: str, *, progress: Callable[[int, int], None] | None = None) -> list[Group]:
    """Every duplicate group of `entity` across the whole base: the blocks (records sharing a
    key, at most matching.MAX_BLOCK of them) are compared pair by pair, SCAN_BATCH records'
    profiles at a time; `progress(done, total)` is called after each batch (blocks)."""
    total = blocks_count(entity) if progress else 0
    builder = GroupBuilder()
    batch: list[list[int]] = []
    members_in_batch = done = 0
    for members in _blocks(entity):
        batch.append(members)
        members_in_batch += len(members)
        if members_in_batch >= SCAN_BATCH:
            _score_batch(entity, batch, builder)
            done += len(batch)
            batch, members_in_batch = [], 0
            if progress:
                progress(done, total)
    if batch:
        _score_batch(entity, batch, builder)
        done += len(batch)
    if progress:
        progress(done, total)
    return builder.groups()


def signature(ids: Sequence[int]) -> str:
    return hashlib.sha1(",".join(map(str, sorted(ids))).encode()).hexdigest()


def peak_memory_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


@transaction.atomic
def groups_save(entity: str, groups: Sequence[Group], *, scan: DuplicateScan | None) -> int:
    """Store what a scan found: new groups open, open ones refreshed, a person's decisions kept
    (a dismissed or merged group with the same members stays as it is); open groups the scan no
    longer finds are removed. Returns the number of open groups."""
    now = clock.now()
    stored = {
        g.signature: g
        for g in DuplicateGroup.objects.filter(entity=entity).only("id", "signature", "status")
    }
    found: set[str] = set()
    new: list[DuplicateGroup] = []
    refresh: list[DuplicateGroup] = []
    for group in groups:
        sig = signature(group.ids)
        found.add(sig)
        row = stored.get(sig)
        if row is None:
            new.append(
                DuplicateGroup(
                    entity=entity,
                    signature=sig,
                    ids=group.ids,
                    score=group.score,
                    matched=group.matched,
                    scan=scan,
                    found_at=now,
                )
            )
        elif row.status == DuplicateGroup.Status.OPEN:
            row.score, row.matched, row.scan = group.score, group.matched, scan
            refresh.append(row)
    gone = [
        row.pk
        for sig, row in stored.items()
        if sig not in found and row.status == DuplicateGroup.Status.OPEN
    ]
    for start in range(0, len(gone), 1000):
        DuplicateGroup.objects.filter(pk__in=gone[start : start + 1000]).delete()
    if new:
        insert_rows(new)
    if refresh:
        DuplicateGroup.objects.bulk_update(refresh, ["score", "matched", "scan"], batch_size=1000)
    return DuplicateGroup.objects.filter(entity=entity, status=DuplicateGroup.Status.OPEN).count()


def duplicates_scan(entity: str, *, run: DuplicateScan | None = None) -> DuplicateScan:
    """One full scan, recorded with its progress (the review screen polls it) and its peak
    memory — in `run` when a person asked for it, else in a new row. A scan that fails is
    marked failed with the error; the groups stay as they were."""
    if run is None:
        run = DuplicateScan.objects.create(entity=entity, started_at=clock.now())

    def progress(done: int, total: int) -> None:
        DuplicateScan.objects.filter(pk=run.pk).update(
            records=done, total=total, peak_memory_kb=peak_memory_kb()
        )

    try:
        groups = find_groups(entity, progress=progress)
        count = groups_save(entity, groups, scan=run)
    except Exception as exc:
        DuplicateScan.objects.filter(pk=run.pk).update(
            status=DuplicateScan.Status.FAILED, error=str(exc)[:2000], finished_at=clock.now()
        )
        raise
    DuplicateScan.objects.filter(pk=run.pk).update(
        status=DuplicateScan.Status.DONE,
        groups=count,
        finished_at=clock.now(),
        peak_memory_kb=peak_memory_kb(),
    )
    run.refresh_from_db()
    return run


# --- rebuilding every key (after a raw import, a change of the key functions) ---------------------


def _contact_keys_after(last: int, batch: int) -> dict[int, list[Key]]:
    """The keys of the next `batch` contacts after id `last`, read as plain rows (a reindex of
    a million contacts: model instances would cost more than the keys)."""
    rows = list(
        Contact.objects.filter(pk__gt=last)
        .order_by("pk")
        .values_list("pk", "last_name", "first_name", "middle_name", "birthday", "company_id")[
            :batch
        ]
    )
    if not rows:
        return {}
    low, high = rows[0][0], rows[-1][0]
    phones: dict[int, list[str]] = {}
    for contact_id, number in ContactPhone.objects.filter(
        contact_id__gte=low, contact_id__lte=high
    ).values_list("contact_id", "number"):
        phones.setdefault(contact_id, []).append(number)
    emails: dict[int, list[str]] = {}
    for contact_id, address in ContactEmail.objects.filter(
        contact_id__gte=low, contact_id__lte=high
    ).values_list("contact_id", "address"):
        emails.setdefault(contact_id, []).append(address)
    return {
        pk: contact_keys(
            last_name=last_name,
            first_name=first_name,
            middle_name=middle_name,
            birthday=birthday,
            phones=phones.get(pk, ()),
            emails=emails.get(pk, ()),
            company_id=company_id,
        )
        for pk, last_name, first_name, middle_name, birthday, company_id in rows
    }


def reindex(
    entity: str, *, batch: int = 5000, progress: Callable[[int], None] | None = None
) -> int:
    """Rewrite the keys of every record of `entity` in batches (each in its own transaction).
    Returns the number of records."""
    last = 0
    done = 0
    while True:
        with transaction.atomic():
            keys = _contact_keys_after(last, batch) if entity == ClientEntity.CONTACT else {}
            if entity == ClientEntity.COMPANY:
                companies = Company.objects.filter(pk__gt=last).order_by("pk")
                companies = companies.prefetch_related("addresses")[:batch]
                keys = {c.pk: keys_of_company(c) for c in companies}
            if not keys:
                return done
            ids = list(keys)
            ClientKey.objects.filter(entity=entity, object_id__in=ids).delete()
            insert_rows(
                [
                    ClientKey(entity=entity, object_id=object_id, kind=kind, key=key)
                    for object_id, record_keys in keys.items()
                    for kind, key in _clip(record_keys)
                ]
            )
        last = ids[-1]
        done += len(ids)
        if progress:
            progress(done)
