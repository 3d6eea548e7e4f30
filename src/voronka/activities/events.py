"""Events of tasks and comments (the catalogue: kernel.events, docs/events.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from voronka.kernel.events import EventPayload, EventType, declare

TASKS = "activities.tasks_services"


class TaskPayload(EventPayload):
    responsible: int
    deadline: dt.datetime
    deal: int | None
    type: str
    status: str


class TaskRescheduledPayload(TaskPayload):
    reason: str


class TaskUpdatedPayload(TaskPayload):
    # field → [old, new], as in the audit row (a reassignment has "responsible")
    changes: dict[str, list[Any]]


class CommentPayload(EventPayload):
    comment: int


TASK_CREATED = declare(
    "task.created",
    TaskPayload,
    description="A task was created (by hand, as the next task of a completed one, or by a robot).",
    emitted_by=f"{TASKS}.task_create",
)
TASK_COMPLETED = declare(
    "task.completed",
    TaskPayload,
    description="A task was completed with a result.",
    emitted_by=f"{TASKS}.task_complete",
)
TASK_OVERDUE = declare(
    "task.overdue",
    TaskPayload,
    description=(
        "An open task passed its deadline (once per task and deadline; emitted by the worker's "
        "overdue sweep)."
    ),
    emitted_by=f"{TASKS}.tasks_overdue_emit",
)
TASK_RESCHEDULED = declare(
    "task.rescheduled",
    TaskRescheduledPayload,
    description="A task's deadline was moved (deadline: the new one; reason: why).",
    emitted_by=f"{TASKS}.task_reschedule",
)
TASK_UPDATED = declare(
    "task.updated",
    TaskUpdatedPayload,
    description="A task's type, comment or responsible changed (only when something did).",
    emitted_by=f"{TASKS}.task_update",
)
DEAL_COMMENTED = declare(
    "deal.commented",
    CommentPayload,
    description="A comment was added to a deal.",
    emitted_by="activities.services.comment_add",
)
COMPANY_COMMENTED = declare(
    "company.commented",
    CommentPayload,
    description="A comment was added to a company.",
    emitted_by="activities.services.comment_add",
)
CONTACT_COMMENTED = declare(
    "contact.commented",
    CommentPayload,
    description="A comment was added to a contact.",
    emitted_by="activities.services.comment_add",
)
# The event of a comment, by the type of object commented on.
COMMENTED: dict[str, EventType] = {
    "deal": DEAL_COMMENTED,
    "company": COMPANY_COMMENTED,
    "contact": CONTACT_COMMENTED,
}
