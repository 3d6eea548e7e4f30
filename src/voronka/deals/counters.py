"""Deal-side maintained counters: board cells, stage day buckets, per-user open / "needs a next
task" numbers, company LTV. Kept by one function, `deal_state_changed(before, after)`, which the
deal and task services call inside their transaction; `deal_counters_rebuild` recomputes them
from the rows (seed, repair, and the oracle of the tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Count, F, Max, Min, OuterRef, Subquery
from django.utils import timezone

from voronka.contacts.models import Company
from voronka.deals.models import (
    NEEDS_NEXT_TASK,
    CompanyLtv,
    Deal,
    DealBoardCounter,
    DealStageDayCounter,
    DealUserCounter,
    StageSemantic,
    needs_next_task,
)
from voronka.kernel.counters import upsert_add_many
from voronka.kernel.money import MAIN_CURRENCY


def local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date()


@dataclass(frozen=True, slots=True)
class DealState:
    """What the maintained counters key on, read from a deal before and after a write."""

    status: str
    stage_id: int
    responsible_id: int
    currency: str
    amount: Decimal
    company_id: int
    open_tasks: int
    stage_entered_at: dt.datetime

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The deal's fields a state is read from (`.only(*DealState.columns())`)."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def of(cls, deal: Deal) -> DealState:
        return cls(
            status=str(deal.status),
            stage_id=deal.stage_id,
            responsible_id=deal.responsible_id,
            currency=deal.currency,
            amount=Decimal(deal.amount),
            company_id=deal.company_id,
            open_tasks=deal.open_tasks,
            stage_entered_at=deal.stage_entered_at,
        )


# A counter row a deal state counts in: (model, its key columns, {column: amount}).
Cell = tuple[type[models.Model], dict[str, Any], dict[str, Any]]


def _board_cells(s: DealState) -> Iterator[Cell]:
    """Every deal counts in its board cell (stage, responsible, currency): amounts of different
    currencies never meet (decision 0010)."""
    keys = {"stage": s.stage_id, "responsible": s.responsible_id, "currency": s.currency}
    yield DealBoardCounter, keys, {"count": 1, "amount": s.amount}


def _open_deal_cells(s: DealState) -> Iterator[Cell]:
    """An open deal counts in its day bucket (the SLA counter) and its responsible's open and
    "needs a next task" numbers."""
    if s.status != StageSemantic.OPEN:
        return
    day = local_day(s.stage_entered_at)
    keys = {"responsible": s.responsible_id, "stage": s.stage_id, "day": day}
    yield DealStageDayCounter, keys, {"count": 1}
    without = 1 if needs_next_task(s) else 0
    yield (
        DealUserCounter,
        {"responsible": s.responsible_id},
        {"open_deals": 1, "without_task": without},
    )


def _ltv_cells(s: DealState) -> Iterator[Cell]:
    """A won deal counts in its company's LTV in its currency; `Company.ltv` mirrors the main
    currency."""
    if s.status != StageSemantic.WON:
        return
    yield CompanyLtv, {"company": s.company_id, "currency": s.currency}, {"amount": s.amount}
    if s.currency == MAIN_CURRENCY:
        yield Company, {"pk": s.company_id}, {"ltv": s.amount}


def _company_cells(s: DealState) -> Iterator[Cell]:
    """Every deal counts in its company's number of deals, a won one in its won deals (seed
    002: the client's history at a glance; the first / last purchase are recomputed apart)."""
    won = 1 if s.status == StageSemantic.WON else 0
    yield Company, {"pk": s.company_id}, {"deals_count": 1, "won_count": won}


# Every counter kept from the deal rows, by name (a negative control drops one).
MAINTAINED: dict[str, Callable[[DealState], Iterator[Cell]]] = {
    "board": _board_cells,
    "open_deals": _open_deal_cells,
    "ltv": _ltv_cells,
    "company": _company_cells,
}


def deal_state_deltas(before: DealState | None, after: DealState | None) -> list[Cell]:
    """What a deal's change from `before` to `after` (None: created / deleted) adds to each
    maintained counter: the cells whose numbers change, with the non-zero changes, in a fixed
    order (two transactions that share cells lock them in the same order)."""
    return deal_states_deltas([(before, after)])


def deal_states_deltas(changes: Iterable[tuple[DealState | None, DealState | None]]) -> list[Cell]:
    """deal_state_deltas of several deals' changes at once, summed per cell (a batch of writes —
    the automation's tasks — touches each cell once)."""
    totals: dict[tuple[str, tuple[tuple[str, Any], ...]], Cell] = {}
    for before, after in changes:
        for state, sign in ((before, -1), (after, +1)):
            if state is None:
                continue
            for cells in MAINTAINED.values():
                for model, keys, amounts in cells(state):
                    key = (model._meta.label, tuple(keys.items()))
                    total = totals.setdefault(key, (model, keys, {}))[2]
                    for column, amount in amounts.items():
                        total[column] = total.get(column, 0) + sign * amount
    out: list[Cell] = []
    for key in sorted(totals):
        model, keys, total = totals[key]
        deltas = {column: delta for column, delta in total.items() if delta}
        if deltas:
            out.append((model, keys, deltas))
    return out


def deal_state_changed(before: DealState | None, after: DealState | None) -> None:
    """THE bookkeeping of a deal write: every service that changes what a deal counts as
    (create, update, move, delete, a task opened or closed on it) calls this once, inside its
    transaction, with the deal's state before and after (None: created / deleted)."""
    deal_states_changed([(before, after)])


def deal_states_changed(changes: Iterable[tuple[DealState | None, DealState | None]]) -> None:
    """deal_state_changed of a batch of deals: one statement per counter cell."""
    changes = list(changes)
    for model, keys, deltas in deal_states_deltas(changes):
        if model is Company:  # a column of an existing row, never inserted
            Company.objects.filter(**keys).update(**{c: F(c) + d for c, d in deltas.items()})
        else:
            upsert_add_many(model, keys, deltas)
    companies_purchases_refresh(purchase_companies(changes))


def purchase_companies(
    changes: Iterable[tuple[DealState | None, DealState | None]],
) -> set[int]:
    """The companies whose first / last purchase a batch of changes may move: a won deal came,
    went, or moved between companies."""
    ids: set[int] = set()
    for before, after in changes:
        if before == after:
            continue
        for state in (before, after):
            if state is not None and state.status == StageSemantic.WON:
                ids.add(state.company_id)
    return ids


def _won_closed(aggregate: type[Min] | type[Max]) -> Subquery:
    won = Deal.objects.filter(company=OuterRef("pk"), status=StageSemantic.WON).order_by()
    return Subquery(won.values("company").annotate(at=aggregate("closed_at")).values("at")[:1])


def companies_purchases_refresh(company_ids: Iterable[int]) -> None:
    """First and last purchase (when the first / last won deal closed) of these companies, read
    from their won deals (one UPDATE; the company's deal index). Not a sum, so recomputed: the
    counter row was updated just before, so a concurrent writer waits for this transaction and
    then reads its deals."""
    ids = sorted(set(company_ids))
    if ids:
        Company.objects.filter(pk__in=ids).update(
            first_purchase_at=_won_closed(Min), last_purchase_at=_won_closed(Max)
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
    per_user = (
        Deal.objects.filter(status=StageSemantic.OPEN)
        .order_by()
        .values("responsible_id")
        .annotate(open_deals=Count("id"), without_task=Count("id", filter=NEEDS_NEXT_TASK))
    )
    per_user_sql, per_user_params = per_user.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(DealUserCounter._meta.db_table)} "
            f"(responsible_id, open_deals, without_task) {per_user_sql}",
            per_user_params,
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
    _company_counts_rebuild()


def _company_counts_rebuild() -> None:
    """deals_count, won_count, first / last purchase of every company from its deals; only the
    companies where a value disagrees are written (after `voronka seed`, the ones with deals)."""
    qn = connection.ops.quote_name
    company, deal = qn(Company._meta.db_table), qn(Deal._meta.db_table)
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"  # NULL-safe
    counts = (
        f"SELECT company_id, COUNT(*) AS n, "
        f"SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) AS won, "
        f"MIN(CASE WHEN status = 'won' THEN closed_at END) AS first_at, "
        f"MAX(CASE WHEN status = 'won' THEN closed_at END) AS last_at "
        f"FROM {deal} GROUP BY company_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {company} SET deals_count = a.n, won_count = a.won, "
            f"first_purchase_at = a.first_at, last_purchase_at = a.last_at "
            f"FROM ({counts}) AS a WHERE a.company_id = {company}.id AND ("
            f"{company}.deals_count <> a.n OR {company}.won_count <> a.won "
            f"OR {company}.first_purchase_at {differs} a.first_at "
            f"OR {company}.last_purchase_at {differs} a.last_at)"
        )
        cursor.execute(
            f"UPDATE {company} SET deals_count = 0, won_count = 0, first_purchase_at = NULL, "
            f"last_purchase_at = NULL WHERE (deals_count <> 0 OR won_count <> 0 "
            f"OR first_purchase_at IS NOT NULL OR last_purchase_at IS NOT NULL) "
            f"AND NOT EXISTS (SELECT 1 FROM {deal} d WHERE d.company_id = {company}.id)"
        )


def company_counters_recompute(company_ids: Iterable[int]) -> None:
    """Recount the deal figures of a few companies from their deals — the LTV cells
    (CompanyLtv), `ltv`, `deals_count`, `won_count`, first and last purchase — after their
    deals moved between companies at once (a merge and its undo: contacts.relinks)."""
    ids = sorted(set(company_ids))
    if not ids:
        return
    won = models.Q(status=StageSemantic.WON)
    CompanyLtv.objects.filter(company_id__in=ids).delete()
    sums = (
        Deal.objects.filter(won, company_id__in=ids)
        .order_by()
        .values("company_id", "currency")
        .annotate(total=models.Sum("amount"))
    )
    cells = [
        CompanyLtv(company_id=s["company_id"], currency=s["currency"], amount=s["total"])
        for s in sums
    ]
    CompanyLtv.objects.bulk_create(cells)
    main = {c.company_id: c.amount for c in cells if c.currency == MAIN_CURRENCY}
    stats = {
        row["company_id"]: row
        for row in Deal.objects.filter(company_id__in=ids)
        .order_by()
        .values("company_id")
        .annotate(
            n=Count("id"),
            won=Count("id", filter=won),
            first=models.Min("closed_at", filter=won),
            last=models.Max("closed_at", filter=won),
        )
    }
    for company_id in ids:
        row = stats.get(company_id, {})
        Company.objects.filter(pk=company_id).update(
            ltv=main.get(company_id, Decimal("0")),
            deals_count=row.get("n", 0),
            won_count=row.get("won", 0),
            first_purchase_at=row.get("first"),
            last_purchase_at=row.get("last"),
        )
