"""Recount of the task-side maintained counters (after bulk loads, for repair, and as the
oracle in tests): TaskDayCounter and Deal.open_tasks / next_task_deadline, then the deal
counters that depend on them."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction

from voronka.activities.models import Task, TaskDayCounter, TaskStatus
from voronka.deals.counters import deal_counters_rebuild, local_day
from voronka.deals.models import Deal


@transaction.atomic
def task_counters_rebuild() -> None:
    TaskDayCounter.objects.all().delete()
    buckets: dict[tuple[int, str, dt.date], int] = {}
    rows = (
        Task.objects.filter(status=TaskStatus.OPEN)
        .values_list("responsible_id", "deal_id", "contact_id", "deadline")
        .order_by()
        .iterator(chunk_size=20000)
    )
    for responsible_id, deal_id, contact_id, deadline in rows:
        link = "deal" if deal_id else "contact" if contact_id else "company"
        key = (responsible_id, link, local_day(deadline))
        buckets[key] = buckets.get(key, 0) + 1
    TaskDayCounter.objects.bulk_create(
        [
            TaskDayCounter(responsible_id=r, link=link, day=d, count=n)
            for (r, link, d), n in buckets.items()
        ],
        batch_size=5000,
    )
    qn = connection.ops.quote_name
    deal_table, task_table = qn(Deal._meta.db_table), qn(Task._meta.db_table)
    count_sql = f"(SELECT COUNT(*) FROM {task_table} t WHERE t.deal_id = {deal_table}.id AND t.status = 'open')"
    min_sql = f"(SELECT MIN(t.deadline) FROM {task_table} t WHERE t.deal_id = {deal_table}.id AND t.status = 'open')"
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"  # NULL-safe <>
    with connection.cursor() as cursor:
        # Only the rows that are wrong: rewriting a million right ones (each a new row version in
        # every index of the deal table) took minutes after `voronka seed`.
        cursor.execute(
            f"UPDATE {deal_table} SET open_tasks = {count_sql}, next_task_deadline = {min_sql} "
            f"WHERE open_tasks <> {count_sql} OR next_task_deadline {differs} {min_sql}"
        )
    deal_counters_rebuild()


def counters_snapshot() -> dict[str, object]:
    """Everything maintained, in a comparable form (tests compare before/after a rebuild)."""
    from voronka.contacts.models import Company
    from voronka.deals.models import (
        CompanyLtv,
        DealBoardCounter,
        DealStageDayCounter,
        DealUserCounter,
    )

    return {
        "task_days": sorted(
            (c.responsible_id, c.link, c.day, c.count)
            for c in TaskDayCounter.objects.exclude(count=0)
        ),
        "deal_days": sorted(
            (c.responsible_id, c.stage_id, c.day, c.count)
            for c in DealStageDayCounter.objects.exclude(count=0)
        ),
        "deal_users": sorted(
            (c.responsible_id, c.open_deals, c.without_task)
            for c in DealUserCounter.objects.all()
            if c.open_deals or c.without_task
        ),
        "deal_board": sorted(
            (c.stage_id, c.responsible_id, c.currency, c.count, c.amount)
            for c in DealBoardCounter.objects.all()
            if c.count or c.amount
        ),
        "company_ltv": sorted(
            (c.company_id, c.currency, c.amount) for c in CompanyLtv.objects.exclude(amount=0)
        ),
        "company_ltv_main": sorted(Company.objects.exclude(ltv=0).values_list("id", "ltv")),
        "company_counts": sorted(
            Company.objects.values_list(
                "id", "deals_count", "won_count", "first_purchase_at", "last_purchase_at"
            )
        ),
        "deals": sorted(Deal.objects.values_list("id", "open_tasks", "next_task_deadline")),
    }
