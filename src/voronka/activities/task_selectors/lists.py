"""Task lists through the access scope: one task, the filtered list, my day, the calendar,
a task's deadline history and the records a new task may hang on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from voronka.activities.models import Task, TaskStatus, TaskType
from voronka.deals.counters import local_day
from voronka.deals.models import Deal
from voronka.identity.models import User
from voronka.identity.scopes import in_department_q, scope_filter
from voronka.kernel import clock, dates
from voronka.kernel.errors import NotFound, ValidationError
from voronka.kernel.pagination import Page, keyset_page


def tasks_visible(user: User) -> QuerySet[Task]:
    return scope_filter(Task.objects.all(), user, "task")


def task_get(*, user: User, task_id: int) -> Task:
    task = (
        tasks_visible(user)
        .select_related("responsible", "deal", "contact", "company", "created_by", "completed_by")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise NotFound(_("Задача не найдена"))
    return task


@dataclass
class TaskFilter:
    deal: int | None = None
    contact: int | None = None
    company: int | None = None
    responsible: int | None = None
    status: str | None = None
    overdue: bool | None = None
    type: str | None = None
    deadline_from: dt.datetime | None = None
    deadline_to: dt.datetime | None = None
    department: int | None = None  # responsible in this department or its sub-departments
    completed_on: dt.date | None = None  # done on this (local) day

    @classmethod
    def from_params(cls, params: Any) -> TaskFilter:
        errors: dict[str, str] = {}
        result = cls()
        for name in ("deal", "contact", "company", "responsible", "department"):
            raw = (params.get(name) or "").strip()
            if raw:
                try:
                    value = int(raw)
                    if value < 1 or value > 2**62:
                        raise ValueError
                    setattr(result, name, value)
                except ValueError:
                    errors[name] = _("Ожидается номер")
        status = (params.get("status") or "").strip()
        if status:
            if status not in TaskStatus.values:
                errors["status"] = _("Статус: open или done")
            result.status = status
        ttype = (params.get("type") or "").strip()
        if ttype:
            if ttype not in TaskType.values:
                errors["type"] = _("Тип задачи: call, meeting, email или other")
            result.type = ttype
        overdue = (params.get("overdue") or "").strip().lower()
        if overdue:
            if overdue not in ("true", "false", "1", "0"):
                errors["overdue"] = _("Ожидается true или false")
            result.overdue = overdue in ("true", "1")
        for name in ("deadline_from", "deadline_to"):
            raw = (params.get(name) or "").strip()
            if raw:
                try:
                    setattr(result, name, dates.clamp_moment(dates.parse_moment(raw, field=name)))
                except ValidationError as exc:
                    errors.update(exc.errors)
        raw = (params.get("completed_on") or "").strip()
        if raw:
            try:
                result.completed_on = dates.parse_day(raw, field="completed_on")
            except ValidationError as exc:
                errors.update(exc.errors)
        if errors:
            raise ValidationError(errors)
        return result

    def apply(self, qs: QuerySet[Task], now: dt.datetime) -> QuerySet[Task]:
        for name in ("deal", "contact", "company", "responsible"):
            value = getattr(self, name)
            if value:
                qs = qs.filter(**{f"{name}_id": value})
        if self.status:
            qs = qs.filter(status=self.status)
        if self.type:
            qs = qs.filter(type=self.type)
        if self.overdue is True:
            qs = qs.filter(status=TaskStatus.OPEN, deadline__lt=now)
        elif self.overdue is False:
            qs = qs.exclude(status=TaskStatus.OPEN, deadline__lt=now)
        if self.deadline_from:
            qs = qs.filter(deadline__gte=self.deadline_from)
        if self.deadline_to:
            qs = qs.filter(deadline__lt=self.deadline_to)
        if self.department:
            qs = qs.filter(in_department_q(self.department))
        if self.completed_on:
            start, end = dates.day_range(self.completed_on)
            qs = qs.filter(status=TaskStatus.DONE, completed_at__gte=start, completed_at__lt=end)
        return qs


def task_list(
    *, user: User, filters: TaskFilter, limit: int = 50, cursor: str | None = None
) -> Page[Task]:
    """Ordered by deadline then id, one keyset page (kernel.pagination)."""
    now = clock.now()
    qs = filters.apply(tasks_visible(user), now).select_related(
        "responsible", "deal", "contact", "company"
    )
    return keyset_page(qs, order=("deadline", "id"), cursor=cursor, limit=limit)


@dataclass
class MyDay:
    overdue: list[Task] = field(default_factory=list)
    today: list[Task] = field(default_factory=list)
    tomorrow: list[Task] = field(default_factory=list)
    later: list[Task] = field(default_factory=list)


def my_day(*, user: User, responsible: User | None = None, limit: int = 100) -> MyDay:
    """Open tasks of one person (default: the user), grouped overdue / today / tomorrow / later."""
    now = clock.now()
    today = local_day(now)
    target = responsible or user
    qs = (
        tasks_visible(user)
        .filter(responsible=target, status=TaskStatus.OPEN)
        .select_related("deal", "contact", "company", "deal__stage")
    )
    tomorrow_start, after_start = (
        dates.day_start(today + dt.timedelta(days=1)),
        dates.day_start(today + dt.timedelta(days=2)),
    )
    result = MyDay()
    result.overdue = list(qs.filter(deadline__lt=now).order_by("deadline")[:limit])
    result.today = list(
        qs.filter(deadline__gte=now, deadline__lt=tomorrow_start).order_by("deadline")[:limit]
    )
    result.tomorrow = list(
        qs.filter(deadline__gte=tomorrow_start, deadline__lt=after_start).order_by("deadline")[
            :limit
        ]
    )
    result.later = list(qs.filter(deadline__gte=after_start).order_by("deadline")[:limit])
    return result


def calendar_tasks(
    *, user: User, start: dt.date, days: int, responsible: int | None = None
) -> dict[dt.date, list[Task]]:
    if days < 1 or days > 42:
        raise ValidationError({"days": "1..42"})
    start = dates.clamp_day(start)  # the days below stay inside Python's calendar
    first, end = dates.day_range(start, start + dt.timedelta(days=days - 1))
    qs = tasks_visible(user).filter(deadline__gte=first, deadline__lt=end)
    if responsible:
        qs = qs.filter(responsible_id=responsible)
    result: dict[dt.date, list[Task]] = {start + dt.timedelta(days=i): [] for i in range(days)}
    for task in qs.select_related("responsible", "deal", "contact", "company").order_by("deadline")[
        :2000
    ]:
        result.setdefault(local_day(task.deadline), []).append(task)
    return result


def task_history(*, task: Task) -> list[dict[str, Any]]:
    changes = task.deadline_changes.select_related("by").order_by("at", "id")
    return [
        {
            "at": c.at,
            "by": c.by_id,
            "by_name": c.by.display_name if c.by else "",
            "old_deadline": c.old_deadline,
            "new_deadline": c.new_deadline,
            "reason": c.reason,
        }
        for c in changes
    ]


@dataclass
class TaskLinks:
    """What a task (being created) hangs on, as the form shows it: only records the user sees."""

    deal: Deal | None = None
    company: Any = None
    contact: Any = None

    @property
    def is_empty(self) -> bool:
        return self.deal is None and self.company is None and self.contact is None


def task_links(
    *, user: User, deal: int | None = None, company: int | None = None, contact: int | None = None
) -> TaskLinks:
    from voronka.contacts.selectors import companies_visible, contacts_visible
    from voronka.deals.selectors import deals_visible

    links = TaskLinks()
    if deal:
        links.deal = deals_visible(user).select_related("company", "stage").filter(pk=deal).first()
    if company:
        links.company = companies_visible(user).filter(pk=company).first()
    elif links.deal is not None:
        links.company = links.deal.company  # the service links the deal's company too
    if contact:
        links.contact = contacts_visible(user).select_related("company").filter(pk=contact).first()
    return links
