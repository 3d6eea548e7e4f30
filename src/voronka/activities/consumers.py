"""Consumers of domain events in the activities app (kernel.events; run by `voronka worker`).

`notifications`: a task given to someone by someone else (created for them or reassigned to
them) and a deadline moved by someone else notify the task's responsible — in the app and by
e-mail. The reaction runs after the change committed, once per event (the notification and the
consumer's mark commit together); the person who acted is never notified of their own act."""

from __future__ import annotations

from typing import Any

from voronka.activities.events import (
    TASK_CREATED,
    TASK_RESCHEDULED,
    TASK_UPDATED,
    TaskPayload,
    TaskRescheduledPayload,
    TaskUpdatedPayload,
)
from voronka.activities.models import NotificationKind, Task
from voronka.activities.notifications import notify
from voronka.identity.models import User
from voronka.kernel.events import consumer
from voronka.kernel.models import DomainEvent


@consumer("notifications", TASK_CREATED, TASK_UPDATED, TASK_RESCHEDULED)
def notify_task_responsible(event: DomainEvent, payload: Any) -> None:
    """Notify the responsible of a task created for them, reassigned to them, or whose deadline
    was moved, by someone else."""
    assert isinstance(payload, TaskPayload)
    if event.actor_user_id is not None and event.actor_user_id == payload.responsible:
        return  # one's own act
    task = Task.objects.select_related("deal").filter(pk=event.object_id).first()
    user = User.objects.filter(pk=payload.responsible).first()
    if task is None or user is None:
        return  # gone since: nothing to point at
    comment = {"comment": task.comment[:200]}
    if event.name == TASK_CREATED.name:
        notify(
            user=user,
            kind=NotificationKind.TASK_ASSIGNED,
            task=task,
            message="task_new",
            values=comment,
        )
    elif event.name == TASK_UPDATED.name:
        assert isinstance(payload, TaskUpdatedPayload)
        if "responsible" in payload.changes:
            notify(
                user=user,
                kind=NotificationKind.TASK_ASSIGNED,
                task=task,
                key=f"event-{event.pk}",
                message="task_reassigned",
                values=comment,
            )
    elif event.name == TASK_RESCHEDULED.name:
        assert isinstance(payload, TaskRescheduledPayload)
        notify(
            user=user,
            kind=NotificationKind.DEADLINE_MOVED,
            task=task,
            key=f"event-{event.pk}",
            message="deadline_moved",
            values={"when": payload.deadline, "reason": payload.reason[:200]},
        )
