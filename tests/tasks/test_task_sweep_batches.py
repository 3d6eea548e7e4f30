"""The overdue sweep (now the built-in monitor rules, automation.defaults) is worked off in
batches: the executor claims a few due runs at a time. Found in the tasks issue: a batch of "the
oldest overdue tasks", already-notified ones included, starved the newer ones. The monitor plans
one run per task and deadline (its occurrence key) and the executor works them all off; a task
rescheduled and overdue again is a new occurrence. These tests pin that down."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from factories import make_company, set_overdue_grace
from voronka.activities.models import Notification, NotificationKind
from voronka.activities.tasks_services import task_create, task_reschedule
from voronka.automation.executor import execute_due
from voronka.automation.sweeps import monitors_sweep
from voronka.kernel import clock
from voronka.kernel.actor import Actor

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 18, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def overdue(personas: Any) -> list[Any]:
    """Five tasks of a1 overdue by 1..5 hours (grace for the head: 3 hours)."""
    set_overdue_grace(3)
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Пачка")
    with clock.frozen(NOW - dt.timedelta(days=1)):
        return [
            task_create(
                actor=Actor.for_user(a1),
                data={
                    "type": "call",
                    "responsible": a1.pk,
                    "comment": f"Просрочена на {h} ч",
                    "company": company.pk,
                    "deadline": (NOW - dt.timedelta(hours=h)).isoformat(),
                },
            )
            for h in (5, 4, 3, 2, 1)
        ]


def sweep(now: dt.datetime, *, batch: int = 200) -> int:
    """One sweep, then rounds of `batch` runs until none is due; the notifications written."""
    before = Notification.objects.count()
    monitors_sweep(now=now)
    while execute_due(limit=batch, now=now).claimed:
        pass
    return Notification.objects.count() - before


def kinds(kind: str) -> set[int]:
    return set(Notification.objects.filter(kind=kind).values_list("task_id", flat=True))


def test_every_overdue_task_is_notified_even_when_they_exceed_a_batch(
    overdue: list[Any], personas: Any
) -> None:
    ids = {t.pk for t in overdue}
    with clock.frozen(NOW):
        sent = [sweep(NOW, batch=2)]
    with clock.frozen(NOW + dt.timedelta(minutes=1)):  # the next period finds nothing new
        sent.append(sweep(NOW + dt.timedelta(minutes=1), batch=2))
    assert kinds(NotificationKind.TASK_OVERDUE) == ids
    # The head: only the tasks past the 3-hour grace (overdue by 5, 4 and 3 hours).
    assert kinds(NotificationKind.TASK_OVERDUE_HEAD) == {t.pk for t in overdue[:3]}
    assert set(
        Notification.objects.filter(kind=NotificationKind.TASK_OVERDUE_HEAD).values_list(
            "user__username", flat=True
        )
    ) == {"head_a"}
    assert sum(sent) == 5 + 3 and sent[-1] == 0  # each once, then nothing left to do


def test_a_notified_task_rescheduled_and_overdue_again_is_notified_again(
    overdue: list[Any],
) -> None:
    task = overdue[-1]
    with clock.frozen(NOW):
        sweep(NOW)
    with clock.frozen(NOW + dt.timedelta(minutes=5)):
        task_reschedule(
            task=task,
            actor=Actor.system(),
            deadline=(NOW + dt.timedelta(hours=1)).isoformat(),
            reason="Клиент попросил",
        )
    later = NOW + dt.timedelta(hours=2)
    with clock.frozen(later):
        sweep(later, batch=2)
    with clock.frozen(later + dt.timedelta(minutes=1)):
        sweep(later + dt.timedelta(minutes=1), batch=2)
    mine = Notification.objects.filter(task=task, kind=NotificationKind.TASK_OVERDUE)
    assert mine.count() == 2  # one per deadline
    assert len({n.dedup_key for n in mine}) == 2
