"""kernel.bulk.insert_values writes values as bulk_create would write the same rows (both
databases; COPY on PostgreSQL), and ON CONFLICT DO NOTHING keeps the first of a repeated key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.platform.test_bulk_insert_rows import JSONS, MSK, TEXT

from voronka.contacts.models import ClientKey
from voronka.kernel.audit import AuditRow
from voronka.kernel.bulk import insert_values
from voronka.kernel.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_insert_values_writes_what_bulk_create_writes() -> None:
    rows = [("contact", i, "phone", f"+7999{i:07d}") for i in range(1, 2001)]
    rows.append(("company", 5, "name", "ооо «ромашка» ' \" \\ ё"))
    insert_values(ClientKey, ["entity", "object_id", "kind", "key"], rows)
    stored = sorted(ClientKey.objects.values_list("entity", "object_id", "kind", "key"))
    assert stored == sorted(rows)


def test_insert_values_ignores_conflicts_when_asked() -> None:
    columns = ["entity", "object_id", "kind", "key"]
    insert_values(ClientKey, columns, [("contact", 1, "email", "a@x.test")])
    insert_values(
        ClientKey,
        columns,
        [("contact", 1, "email", "a@x.test"), ("contact", 2, "email", "a@x.test")],
        ignore_conflicts=True,
    )
    assert ClientKey.objects.count() == 2
    insert_values(ClientKey, columns, [])  # nothing to write: no statement


@settings(max_examples=40, deadline=None)
@given(text=TEXT, changes=st.dictionaries(TEXT, JSONS, max_size=4))
def test_datetimes_json_and_any_text_are_stored_as_a_model_stores_them(
    text: str, changes: dict[str, Any]
) -> None:
    """The audit rows of a batch (kernel.audit.AuditRow): a datetime, a JSON document and text
    with every character COPY's text format escapes (tab, newline, backslash) — on PostgreSQL
    through COPY, on SQLite through VALUES."""
    at = dt.datetime(2026, 3, 8, 23, 59, 59, 999999, tzinfo=MSK)
    row = AuditRow(at, "user", None, "deal", 7, text[:32], changes, text[:64], "")
    with transaction.atomic():
        AuditEntry.objects.all().delete()
        insert_values(AuditEntry, AuditRow._fields, [row])
        twin = AuditEntry.objects.create(**row._asdict())
        stored, made = (
            AuditEntry.objects.filter(pk=pk).values(*AuditRow._fields).get()
            for pk in (AuditEntry.objects.exclude(pk=twin.pk).get().pk, twin.pk)
        )
        assert stored == made
        assert stored["at"] == at and stored["changes"] == changes
        transaction.set_rollback(True)
