"""Writing many rows in one statement.

Django's `bulk_update` writes `SET f = CASE WHEN id = 1 THEN … WHEN id = 2 THEN … END` per field:
its compile time and PostgreSQL's planning grow with the rows (40 ms for a batch of 20 here).
`update_rows` sends `UPDATE t SET f = v.f FROM (VALUES (…), (…)) AS v(id, f) WHERE t.id = v.id`
instead — the same SQL on PostgreSQL and SQLite (≥ 3.33), one parameter per value, values
prepared by each field as Django would (JSON, datetimes, decimals).

`insert_rows` is `bulk_create` for the rows the automation writes by the thousand (audit rows,
events, rule runs, tasks, notifications, an import's contacts) and `insert_values` the same
for plain tuples. On PostgreSQL the rows go by COPY (psycopg's C dumpers; ids drawn from the
sequence first when the caller reads them back), and with ON CONFLICT DO NOTHING as ONE JSON
parameter (`INSERT … SELECT … FROM json_to_recordset(%s)`), serialised by the json module's C
encoder: Django 5.2's bulk insert sends a column per array parameter (`UNNEST`), whose elements
psycopg quotes one by one in Python, and a VALUES list of one placeholder per value is parsed
placeholder by placeholder — either was about a tenth of the worker's CPU per event (decisions
0018, 0020). SQLite binds values in C: a plain multi-row VALUES there.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models.fields import AutoFieldMixin

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
    connection = connections[DEFAULT_DB_ALIAS]  # the real one, not the per-access proxy
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


def insert_rows(
    objs: Sequence[models.Model], *, ignore_conflicts: bool = False, fetch_ids: bool = True
) -> None:
    """INSERT the (new, same model) objects as bulk_create would: defaults and `auto_now_add`
    filled in (pre_save), values prepared by their fields, the new ids set on the objects (not
    with `ignore_conflicts`: a row left out has none; not with `fetch_ids=False`, for rows no one
    reads back). PostgreSQL takes the rows by COPY (the ids drawn from the sequence first), but
    for `ignore_conflicts`: the one-parameter JSON statement."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    given = sum(obj.pk is not None for obj in objs)
    if 0 < given < len(objs):  # some with their own ids (a test's, a fixture's): Django's way
        model._default_manager.bulk_create(objs, ignore_conflicts=ignore_conflicts)
        return
    # The id column only when the ids are given (else the database numbers the rows).
    auto_pk = isinstance(pk, AutoFieldMixin) and not given
    fields = [f for f in meta.local_concrete_fields if not (auto_pk and f is pk)]
    conn = connections[DEFAULT_DB_ALIAS]  # the real connection, not the per-access proxy
    as_is = [_as_is(f) for f in fields]
    qn = conn.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    returning = not ignore_conflicts and auto_pk
    if returning:
        tail += f" RETURNING {qn(pk.column)}"
    table = qn(meta.db_table)
    if conn.vendor == "postgresql" and not ignore_conflicts:
        if returning and fetch_ids:  # the ids first, from the table's sequence, then COPY
            ids = _next_ids(conn, meta.db_table, pk.column, len(objs))
            for obj, new_id in zip(objs, ids, strict=True):
                setattr(obj, pk.attname, new_id)
            fields, as_is = [pk, *fields], [True, *as_is]
            columns = f"{qn(pk.column)}, {columns}"
        _copy(conn, table, columns, (_values(obj, fields, conn, as_is, copy=True) for obj in objs))
        batches = []
    elif conn.vendor == "postgresql":
        batches = [objs]
    else:  # SQLite's limit of parameters per statement
        per_statement = max(1, MAX_PARAMS // len(fields))
        batches = [objs[i : i + per_statement] for i in range(0, len(objs), per_statement)]
    for batch in batches:
        if conn.vendor == "postgresql":
            names = [f.column for f in fields]
            rows = [
                dict(zip(names, _values(obj, fields, conn, as_is), strict=True)) for obj in batch
            ]
            # A recordset column per field, typed as the table's column (varchar without its
            # length: a too-long value fails on the insert's own check).
            types = ", ".join(
                f"{qn(f.column)} {str(f.db_type(conn)).split('(')[0]}" for f in fields
            )
            sql = (
                f"INSERT INTO {table} ({columns}) SELECT {columns} "
                f"FROM json_to_recordset(%s::json) AS x({types}){tail}"
            )
            params: list[Any] = [json.dumps(rows, default=_json_default)]
        else:
            row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_sql] * len(batch))}{tail}"
            )
            params = [value for obj in batch for value in _values(obj, fields, conn, as_is)]
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            if returning:
                # Rows come back in the order given (what bulk_create relies on too).
                for obj, (new_id,) in zip(batch, cursor.fetchall(), strict=True):
                    setattr(obj, pk.attname, new_id)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = conn.alias


# Fields whose stored value is the attribute itself when it is already of a plain type: no
# pre_save of their own (auto_now…), no conversion beyond what the database does anyway.
_AS_IS = frozenset(
    {"CharField", "TextField", "IntegerField", "BigIntegerField", "PositiveIntegerField"}
    | {"PositiveSmallIntegerField", "SmallIntegerField", "BooleanField", "ForeignKey"}
)
_PLAIN = (str, int, bool, type(None))


def _as_is(field: Any) -> bool:
    return field.get_internal_type() in _AS_IS and type(field).pre_save is models.Field.pre_save


def _values(
    obj: models.Model, fields: list[Any], conn: Any, as_is: list[bool], *, copy: bool = False
) -> list[Any]:
    values = []
    for field, plain in zip(fields, as_is, strict=True):
        if plain:
            value = getattr(obj, field.attname)
            if type(value) in _PLAIN:
                values.append(value)
                continue
        value = field.pre_save(obj, True)
        if isinstance(field, models.JSONField) and not copy:
            # The document itself (nested in the JSON of the rows on PostgreSQL); SQL NULL for
            # None, as bulk_create writes it.
            values.append(
                value
                if conn.vendor == "postgresql" or value is None
                else json.dumps(value, cls=field.encoder)
            )
        else:
            values.append(field.get_db_prep_save(value, conn))
    return values


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds()} seconds"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def insert_values(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """INSERT values into `columns` of `model`'s table without building a model object per row
    — for rows by the ten thousand (an import's keys, audit rows, events). Values are as the
    fields hold them: plain ones as stored, datetimes, JSON documents (dict, list), prepared by
    their field where the database needs it. PostgreSQL: COPY (with `ignore_conflicts`, the same
    one-parameter JSON statement as insert_rows); SQLite: multi-row VALUES."""
    if not rows:
        return
    meta = model._meta
    conn = connections[DEFAULT_DB_ALIAS]
    qn = conn.ops.quote_name
    fields: list[Any] = [meta.get_field(c) for c in columns]
    names: list[str] = [f.column for f in fields]
    cols = ", ".join(qn(n) for n in names)
    table = qn(meta.db_table)
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    json_doc = conn.vendor == "postgresql" and ignore_conflicts  # nested in the JSON parameter
    prepared = [i for i, f in enumerate(fields) if not _as_is(f)]
    if prepared and not json_doc:
        rows = [_prepared(row, prepared, fields, conn) for row in rows]
    if conn.vendor == "postgresql" and not ignore_conflicts:
        _copy(conn, table, cols, rows)
        return
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            types = ", ".join(
                f"{qn(f.column)} {str(f.db_type(conn)).split('(')[0]}" for f in fields
            )
            payload = json.dumps(
                [dict(zip(names, row, strict=True)) for row in rows], default=_json_default
            )
            cursor.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} "
                f"FROM json_to_recordset(%s::json) AS x({types}){tail}",
                [payload],
            )
            return
        per_statement = max(1, MAX_PARAMS // len(names))
        row_sql = "(" + ", ".join(["%s"] * len(names)) + ")"
        for i in range(0, len(rows), per_statement):
            batch = rows[i : i + per_statement]
            cursor.execute(
                f"INSERT INTO {table} ({cols}) VALUES {', '.join([row_sql] * len(batch))}{tail}",
                [v for row in batch for v in row],
            )


def _prepared(row: Sequence[Any], at: list[int], fields: list[Any], conn: Any) -> list[Any]:
    """The row with the values of `at` prepared by their fields as a statement's parameters
    (a JSON document wrapped for psycopg, or text on SQLite; a datetime in SQLite's form)."""
    values = list(row)
    for i in at:
        if values[i] is not None:
            values[i] = fields[i].get_db_prep_save(values[i], conn)
    return values


def _next_ids(conn: Any, table: str, column: str, n: int) -> list[int]:
    """`n` new ids from the column's sequence (an identity column's too), in one statement."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [conn.ops.quote_name(table), column, n],
        )
        return [row[0] for row in cursor.fetchall()]


def _copy(conn: Any, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL: rows into `table` by COPY — they stream through psycopg's C dumpers, and the
    server parses neither a statement nor a JSON document per row: 2.4× faster than the JSON
    statement for 150,000 keys here, at a quarter of the client's CPU (issue 10's import). No
    ON CONFLICT, no RETURNING: for rows that cannot conflict, with ids given or not read."""
    # Django's error classes (IntegrityError, DataError …), as every statement of the connection
    # raises them: psycopg's copy() is not wrapped by Django.
    with (
        conn.wrap_database_errors,
        conn.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def commit_without_waiting_for_disk() -> None:
    """PostgreSQL: this transaction's COMMIT returns before its WAL reaches the disk
    (`synchronous_commit` off for it alone). A crash of the database server may then lose it —
    whole, never in part — so only for work that is redone when lost: an import's batch, which
    commits its rows, their fingerprints and the job's counters together (the job resumes
    from the counters, decision 0020)."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
