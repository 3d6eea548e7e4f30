"""The engine end to end with the REAL worker process (`voronka worker` subprocesses on the test
database): robots, triggers and monitors; a worker killed with SIGKILL in the middle of its work
(RELIABILITY rows 12/13: no duplicate, no lost run); two workers sharing the runs on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count

from factories import make_company, make_deal, make_task
from voronka.activities.models import Task
from voronka.activities.tasks_services import task_complete
from voronka.automation.models import RuleRun, RunStatus
from voronka.automation.services import rule_create
from voronka.deals.models import Deal, Stage
from voronka.deals.services import deal_move_to_stage
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from workers import VORONKA, kill, logs_of, start_worker, stop, wait_for, worker_env

# Ids from 1, as on a new database (a flushed database keeps its sequences: the consumer would
# wait at the gap for LATE_COMMIT_HORIZON).
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


@pytest.fixture(autouse=True)
def _no_builtin_rules(db: None) -> None:
    """The built-in monitors are re-created after each flush, before the sequences are reset:
    on PostgreSQL they would hold the ids the reset hands out again. These tests do not need
    them."""
    from voronka.automation.models import Rule

    Rule.objects.all().delete()


def robot(owner: Actor, stage: Any, comment: str = "Позвонить: {deal.title}") -> Any:
    return rule_create(
        actor=owner,
        data={
            "kind": "robot",
            "name": f"Робот {stage.name}",
            "stage": stage.pk,
            "action": "create_task",
            "params": {"type": "call", "comment": comment},
        },
    )


def test_robots_triggers_and_monitors_run_in_the_real_worker(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    assert VORONKA.exists(), VORONKA
    owner = Actor.for_user(personas["owner"].user)
    a1 = personas["a1"].user
    new, talks = pipeline.stages["new"], pipeline.stages["talks"]
    robot(owner, talks, "Подтвердить получение КП: {deal.title}")
    rule_create(
        actor=owner,
        data={
            "kind": "trigger",
            "name": "Встреча → Переговоры",
            "event": "task.completed",
            "stage": talks.pk,
            "conditions": [{"field": "task.type", "op": "eq", "value": "meeting"}],
        },
    )
    Stage.objects.filter(pk=new.pk).update(sla_days=3)
    rule_create(
        actor=owner,
        data={
            "kind": "monitor",
            "name": "Лимит стадии → руководителю",
            "monitor": "deal_over_sla",
            "action": "create_task",
            "params": {
                "type": "other",
                "comment": "Сделка «{deal.title}» дольше лимита стадии",
                "responsible": {"kind": "head"},
            },
        },
    )
    company = make_company(responsible=a1, name="ООО Воркер")
    moved = make_deal(responsible=a1, company=company, title="Робот", stage=new)
    with clock.frozen(clock.now() - dt.timedelta(days=10)):
        stale = make_deal(responsible=a1, company=company, title="Застряла", stage=new)
    met = make_deal(responsible=a1, company=company, title="Встреча", stage=new)
    meeting = make_task(responsible=a1, deal=met)
    Task.objects.filter(pk=meeting.pk).update(type="meeting")
    deal_move_to_stage(deal=moved, stage=talks, actor=Actor.for_user(a1))
    task_complete(task=Task.objects.get(pk=meeting.pk), actor=Actor.for_user(a1), result="Была")
    assert not Task.objects.filter(comment__startswith="Подтвердить").exists()

    worker = start_worker("engine", worker_env(tmp_path / "data"), tmp_path)

    def done() -> bool:
        return (
            Task.objects.filter(deal=moved, comment="Подтвердить получение КП: Робот").exists()
            and Deal.objects.filter(pk=met.pk, stage=talks).exists()
            and Task.objects.filter(deal=stale, responsible=personas["head_a"].user).exists()
            # The trigger's move is a stage entry: the robot of Переговоры acts on that deal too.
            and Task.objects.filter(deal=met, comment__startswith="Подтвердить").exists()
        )

    try:
        waited = wait_for(done, 90, [worker])
    finally:
        stop(worker)
    assert done(), f"not done in {waited:.0f}s\n{logs_of(tmp_path)}"
    time.sleep(1.0)  # room for a duplicate to show up
    assert Task.objects.filter(deal=met, comment__startswith="Подтвердить").count() == 1
    assert not RuleRun.objects.filter(status=RunStatus.FAILED).exists()


def _deals_entering(stage: Any, start: Any, count: int, personas: Any) -> list[int]:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Много")
    ids = []
    for i in range(count):
        deal = make_deal(responsible=a1, company=company, title=f"Сделка {i}", stage=start)
        deal_move_to_stage(deal=deal, stage=stage, actor=Actor.for_user(a1))
        ids.append(deal.pk)
    return ids


def _assert_once_each(ids: list[int], logs: str) -> None:
    per_deal = dict(
        Task.objects.filter(deal_id__in=ids).values_list("deal_id").annotate(n=Count("id"))
    )
    missing = [i for i in ids if i not in per_deal]
    doubled = {i: n for i, n in per_deal.items() if n != 1}
    assert not missing and not doubled, f"missing {missing[:10]}, doubled {doubled}\n{logs}"


def test_a_worker_killed_mid_batch_leaves_no_duplicate_and_loses_no_run(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    owner = Actor.for_user(personas["owner"].user)
    robot(owner, pipeline.stages["talks"])
    ids = _deals_entering(pipeline.stages["talks"], pipeline.stages["new"], 400, personas)
    env = worker_env(tmp_path / "data", VORONKA_AUTOMATION_LEASE_SECONDS="3")
    kills = 0
    for round_ in range(6):
        worker = start_worker(f"victim-{round_}", env, tmp_path)
        made = Task.objects.filter(deal_id__in=ids).count()
        wait_for(lambda m=made: Task.objects.filter(deal_id__in=ids).count() > m + 20, 60, [worker])
        time.sleep(0.05 * round_)
        kill(worker)  # SIGKILL, mid-batch: claimed runs stay running until their lease passes
        kills += 1
        if Task.objects.filter(deal_id__in=ids).count() >= len(ids):
            break
    assert kills >= 2
    survivor = start_worker("survivor", env, tmp_path)
    try:
        finished = RuleRun.objects.filter(status__in=[RunStatus.DONE, RunStatus.SKIPPED])
        waited = wait_for(lambda: finished.count() >= len(ids), 120, [survivor])
    finally:
        stop(survivor)
    logs = logs_of(tmp_path)
    assert finished.count() == len(ids), (
        f"{finished.count()} of {len(ids)} in {waited:.0f}s\n{logs}"
    )
    _assert_once_each(ids, logs)


def test_two_workers_share_the_runs_on_postgresql_without_doing_one_twice(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED sharing is PostgreSQL's; SQLite serialises the claim")
    owner = Actor.for_user(personas["owner"].user)
    robot(owner, pipeline.stages["talks"])
    env = worker_env(tmp_path / "data")
    workers = [start_worker(f"pair-{i}", env, tmp_path) for i in (1, 2)]
    try:
        # Both up before the work arrives: with the events already there, a worker whose start
        # the machine delayed by a few seconds found the first one done with all of it.
        started = wait_for(
            lambda: logs_of(tmp_path, tail=10**6).count("Starting worker") >= 2, 60, workers
        )
        assert logs_of(tmp_path, tail=10**6).count("Starting worker") >= 2, f"{started:.0f}s"
        ids = _deals_entering(pipeline.stages["talks"], pipeline.stages["new"], 600, personas)
        done = RuleRun.objects.filter(status=RunStatus.DONE)
        waited = wait_for(lambda: done.count() >= len(ids), 120, workers)
    finally:
        for worker in workers:
            stop(worker)
    logs = logs_of(tmp_path)
    assert done.count() == len(ids), f"{done.count()} in {waited:.0f}s\n{logs}"
    _assert_once_each(ids, logs)
    shares = dict(done.values_list("worker").annotate(n=Count("id")))
    assert len(shares) == 2, shares  # both took part
