"""ORM queries compiled once per process, run again with new values.

Building and compiling a QuerySet costs Python time on every request — for the small queries of
the hot pages (the API's deal, the board's cells and columns) more than PostgreSQL takes to run
them (issue 8: compiling the board's column query cost about twice running it). `prepared_rows`
builds the QuerySet with placeholders in place of the values that change from call to call,
compiles it once and keeps its SQL; later calls put their values where the placeholders were and
run the same SQL through the cursor, through the compiler's own converters (SQLite's text dates
and decimals), so they read exactly the rows the QuerySet reads.

The caller names everything else the SQL depends on in `key` — for a scoped query the scope's
user ids (`identity.scopes.scope_key`) — so two calls with the same key build the same query but
for the placeholders. Placeholders are integers (ids). Whatever the compiled SQL might not read
the way the QuerySet does runs the plain QuerySet instead — slower, never different: a key whose
placeholder the ORM does not pass through as exactly one parameter (folded into the SQL text,
repeated, transformed), a query that compiles to nothing (`pk__in=[]`: the ORM knows without
asking the database), and a value outside the 64-bit range (the ORM answers "no rows").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

# Values no row has: the placeholders handed to `build`, one per name.
_PLACEHOLDER_BASE = -(2**62) + 1
_INT64 = range(-(2**63), 2**63)
MAX_KEYS = 512  # compiled queries kept per process (the oldest is dropped first)


@dataclass(frozen=True, slots=True)
class _Compiled:
    db: str
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, int]  # placeholder name → its index in params
    converters: list[tuple[int, tuple[list[Any], Any]]]  # column → (converters, expression)


_PLAIN = "plain"  # this key runs the QuerySet itself (see the module's docstring)
_compiled: dict[Hashable, _Compiled | str] = {}
_adding = threading.Lock()  # threads of one process add keys one at a time


def prepared_rows(
    key: Hashable, build: Callable[..., QuerySet[Any]], **values: int
) -> list[tuple[Any, ...]]:
    """The rows (tuples) of `build(**values)` — a `values_list()` QuerySet — compiled once per
    `key`. `build` must depend on nothing but its arguments and what `key` names."""
    entry = _compiled.get(key)
    if entry is None:
        entry = _compile(build, sorted(values))
        with _adding:
            if len(_compiled) >= MAX_KEYS:
                _compiled.pop(next(iter(_compiled)), None)
            _compiled[key] = entry
    if not isinstance(entry, _Compiled) or not all(
        isinstance(value, int) and value in _INT64 for value in values.values()
    ):
        return list(build(**values))
    params = list(entry.params)
    for name, index in entry.slots.items():
        params[index] = values[name]
    connection = connections[entry.db]
    with connection.cursor() as cursor:
        cursor.execute(entry.sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    if not entry.converters:
        return rows
    converted = []
    for row in rows:  # as SQLCompiler.apply_converters, with this thread's connection
        cells = list(row)
        for index, (converters, expression) in entry.converters:
            value = cells[index]
            for converter in converters:
                value = converter(value, expression, connection)
            cells[index] = value
        converted.append(tuple(cells))
    return converted


def _compile(build: Callable[..., QuerySet[Any]], names: list[str]) -> _Compiled | str:
    placeholders = {name: _PLACEHOLDER_BASE + i for i, name in enumerate(names)}
    qs = build(**placeholders)
    compiler = qs.query.get_compiler(using=qs.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return _PLAIN
    slots = {}
    for name, placeholder in placeholders.items():
        found = [i for i, value in enumerate(params) if value == placeholder]
        if len(found) != 1 or str(placeholder) in sql:
            return _PLAIN
        slots[name] = found[0]
    converters = compiler.get_converters([col for col, _sql, _alias in compiler.select])
    return _Compiled(qs.db, sql, tuple(params), slots, list(converters.items()))
