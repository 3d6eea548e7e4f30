"""The notifications consumer's batch path (issue 9: consumers._batched, notifications.notify_many):
a robot's task notifies its responsible in the app without an e-mail, a person's task for someone
else with one; a hundred events in one dispatch give a hundred notifications, a second delivery
of the same events none; a task gone before the dispatch is skipped quietly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from factories import make_call_robot, make_company, make_deal
from voronka.activities import notifications
from voronka.activities.models import Notification, NotificationKind, Task
from voronka.activities.tasks_services import NewTask, tasks_create
from voronka.automation.executor import run_until_idle
from voronka.deals.services import deal_move_to_stage
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.models import ConsumerPosition, DomainEvent, EventDelivery
from voronka.kernel.outbox import events_dispatch

pytestmark = pytest.mark.django_db

CONSUMER = "notifications"


@pytest.fixture
def emails(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The notification ids whose e-mail was enqueued (after commit)."""
    sent: list[int] = []
    monkeypatch.setattr(notifications, "_enqueue_email", sent.append)
    return sent


def dispatch(capture: Any) -> int:
    """Deliver the pending events to the notifications consumer, its commit callbacks run."""
    with capture(execute=True):
        return events_dispatch(CONSUMER, respect_backoff=False).total


def items(responsible: Any, company: Any, n: int, tag: str) -> list[dict[str, Any]]:
    deadline = (clock.now() + dt.timedelta(days=1)).isoformat()
    return [
        {
            "type": "call",
            "responsible": responsible.pk,
            "deadline": deadline,
            "comment": f"{tag} {i}",
            "company": company.pk,
        }
        for i in range(n)
    ]


@pytest.fixture
def a1_company(personas: dict[str, Any]) -> Any:
    company = make_company(responsible=personas["a1"].user, name="ООО Уведомления")
    events_dispatch(CONSUMER, respect_backoff=False)  # the set-up's own events
    return company


def test_a_robots_task_notifies_in_the_app_without_an_email(
    personas: dict[str, Any],
    pipeline: Any,
    emails: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Робот")
    deal = make_deal(responsible=a1, company=company, title="Р", stage=pipeline.stages["new"])
    make_call_robot(owner=personas["owner"].user, stage=pipeline.stages["talks"])
    dispatch(django_capture_on_commit_callbacks)
    events_dispatch("automation", respect_backoff=False)
    deal_move_to_stage(deal=deal, stage=pipeline.stages["talks"], actor=Actor.for_user(a1))
    events_dispatch("automation", respect_backoff=False)
    assert run_until_idle().done == 1
    task = Task.objects.get(deal=deal)
    assert DomainEvent.objects.get(name="task.created", object_id=task.pk).actor_kind in (
        "automation",
        "system",
    )
    sent_before = len(emails)
    dispatch(django_capture_on_commit_callbacks)
    note = Notification.objects.get(task=task, user=a1)
    assert note.kind == NotificationKind.TASK_ASSIGNED
    assert note.text  # rendered
    assert len(emails) == sent_before  # no e-mail for a robot's task


def test_a_persons_task_for_someone_else_notifies_and_emails(
    personas: dict[str, Any],
    a1_company: Any,
    emails: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    a1, owner = personas["a1"].user, personas["owner"].user
    tasks = tasks_create(
        [NewTask(Actor.for_user(owner), item) for item in items(a1, a1_company, 3, "Лично")]
    )
    own = tasks_create(
        [NewTask(Actor.for_user(a1), item) for item in items(a1, a1_company, 1, "Себе")]
    )
    dispatch(django_capture_on_commit_callbacks)
    notes = {n.task_id: n for n in Notification.objects.filter(user=a1, task__in=tasks)}
    assert set(notes) == {t.pk for t in tasks}
    assert sorted(emails) == sorted(n.pk for n in notes.values())
    assert not Notification.objects.filter(task__in=own).exists()  # one's own act


def reset_position(to: int) -> None:
    """As if the consumer's position were reset: its deliveries forgotten."""
    EventDelivery.objects.filter(consumer=CONSUMER).delete()
    ConsumerPosition.objects.filter(consumer=CONSUMER).update(position=to)


@pytest.mark.parametrize("by", ["system", "person"])
def test_a_hundred_events_in_one_dispatch_then_again_none(
    personas: dict[str, Any],
    a1_company: Any,
    emails: list[int],
    django_capture_on_commit_callbacks: Any,
    by: str,
) -> None:
    a1 = personas["a1"].user
    actor = Actor.system() if by == "system" else Actor.for_user(personas["owner"].user)
    position = ConsumerPosition.objects.get(consumer=CONSUMER).position
    tasks = tasks_create([NewTask(actor, item) for item in items(a1, a1_company, 100, by)])
    assert dispatch(django_capture_on_commit_callbacks) >= 100
    ids = {t.pk for t in tasks}
    assert Notification.objects.filter(task__in=ids, user=a1).count() == 100
    assert set(Notification.objects.filter(task__in=ids).values_list("task_id", flat=True)) == ids
    assert len(emails) == (100 if by == "person" else 0)
    total, sent = Notification.objects.count(), len(emails)

    reset_position(position)
    assert dispatch(django_capture_on_commit_callbacks) >= 100  # delivered again …
    assert Notification.objects.count() == total  # … and deduplicated
    assert len(emails) == sent


def test_a_task_deleted_before_the_dispatch_is_skipped(
    personas: dict[str, Any],
    a1_company: Any,
    emails: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    a1 = personas["a1"].user
    for actor in (Actor.system(), Actor.for_user(personas["owner"].user)):
        kept, gone = tasks_create(
            [NewTask(actor, item) for item in items(a1, a1_company, 2, actor.kind)]
        )
        Task.objects.filter(pk=gone.pk).delete()  # as a deal's deletion would, by cascade
        report_total = dispatch(django_capture_on_commit_callbacks)
        assert report_total >= 2
        assert not ConsumerPosition.objects.get(consumer=CONSUMER).failures
        assert Notification.objects.filter(task=kept, user=a1).count() == 1
        assert not Notification.objects.filter(task_id=gone.pk).exists()
