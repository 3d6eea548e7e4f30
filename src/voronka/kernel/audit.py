"""Audit rows (and, re-exported from kernel.events, emit() of domain events) — called by
services inside their transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import models

from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.bulk import insert_values
from voronka.kernel.events import emit, emit_many, event_row
from voronka.kernel.models import AuditEntry

__all__ = [
    "audit",
    "audit_entry",
    "audit_many",
    "diff",
    "emit",
    "emit_many",
    "event_row",
    "jsonable",
]


_PLAIN = (str, int, float, type(None))  # JSON as they are (bool is an int)


def jsonable(value: Any) -> Any:
    if isinstance(value, _PLAIN):  # most values: first, one check (audit rows are written by
        return value  # the thousand when robots create tasks)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


class Changes(dict[str, list[Any]]):
    """diff()'s answer: its values are JSON already, and what a caller adds later is converted
    as it is added, so audit_entry does not walk them again."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, jsonable(value))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key not in self:
            self[key] = default
        return self[key]


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Field → [old, new] for every field whose value changed."""
    changes = Changes()
    if not before:  # a creation: every field that has a value (the import makes thousands)
        for key in sorted(after):
            new = jsonable(after[key])
            if new is not None:
                dict.__setitem__(changes, key, [None, new])
        return changes
    for key in sorted(set(before) | set(after)):
        old, new = jsonable(before.get(key)), jsonable(after.get(key))
        if old != new:
            dict.__setitem__(changes, key, [old, new])
    return changes


def audit(
    *, actor: Actor, obj: models.Model, action: str, changes: dict[str, Any] | None = None
) -> AuditEntry:
    entry = AuditEntry(
        **audit_entry(actor=actor, obj=obj, action=action, changes=changes)._asdict()
    )
    entry.save(force_insert=True)
    return entry


class AuditRow(NamedTuple):
    """An audit row not written yet, as plain values (a batch writes thousands: no model object
    each)."""

    at: dt.datetime
    actor_kind: str
    actor_user_id: int | None
    object_type: str
    object_id: int
    action: str
    changes: dict[str, Any]
    request_id: str
    ip: str


def audit_many(entries: list[AuditRow]) -> None:
    """Write audit rows built by audit_entry in one statement (a batch service's)."""
    insert_values(AuditEntry, AuditRow._fields, entries)


def audit_entry(
    *, actor: Actor, obj: models.Model, action: str, changes: dict[str, Any] | None = None
) -> AuditRow:
    """The audit row of a change, not written yet."""
    return AuditRow(
        at=clock.now(),  # the model's default
        actor_kind=str(actor.kind),
        actor_user_id=actor.user_id,
        object_type=obj._meta.model_name or "",
        object_id=obj.pk,
        action=action,
        changes=changes if type(changes) is Changes else jsonable(changes or {}),
        request_id=actor.request_id[:64],
        ip=actor.ip[:64],
    )
