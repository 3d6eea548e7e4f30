"""Consumers of domain events in the activities app (kernel.events; run by `voronka worker`).

`notifications`: a task given to someone by someone else (created for them or reassigned to
them) and a deadline moved by someone else notify the task's responsible — in the app, and by
e-mail when a person did it (a robot's or an import's tasks come by the hundred). The reaction runs after the change committed, once per event (the notification and the
consumer's mark commit together); the person who acted is never notified of their own act."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
from voronka.activities.notifications import notify, notify_many
from voronka.identity.models import User
from voronka.kernel.actor import ActorKind
from voronka.kernel.events import consumer
from voronka.kernel.models import DomainEvent

BY_A_PERSON = frozenset({ActorKind.USER, ActorKind.API})


@dataclass
class _Batch:
    """A batch of events' tasks and responsibles, read together, and the notifications they
    call for, written together when the batch ends (in its transaction)."""

    tasks: dict[int, Task]
    users: dict[int, User]
    pending: list[dict[str, Any]] = field(default_factory=list)


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar(
    "voronka_notifications_batch", default=None
)


@contextmanager
def _batched(events: list[DomainEvent]) -> Iterator[_Batch]:
    responsibles = {e.payload.get("responsible") for e in events}
    batch = _Batch(
        # What a notification reads of its task (notify_many): not the whole task and its deal.
        tasks=Task.objects.only("id", "comment", "deal_id").in_bulk([e.object_id for e in events]),
        users=User.objects.in_bulk([pk for pk in responsibles if isinstance(pk, int)]),
    )
    token = _batch.set(batch)
    try:
        yield batch
        notify_many(batch.pending)
    finally:
        _batch.reset(token)


def _notify(**item: Any) -> None:
    batch = _batch.get()
    if batch is None:
        notify(**item)
    else:
        batch.pending.append(item)


@consumer("notifications", TASK_CREATED, TASK_UPDATED, TASK_RESCHEDULED, on_batch=_batched)
def notify_task_responsible(event: DomainEvent, payload: Any) -> None:
    """Notify the responsible of a task created for them, reassigned to them, or whose deadline
    was moved, by someone else."""
    assert isinstance(payload, TaskPayload)
    if event.actor_user_id is not None and event.actor_user_id == payload.responsible:
        return  # one's own act
    batch = _batch.get()
    if batch is not None:
        task = batch.tasks.get(event.object_id)
        user = batch.users.get(payload.responsible)
    else:
        task = Task.objects.select_related("deal").filter(pk=event.object_id).first()
        user = User.objects.filter(pk=payload.responsible).first()
    if task is None or user is None:
        return  # gone since: nothing to point at
    comment = {"comment": task.comment[:200]}
    if event.name == TASK_CREATED.name:
        _notify(
            user=user,
            kind=NotificationKind.TASK_ASSIGNED,
            task=task,
            message="task_new",
            values=comment,
            # A person's task for someone: an e-mail too. A robot's or an import's come by the
            # hundred (a stage moved wholesale): the bell and "My day" list them, no e-mail each.
            email=event.actor_kind in BY_A_PERSON,
        )
    elif event.name == TASK_UPDATED.name:
        assert isinstance(payload, TaskUpdatedPayload)
        if "responsible" in payload.changes:
            _notify(
                user=user,
                kind=NotificationKind.TASK_ASSIGNED,
                task=task,
                key=f"event-{event.pk}",
                message="task_reassigned",
                values=comment,
            )
    elif event.name == TASK_RESCHEDULED.name:
        assert isinstance(payload, TaskRescheduledPayload)
        _notify(
            user=user,
            kind=NotificationKind.DEADLINE_MOVED,
            task=task,
            key=f"event-{event.pk}",
            message="deadline_moved",
            values={"when": payload.deadline, "reason": payload.reason[:200]},
        )
