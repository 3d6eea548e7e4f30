"""Reads for tasks: lists, my day, calendar, counters and the control screen — all through
the access scope. Counters read the maintained day buckets plus one indexed range for
"today so far", so they cost the same for one manager and for the owner of a million deals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Count, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from voronka.activities.models import Task, TaskDayCounter, TaskStatus, TaskType
from voronka.deals.counters import local_day
from voronka.deals.models import Deal, DealStageDayCounter, DealUserCounter, Stage, StageSemantic
from voronka.identity.models import Department, Scope, User
from voronka.identity.scopes import (
    effective_scope,
    in_department_q,
    scope_filter,
    visible_user_ids,
)
from voronka.kernel import clock, dates
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound, ValidationError


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
    *, user: User, filters: TaskFilter, limit: int = 50, after: tuple[str, int] | None = None
) -> list[Task]:
    """Ordered by deadline then id, keyset-paginated (`after` = (deadline iso, id))."""
    now = clock.now()
    qs = filters.apply(tasks_visible(user), now).select_related(
        "responsible", "deal", "contact", "company"
    )
    qs = qs.order_by("deadline", "id")
    if after:
        deadline = dates.clamp_moment(dates.parse_moment(after[0], field="cursor"))
        qs = qs.filter(Q(deadline__gt=deadline) | Q(deadline=deadline, id__gt=after[1]))
    return list(qs[: limit + 1])


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


# --- counters ---------------------------------------------------------------------------------


def _in(ids: list[int] | None, field_name: str = "responsible_id") -> Q:
    if ids is None:
        return Q()
    return Q(**{f"{field_name}__in": ids}) if ids else Q(pk__in=[])


def _sla_stages() -> list[Stage]:
    return list(
        Stage.objects.filter(sla_days__isnull=False, semantic=StageSemantic.OPEN).only(
            "id", "sla_days"
        )
    )


def _over_sla_queries(now: dt.datetime, stages: list[Stage]) -> tuple[Q, Q]:
    """(bucket condition for whole past days, deal condition for the boundary day)."""
    bucket_parts, deal_parts = [], []
    by_days: dict[int, list[int]] = {}  # stages with the same limit share one condition
    for stage in stages:
        by_days.setdefault(stage.sla_days or 0, []).append(stage.pk)
    for days, ids in by_days.items():
        boundary = now - dt.timedelta(days=days)
        bday = local_day(boundary)
        bucket_parts.append(Q(stage_id__in=ids, day__lt=bday))
        deal_parts.append(
            Q(
                stage_id__in=ids,
                stage_entered_at__gte=dates.day_start(bday),
                stage_entered_at__lt=boundary,
            )
        )
    if not stages:
        return Q(pk__in=[]), Q(pk__in=[])
    return reduce(or_, bucket_parts), reduce(or_, deal_parts)


def counters_for(*, user: User, now: dt.datetime | None = None) -> dict[str, Any]:
    """The navigation badges and `GET /api/v1/me/counters`, within the user's scopes."""
    now = now or clock.now()
    today = local_day(now)
    task_ids = visible_user_ids(user, "task")
    deal_ids = visible_user_ids(user, "deal")
    by_link: dict[str, dict[str, int]] = {
        link: {"overdue": 0, "today": 0} for link in ("deal", "contact", "company")
    }
    rows = (
        TaskDayCounter.objects.filter(_in(task_ids), day__lte=today)
        .values("link")
        .annotate(
            past=Coalesce(Sum("count", filter=Q(day__lt=today)), 0, output_field=IntegerField()),
            today_total=Coalesce(Sum("count", filter=Q(day=today)), 0, output_field=IntegerField()),
        )
    )
    for row in rows:
        by_link[row["link"]]["overdue"] += row["past"]
        by_link[row["link"]]["today"] += row["today_total"]
    # Three numbers, not one group per deal, counted from the index alone (it holds deadline,
    # deal and contact; COUNT(deadline) = COUNT(*): it is NOT NULL).
    live = Task.objects.filter(
        _in(task_ids),
        status=TaskStatus.OPEN,
        deadline__gte=dates.day_start(today),
        deadline__lt=now,
    ).aggregate(
        on_deal=Count("deadline", filter=Q(deal__isnull=False)),
        on_contact=Count("deadline", filter=Q(deal__isnull=True, contact__isnull=False)),
        on_company=Count("deadline", filter=Q(deal__isnull=True, contact__isnull=True)),
    )
    for key, n in live.items():
        by_link[key.removeprefix("on_")]["overdue"] += n
        by_link[key.removeprefix("on_")]["today"] -= n
    without = DealUserCounter.objects.filter(_in(deal_ids)).aggregate(
        w=Coalesce(Sum("without_task"), 0), o=Coalesce(Sum("open_deals"), 0)
    )
    stages = _sla_stages()
    bucket_q, deal_q = _over_sla_queries(now, stages)
    over_sla = (
        DealStageDayCounter.objects.filter(_in(deal_ids))
        .filter(bucket_q)
        .aggregate(n=Coalesce(Sum("count"), 0))["n"]
    )
    if stages:
        over_sla += (
            Deal.objects.filter(_in(deal_ids), status=StageSemantic.OPEN).filter(deal_q).count()
        )
    overdue = sum(v["overdue"] for v in by_link.values())
    return {
        "overdue_tasks": overdue,
        "tasks_today": sum(v["today"] for v in by_link.values()),
        "deals_without_task": without["w"],
        "deals_over_sla": over_sla,
        "open_deals": without["o"],
        "deals_overdue_tasks": by_link["deal"]["overdue"],
        "contacts_overdue_tasks": by_link["contact"]["overdue"],
        "companies_overdue_tasks": by_link["company"]["overdue"],
        "at": now.isoformat(),
    }


# --- control screen -----------------------------------------------------------------------------


@dataclass
class ControlRow:
    user: User
    open_deals: int = 0
    deals_without_task: int = 0
    overdue_tasks: int = 0
    oldest_overdue: dt.datetime | None = None
    deals_over_sla: int = 0
    tasks_done_today: int = 0
    tasks_today: int = 0

    @property
    def with_task_share(self) -> int:
        """Per cent of the open deals that have a next task (the methodology's rule)."""
        if not self.open_deals:
            return 100
        return round(100 * (self.open_deals - self.deals_without_task) / self.open_deals)


def control_departments(user: User) -> list[Department]:
    scope = effective_scope(user, "task")
    if scope == Scope.ALL:
        return list(Department.objects.all())
    if scope == Scope.DEPARTMENT and user.department_id:
        return list(Department.objects.filter(path__startswith=user.department.path))
    return []


def control_department(*, user: User, department_id: int | None = None) -> Department | None:
    """The department the control screen shows (None: the whole company): the one asked for if
    the user may open it; by default their own, or everything for a company-wide scope."""
    allowed = control_departments(user)
    if not allowed:
        raise ApplicationError(_("Экран контроля — для руководителей"), code=ErrorCode.FORBIDDEN)
    if department_id is None:
        return allowed[0] if effective_scope(user, "task") != Scope.ALL else None
    dept = next((d for d in allowed if d.pk == department_id), None)
    if dept is None:
        raise NotFound(_("Отдел не найден"))
    return dept


def control_table(
    *, user: User, department_id: int | None = None, now: dt.datetime | None = None
) -> list[ControlRow]:
    """Per manager of a department (and its sub-departments): the head of sales' screen."""
    now = now or clock.now()
    dept = control_department(user=user, department_id=department_id)
    users_qs = User.objects.filter(is_active=True)
    if dept is not None:
        users_qs = users_qs.filter(department__path__startswith=dept.path)
    visible = visible_user_ids(user, "task")
    if visible is not None:
        users_qs = users_qs.filter(pk__in=visible)
    today = local_day(now)
    oldest = Task.objects.filter(
        responsible=OuterRef("pk"), status=TaskStatus.OPEN, deadline__lt=now
    ).order_by("deadline")
    users = list(
        users_qs.select_related("department")
        .annotate(oldest_overdue=Subquery(oldest.values("deadline")[:1]))
        .order_by("last_name", "first_name", "username")
    )
    ids = [u.pk for u in users]
    rows = {u.pk: ControlRow(user=u, oldest_overdue=u.oldest_overdue) for u in users}
    for c in DealUserCounter.objects.filter(responsible_id__in=ids):
        rows[c.responsible_id].open_deals = c.open_deals
        rows[c.responsible_id].deals_without_task = c.without_task
    for r in (
        TaskDayCounter.objects.filter(responsible_id__in=ids, day__lte=today)
        .values("responsible_id")
        .annotate(
            past=Coalesce(Sum("count", filter=Q(day__lt=today)), 0, output_field=IntegerField()),
            today_total=Coalesce(Sum("count", filter=Q(day=today)), 0, output_field=IntegerField()),
        )
    ):
        rows[r["responsible_id"]].overdue_tasks += r["past"]
        rows[r["responsible_id"]].tasks_today += r["today_total"]
    # COUNT of an indexed column, not of id: both counts below are index-only scans.
    for r in (
        Task.objects.filter(
            responsible_id__in=ids,
            status=TaskStatus.OPEN,
            deadline__gte=dates.day_start(today),
            deadline__lt=now,
        )
        .values("responsible_id")
        .annotate(n=Count("deadline"))
    ):
        rows[r["responsible_id"]].overdue_tasks += r["n"]
        rows[r["responsible_id"]].tasks_today -= r["n"]
    stages = _sla_stages()
    if stages:
        bucket_q, deal_q = _over_sla_queries(now, stages)
        for r in (
            DealStageDayCounter.objects.filter(responsible_id__in=ids)
            .filter(bucket_q)
            .values("responsible_id")
            .annotate(n=Sum("count"))
        ):
            rows[r["responsible_id"]].deals_over_sla += r["n"] or 0
        for r in (
            Deal.objects.filter(responsible_id__in=ids, status=StageSemantic.OPEN)
            .filter(deal_q)
            .values("responsible_id")
            .annotate(n=Count("id"))
        ):
            rows[r["responsible_id"]].deals_over_sla += r["n"]
    for r in (
        Task.objects.filter(
            responsible_id__in=ids, status=TaskStatus.DONE, completed_at__gte=dates.day_start(today)
        )
        .values("responsible_id")
        .annotate(n=Count("completed_at"))
    ):
        rows[r["responsible_id"]].tasks_done_today = r["n"]
    return [rows[i] for i in ids]


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


def deal_marks(
    deals: list[Deal], now: dt.datetime | None = None, stages: list[Stage] | None = None
) -> None:
    """Annotate board/list deals in place: no_task, overdue, over_sla. One query for the
    stages' limits unless the caller has the stages already."""
    now = now or clock.now()
    if stages is None:
        stages = list(Stage.objects.filter(pk__in={d.stage_id for d in deals}))
    sla_of = {s.pk: s.sla_days for s in stages}
    for deal in deals:
        is_open = deal.status == StageSemantic.OPEN
        deal.mark_no_task = is_open and deal.open_tasks == 0
        deal.mark_overdue = (
            is_open and deal.next_task_deadline is not None and deal.next_task_deadline < now
        )
        sla = sla_of.get(deal.stage_id)
        deal.mark_over_sla = (
            is_open and sla is not None and deal.stage_entered_at < now - dt.timedelta(days=sla)
        )


assert Min  # re-exported for callers composing their own aggregates


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
