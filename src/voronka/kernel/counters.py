"""Maintained counters: atomic upserts of `count = count + delta` keyed by a unique tuple.

The same SQL runs on SQLite (3.24+) and PostgreSQL. Called inside the service transaction
that causes the change, so a counter never disagrees with the rows it counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection, models


def upsert_add(model: type[models.Model], keys: Mapping[str, Any], delta: int, column: str = "count") -> None:
    if not delta:
        return
    table = model._meta.db_table
    qn = connection.ops.quote_name
    cols = [model._meta.get_field(k).column for k in keys]
    col_sql = ", ".join(qn(c) for c in cols)
    placeholders = ", ".join(["%s"] * len(cols))
    target = qn(column)
    sql = (
        f"INSERT INTO {qn(table)} ({col_sql}, {target}) VALUES ({placeholders}, %s) "
        f"ON CONFLICT ({col_sql}) DO UPDATE SET {target} = {qn(table)}.{target} + excluded.{target}"
    )
    params = [v.pk if isinstance(v, models.Model) else v for v in keys.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, delta])
