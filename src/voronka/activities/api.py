"""Tasks, counters, notifications and the control screen over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from voronka.activities import task_selectors as selectors
from voronka.activities import tasks_services as services
from voronka.activities.models import Notification, Task, TaskStatus
from voronka.activities.notifications import notification_text
from voronka.activities.schemas import (
    ControlOut,
    CountersOut,
    DeadlineChangeOut,
    NotificationOut,
    NotificationsReadIn,
    TaskCompleteIn,
    TaskCompleteOut,
    TaskIn,
    TaskListOut,
    TaskOut,
    TaskPatch,
    TaskRescheduleIn,
)
from voronka.kernel import clock
from voronka.kernel.errors import ValidationError
from voronka.kernel.schemas import ERRORS
from voronka.web.http import api_actor

tasks_router = Router(tags=["tasks"])
me_router = Router(tags=["me"])
control_router = Router(tags=["control"])


def task_out(task: Task) -> dict[str, Any]:
    now = clock.now()
    return {
        "id": task.pk,
        "type": task.type,
        "responsible": task.responsible_id,
        "responsible_name": task.responsible.display_name,
        "deadline": task.deadline,
        "comment": task.comment,
        "status": task.status,
        "result": task.result,
        "deal": task.deal_id,
        "contact": task.contact_id,
        "company": task.company_id,
        "overdue": task.status == TaskStatus.OPEN and task.deadline < now,
        "created_by": task.created_by_id,
        "created_at": task.created_at,
        "completed_at": task.completed_at,
        "version": task.version,
    }


@tasks_router.get(
    "", response={200: TaskListOut, **ERRORS}, summary="Tasks visible to the caller, by deadline"
)
def list_tasks(
    request: HttpRequest,
    deal: int | None = None,
    contact: int | None = None,
    company: int | None = None,
    responsible: int | None = None,
    status: str | None = None,
    overdue: bool | None = None,
    type: str | None = None,
    deadline_from: dt.datetime | None = None,
    deadline_to: dt.datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    filters = selectors.TaskFilter.from_params(request.GET)
    page = selectors.task_list(user=request.user, filters=filters, limit=limit, cursor=cursor)
    return {"items": [task_out(t) for t in page.items], "next_cursor": page.next_cursor}


@tasks_router.post("", response={201: TaskOut, **ERRORS})
def create_task(request: HttpRequest, payload: TaskIn) -> Status[dict[str, Any]]:
    task = services.task_create(actor=api_actor(request), data=payload.dict(exclude_unset=True))
    return Status(201, task_out(selectors.task_get(user=request.user, task_id=task.pk)))


@tasks_router.get("/{task_id}", response={200: TaskOut, **ERRORS})
def get_task(request: HttpRequest, task_id: int) -> dict[str, Any]:
    return task_out(selectors.task_get(user=request.user, task_id=task_id))


@tasks_router.patch("/{task_id}", response={200: TaskOut, **ERRORS})
def update_task(request: HttpRequest, task_id: int, payload: TaskPatch) -> dict[str, Any]:
    task = selectors.task_get(user=request.user, task_id=task_id)
    data = payload.dict(exclude_unset=True)
    for key in ("type", "comment", "responsible"):
        if key in data and data[key] is None:
            raise ValidationError({key: _("Не может быть пустым")})
    services.task_update(task=task, actor=api_actor(request), data=data)
    return task_out(selectors.task_get(user=request.user, task_id=task_id))


@tasks_router.post("/{task_id}/complete", response={200: TaskCompleteOut, **ERRORS})
def complete_task(request: HttpRequest, task_id: int, payload: TaskCompleteIn) -> dict[str, Any]:
    task = selectors.task_get(user=request.user, task_id=task_id)
    next_data = payload.next_task.dict() if payload.next_task else None
    done, created = services.task_complete(
        task=task,
        actor=api_actor(request),
        result=payload.result,
        version=payload.version,
        next_task=next_data,
    )
    deal = done.deal
    if deal is not None:
        deal.refresh_from_db(fields=["open_tasks", "status"])
    required = deal is not None and deal.needs_next_task()
    return {
        "task": task_out(selectors.task_get(user=request.user, task_id=task_id)),
        "next_task": task_out(created) if created else None,
        "next_task_required": required,
    }


@tasks_router.post("/{task_id}/reschedule", response={200: TaskOut, **ERRORS})
def reschedule_task(
    request: HttpRequest, task_id: int, payload: TaskRescheduleIn
) -> dict[str, Any]:
    task = selectors.task_get(user=request.user, task_id=task_id)
    services.task_reschedule(
        task=task,
        actor=api_actor(request),
        deadline=payload.deadline,
        reason=payload.reason,
        version=payload.version,
    )
    return task_out(selectors.task_get(user=request.user, task_id=task_id))


@tasks_router.get("/{task_id}/history", response={200: list[DeadlineChangeOut], **ERRORS})
def task_history(request: HttpRequest, task_id: int) -> list[dict[str, Any]]:
    task = selectors.task_get(user=request.user, task_id=task_id)
    return selectors.task_history(task=task)


@me_router.get(
    "/counters",
    response={200: CountersOut, **ERRORS},
    summary="Red badges within the caller's scope",
)
def my_counters(request: HttpRequest) -> dict[str, Any]:
    data = selectors.counters_for(user=request.user)
    data["unread_notifications"] = Notification.objects.filter(
        user=request.user, read_at__isnull=True
    ).count()
    return data


@me_router.get("/notifications", response={200: list[NotificationOut], **ERRORS})
def my_notifications(
    request: HttpRequest, unread: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    if limit < 1 or limit > 200:
        raise ValidationError({"limit": _("От 1 до %(n)s") % {"n": 200}})
    qs = Notification.objects.filter(user=request.user)
    if unread:
        qs = qs.filter(read_at__isnull=True)
    return [
        {
            "id": n.pk,
            "kind": n.kind,
            "text": notification_text(n),  # in the caller's language
            "task": n.task_id,
            "deal": n.deal_id,
            "created_at": n.created_at,
            "read": n.read_at is not None,
        }
        for n in qs.order_by("-created_at", "-id")[:limit]
    ]


@me_router.post("/notifications/read", response={200: dict[str, int], **ERRORS})
def read_notifications(request: HttpRequest, payload: NotificationsReadIn) -> dict[str, int]:
    return {"marked": services.notifications_mark_read(user=request.user, ids=payload.ids)}


@control_router.get(
    "", response={200: ControlOut, **ERRORS}, summary="The head of sales' control table"
)
def control(request: HttpRequest, department: int | None = None) -> dict[str, Any]:
    rows = selectors.control_table(user=request.user, department_id=department)
    out = [
        {
            "user": r.user.pk,
            "user_name": r.user.display_name,
            "department": r.user.department.name if r.user.department else "",
            "open_deals": r.open_deals,
            "deals_without_task": r.deals_without_task,
            "overdue_tasks": r.overdue_tasks,
            "oldest_overdue": r.oldest_overdue,
            "deals_over_sla": r.deals_over_sla,
            "tasks_today": r.tasks_today,
            "tasks_done_today": r.tasks_done_today,
        }
        for r in rows
    ]
    keys = [
        "open_deals",
        "deals_without_task",
        "overdue_tasks",
        "deals_over_sla",
        "tasks_today",
        "tasks_done_today",
    ]
    return {
        "department": department,
        "rows": out,
        "totals": {k: sum(r[k] for r in out) for k in keys},
    }
