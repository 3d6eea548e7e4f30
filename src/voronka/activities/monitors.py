"""Time-based sweeps over tasks (DESIGN §6 monitors). Idempotent: notifications are unique
per (user, kind, task, key), so overlapping or repeated sweeps notify once."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from voronka.activities.models import Notification, NotificationKind, Task, TaskStatus
from voronka.activities.notifications import notify
from voronka.identity.models import Department, User
from voronka.kernel import clock

SWEEP_WINDOW = dt.timedelta(days=3)


def head_of(user: User) -> User | None:
    """The responsible's head: the head of their department, or of the parent department
    when they head it themselves."""
    dept: Department | None = user.department
    while dept is not None:
        head = dept.head if dept.head_id and dept.head_id != user.pk else None
        if head is not None and head.is_active:
            return head
        dept = dept.parent
    return None


def overdue_tasks_sweep(*, now: dt.datetime | None = None, batch: int = 2000) -> int:
    """Notify responsibles of newly overdue tasks, and their heads after the grace period."""
    now = now or clock.now()
    grace = dt.timedelta(hours=settings.VORONKA_OVERDUE_HEAD_GRACE_HOURS)
    sent = 0
    # Only tasks still owed a notification for their current deadline (one made after the
    # deadline passed): without this, the oldest `batch` overdue tasks filled every batch and the
    # newer ones were never notified.
    notified = Notification.objects.filter(
        task=OuterRef("pk"), created_at__gte=OuterRef("deadline")
    )
    owed = (
        Q(deadline__gte=now - SWEEP_WINDOW)
        & ~Exists(notified.filter(kind=NotificationKind.TASK_OVERDUE))
    ) | (
        Q(deadline__lte=now - grace)
        & ~Exists(notified.filter(kind=NotificationKind.TASK_OVERDUE_HEAD))
    )
    tasks = (
        Task.objects.filter(
            status=TaskStatus.OPEN, deadline__lt=now, deadline__gte=now - SWEEP_WINDOW - grace
        )
        .filter(owed)
        .select_related("responsible__department__head", "deal")
        .order_by("deadline")[:batch]
    )
    for task in tasks:
        key = task.deadline.isoformat()
        with transaction.atomic():
            if task.deadline >= now - SWEEP_WINDOW and notify(
                user=task.responsible,
                kind=NotificationKind.TASK_OVERDUE,
                task=task,
                key=key,
                message="task_overdue",
                values={"when": task.deadline, "comment": task.comment[:200]},
            ):
                sent += 1
            if task.deadline <= now - grace:
                head = head_of(task.responsible)
                if head is not None and notify(
                    user=head,
                    kind=NotificationKind.TASK_OVERDUE_HEAD,
                    task=task,
                    key=key,
                    message="task_overdue_head",
                    values={
                        "user": task.responsible.display_name,
                        "when": task.deadline,
                        "comment": task.comment[:200],
                    },
                ):
                    sent += 1
    return sent
