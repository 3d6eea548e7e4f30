"""Deal-side maintained counters. Called only from deal and task services, inside their
transaction; `deal_counters_rebuild` recomputes them from the rows (seed, repair, tests)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from voronka.contacts.models import Company
from voronka.deals.models import (
    CompanyLtv,
    Deal,
    DealBoardCounter,
    DealStageDayCounter,
    DealUserCounter,
    StageSemantic,
)
from voronka.kernel.counters import upsert_add, upsert_add_many
from voronka.kernel.money import MAIN_CURRENCY


class BoardKey(NamedTuple):
    """Where a deal counts on the board: its cell (stage, responsible, currency) and amount."""

    stage_id: int
    responsible_id: int
    currency: str
    amount: Decimal


def board_key(deal: Deal) -> BoardKey:
    return BoardKey(deal.stage_id, deal.responsible_id, deal.currency, Decimal(deal.amount))


def track_board(before: BoardKey | None, after: BoardKey | None) -> None:
    """Move a deal's count and amount between board cells (None: created / deleted). A deal
    counts in the cell of its own currency: amounts of different currencies never meet."""
    if before == after:
        return
    for key, sign in ((before, -1), (after, +1)):
        if key is not None:
            upsert_add_many(
                DealBoardCounter,
                {
                    "stage": key.stage_id,
                    "responsible": key.responsible_id,
                    "currency": key.currency,
                },
                {"count": sign, "amount": key.amount * sign},
            )


def track_ltv(company_id: int, currency: str, amount: Decimal) -> None:
    """Add (or, negative, remove) a won deal's amount to its company's LTV in its currency;
    `Company.ltv` mirrors the main currency."""
    if not amount:
        return
    upsert_add_many(CompanyLtv, {"company": company_id, "currency": currency}, {"amount": amount})
    if currency == MAIN_CURRENCY:
        Company.objects.filter(pk=company_id).update(ltv=F("ltv") + amount)


def local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date()


def track_open_deal(
    *, responsible_id: int, stage_id: int, entered_at: dt.datetime, open_tasks: int, sign: int
) -> None:
    """Add (sign=+1) or remove (sign=-1) one open deal from the counters."""
    upsert_add(
        DealStageDayCounter,
        {"responsible": responsible_id, "stage": stage_id, "day": local_day(entered_at)},
        sign,
    )
    upsert_add(DealUserCounter, {"responsible": responsible_id}, sign, column="open_deals")
    if open_tasks == 0:
        upsert_add(DealUserCounter, {"responsible": responsible_id}, sign, column="without_task")


def track_deal_state(deal: Deal, sign: int) -> None:
    if deal.status == StageSemantic.OPEN:
        track_open_deal(
            responsible_id=deal.responsible_id,
            stage_id=deal.stage_id,
            entered_at=deal.stage_entered_at,
            open_tasks=deal.open_tasks,
            sign=sign,
        )


def track_task_count_change(deal: Deal, before: int, after: int) -> None:
    """A deal's open-task count changed: it may have gained or lost its "without task" mark."""
    if deal.status != StageSemantic.OPEN or (before == 0) == (after == 0):
        return
    upsert_add(
        DealUserCounter,
        {"responsible": deal.responsible_id},
        1 if after == 0 else -1,
        column="without_task",
    )


@transaction.atomic
def deal_counters_rebuild() -> None:
    """Recompute the tables from the deals (SQL aggregates; minutes on millions of rows)."""
    DealStageDayCounter.objects.all().delete()
    DealUserCounter.objects.all().delete()
    DealBoardCounter.objects.all().delete()
    CompanyLtv.objects.all().delete()
    rows = (
        Deal.objects.filter(status=StageSemantic.OPEN)
        .values_list("responsible_id", "stage_id", "stage_entered_at")
        .order_by()
        .iterator(chunk_size=20000)
    )
    buckets: dict[tuple[int, int, dt.date], int] = {}
    for responsible_id, stage_id, entered in rows:
        key = (responsible_id, stage_id, local_day(entered))
        buckets[key] = buckets.get(key, 0) + 1
    DealStageDayCounter.objects.bulk_create(
        [
            DealStageDayCounter(responsible_id=r, stage_id=s, day=d, count=n)
            for (r, s, d), n in buckets.items()
        ],
        batch_size=5000,
    )
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(DealUserCounter._meta.db_table)} (responsible_id, open_deals, without_task) "
            f"SELECT responsible_id, COUNT(*), SUM(CASE WHEN open_tasks = 0 THEN 1 ELSE 0 END) "
            f"FROM {qn(Deal._meta.db_table)} WHERE status = 'open' GROUP BY responsible_id"
        )
        cursor.execute(
            f"INSERT INTO {qn(DealBoardCounter._meta.db_table)} "
            f"(stage_id, responsible_id, currency, count, amount) "
            f"SELECT stage_id, responsible_id, currency, COUNT(*), COALESCE(SUM(amount), 0) "
            f"FROM {qn(Deal._meta.db_table)} GROUP BY stage_id, responsible_id, currency"
        )
        ltv, company = qn(CompanyLtv._meta.db_table), qn(Company._meta.db_table)
        cursor.execute(
            f"INSERT INTO {ltv} (company_id, currency, amount) "
            f"SELECT company_id, currency, SUM(amount) FROM {qn(Deal._meta.db_table)} "
            f"WHERE status = 'won' GROUP BY company_id, currency"
        )
        # Company.ltv = the main-currency cell; only the companies where the two disagree are
        # written (after `voronka seed`, none).
        main = (
            f"COALESCE((SELECT l.amount FROM {ltv} l WHERE l.company_id = {company}.id "
            f"AND l.currency = %s), 0)"
        )
        cursor.execute(
            f"UPDATE {company} SET ltv = {main} WHERE ltv <> {main}", [MAIN_CURRENCY] * 2
        )
