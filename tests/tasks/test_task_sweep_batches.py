"""The overdue sweep works in batches (monitors.overdue_tasks_sweep, batch=2000 by default). Found
here: the batch was "the oldest overdue tasks in the window", already-notified ones included, so
once more tasks were overdue than one batch holds, the newer ones were never notified (with
batch=2 and three overdue tasks the third never was). The sweep now selects only tasks still
owed a notification for their current deadline; these tests pin that down."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from factories import make_company
from voronka.activities.models import Notification, NotificationKind
from voronka.activities.monitors import overdue_tasks_sweep
from voronka.activities.tasks_services import task_create, task_reschedule
from voronka.kernel import clock
from voronka.kernel.actor import Actor

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 18, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def overdue(personas: Any, settings: Any) -> list[Any]:
    """Five tasks of a1 overdue by 1..5 hours (grace for the head: 3 hours)."""
    settings.VORONKA_OVERDUE_HEAD_GRACE_HOURS = 3
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


def kinds(kind: str) -> set[int]:
    return set(Notification.objects.filter(kind=kind).values_list("task_id", flat=True))


def test_every_overdue_task_is_notified_even_when_they_exceed_a_batch(
    overdue: list[Any], personas: Any
) -> None:
    ids = {t.pk for t in overdue}
    with clock.frozen(NOW):
        sent = [overdue_tasks_sweep(batch=2) for _ in range(6)]
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
        overdue_tasks_sweep()
    with clock.frozen(NOW + dt.timedelta(minutes=5)):
        task_reschedule(
            task=task,
            actor=Actor.system(),
            deadline=(NOW + dt.timedelta(hours=1)).isoformat(),
            reason="Клиент попросил",
        )
    later = NOW + dt.timedelta(hours=2)
    with clock.frozen(later):
        overdue_tasks_sweep(batch=2)
        overdue_tasks_sweep(batch=2)
    mine = Notification.objects.filter(task=task, kind=NotificationKind.TASK_OVERDUE)
    assert mine.count() == 2  # one per deadline
    assert len({n.dedup_key for n in mine}) == 2
