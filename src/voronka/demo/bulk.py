"""Bulk writing for the benchmark seed: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.management.base import CommandError
from django.db import connection, models

UTC = dt.UTC


# --- bulk writer ---------------------------------------------------------------------------------


class Table:
    """A table being loaded: its columns (ours, then constant defaults of the rest) and a buffer."""

    def __init__(
        self, model: type[models.Model], columns: Sequence[str], *, table: str | None = None
    ) -> None:
        self.model = model
        self.table = table or model._meta.db_table
        fields = {f.column: f for f in model._meta.concrete_fields}
        unknown = [c for c in columns if c not in fields]
        if unknown:
            raise CommandError(f"{self.table}: no columns {unknown}")
        self.fields = [fields[c] for c in columns]
        rest = [
            f for f in model._meta.concrete_fields if f.column not in columns and not f.primary_key
        ]
        # Columns another change may add later get their model default, written once per row.
        self.extra_fields = [f for f in rest if f.has_default() or f.null]
        self.extra = tuple(
            f.get_db_prep_save(f.get_default(), connection) if f.has_default() else None
            for f in self.extra_fields
        )
        self.columns = [*columns, *(f.column for f in self.extra_fields)]
        self.rows: list[tuple[Any, ...]] = []
        self.written = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row + self.extra if self.extra else row)


class BulkWriter:
    def __init__(self) -> None:
        self.vendor = connection.vendor
        self.qn = connection.ops.quote_name

    def reserve_ids(self, model: type[models.Model], count: int) -> int:
        """The first of `count` consecutive primary keys nobody else will get."""
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
                seq = cursor.fetchone()[0]
                cursor.execute("SELECT setval(%s, nextval(%s) + %s - 1)", [seq, seq, count])
                return int(cursor.fetchone()[0]) - count + 1
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.qn(table)}")
            return int(cursor.fetchone()[0]) + 1

    def flush(self, table: Table) -> None:
        if not table.rows:
            return
        cols = ", ".join(self.qn(c) for c in table.columns)
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                raw = cursor.cursor  # the psycopg cursor under Django's wrapper
                with raw.copy(f"COPY {self.qn(table.table)} ({cols}) FROM STDIN") as copy:
                    write = copy.write_row
                    for row in table.rows:
                        write(row)
            else:
                marks = ", ".join(["%s"] * len(table.columns))
                adapt = _sqlite_adapter(table)
                cursor.executemany(
                    f"INSERT INTO {self.qn(table.table)} ({cols}) VALUES ({marks})",
                    [adapt(row) for row in table.rows],
                )
        table.written += len(table.rows)
        table.rows = []

    # PostgreSQL: checking each foreign key per row during COPY costs more than the load;
    # drop them for the load and re-add them (one validating join per constraint).
    def drop_foreign_keys(self, tables: Iterable[str]) -> list[tuple[str, str, str]]:
        if self.vendor != "postgresql":
            return []
        with connection.cursor() as cursor:
            # Pending deferred checks of the caller's transaction would forbid the ALTER TABLE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
                [list(tables)],
            )
            found = [(t, n, d) for t, n, d in cursor.fetchall()]
            for table, name, _definition in found:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.qn(name)}")
        return found

    def rows_of(self, model: type[models.Model]) -> int:
        if self.vendor != "postgresql":
            return model._default_manager.count()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass",
                [model._meta.db_table],
            )
            return int(cursor.fetchone()[0])

    def drop_indexes(self, tables: Iterable[str]) -> list[tuple[str, str]]:
        """PostgreSQL: drop the secondary indexes (not those of the primary key or of a
        constraint) of the loaded tables; `create_indexes` builds them again after the load."""
        if self.vendor != "postgresql":
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [list(tables)],
            )
            found = [(name, definition) for name, definition in cursor.fetchall()]
            for name, _definition in found:
                cursor.execute(f"DROP INDEX {name}")
        return found

    def create_indexes(self, found: list[tuple[str, str]]) -> None:
        with connection.cursor() as cursor:
            for _name, definition in found:
                cursor.execute(definition)

    def add_foreign_keys(self, found: list[tuple[str, str, str]]) -> None:
        with connection.cursor() as cursor:
            for table, name, definition in found:
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {self.qn(name)} {definition}")
            if self.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _sqlite_adapter(table: Table) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Per column, what Django's SQLite backend would store (naive UTC text for datetimes)."""

    def stamp(value: Any) -> Any:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")

    def day(value: Any) -> Any:
        return None if value is None else value.isoformat()

    convert: list[tuple[int, Callable[[Any], Any]]] = []
    for index, column in enumerate(table.columns):
        field = table.model._meta.get_field(
            next(f.name for f in table.model._meta.concrete_fields if f.column == column)
        )
        if isinstance(field, models.DateTimeField):
            convert.append((index, stamp))
        elif isinstance(field, models.DateField):
            convert.append((index, day))
    if not convert:
        return lambda row: row

    def adapt(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for index, func in convert:
            values[index] = func(values[index])
        return tuple(values)

    return adapt
