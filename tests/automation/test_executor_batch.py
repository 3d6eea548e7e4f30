"""The executor's batch path (issue 9): a batch of runs of a batch-capable action (create_task:
registry.action_many) acts in one tasks_create call and one transaction; each task names the run
that created it; a failure rolls the batch back and the runs are redone one by one; a batch whose
lease passed to another worker commits nothing; the planner writes a batch's runs together."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from tests.automation import test_engine as engine
from tests.factories import make_company, make_deal, make_task

from voronka.activities.models import Notification, Task
from voronka.automation import executor
from voronka.automation.executor import claim, execute, execute_batch, run_until_idle
from voronka.automation.models import Rule, RuleRun, RunStatus
from voronka.automation.services import rule_create
from voronka.deals.models import Deal
from voronka.deals.services import deal_move_to_stage
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.models import DomainEvent
from voronka.kernel.outbox import events_dispatch

pytestmark = pytest.mark.django_db


# The engine tests' drain and owner fixture.
drain, owner = engine.drain, engine.owner


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[str] | None]]:
    """Quick actions measured already (so the executor batches from the first round), and a
    record of every execute_batch call: (runs, statuses or None when it rolled back)."""
    monkeypatch.setattr(executor, "_pace", 1e-4)
    calls: list[tuple[int, list[str] | None]] = []
    real = executor.execute_batch

    def spy(
        claimed: list[tuple[int, int]], *, now: dt.datetime, budget: float | None = None
    ) -> list[str] | None:
        result = real(claimed, now=now, budget=budget)
        calls.append((len(claimed), result))
        return result

    monkeypatch.setattr(executor, "execute_batch", spy)
    return calls


def deals_in_new(personas: dict[str, Any], pipeline: Any, n: int, tag: str = "") -> list[Deal]:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name=f"ООО Пакет {tag}")
    deals = [
        make_deal(
            responsible=a1, company=company, title=f"Пакет {tag}{i}", stage=pipeline.stages["new"]
        )
        for i in range(n)
    ]
    drain()  # their creation's own events
    return deals


CALL = {
    "type": "call",
    "comment": "Позвонить по «{deal.title}»",
    "deadline": {"kind": "after", "amount": 1, "unit": "days"},
}


def robot(owner: Actor, stage: Any, **extra: Any) -> Rule:
    """The engine tests' robot, with this file's call (a deadline in days)."""
    return engine.robot(owner, stage, **{"name": "Позвонить по сделке", "params": CALL, **extra})


def move_all(deals: list[Deal], stage: Any, who: Any) -> None:
    for deal in deals:
        deal_move_to_stage(
            deal=Deal.objects.get(pk=deal.pk), stage=stage, actor=Actor.for_user(who)
        )


def test_a_batch_of_robot_runs_creates_each_task_once_naming_its_run(
    owner: Actor,
    personas: dict[str, Any],
    pipeline: Any,
    batches: list[tuple[int, list[str] | None]],
) -> None:
    deals = deals_in_new(personas, pipeline, 30)
    rule = robot(owner, pipeline.stages["talks"])
    move_all(deals, pipeline.stages["talks"], personas["a1"].user)
    events_dispatch("automation", respect_backoff=False)
    report = run_until_idle()
    assert report.done == 30 and report.failed == 0
    assert any(size > 1 and result is not None for size, result in batches), batches
    runs = list(RuleRun.objects.filter(rule=rule))
    assert len(runs) == 30
    tasks = {t.pk: t for t in Task.objects.filter(deal__in=deals)}
    assert len(tasks) == 30
    assert {t.deal_id for t in tasks.values()} == {d.pk for d in deals}
    for run in runs:
        assert run.status == RunStatus.DONE, (run.status, run.error)
        task = tasks[run.result["task"]]
        assert task.deal_id == run.object_id
        event = DomainEvent.objects.get(name="task.created", object_id=task.pk)
        assert event.causation_id == f"rule:{rule.pk}:run:{run.pk}"
        assert event.depth == run.depth + 1
        assert event.actor_kind != "user"  # the robot's, not the mover's


def test_a_failing_run_rolls_the_batch_back_and_the_runs_are_redone_one_by_one(
    owner: Actor,
    personas: dict[str, Any],
    pipeline: Any,
    batches: list[tuple[int, list[str] | None]],
) -> None:
    deals = deals_in_new(personas, pipeline, 6)
    a2 = personas["a2"].user
    good = robot(owner, pipeline.stages["talks"], name="Хороший")
    bad = robot(
        owner,
        pipeline.stages["talks"],
        name="Плохой",
        params={
            "type": "call",
            "comment": "Позвонить",
            "responsible": {"kind": "user", "user": a2.pk},
        },
    )
    a2.is_active = False
    a2.save(update_fields=["is_active"])
    move_all(deals, pipeline.stages["talks"], personas["a1"].user)
    events_dispatch("automation", respect_backoff=False)
    report = run_until_idle()
    assert any(size > 1 and result is None for size, result in batches), batches  # rolled back
    good_runs = RuleRun.objects.filter(rule=good)
    bad_runs = RuleRun.objects.filter(rule=bad)
    assert [r.status for r in good_runs] == [RunStatus.DONE] * 6
    assert [r.status for r in bad_runs] == [RunStatus.FAILED] * 6
    assert all("активного" in r.error for r in bad_runs), [r.error for r in bad_runs]
    assert report.done == 6 and report.failed == 6
    for deal in deals:  # each good run's task once: no duplicate from the rolled-back batch
        assert Task.objects.filter(deal=deal).count() == 1
    assert set(Task.objects.filter(deal__in=deals).values_list("pk", flat=True)) == {
        r.result["task"] for r in good_runs
    }
    assert (
        DomainEvent.objects.filter(
            name="task.created", object_id__in=[r.result["task"] for r in good_runs]
        ).count()
        == 6
    )


def _claimed_five(owner: Actor, personas: dict[str, Any], pipeline: Any) -> Any:
    deals = deals_in_new(personas, pipeline, 5)
    robot(owner, pipeline.stages["talks"])
    move_all(deals, pipeline.stages["talks"], personas["a1"].user)
    events_dispatch("automation", respect_backoff=False)
    now = clock.now()
    claimed = claim(worker="stalled", limit=50, now=now)
    assert len(claimed) == 5
    return deals, claimed, now


def _taken_over(run_id: int, token: int) -> None:
    RuleRun.objects.filter(pk=run_id).update(lease_token=token + 1, worker="second")


def test_a_run_lost_before_its_batch_is_not_started(
    owner: Actor, personas: dict[str, Any], pipeline: Any
) -> None:
    """Checked inside the batch's transaction, before any action: the lost run is not started,
    the others are done once."""
    deals, claimed, now = _claimed_five(owner, personas, pipeline)
    taken_id, taken_token = claimed[2]
    _taken_over(taken_id, taken_token)
    statuses = execute_batch(claimed, now=now)
    assert statuses is not None
    assert statuses[2] == "fenced"
    assert statuses[:2] + statuses[3:] == ["done"] * 4
    lost_deal = RuleRun.objects.get(pk=taken_id).object_id
    assert not Task.objects.filter(deal_id=lost_deal).exists()
    assert Task.objects.filter(deal__in=deals).count() == 4
    assert RuleRun.objects.get(pk=taken_id).status == RunStatus.RUNNING  # the other worker's


def test_a_batch_that_loses_a_lease_while_it_runs_commits_nothing(
    owner: Actor, personas: dict[str, Any], pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run taken over while the batch's actions run (after the check): fencing at the end
    rolls the whole batch back; the caller then runs them one by one."""
    deals, claimed, now = _claimed_five(owner, personas, pipeline)
    taken_id, taken_token = claimed[2]
    real = executor.build_contexts

    def taken_meanwhile(runs: Any, **kwargs: Any) -> Any:
        _taken_over(taken_id, taken_token)  # another worker, in its own transaction
        return real(runs, **kwargs)

    monkeypatch.setattr(executor, "build_contexts", taken_meanwhile)
    assert execute_batch(claimed, now=now) is None  # the caller falls back
    monkeypatch.setattr(executor, "build_contexts", real)
    # (One connection in this test: the takeover rolled back with the batch; the other worker's
    # would have committed.)
    _taken_over(taken_id, taken_token)
    assert not Task.objects.filter(deal__in=deals).exists()
    assert not RuleRun.objects.filter(status=RunStatus.DONE).exists()
    # the fallback: one by one, the lost one fenced, the others done once
    statuses = {run_id: execute(run_id, token, now=now) for run_id, token in claimed}
    assert statuses.pop(taken_id) == "fenced"
    assert set(statuses.values()) == {"done"}
    assert Task.objects.filter(deal__in=deals).count() == 4


def test_the_planner_writes_a_batchs_runs_together(
    owner: Actor, personas: dict[str, Any], pipeline: Any
) -> None:
    deals = deals_in_new(personas, pipeline, 120)
    rule = robot(owner, pipeline.stages["talks"])
    move_all(deals, pipeline.stages["talks"], personas["a1"].user)
    table = RuleRun._meta.db_table
    from voronka.kernel.outbox import position_for

    before = position_for("automation").position
    with CaptureQueriesContext(connection) as captured:
        report = events_dispatch("automation", respect_backoff=False)
    assert report.total >= 120
    assert RuleRun.objects.filter(rule=rule, status=RunStatus.PENDING).count() == 120
    inserts = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("INSERT") and table in q["sql"]
    ]
    # one bulk INSERT per delivered batch of events (outbox.BATCH per transaction; SQLite's
    # parameter limit splits one into a few statements), not one per event
    from voronka.kernel.outbox import BATCH

    fields = len(RuleRun._meta.concrete_fields)
    per_batch = -(-BATCH // max(1, connection.ops.bulk_batch_size(["x"] * fields, [None] * BATCH)))
    assert 1 <= len(inserts) <= per_batch * -(-report.total // BATCH), len(inserts)
    # a second delivery of the same events (the consumer's position reset) plans nothing more
    from voronka.kernel.models import ConsumerPosition, EventDelivery

    EventDelivery.objects.filter(consumer="automation").delete()
    ConsumerPosition.objects.filter(consumer="automation").update(position=before)
    assert events_dispatch("automation", respect_backoff=False).total >= 120
    assert RuleRun.objects.filter(rule=rule).count() == 120


def test_a_waiting_robot_wakes_on_an_event_in_the_same_batch_as_its_stage_entry(
    owner: Actor, personas: dict[str, Any], pipeline: Any
) -> None:
    deals = deals_in_new(personas, pipeline, 3)
    waiting = robot(
        owner,
        pipeline.stages["talks"],
        name="После звонка",
        event="task.completed",
    )
    a1 = personas["a1"].user
    move_all(deals, pipeline.stages["talks"], a1)
    from voronka.activities.tasks_services import task_complete

    # the waking event right after the entry, for two of the three deals, before any dispatch
    for deal in deals[:2]:
        task = make_task(responsible=a1, deal=Deal.objects.get(pk=deal.pk))
        task_complete(task=task, actor=Actor.for_user(a1), result="Дозвонились")
    events_dispatch("automation", respect_backoff=False)  # all in one batch
    runs = {r.object_id: r for r in RuleRun.objects.filter(rule=waiting)}
    assert set(runs) == {d.pk for d in deals}
    assert runs[deals[0].pk].status == RunStatus.PENDING
    assert runs[deals[1].pk].status == RunStatus.PENDING
    assert runs[deals[2].pk].status == RunStatus.WAITING
    run_until_idle()
    assert RuleRun.objects.get(pk=runs[deals[0].pk].pk).status == RunStatus.DONE
    assert RuleRun.objects.get(pk=runs[deals[2].pk].pk).status == RunStatus.WAITING


def test_two_robots_of_a_stage_in_one_batch_keep_the_counters(
    owner: Actor,
    personas: dict[str, Any],
    pipeline: Any,
    batches: list[tuple[int, list[str] | None]],
) -> None:
    """Two tasks on one deal within one tasks_create call (two robots of the stage): the deal's
    open_tasks counts both, and the maintained counters equal a recount."""
    from tests.tasks.support import maintained_vs_recounted

    deals = deals_in_new(personas, pipeline, 10)
    robot(owner, pipeline.stages["talks"], name="Первый")
    robot(
        owner,
        pipeline.stages["talks"],
        name="Второй",
        params={
            "type": "meeting",
            "comment": "Встреча",
            "deadline": {"kind": "after", "amount": 2, "unit": "days"},
        },
    )
    move_all(deals, pipeline.stages["talks"], personas["a1"].user)
    events_dispatch("automation", respect_backoff=False)
    assert run_until_idle().done == 20
    assert any(size > 2 and result is not None for size, result in batches), batches
    for deal in Deal.objects.filter(pk__in=[d.pk for d in deals]):
        tasks = Task.objects.filter(deal=deal)
        assert tasks.count() == 2
        assert deal.open_tasks == 2
        assert deal.next_task_deadline == min(t.deadline for t in tasks)
    assert maintained_vs_recounted() == {}


def test_a_run_whose_deal_is_gone_is_skipped_within_a_batch(
    owner: Actor,
    personas: dict[str, Any],
    pipeline: Any,
    batches: list[tuple[int, list[str] | None]],
) -> None:
    from voronka.deals.services import deal_delete

    deals = deals_in_new(personas, pipeline, 5)
    rule = robot(owner, pipeline.stages["talks"])
    move_all(deals, pipeline.stages["talks"], personas["a1"].user)
    events_dispatch("automation", respect_backoff=False)
    deal_delete(deal=Deal.objects.get(pk=deals[0].pk), actor=owner)
    report = run_until_idle()
    assert (report.done, report.skipped, report.failed) == (4, 1, 0)
    gone = RuleRun.objects.get(rule=rule, object_id=deals[0].pk)
    assert gone.result == {"skipped": "object_gone"}
    assert Task.objects.filter(deal__in=deals[1:]).count() == 4


def batch_queries(
    owner: Actor, personas: dict[str, Any], pipeline: Any, n: int, tag: str, stage: Any
) -> int:
    Rule.objects.filter(name__startswith="Робот ").delete()  # the previous round's
    deals = deals_in_new(personas, pipeline, n, tag)
    robot(owner, stage, name=f"Робот {tag}")
    move_all(deals, stage, personas["a1"].user)
    events_dispatch("automation", respect_backoff=False)
    now = clock.now()
    claimed = claim(worker="q", limit=500, now=now)
    assert len(claimed) == n
    with CaptureQueriesContext(connection) as captured:
        assert execute_batch(claimed, now=now) == ["done"] * n
    shapes = Counter(re.sub(r"\d+", "N", q["sql"])[:150] for q in captured.captured_queries)
    print(f"\n[queries] {n} runs: " + "\n  ".join(f"{c} × {s}" for s, c in shapes.most_common(4)))
    return len(captured.captured_queries)


def test_a_batchs_queries_do_not_grow_with_its_runs(
    owner: Actor, personas: dict[str, Any], pipeline: Any
) -> None:
    batch_queries(owner, personas, pipeline, 3, "w", pipeline.stages["talks"])  # warm-up
    ten = batch_queries(owner, personas, pipeline, 10, "a", pipeline.stages["talks"])
    fifty = batch_queries(owner, personas, pipeline, 50, "b", pipeline.stages["talks"])
    print(f"\n[queries] execute_batch: 10 runs → {ten}, 50 runs → {fifty}")
    assert fifty <= ten + 2, (ten, fifty)


def test_a_robot_that_moved_the_deal_makes_the_next_robot_of_its_old_stage_skip(
    owner: Actor, personas: dict[str, Any], pipeline: Any, batches: Any
) -> None:
    """Two robots on a stage in one batch: the first moves the deal on, so the second (its task
    for the stage the deal has left) skips — as when the runs go one by one. The batch reads a
    deal again once an action of the batch has acted on it."""
    deals = deals_in_new(personas, pipeline, 3, "м")
    talks = pipeline.stages["talks"]
    mover = rule_create(
        actor=owner,
        data={
            "kind": "robot",
            "name": "Сразу дальше",
            "stage": talks.pk,
            "action": "move_stage",
            "params": {"stage": pipeline.stages["won"].pk},
        },
    )
    caller = robot(owner, talks)
    Rule.objects.filter(pk=mover.pk).update(sort=1)
    Rule.objects.filter(pk=caller.pk).update(sort=2)
    move_all(deals, talks, personas["a1"].user)
    drain()
    assert any(size > 1 for size, _result in batches), batches  # they ran as a batch
    for deal in deals:
        deal.refresh_from_db()
        assert deal.stage_id == pipeline.stages["won"].pk
    caller_runs = RuleRun.objects.filter(rule=caller)
    assert caller_runs.count() == 3
    assert {r.result.get("skipped") for r in caller_runs} == {"left_stage"}
    assert not Task.objects.filter(deal__in=deals, comment__startswith="Позвонить").exists()


NOTE = {"to": {"kind": "deal"}, "text": "Сделка «{deal.title}» в переговорах"}


@pytest.mark.parametrize("budget", [0.0, None], ids=["over-budget", "negative-control"])
def test_a_batch_past_its_time_budget_commits_what_it_did_and_leaves_the_rest_to_the_next(
    owner: Actor,
    personas: dict[str, Any],
    pipeline: Any,
    batches: list[tuple[int, list[str] | None]],
    monkeypatch: pytest.MonkeyPatch,
    budget: float | None,
) -> None:
    """One slow action among quick ones must not hold its transaction (SQLite: the only write
    lock, which another worker's reaper waits for) for the whole batch: past the budget the
    batch stops starting one-at-a-time actions, commits, and the rest follow in the next
    transactions — each run once. Budget 0: one action per transaction; no budget (the guard
    off): the whole batch in one."""
    monkeypatch.setattr(executor, "batch_budget", lambda: budget)
    deals = deals_in_new(personas, pipeline, 5, "бюджет")
    rule = robot(owner, pipeline.stages["talks"], action="notify", params=NOTE)
    move_all(deals, pipeline.stages["talks"], personas["a1"].user)
    events_dispatch("automation", respect_backoff=False)
    report = executor.execute_due(limit=50)
    assert report.claimed == 5 and report.done == 5, report
    sizes = [size for size, _r in batches]
    assert RuleRun.objects.filter(rule=rule, status=RunStatus.DONE).count() == 5
    assert (
        Notification.objects.filter(kind="automation", deal_id__in=[d.pk for d in deals]).count()
        == 5
    )
    if budget is None:
        assert sizes == [5], batches
    else:
        assert sizes == [5, 4, 3, 2], batches  # the last run alone goes through execute()
        assert [r.count("done") for _s, r in batches if r] == [1, 1, 1, 1]
