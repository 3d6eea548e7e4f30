"""Maintained counters: atomic upserts of `count = count + delta` keyed by a unique tuple.

The same SQL runs on SQLite (3.24+) and PostgreSQL. Called inside the service transaction
that causes the change, so a counter never disagrees with the rows it counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from django.db import connection, models

if TYPE_CHECKING:
    from django.db.models import Field


def upsert_add(
    model: type[models.Model], keys: Mapping[str, Any], delta: int, column: str = "count"
) -> None:
    upsert_add_many(model, keys, {column: delta})


def upsert_add_many(
    model: type[models.Model], keys: Mapping[str, Any], deltas: Mapping[str, Any]
) -> None:
    """`column = column + delta` for each of `deltas` in the row keyed by `keys` (one statement)."""
    deltas = {k: v for k, v in deltas.items() if v}
    if not deltas:
        return
    table = model._meta.db_table
    qn = connection.ops.quote_name
    cols = [cast("Field[Any, Any]", model._meta.get_field(k)).column for k in keys]
    col_sql = ", ".join(qn(c) for c in cols)
    targets = [qn(c) for c in deltas]
    placeholders = ", ".join(["%s"] * (len(cols) + len(targets)))
    updates = ", ".join(f"{t} = {qn(table)}.{t} + excluded.{t}" for t in targets)
    sql = (
        f"INSERT INTO {qn(table)} ({col_sql}, {', '.join(targets)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({col_sql}) DO UPDATE SET {updates}"
    )
    params = [v.pk if isinstance(v, models.Model) else v for v in keys.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *deltas.values()])
