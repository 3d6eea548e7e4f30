"""kernel.bulk.update_rows: one `UPDATE … FROM (VALUES …)` writes each row's own values, prepared
as Django prepares them — what `obj.save(update_fields=…)` would store, read back and compared —
on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
from tests.factories import make_call_robot, make_company, make_deal, system

from voronka.automation.models import Rule, RuleRun, RunStatus
from voronka.deals.models import Deal
from voronka.identity.models import User
from voronka.kernel.bulk import update_rows

pytestmark = pytest.mark.django_db

MSK = zoneinfo.ZoneInfo("Europe/Moscow")
RUN_FIELDS = ["status", "result", "error", "finished_at", "leased_until", "rule"]
NASTY = "Кавычки: ' \" `; -- /* */ \\ %s %(x)s ё 中文 😀 \t\n"


@pytest.fixture
def rules(personas: dict[str, Any], pipeline: Any) -> list[Rule]:
    owner, talks = personas["owner"].user, pipeline.stages["talks"]
    return [make_call_robot(owner=owner, stage=talks, name=f"Робот {i}") for i in range(2)]


def make_runs(rule: Rule, n: int, *, start: int = 0) -> list[RuleRun]:
    return RuleRun.objects.bulk_create(
        [
            RuleRun(rule=rule, object_type="deal", object_id=start + i, key=f"k{start + i}")
            for i in range(n)
        ]
    )


def stored(model: Any, pks: list[int], fields: list[str]) -> dict[int, tuple[Any, ...]]:
    attnames = [model._meta.get_field(f).attname for f in fields]
    return {
        row[0]: tuple(row[1:])
        for row in model.objects.filter(pk__in=pks).values_list("pk", *attnames)
    }


def assign(run: RuleRun, i: int, other_rule: Rule) -> None:
    """Varied values per row: JSON (nested, unicode, empty), aware datetimes and None, text with
    quotes and unicode, FK ids."""
    run.status = [RunStatus.DONE, RunStatus.FAILED, RunStatus.SKIPPED][i % 3]
    run.result = [
        {"task": i, "nested": {"list": [1, 2.5, None, True], "ключ": "значение ё"}},
        {},
        {"skipped": "left_stage", "quote": NASTY},
        [],
    ][i % 4]
    run.error = "" if i % 2 else f"{NASTY} #{i}"
    run.finished_at = (
        None if i % 5 == 0 else dt.datetime(2026, 3, 18, 15, i % 60, i % 60, 123456, tzinfo=MSK)
    )
    run.leased_until = None if i % 2 else dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)
    if i % 3 == 0:
        run.rule = other_rule


@pytest.mark.parametrize("n", [1, 150])
def test_update_rows_equals_save_update_fields(rules: list[Rule], n: int) -> None:
    bulk = make_runs(rules[0], n)
    twin = make_runs(rules[0], n, start=10_000)
    untouched = make_runs(rules[0], 3, start=20_000)
    before_untouched = stored(RuleRun, [r.pk for r in untouched], RUN_FIELDS)
    for i, run in enumerate(bulk):
        assign(run, i, rules[1])
    for i, run in enumerate(twin):
        assign(run, i, rules[1])
        run.save(update_fields=RUN_FIELDS)

    assert update_rows(bulk, RUN_FIELDS) == n

    got = stored(RuleRun, [r.pk for r in bulk], RUN_FIELDS)
    want = stored(RuleRun, [r.pk for r in twin], RUN_FIELDS)
    assert [got[r.pk] for r in bulk] == [want[r.pk] for r in twin]
    # and the values are the ones assigned (not merely equal to each other)
    for run in bulk:
        fresh = RuleRun.objects.get(pk=run.pk)
        assert (fresh.status, fresh.result, fresh.error) == (run.status, run.result, run.error)
        assert fresh.finished_at == run.finished_at
        assert fresh.leased_until == run.leased_until
        assert fresh.rule_id == run.rule_id
    assert stored(RuleRun, [r.pk for r in untouched], RUN_FIELDS) == before_untouched


def test_update_rows_of_nothing_is_zero() -> None:
    assert update_rows([], ["status"]) == 0


def test_update_rows_counts_only_existing_rows(rules: list[Rule]) -> None:
    runs = make_runs(rules[0], 3)
    gone = runs[1]
    RuleRun.objects.filter(pk=gone.pk).delete()
    for run in runs:
        run.error = "x"
    assert update_rows(runs, ["error"]) == 2
    assert set(
        RuleRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("error", flat=True)
    ) == {"x"}


def test_update_rows_decimal_and_datetime_on_deals(personas: dict[str, Any], pipeline: Any) -> None:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Балк")

    def deals_(prefix: str) -> list[Deal]:
        return [
            make_deal(
                responsible=a1, company=company, title=f"{prefix}{i}", stage=pipeline.stages["new"]
            )
            for i in range(6)
        ]

    bulk, twin = deals_("Б"), deals_("Д")
    bystander = make_deal(responsible=a1, company=company, title="Сбоку", amount="5.5")
    amounts = [Decimal("0"), Decimal("0.01"), Decimal("12345678901234.99"), Decimal("7.10")]
    fields = ["open_tasks", "next_task_deadline", "amount"]
    for group in (bulk, twin):
        for i, deal in enumerate(group):
            deal.open_tasks = i * 3
            deal.next_task_deadline = (
                None if i % 2 else dt.datetime(2026, 3, 18 + i, 9, 30, tzinfo=MSK)
            )
            deal.amount = amounts[i % len(amounts)]
    for deal in twin:
        deal.save(update_fields=fields)
    assert update_rows(bulk, fields) == len(bulk)
    got = stored(Deal, [d.pk for d in bulk], fields)
    want = stored(Deal, [d.pk for d in twin], fields)
    assert [got[d.pk] for d in bulk] == [want[d.pk] for d in twin]
    for deal in bulk:
        fresh = Deal.objects.get(pk=deal.pk)
        assert fresh.open_tasks == deal.open_tasks
        assert fresh.next_task_deadline == deal.next_task_deadline
        if deal.amount.as_tuple().digits.__len__() <= 15:  # within what SQLite's REAL keeps
            assert fresh.amount == deal.amount
    assert Deal.objects.get(pk=bystander.pk).amount == Decimal("5.50")


def test_update_rows_booleans(personas: dict[str, Any]) -> None:
    users = [personas[k].user for k in ("a1", "a2", "b1")]
    flags = [False, True, False]
    for user, flag in zip(users, flags, strict=True):
        user.is_active = flag
    assert update_rows(users, ["is_active"]) == 3
    got = dict(User.objects.filter(pk__in=[u.pk for u in users]).values_list("pk", "is_active"))
    assert [got[u.pk] for u in users] == flags
    assert User.objects.get(pk=personas["a11"].user.pk).is_active is True
    assert system() is not None


def test_update_rows_beyond_one_statements_parameter_limit(rules: list[Rule]) -> None:
    """A large write in one statement: 36,000 parameters, over SQLite's default limit of 32,766
    (this build's python sqlite3 allows 250,000; PostgreSQL through Django's client-side binding
    has none). Django's bulk_update would split it; update_rows sends it whole, so this checks
    it still goes through where the limit is the default."""
    n = 6000  # 6000 rows × (id + 5 fields) = 36,000 parameters
    runs = make_runs(rules[0], n)
    for i, run in enumerate(runs):
        run.status = RunStatus.DONE
        run.result = {"i": i}
        run.error = ""
        run.finished_at = dt.datetime(2026, 3, 18, 12, 0, tzinfo=dt.UTC)
        run.leased_until = None
    assert update_rows(runs, ["status", "result", "error", "finished_at", "leased_until"]) == n
    assert RuleRun.objects.filter(status=RunStatus.DONE).count() == n
    assert RuleRun.objects.get(pk=runs[-1].pk).result == {"i": n - 1}
