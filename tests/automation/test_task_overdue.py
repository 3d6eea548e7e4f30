"""`task.overdue` (issue 9's event list): the worker's sweep emits it once per task and deadline
when an open task passes its deadline — not for a done task, again after the deadline was moved
and passed again, once however many sweeps run at once (the marker `Task.overdue_for`, written
in the events' transaction; negative control: without it, every sweep emits again). A trigger on
it moves a deal end to end through the real worker; the trigger form lists it in words."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import close_old_connections, connection

from factories import make_company, make_deal, make_task
from voronka.activities import tasks_services
from voronka.activities.models import Task
from voronka.activities.tasks_services import (
    OVERDUE_WINDOW,
    task_complete,
    task_reschedule,
    tasks_overdue_due,
    tasks_overdue_emit,
)
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.models import DomainEvent

pytestmark = pytest.mark.django_db


def overdue_events(task: Any | None = None) -> list[DomainEvent]:
    qs = DomainEvent.objects.filter(name="task.overdue").order_by("id")
    if task is not None:
        qs = qs.filter(object_id=task.pk)
    return list(qs)


def past_task(responsible: Any, *, hours_ago: float = 1, **links: Any) -> Task:
    """A task whose deadline passed `hours_ago` (made a day before it, when it was ahead)."""
    deadline = clock.now() - dt.timedelta(hours=hours_ago)
    with clock.frozen(deadline - dt.timedelta(days=1)):
        return make_task(responsible=responsible, days=1, **links)


@pytest.fixture
def deal(personas: dict[str, Any], pipeline: Any) -> Any:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Просрочка")
    return make_deal(responsible=a1, company=company, title="Станки", stage=pipeline.stages["new"])


def test_an_overdue_task_emits_once_with_the_task_created_payload(
    personas: dict[str, Any], deal: Any
) -> None:
    a1 = personas["a1"].user
    task = past_task(a1, deal=deal)
    ahead = make_task(responsible=a1, deal=deal)  # not due yet
    assert tasks_overdue_emit() == 1
    assert tasks_overdue_emit() == 0  # the second sweep: nothing new
    [event] = overdue_events()
    assert (event.object_type, event.object_id) == ("task", task.pk)
    created = DomainEvent.objects.get(name="task.created", object_id=task.pk)
    assert event.payload == created.payload  # responsible, deadline, deal, type, status
    assert event.payload["deal"] == deal.pk and event.payload["responsible"] == a1.pk
    assert event.actor_kind == "system" and event.depth == 0
    assert event.causation_id.startswith("job:tasks_overdue:")
    task.refresh_from_db()
    assert task.overdue_for == task.deadline
    # Its own deadline comes: the other task too, once.
    with clock.frozen(ahead.deadline + dt.timedelta(minutes=1)):
        assert tasks_overdue_emit() == 1
        assert tasks_overdue_emit() == 0
    assert [e.object_id for e in overdue_events()] == [task.pk, ahead.pk]


def test_a_done_task_and_one_overdue_beyond_the_window_emit_nothing(
    personas: dict[str, Any], deal: Any
) -> None:
    a1 = personas["a1"].user
    done = past_task(a1, deal=deal)
    task_complete(task=done, actor=Actor.for_user(a1), result="Позвонил")
    old = past_task(a1, deal=deal, hours_ago=OVERDUE_WINDOW.total_seconds() / 3600 + 1)
    assert tasks_overdue_emit() == 0
    assert overdue_events() == []
    old.refresh_from_db()
    assert old.overdue_for is None


def test_a_deadline_moved_later_and_passed_again_emits_again(
    personas: dict[str, Any], deal: Any
) -> None:
    a1 = personas["a1"].user
    task = past_task(a1, deal=deal)
    assert tasks_overdue_emit() == 1
    new_deadline = clock.now() + dt.timedelta(hours=2)
    task_reschedule(
        task=Task.objects.get(pk=task.pk),
        actor=Actor.for_user(a1),
        deadline=new_deadline.isoformat(),
        reason="Клиент попросил позже",
    )
    assert tasks_overdue_emit() == 0  # the new deadline has not passed
    with clock.frozen(new_deadline + dt.timedelta(minutes=1)):
        assert tasks_overdue_emit() == 1
        assert tasks_overdue_emit() == 0
    events = overdue_events(task)
    assert len(events) == 2
    assert dt.datetime.fromisoformat(events[1].payload["deadline"]) == new_deadline


def test_control_without_the_marker_every_sweep_emits_again(
    personas: dict[str, Any], deal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks_services, "overdue_mark", lambda task_ids: 0)
    past_task(personas["a1"].user, deal=deal)
    assert tasks_overdue_emit() == 1
    assert tasks_overdue_emit() == 1  # the guard off: the same task and deadline again
    assert len(overdue_events()) == 2


def test_the_sweep_reads_the_partial_index(personas: dict[str, Any], deal: Any) -> None:
    """Millions of tasks: the sweep's query is a range of task_overdue_due_idx (open tasks still
    owed their event), never a scan of the table."""
    past_task(personas["a1"].user, deal=deal)
    qs = tasks_overdue_due(clock.now())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")
            try:
                plan = qs.explain()
            finally:
                cursor.execute("RESET enable_seqscan")
    else:
        plan = qs.explain()
    # A handful of rows: PostgreSQL may pick the other partial index of open tasks by deadline
    # (the window bounds that one too); what must never happen is a scan of the table.
    assert "Seq Scan" not in plan and "SCAN activities_task " not in plan + " ", plan
    assert "task_overdue_due_idx" in plan or "task_open_deadline_idx" in plan, plan


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_emit_each_task_once(personas: dict[str, Any], deal: Any) -> None:
    """Two sweeps in two threads (two connections) over 600 tasks in batches of 50: on
    PostgreSQL they share the tasks (SKIP LOCKED), on SQLite they take turns; every task has
    exactly one event."""
    a1 = personas["a1"].user
    deadline = clock.now() - dt.timedelta(minutes=30)
    with clock.frozen(deadline - dt.timedelta(days=1)):
        first = make_task(responsible=a1, days=1, deal=deal)
    Task.objects.bulk_create(
        [
            Task(
                type="call",
                responsible=a1,
                deadline=deadline + dt.timedelta(seconds=i),
                comment=f"Позвонить {i}",
                deal=deal,
            )
            for i in range(599)
        ]
    )
    now = clock.now()
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait(timeout=10)
            counts.append(tasks_overdue_emit(now=now, batch=50))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(counts) == 600, counts
    ids = [e.object_id for e in overdue_events()]
    assert len(ids) == len(set(ids)) == 600
    assert first.pk in ids
    if connection.vendor == "postgresql":
        assert all(counts), counts  # both took part


def test_the_trigger_form_lists_the_event_in_words(web: Any, pipeline: Any) -> None:
    url = f"/settings/pipelines/{pipeline.sales.pk}/automation/new/?kind=trigger"
    client = web("owner")
    assert (
        '<option value="task.overdue">Задача просрочена</option>'
        in client.get(url).content.decode()
    )
    client.post("/language/", {"language": "en", "next": "/"})
    assert '<option value="task.overdue">Task overdue</option>' in client.get(url).content.decode()


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_a_trigger_on_task_overdue_moves_the_deal_in_the_real_worker(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    from voronka.automation.models import Rule, RuleRun, RunStatus
    from voronka.automation.services import rule_create
    from voronka.deals.models import Deal
    from workers import VORONKA, logs_of, start_worker, stop, wait_for, worker_env

    assert VORONKA.exists(), VORONKA
    Rule.objects.all().delete()  # the built-in monitors: not needed (test_engine_worker.py)
    owner = Actor.for_user(personas["owner"].user)
    a1 = personas["a1"].user
    talks = pipeline.stages["talks"]
    rule_create(
        actor=owner,
        data={
            "kind": "trigger",
            "name": "Задача просрочена → Переговоры",
            "event": "task.overdue",
            "stage": talks.pk,
        },
    )
    company = make_company(responsible=a1, name="ООО Воркер")
    late = make_deal(
        responsible=a1, company=company, title="Опоздали", stage=pipeline.stages["new"]
    )
    calm = make_deal(
        responsible=a1, company=company, title="Успеваем", stage=pipeline.stages["new"]
    )
    past_task(a1, deal=late)
    make_task(responsible=a1, deal=calm)  # due in 3 days
    worker = start_worker("overdue", worker_env(tmp_path / "data"), tmp_path)

    def moved() -> bool:
        return Deal.objects.filter(pk=late.pk, stage=talks).exists()

    try:
        waited = wait_for(moved, 90, [worker])
    finally:
        stop(worker)
    assert moved(), f"not moved in {waited:.0f}s\n{logs_of(tmp_path)}"
    assert Deal.objects.get(pk=calm.pk).stage_id == pipeline.stages["new"].pk
    assert len(overdue_events()) == 1
    assert RuleRun.objects.get().status == RunStatus.DONE
