"""The monitor sweep is one `INSERT … SELECT … ON CONFLICT DO NOTHING` per monitor, the occurrence
key computed in SQL (sweeps.insert_runs, monitors.py). Pinned here, on SQLite and PostgreSQL:
  * the keys it writes are the keys the Python finders wrote before it (the runs already in the
    ledger keep matching their occurrences): hand-built data with known keys, and the old
    finders' Python formulas (`PYTHON_FINDERS`, the code the SQL replaced) as the oracle;
  * every column of the rows is what a run planned by a sweep had (delay, status, depth …);
  * a second sweep of the same period, or of the next one, inserts nothing;
  * a sweep rolled back, or failing after its INSERT, leaves neither runs nor the claim."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import types
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Exists, OuterRef, Value
from django.utils import timezone

from factories import make_company, make_contact, make_deal, make_task
from voronka.activities.models import Task, TaskStatus
from voronka.automation import sweeps
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus, ScheduledRun
from voronka.automation.monitors import NoNextTask, NoParams, OverdueTask, Quiet
from voronka.automation.registry import MONITORS, OCCURRENCE, Params
from voronka.automation.sweeps import monitor_job, monitors_sweep, sweep_rule
from voronka.contacts.models import Company, Contact
from voronka.deals.models import Deal, StageSemantic

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# 21:30 UTC is already the next day in Moscow (TIME_ZONE): the day keys are local dates.
NOW = dt.datetime(2026, 3, 18, 21, 30, tzinfo=UTC)
Pairs = set[tuple[int, str]]


# --- the oracle: the Python finders the SQL sweep replaced (their keys, verbatim) ------------


def _overdue(p: OverdueTask, now: dt.datetime) -> Iterable[tuple[int, str]]:
    latest = now - dt.timedelta(minutes=p.after_minutes)
    earliest = latest - dt.timedelta(days=p.within_days)
    past = {"deadline__lte": latest} if p.after_minutes else {"deadline__lt": now}
    rows = Task.objects.filter(status=TaskStatus.OPEN, deadline__gte=earliest, **past)
    for pk, deadline in rows.values_list("id", "deadline"):
        yield pk, f"d{deadline.isoformat()}"


def _without_task(p: NoNextTask, now: dt.datetime) -> Iterable[tuple[int, str]]:
    day = timezone.localtime(now).date().isoformat()
    rows = Deal.objects.needing_next_task().filter(
        stage_entered_at__lte=now - dt.timedelta(hours=p.after_hours)
    )
    for pk in rows.values_list("id", flat=True):
        yield pk, f"day{day}"


def _over_sla(p: NoParams, now: dt.datetime) -> Iterable[tuple[int, str]]:
    rows = Deal.objects.over_stage_sla(now).values_list("id", "stage_id", "stage_entered_at")
    for pk, stage_id, entered in rows:
        yield pk, f"s{stage_id}:{entered.isoformat()}"


def _quiet(p: Quiet, now: dt.datetime) -> Iterable[tuple[int, str]]:
    rows = Company.objects.filter(last_interaction_at__lt=now - dt.timedelta(days=p.days))
    for pk, last in rows.values_list("id", "last_interaction_at"):
        yield pk, f"q{last.isoformat() if last else ''}"


def _without_deal(p: NoParams, now: dt.datetime) -> Iterable[tuple[int, str]]:
    open_deal = Deal.objects.filter(company=OuterRef("pk"), status=StageSemantic.OPEN)
    last_closed = (
        Deal.objects.filter(company=OuterRef("pk"))
        .exclude(status=StageSemantic.OPEN)
        .order_by("-closed_at", "-id")
        .values("id")[:1]
    )
    rows = Company.objects.filter(~Exists(open_deal), Exists(last_closed)).annotate(
        last=last_closed
    )
    for pk, last in rows.values_list("id", "last"):
        yield pk, f"after{last}"


def _birthday(p: NoParams, now: dt.datetime) -> Iterable[tuple[int, str]]:
    today = timezone.localtime(now).date()
    rows = Contact.objects.filter(birthday__month=today.month, birthday__day=today.day)
    for pk in rows.values_list("id", flat=True):
        yield pk, f"y{today.year}"


PYTHON_FINDERS: dict[str, Callable[[Any, dt.datetime], Iterable[tuple[int, str]]]] = {
    "overdue_task": _overdue,
    "deal_without_task": _without_task,
    "deal_over_sla": _over_sla,
    "company_no_interaction": _quiet,
    "company_without_deal": _without_deal,
    "contact_birthday": _birthday,
}


# --- the scene ----------------------------------------------------------------------------------


def at(days: float = 0, hours: float = 0, micro: int = 0) -> dt.datetime:
    """NOW minus the given time, plus `micro` microseconds."""
    return NOW - dt.timedelta(days=days, hours=hours) + dt.timedelta(microseconds=micro)


def iso(moment: dt.datetime) -> str:
    """The key text, written out by hand (not by isoformat) so the oracle is checked too."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return (text + (f".{moment.microsecond:06d}" if moment.microsecond else "")) + "+00:00"


@pytest.fixture
def scene(personas: dict[str, Any], pipeline: Any) -> dict[str, Pairs]:
    """Hand-built objects, each monitor's expected (object id, key) pairs."""
    a1 = personas["a1"].user
    stages = pipeline.stages  # new: SLA 3 days, talks: 7 days, contract: none
    busy = make_company(responsible=a1, name="ООО Открытая")
    done = make_company(responsible=a1, name="ООО Закрытая")
    make_company(responsible=a1, name="ООО Без сделок")

    def deal(company: Any, stage: Any, entered: dt.datetime, **fields: Any) -> Deal:
        """A deal placed straight in `stage` (no stage entry rules: this is data, not a move)."""
        made = make_deal(responsible=a1, company=company, title=stage.name, stage=stages["new"])
        Deal.objects.filter(pk=made.pk).update(stage=stage, stage_entered_at=entered, **fields)
        return made

    over_new = at(days=4, micro=123456)  # 3-day limit: over
    over_talks = at(days=8)  # 7-day limit, whole seconds: over
    d_new = deal(busy, stages["new"], over_new)
    d_talks = deal(busy, stages["talks"], over_talks)
    d_fresh = deal(busy, stages["new"], at(days=2, micro=1))  # under its limit
    d_nolimit = deal(busy, stages["contract"], at(days=30))  # the stage has no limit
    d_busy = deal(busy, stages["new"], at(days=5), open_tasks=1)  # over; it has a task
    won = deal(done, stages["won"], at(days=9), status="won", closed_at=at(days=9))
    deal(done, stages["lost"], at(days=20), status="lost", closed_at=at(days=20))

    tasks = [make_task(responsible=a1, company=busy) for _ in range(5)]
    deadlines = [
        at(hours=2),  # whole seconds
        at(hours=1, micro=250000),
        at(days=2, micro=1),
        at(hours=-1),  # not yet overdue
        at(days=10),  # overdue longer than within_days
    ]
    for task, deadline in zip(tasks, deadlines, strict=True):
        Task.objects.filter(pk=task.pk).update(deadline=deadline)

    quiet = at(days=40, micro=5)
    Company.objects.update(last_interaction_at=at(days=1))
    Company.objects.filter(pk=done.pk).update(last_interaction_at=quiet)

    birthday = make_contact(responsible=a1, company=busy, first_name="Ирина")
    make_contact(responsible=a1, company=busy, first_name="Олег", birthday="1985-03-18")
    Contact.objects.filter(pk=birthday.pk).update(birthday=dt.date(1990, 3, 19))

    over = {
        (d_new.pk, f"s{stages['new'].pk}:{iso(over_new)}"),
        (d_talks.pk, f"s{stages['talks'].pk}:{iso(over_talks)}"),
        (d_busy.pk, f"s{stages['new'].pk}:{iso(at(days=5))}"),
    }
    assert d_fresh.pk not in {pk for pk, _ in over}
    return {
        "overdue_task": {(t.pk, f"d{iso(d)}") for t, d in zip(tasks[:3], deadlines, strict=False)},
        "deal_over_sla": over,
        "deal_without_task": {
            (d.pk, "day2026-03-19") for d in (d_new, d_talks, d_fresh, d_nolimit)
        },
        "company_no_interaction": {(done.pk, f"q{iso(quiet)}")},
        "company_without_deal": {(done.pk, f"after{won.pk}")},
        "contact_birthday": {(birthday.pk, "y2026")},
    }


def monitor_rule(name: str, *, delay: int = 600, **params: Any) -> Rule:
    return Rule.objects.create(
        kind=RuleKind.MONITOR,
        name=f"sweep {name}",
        monitor=name,
        monitor_params=params,
        action="create_task",
        params={"type": "call", "comment": "Проверить"},
        delay_seconds=delay,
    )


def written(rule: Rule) -> Pairs:
    return set(RuleRun.objects.filter(rule=rule).values_list("object_id", "key"))


def validated(name: str) -> Params:
    return MONITORS[name].params.model_validate({})


# --- the keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PYTHON_FINDERS))
def test_the_sql_sweep_writes_the_keys_the_python_finders_wrote(
    name: str, scene: dict[str, Pairs]
) -> None:
    rule = monitor_rule(name)
    assert sweep_rule(rule, now=NOW) == len(scene[name])
    assert written(rule) == scene[name]  # known answers
    assert written(rule) == set(PYTHON_FINDERS[name](validated(name), NOW))  # the old finder
    assert set(MONITORS[name].pairs(validated(name), NOW)) == scene[name]  # the pairs helper


def test_the_keys_with_the_finders_parameters(scene: dict[str, Pairs]) -> None:
    """The escalation (after N minutes) and the idle time before "no task" keep their keys."""
    cases: list[tuple[str, dict[str, Any]]] = [
        ("overdue_task", {"after_minutes": 90, "within_days": 1}),
        ("deal_without_task", {"after_hours": 24 * 6}),
        ("company_no_interaction", {"days": 100}),
    ]
    for name, params in cases:
        rule = monitor_rule(name, **params)
        sweep_rule(rule, now=NOW)
        oracle = set(PYTHON_FINDERS[name](MONITORS[name].params.model_validate(params), NOW))
        assert written(rule) == oracle
    # Known answers: 90 min of grace leaves the 2-hour-old deadline only; 6 days idle: the two
    # deals that entered 8 and 30 days ago; nobody has been quiet for 100 days.
    by_name = {r.monitor: written(r) for r in Rule.objects.filter(name__startswith="sweep ")}
    assert {k for _, k in by_name["overdue_task"]} == {f"d{iso(at(hours=2))}"}
    assert len(by_name["deal_without_task"]) == 2
    assert by_name["company_no_interaction"] == set()


def test_a_swept_run_is_what_the_sweep_planned_before(scene: dict[str, Pairs]) -> None:
    rule = monitor_rule("deal_over_sla", delay=600)
    sweep_rule(rule, now=NOW)
    runs = list(RuleRun.objects.filter(rule=rule))
    assert len(runs) == 3
    for run in runs:
        assert (run.object_type, run.status, run.depth, run.context) == (
            "deal",
            RunStatus.PENDING,
            0,
            {},
        )
        assert run.due_at == NOW + dt.timedelta(seconds=600)
        assert run.created_at == NOW
        assert (run.attempts, run.lease_token, run.worker, run.error) == (0, 0, "", "")
        assert (run.event_id, run.leased_until, run.finished_at, run.result) == (
            None,
            None,
            None,
            {},
        )
    assert ScheduledRun.objects.filter(job=monitor_job(rule)).count() == 1


# --- once ---------------------------------------------------------------------------------------


def test_a_second_sweep_inserts_nothing(scene: dict[str, Pairs]) -> None:
    rule = monitor_rule("deal_over_sla")
    assert sweep_rule(rule, now=NOW) == 3
    assert sweep_rule(rule, now=NOW) is None  # the same period: claimed already
    assert sweep_rule(rule, now=NOW + dt.timedelta(minutes=1)) == 0  # the same occurrences
    assert written(rule) == scene["deal_over_sla"]
    # A new stage entry is a new occurrence: planned once.
    deal_id = min(pk for pk, _ in scene["deal_over_sla"])
    Deal.objects.filter(pk=deal_id).update(stage_entered_at=at(days=10))
    assert sweep_rule(rule, now=NOW + dt.timedelta(minutes=2)) == 1
    assert sweep_rule(rule, now=NOW + dt.timedelta(minutes=3)) == 0
    assert RuleRun.objects.filter(rule=rule).count() == 4


def test_negative_control_a_key_that_changes_per_sweep_plans_again(
    scene: dict[str, Pairs], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above would see duplicates: with a key that is not the occurrence (here: the
    sweep's moment), the next period plans every deal again."""

    def per_sweep(p: Any, now: dt.datetime) -> Any:
        return Deal.objects.over_stage_sla(now).annotate(**{OCCURRENCE: Value(f"s{now}")})

    kind = MONITORS["deal_over_sla"]
    monkeypatch.setitem(MONITORS, "deal_over_sla", dataclasses.replace(kind, find=per_sweep))
    rule = monitor_rule("deal_over_sla")
    assert sweep_rule(rule, now=NOW) == 3
    assert sweep_rule(rule, now=NOW + dt.timedelta(minutes=1)) == 3
    assert RuleRun.objects.filter(rule=rule).count() == 6


# --- all or nothing -----------------------------------------------------------------------------


def test_a_sweep_in_a_rolled_back_transaction_leaves_nothing(scene: dict[str, Pairs]) -> None:
    rule = monitor_rule("deal_over_sla")
    with pytest.raises(RuntimeError), transaction.atomic():
        assert sweep_rule(rule, now=NOW) == 3
        assert RuleRun.objects.filter(rule=rule).count() == 3
        raise RuntimeError("killed")
    assert not RuleRun.objects.filter(rule=rule).exists()
    assert not ScheduledRun.objects.filter(job=monitor_job(rule)).exists()
    assert sweep_rule(rule, now=NOW) == 3  # the period is swept again


def test_a_sweep_failing_after_its_insert_leaves_no_claim_and_no_runs(
    scene: dict[str, Pairs], monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = monitor_rule("deal_over_sla")
    real = sweeps.insert_runs

    def insert_then_die(*args: Any, **kwargs: Any) -> int:
        real(*args, **kwargs)
        raise RuntimeError("killed after the INSERT")

    monkeypatch.setattr(sweeps, "insert_runs", insert_then_die)
    assert rule.pk not in monitors_sweep(now=NOW)  # logged; the other monitors go on
    assert not RuleRun.objects.filter(rule=rule).exists()
    assert not ScheduledRun.objects.filter(job=monitor_job(rule)).exists()
    monkeypatch.setattr(sweeps, "insert_runs", real)
    assert monitors_sweep(now=NOW)[rule.pk] == 3  # the next tick redoes the period
    assert written(rule) == scene["deal_over_sla"]


def test_negative_control_a_claim_outside_the_runs_transaction_is_left_behind(
    scene: dict[str, Pairs], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above would see it: without the transaction around the claim and the INSERT, a
    sweep dying after its INSERT leaves the claim (the period is lost) and its runs."""
    calls: list[int] = []

    def atomic_but_the_outer() -> Any:
        calls.append(1)
        return contextlib.nullcontext() if len(calls) == 1 else transaction.atomic()

    real = sweeps.insert_runs

    def insert_then_die(*args: Any, **kwargs: Any) -> int:
        real(*args, **kwargs)
        raise RuntimeError("killed after the INSERT")

    monkeypatch.setattr(sweeps, "transaction", types.SimpleNamespace(atomic=atomic_but_the_outer))
    monkeypatch.setattr(sweeps, "insert_runs", insert_then_die)
    rule = monitor_rule("deal_over_sla")
    with pytest.raises(RuntimeError):
        sweep_rule(rule, now=NOW)
    assert ScheduledRun.objects.filter(job=monitor_job(rule)).exists()
    assert written(rule) == scene["deal_over_sla"]
