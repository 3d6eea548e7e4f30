"""What points at a contact or a company, for the merge (contacts.merge, decision 0021).

contacts sits below deals and activities (.importlinter) and may not import them, yet a merge
must move their deals, tasks and comments onto the kept record. So every app that links rows to
a client registers a `Relinker` here, from its own `relinks` module (imported at start with the
event catalogue: kernel.events.discover): deals, activities, and later calls, e-mails and
documents just register.

A relinker is three functions of the rows it owns, all inside the merge's transaction:

* `relink(kept_id, merged_ids) -> moved` points every row of the merged records at the kept one
  and returns what it moved, as JSON (stored in Merge.undo; ids and, for versioned rows, the
  version they have after the move);
* `changed(kept_id, moved) -> bool`: has any moved row been changed since (then the undo is
  refused: a later edit depends on the merge);
* `undo(kept_id, moved)` moves exactly those rows back;
* `count(ids) -> int` (optional): how many rows would move, for the merge screen's summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import F
from django.utils.functional import Promise


@dataclass(frozen=True)
class Relinker:
    entity: str  # "contact" | "company"
    name: str
    label: Promise | str  # the summary's line ("Сделки")
    relink: Callable[[int, list[int]], Any]
    undo: Callable[[int, Any], None]
    changed: Callable[[int, Any], bool]
    count: Callable[[list[int]], int] | None = None
    order: int = 100  # lower runs first (the merged records' own rows go last)


RELINKERS: dict[str, dict[str, Relinker]] = {"contact": {}, "company": {}}


def register(
    entity: str,
    name: str,
    *,
    label: Promise | str,
    relink: Callable[[int, list[int]], Any],
    undo: Callable[[int, Any], None],
    changed: Callable[[int, Any], bool],
    count: Callable[[list[int]], int] | None = None,
    order: int = 100,
) -> Relinker:
    """Add (or replace: a module imported twice registers the same name) one relinker."""
    if entity not in RELINKERS:
        raise ValueError(f"relinker {name!r}: unknown entity {entity!r}")
    relinker = Relinker(entity, name, label, relink, undo, changed, count, order)
    RELINKERS[entity][name] = relinker
    return relinker


def relinkers(entity: str) -> list[Relinker]:
    return sorted(RELINKERS[entity].values(), key=lambda r: (r.order, r.name))


# --- the common case: rows whose one column names the client ------------------------------------

CHUNK = (
    2000  # ids per statement (SQLite's parameter limit is far above; PostgreSQL's plans stay small)
)


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


def column_relinker(
    entity: str,
    name: str,
    *,
    model: type[models.Model],
    column: str,
    label: Promise | str,
    where: dict[str, Any] | None = None,
    versioned: bool = False,
    after: Callable[[set[int]], None] | None = None,
    order: int = 100,
) -> Relinker:
    """Register the relinker of `model` rows whose `column` holds the client's id (a foreign key
    `company_id`, or `object_id` with `where={"object_type": "contact"}`).

    `versioned`: the rows carry an optimistic-lock `version`; a move bumps it (an edit form
    opened before the merge is then refused, not saved over it), the undo checks it is still
    the one the move left and puts the previous one back. Unversioned rows count as changed when
    they no longer point at the kept record. `after(client_ids)`: called with every client whose
    rows moved (kept and merged), after a move and after an undo (counters to recompute)."""
    where = where or {}

    def base() -> models.QuerySet[Any]:
        return model._default_manager.filter(**where)

    def relink(kept_id: int, merged_ids: list[int]) -> dict[str, Any]:
        moved: dict[str, list[int]] = {}
        versions: dict[str, int] = {}
        fields = ["pk", column, "version"] if versioned else ["pk", column]
        rows = base().filter(**{f"{column}__in": merged_ids}).order_by("pk").values_list(*fields)
        for row in rows:
            moved.setdefault(str(row[1]), []).append(row[0])
            if versioned:
                versions[str(row[0])] = row[2] + 1
        ids = [pk for pks in moved.values() for pk in pks]
        update: dict[str, Any] = {column: kept_id}
        if versioned:
            update["version"] = F("version") + 1
        for chunk in _chunks(ids):
            base().filter(pk__in=chunk).update(**update)
        if after is not None and ids:
            after({kept_id, *(int(m) for m in moved)})
        return {"moved": moved, "versions": versions} if versioned else {"moved": moved}

    def changed(kept_id: int, data: dict[str, Any]) -> bool:
        ids = [pk for pks in data["moved"].values() for pk in pks]
        for chunk in _chunks(ids):
            rows = base().filter(pk__in=chunk, **{column: kept_id})
            if versioned:
                now = dict(rows.values_list("pk", "version"))
                if any(now.get(pk) != data["versions"][str(pk)] for pk in chunk):
                    return True
            elif rows.count() != len(chunk):
                return True
        return False

    def undo(kept_id: int, data: dict[str, Any]) -> None:
        update: dict[str, Any] = {"version": F("version") - 1} if versioned else {}
        for merged_id, ids in data["moved"].items():
            for chunk in _chunks(ids):
                base().filter(pk__in=chunk).update(**{column: int(merged_id), **update})
        if after is not None and data["moved"]:
            after({kept_id, *(int(m) for m in data["moved"])})

    def count(ids: list[int]) -> int:
        return base().filter(**{f"{column}__in": ids}).count()

    return register(
        entity,
        name,
        label=label,
        relink=relink,
        undo=undo,
        changed=changed,
        count=count,
        order=order,
    )


def _register_own() -> None:
    """What the contacts app (and the kernel's files below it) links to a client."""
    from django.utils.translation import gettext_lazy as _lazy

    from voronka.contacts.models import Contact
    from voronka.kernel.models import StoredFile

    column_relinker(
        "company",
        "contacts",
        model=Contact,
        column="company_id",
        label=_lazy("Контакты"),
        versioned=True,
        order=10,
    )
    for entity in ("contact", "company"):
        column_relinker(
            entity,
            "files",
            model=StoredFile,
            column="object_id",
            where={"entity": entity},
            label=_lazy("Файлы"),
            order=90,
        )


_register_own()
