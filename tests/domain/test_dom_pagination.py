"""kernel.pagination: the one keyset paginator (issue 8, "one rule in one place").

Property: walking every page with any limit and any supported order returns every row exactly
once and in order — also when rows are inserted and deleted between two pages: no row is
repeated, no row that existed throughout is skipped, and the rows seen are strictly ordered.
Negative control: the same walk with the tie-break dropped from the "after" condition (what a
paginator keyed on the sort field alone does) must be caught on rows with equal keys.

Cursors: opaque and versioned; a malformed, edited, legacy, or foreign (another list or sort)
cursor is a ValidationError naming `cursor`, never another exception — also for values a
correctly signed cursor could carry (edge dates go through kernel.dates' clamps).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from hypothesis import given, settings
from hypothesis import strategies as st

from cursors import signed_cursor, tampered
from voronka.deals.models import Deal, Pipeline
from voronka.kernel import pagination
from voronka.kernel.errors import ValidationError

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
ORDERS = [
    ("-created_at", "-id"),
    ("-id",),
    ("id",),
    ("sort", "id"),
    ("-sort", "-id"),
    ("name", "-id"),  # mixed directions: the expansion handles each key's own direction
    ("-name", "id"),
]

# A row: (sort, name, minutes after T0). Small ranges on purpose: many equal keys.
row_values = st.tuples(
    st.integers(min_value=0, max_value=3),
    st.sampled_from(["a", "b", "c"]),  # one collation order on SQLite and PostgreSQL
    st.integers(min_value=0, max_value=4),
)


@dataclass
class Step:
    """What happens after a page is handed out: rows inserted, rows deleted (by position)."""

    insert: list[tuple[int, str, int]]
    delete: list[int]


steps = st.lists(
    st.builds(
        Step,
        insert=st.lists(row_values, max_size=3),
        delete=st.lists(st.integers(min_value=0, max_value=40), max_size=3),
    ),
    max_size=12,
)


@contextmanager
def rolled_back() -> Iterator[None]:
    """Each Hypothesis example in its own savepoint, undone afterwards."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def KP() -> Any:  # noqa: N802 — the rows these tests create
    return Pipeline.objects.filter(name__startswith="kp ")


def _create(values: list[tuple[int, str, int]]) -> list[int]:
    rows = [
        Pipeline(sort=s, name=f"kp {n}", created_at=T0 + dt.timedelta(minutes=m))
        for s, n, m in values
    ]
    return [p.pk for p in Pipeline.objects.bulk_create(rows)]


def _key(order: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The sort key of a row as the paginator orders it (direction folded in)."""

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            _Desc(row[f.lstrip("-")]) if f.startswith("-") else row[f.lstrip("-")] for f in order
        )

    return key


class _Desc:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value


def walk_failures(
    initial: list[tuple[int, str, int]], order: tuple[str, ...], limit: int, plan: list[Step]
) -> list[str]:
    """Walk every page of the kp-rows, applying `plan` between pages; what went wrong."""
    ids = _create(initial)
    base = KP()
    fields = ("id", "sort", "name", "created_at")
    values = {r["id"]: r for r in base.values(*fields)}
    throughout = set(ids)
    seen: list[int] = []
    cursor: str | None = None
    for page_no in range(200):
        page = pagination.keyset_page(base.values(*fields), order=order, cursor=cursor, limit=limit)
        seen += [r["id"] for r in page.items]
        for r in page.items:
            values[r["id"]] = r
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        if page_no < len(plan):
            step = plan[page_no]
            new = _create(step.insert)
            values.update({r["id"]: r for r in base.filter(pk__in=new).values(*fields)})
            present = sorted(base.values_list("pk", flat=True))
            doomed = {present[i % len(present)] for i in step.delete} if present else set()
            Pipeline.objects.filter(pk__in=doomed).delete()
            throughout -= doomed
    else:
        return ["the walk did not end"]
    failures = []
    if len(seen) != len(set(seen)):
        failures.append(f"duplicates: {sorted(i for i in set(seen) if seen.count(i) > 1)}")
    if throughout - set(seen):
        failures.append(f"skipped: {sorted(throughout - set(seen))}")
    keys = [_key(order)(values[i]) for i in seen]
    if any(not keys[i] < keys[i + 1] for i in range(len(keys) - 1)):
        failures.append("out of order")
    return failures


@settings(max_examples=60)
@given(
    initial=st.lists(row_values, max_size=25),
    order=st.sampled_from(ORDERS),
    limit=st.integers(min_value=1, max_value=7),
)
def test_every_row_once_in_order(
    initial: list[tuple[int, str, int]], order: tuple[str, ...], limit: int
) -> None:
    with rolled_back():
        assert walk_failures(initial, order, limit, []) == []


@settings(max_examples=60)
@given(
    initial=st.lists(row_values, max_size=25),
    order=st.sampled_from(ORDERS),
    limit=st.integers(min_value=1, max_value=7),
    plan=steps,
)
def test_inserts_and_deletes_between_pages_neither_repeat_nor_hide_rows(
    initial: list[tuple[int, str, int]], order: tuple[str, ...], limit: int, plan: list[Step]
) -> None:
    with rolled_back():
        assert walk_failures(initial, order, limit, plan) == []


def _after_without_tie_break(keys: list[Any], values: list[Any]) -> Q:
    first = keys[0]
    return Q(**{f"{first.name}__{'lt' if first.descending else 'gt'}": values[0]})


def test_negative_control_a_paginator_without_the_tie_break_is_caught() -> None:
    ties = [(1, "a", 0)] * 6 + [(2, "b", 1)] * 3
    with rolled_back():
        assert walk_failures(ties, ("sort", "id"), 2, []) == []
    with rolled_back(), mock.patch.object(pagination, "_after", _after_without_tie_break):
        assert any("skipped" in f for f in walk_failures(ties, ("sort", "id"), 2, []))


# --- the cursor ---------------------------------------------------------------------------------


def _refused(cursor: Any, order: tuple[str, ...] = ("-created_at", "-id")) -> bool:
    try:
        pagination.keyset_page(Pipeline.objects.all(), order=order, cursor=cursor, limit=5)
    except ValidationError as exc:
        return set(exc.errors) == {"cursor"}
    return False


def test_cursor_is_opaque_versioned_and_url_safe() -> None:
    _create([(1, "x", 0), (1, "x", 0), (2, "y", 1)])
    page = pagination.keyset_page(KP(), order=("-created_at", "-id"), cursor=None, limit=1)
    cursor = page.next_cursor
    assert cursor is not None and cursor.startswith(f"{pagination.VERSION}.")
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "1",
        "1..",
        "1.abc.def",
        "WyJ4IiwyXQ",  # the deals list's old format: ["x", 2]
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwgMV0",  # the tasks API's old format
        "12345",  # the companies list's old format: an id
        "2.e30.AAAAAAAAAAAAAAAA",  # an unknown version
        "1." + "A" * 5000 + ".x",  # longer than any cursor we hand out
        "1.\u0000.x",
    ],
)
def test_malformed_and_legacy_cursors_are_refused_naming_cursor(cursor: str) -> None:
    assert _refused(cursor)


def test_edited_or_foreign_cursors_are_refused() -> None:
    _create([(1, "x", 0), (1, "x", 0), (2, "y", 1)])
    good = pagination.keyset_page(
        KP(), order=("-created_at", "-id"), cursor=None, limit=1
    ).next_cursor
    assert good and not _refused(good)
    assert _refused(tampered(good))
    assert _refused(good, order=("created_at", "id"))  # another sort of the same list
    with pytest.raises(ValidationError) as exc:  # another list with the same order
        pagination.keyset_page(
            Deal.objects.all(), order=("-created_at", "-id"), cursor=good, limit=5
        )
    assert set(exc.value.errors) == {"cursor"}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "0001-01-01T00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "2026-02-30T10:00",
            "1e999",
            "NaN",
            "-Infinity",
        ]
    ),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150)
@given(raw=st.one_of(json_values, st.lists(json_values, min_size=2, max_size=2)))
def test_a_signed_cursor_with_any_values_is_a_page_or_a_refusal(raw: Any) -> None:
    """Behind a good MAC: typed per field, dates clamped — a page or a 4xx, never a 5xx."""
    with rolled_back():
        for order in (("-created_at", "-id"), ("sort", "id"), ("name", "-id")):
            cursor = signed_cursor(Pipeline, order, raw)
            try:
                pagination.keyset_page(Pipeline.objects.all(), order=order, cursor=cursor, limit=3)
            except ValidationError as exc:
                assert set(exc.errors) == {"cursor"}


def test_edge_dates_in_a_signed_cursor_are_clamped() -> None:
    _create([(1, "x", 0)])
    order = ("-created_at", "-id")
    for moment, expect_rows in (("0001-01-01T00:00+05:00", 0), ("9999-12-31T23:59:59-05:00", 1)):
        cursor = signed_cursor(Pipeline, order, [moment, 1])
        page = pagination.keyset_page(KP(), order=order, cursor=cursor, limit=5)
        assert len(page.items) == expect_rows


@pytest.mark.parametrize(
    "order",
    [(), ("sort",), ("-created_at",), ("id", "sort"), ("stages",), ("is_active", "id")],
)
def test_an_order_that_is_not_a_keyset_is_a_programming_error(order: tuple[str, ...]) -> None:
    with pytest.raises(ImproperlyConfigured):
        pagination.keyset_page(Pipeline.objects.all(), order=order, cursor=None, limit=5)


@pytest.mark.parametrize("limit", [0, -1, 201, True])
def test_limit_out_of_range_names_limit(limit: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        pagination.keyset_page(Pipeline.objects.all(), order=("-id",), cursor=None, limit=limit)
    assert set(exc.value.errors) == {"limit"}


# --- a nullable date as a key (the company list by last purchase / interaction) ------------------

NULLABLE_ORDERS = [
    ("last_interaction_at", "id"),
    ("-last_interaction_at", "-id"),
    ("-last_interaction_at", "id"),
]


class _Smallest:
    """NULL's place in the order: before every date."""

    def __lt__(self, other: object) -> bool:
        return not isinstance(other, _Smallest)

    def __gt__(self, other: object) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Smallest)


def nullable_walk(moments: list[int | None], order: tuple[str, ...], limit: int) -> list[str]:
    from voronka.contacts.models import Company
    from voronka.identity.models import User

    user = User.objects.create(username="kp-nullable")
    made = Company.objects.bulk_create(
        Company(
            name=f"kp {i}",
            responsible=user,
            last_interaction_at=None if m is None else T0 + dt.timedelta(minutes=m),
        )
        for i, m in enumerate(moments)
    )
    at = {
        c.pk: (_Smallest() if c.last_interaction_at is None else c.last_interaction_at)
        for c in made
    }
    base = Company.objects.filter(name__startswith="kp ")
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(100):
        page = pagination.keyset_page(base, order=order, cursor=cursor, limit=limit)
        seen += [c.pk for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    failures = []
    if sorted(seen) != sorted(at):
        failures.append(f"rows {sorted(seen)} != {sorted(at)}")
    rows = {"last_interaction_at": at, "id": {pk: pk for pk in at}}
    keys = [
        tuple(_Desc(rows[f.lstrip("-")][pk]) if f.startswith("-") else rows[f][pk] for f in order)
        for pk in seen
    ]
    if any(not keys[i] < keys[i + 1] for i in range(len(keys) - 1)):
        failures.append("out of order")
    return failures


@settings(max_examples=40)
@given(
    moments=st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=3)), max_size=14),
    order=st.sampled_from(NULLABLE_ORDERS),
    limit=st.integers(min_value=1, max_value=5),
)
def test_a_nullable_date_key_walks_every_row_once_null_as_the_smallest(
    moments: list[int | None], order: tuple[str, ...], limit: int
) -> None:
    with rolled_back():
        assert nullable_walk(moments, order, limit) == []


def _beyond_ignoring_null(key: Any, value: Any) -> Q:
    return Q(**{f"{key.name}__{'lt' if key.descending else 'gt'}": value})


def test_negative_control_a_paginator_blind_to_null_skips_rows() -> None:
    moments = [None, 1, None, 2, None, 0]
    with rolled_back():
        assert nullable_walk(moments, ("-last_interaction_at", "-id"), 2) == []
    with rolled_back(), mock.patch.object(pagination, "_beyond", _beyond_ignoring_null):
        assert nullable_walk(moments, ("-last_interaction_at", "-id"), 2) != []
