"""Writing many rows' different values in one statement.

Django's `bulk_update` writes `SET f = CASE WHEN id = 1 THEN … WHEN id = 2 THEN … END` per field:
its compile time and PostgreSQL's planning grow with the rows (40 ms for a batch of 20 here).
`update_rows` sends `UPDATE t SET f = v.f FROM (VALUES (…), (…)) AS v(id, f) WHERE t.id = v.id`
instead — the same SQL on PostgreSQL and SQLite (≥ 3.33), one parameter per value, values
prepared by each field as Django would (JSON, datetimes, decimals).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models

# Parameters per statement at most (SQLite's default limit is 32,766).
MAX_PARAMS = 30_000


def update_rows(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write `fields` of every object (same model, saved) in one UPDATE (one per MAX_PARAMS
    parameters); returns rows updated."""
    if not objs:
        return 0
    per_statement = max(1, MAX_PARAMS // (len(fields) + 1))
    if len(objs) > per_statement:
        return sum(
            update_rows(objs[i : i + per_statement], fields)
            for i in range(0, len(objs), per_statement)
        )
    model = type(objs[0])
    meta = model._meta
    qn = connection.ops.quote_name
    pk = meta.pk
    assert pk is not None
    columns: list[Any] = [meta.get_field(name) for name in fields]
    # PostgreSQL types a VALUES list from its first row's literals: each placeholder is cast to
    # its column's type so NULLs, JSON and timestamps arrive typed.
    postgres = connection.vendor == "postgresql"

    def slot(field: Any) -> str:
        return f"CAST(%s AS {field.db_type(connection)})" if postgres else "%s"

    row_sql = "(" + ", ".join([slot(pk), *(slot(f) for f in columns)]) + ")"
    params: list[Any] = []
    for obj in objs:
        params.append(pk.get_db_prep_value(obj.pk, connection))
        for field in columns:
            params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
    names = ["pk_", *(f"v{i}" for i in range(len(columns)))]
    assignments = ", ".join(
        f"{qn(field.column)} = v.{name}" for field, name in zip(columns, names[1:], strict=True)
    )
    table = qn(meta.db_table)
    sql = (
        f"UPDATE {table} SET {assignments} "
        f"FROM (VALUES {', '.join([row_sql] * len(objs))}) AS v({', '.join(names)}) "
        f"WHERE {table}.{qn(pk.column)} = v.pk_"
    )
    if not postgres:
        # SQLite names a VALUES list's columns column1, column2 …: alias them by a sub-select.
        sql = (
            f"UPDATE {table} SET {assignments} "
            f"FROM (SELECT {', '.join(f'column{i + 1} AS {n}' for i, n in enumerate(names))} "
            f"FROM (VALUES {', '.join([row_sql] * len(objs))})) AS v "
            f"WHERE {table}.{qn(pk.column)} = v.pk_"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
