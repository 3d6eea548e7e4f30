"""kernel.bulk.insert_rows: the rows the automation writes by the thousand go in as one JSON
parameter on PostgreSQL (a VALUES list on SQLite) — and must store exactly what Django's
bulk_create stores: the same objects written both ways, read back and compared column by column,
on SQLite and PostgreSQL alike; ids set on the objects; conflicts ignored when asked; a value the
database refuses writes nothing."""

from __future__ import annotations

import copy
import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.factories import make_call_robot, make_company, make_deal

from voronka.automation.models import Rule, RuleRun, RunStatus
from voronka.deals.models import Deal
from voronka.kernel.bulk import insert_rows
from voronka.kernel.models import AuditEntry

pytestmark = pytest.mark.django_db

MSK = zoneinfo.ZoneInfo("Europe/Moscow")
NASTY = "Кавычки: ' \" `; -- /* */ \\ %s %(x)s ё 中文 😀 \t\n"


@pytest.fixture
def rule(personas: dict[str, Any], pipeline: Any) -> Rule:
    return make_call_robot(owner=personas["owner"].user, stage=pipeline.stages["talks"])


def columns(model: Any, pks: list[int]) -> list[tuple[Any, ...]]:
    """Every column but the id, in the order of the ids given."""
    names = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    rows = {row[0]: row[1:] for row in model.objects.filter(pk__in=pks).values_list("pk", *names)}
    return [rows[pk] for pk in pks]


def runs(rule: Rule, prefix: str, n: int) -> list[RuleRun]:
    """Varied values: JSON (nested, unicode, a list, empty), aware datetimes and None, text with
    quotes and placeholders, defaults left to the model."""
    made = []
    for i in range(n):
        run = RuleRun(rule=rule, object_type="deal", object_id=i, key=f"{prefix}{i}")
        run.status = [RunStatus.DONE, RunStatus.PENDING, RunStatus.SKIPPED][i % 3]
        run.result = [{"nested": {"list": [1, 2.5, None, True], "ключ": NASTY}}, {}, [], "s"][i % 4]
        run.context = {"entered_at": dt.datetime(2026, 3, 18, 15, i, tzinfo=MSK).isoformat()}
        run.error = "" if i % 2 else f"{NASTY} #{i}"
        run.due_at = dt.datetime(2026, 3, 18, 15, i % 60, i % 60, 123456, tzinfo=MSK)
        run.finished_at = None if i % 2 else dt.datetime(1, 1, 1, tzinfo=dt.UTC)
        run.leased_until = None if i % 3 else dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC)
        run.created_at = dt.datetime(2026, 3, 18, 12, 0, tzinfo=dt.UTC)  # else "now" at init
        made.append(run)
    return made


def test_runs_are_stored_as_bulk_create_stores_them_and_get_their_ids(rule: Rule) -> None:
    ours, django = runs(rule, "ours", 7), runs(rule, "django", 7)
    insert_rows(ours)
    RuleRun.objects.bulk_create(django)
    assert all(run.pk is not None and not run._state.adding for run in ours)
    mine = columns(RuleRun, [run.pk for run in ours])
    theirs = columns(RuleRun, [run.pk for run in django])
    key = [f.attname for f in RuleRun._meta.concrete_fields if not f.primary_key].index("key")
    assert [row[:key] + row[key + 1 :] for row in mine] == [
        row[:key] + row[key + 1 :] for row in theirs
    ]
    # The ids came back in the order of the objects (each object got its own row).
    assert [row[key] for row in mine] == [run.key for run in ours]


def test_deals_decimals_and_foreign_keys_are_stored_as_bulk_create_stores_them(
    personas: dict[str, Any], pipeline: Any
) -> None:
    manager = personas["a1"].user
    company = make_company(responsible=manager, name="ООО Вставка")
    template = make_deal(responsible=manager, company=company, title="Шаблон")
    copies = []
    for i, amount in enumerate(["0", "0.01", "123456789012.99", "7.5"]):
        deal = Deal.objects.get(pk=template.pk)
        deal.pk = None
        deal._state.adding = True
        deal.title = f"{NASTY} {i}"
        deal.amount = Decimal(amount)
        copies.append(deal)
    ours = []
    for deal in copies:
        twin = copy.copy(deal)
        twin._state = copy.copy(deal._state)
        ours.append(twin)
    insert_rows(ours)
    Deal.objects.bulk_create(copies)
    assert columns(Deal, [d.pk for d in ours]) == columns(Deal, [d.pk for d in copies])


def test_conflicts_are_ignored_when_asked_and_refused_otherwise(rule: Rule) -> None:
    insert_rows(runs(rule, "k", 3))
    again = runs(rule, "k", 3) + runs(rule, "new", 1)
    insert_rows(again, ignore_conflicts=True)
    assert RuleRun.objects.filter(key__startswith="k").count() == 3
    assert RuleRun.objects.filter(key="new0").count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(runs(rule, "k", 1))


def test_a_value_the_database_refuses_writes_no_row_of_the_batch(rule: Rule) -> None:
    before = AuditEntry.objects.count()
    good = AuditEntry(actor_kind="system", object_type="deal", object_id=1, action="x")
    bad = AuditEntry(actor_kind="system", object_type="deal", object_id=2, action="y")
    bad.changes = {"text": "NUL \x00 inside"}  # JSON text PostgreSQL refuses; SQLite keeps it
    try:
        with transaction.atomic():
            insert_rows([good, bad])
    except DatabaseError:
        assert AuditEntry.objects.count() == before  # none of the batch
    else:
        assert AuditEntry.objects.count() == before + 2


def test_objects_with_their_own_ids_keep_them(rule: Rule) -> None:
    top = (RuleRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    given_ids = runs(rule, "own", 2)
    for i, run in enumerate(given_ids):
        run.pk = top + i
    insert_rows(given_ids)
    assert set(RuleRun.objects.filter(key__startswith="own").values_list("pk", flat=True)) == {
        top,
        top + 1,
    }


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
JSONS = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(error=TEXT, result=JSONS.filter(lambda v: v is not None))  # None: SQL NULL, refused
def test_any_text_and_json_round_trip(rule: Rule, error: str, result: Any) -> None:
    run = RuleRun(rule=rule, object_type="deal", object_id=1, key="prop", error=error)
    run.result = result
    twin = RuleRun(rule=rule, object_type="deal", object_id=1, key="twin", error=error)
    twin.result = result
    with transaction.atomic():
        insert_rows([run])
        RuleRun.objects.bulk_create([twin])
        stored = RuleRun.objects.in_bulk([run.pk, twin.pk])
        assert (stored[run.pk].error, stored[run.pk].result) == (error, result)
        assert stored[run.pk].result == stored[twin.pk].result
        transaction.set_rollback(True)
