from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field

from voronka.kernel.schemas import Id, NextCursor, StrictIn, Version


class TaskOut(Schema):
    id: int
    type: str = Field(description="call | meeting | email | other")
    responsible: int
    responsible_name: str
    deadline: dt.datetime
    comment: str
    status: str = Field(description="open | done")
    result: str
    deal: int | None
    contact: int | None
    company: int | None
    overdue: bool
    created_by: int | None
    created_at: dt.datetime
    completed_at: dt.datetime | None
    version: int


class TaskIn(StrictIn):
    type: str = Field(description="call | meeting | email | other")
    responsible: Id
    deadline: str = Field(description="ISO 8601 date-time; without an offset, the server's zone")
    comment: str = Field(max_length=5000)
    deal: Id | None = None
    contact: Id | None = None
    company: Id | None = None


class TaskPatch(StrictIn):
    version: Version | None = None
    type: str | None = None
    comment: str | None = Field(default=None, max_length=5000)
    responsible: Id | None = None


class NextTaskIn(StrictIn):
    type: str
    responsible: Id
    deadline: str
    comment: str = Field(max_length=5000)


class TaskCompleteIn(StrictIn):
    result: str = Field(max_length=5000)
    version: Version | None = None
    next_task: NextTaskIn | None = None


class TaskCompleteOut(Schema):
    task: TaskOut
    next_task: TaskOut | None
    next_task_required: bool = Field(
        description="True when this was the last open task of an open deal and no next task was given"
    )


class TaskRescheduleIn(StrictIn):
    deadline: str
    reason: str = Field(max_length=2000)
    version: Version | None = None


class TaskListOut(Schema):
    items: list[TaskOut]
    next_cursor: NextCursor


class DeadlineChangeOut(Schema):
    at: dt.datetime
    by: int | None
    by_name: str
    old_deadline: dt.datetime
    new_deadline: dt.datetime
    reason: str


class CountersOut(Schema):
    overdue_tasks: int
    tasks_today: int
    deals_without_task: int
    deals_over_sla: int
    open_deals: int
    deals_overdue_tasks: int
    contacts_overdue_tasks: int
    companies_overdue_tasks: int
    unread_notifications: int
    at: dt.datetime


class ControlRowOut(Schema):
    user: int
    user_name: str
    department: str
    open_deals: int
    deals_without_task: int
    overdue_tasks: int
    oldest_overdue: dt.datetime | None
    deals_over_sla: int
    tasks_today: int
    tasks_done_today: int


class ControlOut(Schema):
    department: int | None
    rows: list[ControlRowOut]
    totals: dict[str, int]


class NotificationOut(Schema):
    id: int
    kind: str
    text: str
    task: int | None
    deal: int | None
    created_at: dt.datetime
    read: bool


class NotificationsReadIn(StrictIn):
    ids: list[Id] | None = Field(default=None, description="Omitted: mark all as read")
