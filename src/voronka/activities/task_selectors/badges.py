"""The navigation badges and `GET /api/v1/me/counters`: the maintained day buckets plus one
indexed range for "today so far", so they cost the same for one manager and for the owner of a
million deals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, IntegerField, Q, Sum
from django.db.models.functions import Coalesce

from voronka.activities.models import Task, TaskDayCounter, TaskStatus
from voronka.activities.task_selectors.sla import over_sla_queries, sla_stages
from voronka.deals.counters import local_day
from voronka.deals.models import Deal, DealStageDayCounter, DealUserCounter, StageSemantic
from voronka.identity.models import User
from voronka.identity.scopes import visible_user_ids
from voronka.kernel import clock, dates


def _in(ids: list[int] | None, field_name: str = "responsible_id") -> Q:
    if ids is None:
        return Q()
    return Q(**{f"{field_name}__in": ids}) if ids else Q(pk__in=[])


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
    stages = sla_stages()
    bucket_q, deal_q = over_sla_queries(now, stages)
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
