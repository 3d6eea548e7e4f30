"""The head of sales' control screen: per manager of a department, open deals, deals without a
next task, overdue tasks, deals over the stage SLA, tasks done today."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from voronka.activities.models import Task, TaskDayCounter, TaskStatus
from voronka.activities.task_selectors.sla import over_sla_queries, sla_stages
from voronka.deals.counters import local_day
from voronka.deals.models import Deal, DealStageDayCounter, DealUserCounter, StageSemantic
from voronka.identity.models import Department, Scope, User
from voronka.identity.scopes import effective_scope, visible_user_ids
from voronka.kernel import clock, dates
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound


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
    if scope == Scope.DEPARTMENT and user.department is not None:
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
    stages = sla_stages()
    if stages:
        bucket_q, deal_q = over_sla_queries(now, stages)
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
