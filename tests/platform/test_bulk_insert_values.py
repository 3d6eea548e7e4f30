"""kernel.bulk.insert_values writes plain values as bulk_create would write the same rows (both
databases), and ON CONFLICT DO NOTHING keeps the first of a repeated key."""

from __future__ import annotations

import pytest

from voronka.contacts.models import ClientKey
from voronka.kernel.bulk import insert_values

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
