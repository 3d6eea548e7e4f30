"""`voronka seed` smoke test: 300 deals on the test database (SQLite or PostgreSQL), and the
data is consistent — stage/status/closed_at, the stage history, tasks, LTV, and the maintained
counters equal their recount. Each checker has a negative control: a corrupted row is caught."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count, Q

from voronka.activities.counters import counters_snapshot, task_counters_rebuild
from voronka.activities.models import Task, TaskDayCounter, TaskStatus
from voronka.contacts.models import Company, Contact, ContactEmail, ContactPhone
from voronka.deals.models import CompanyLtv, Deal, Stage, StageChange, StageSemantic
from voronka.identity.models import Department, User
from voronka.kernel import clock
from voronka.kernel.models import AuditEntry, DomainEvent

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 18, 9, 30, tzinfo=dt.UTC)
E164 = re.compile(r"^\+7\d{10}$")


@pytest.fixture
def seeded() -> dict[str, Any]:
    with clock.frozen(NOW):
        call_command("voronka_seed", deals=300, seed=7, stdout=_Sink())
        snapshot = counters_snapshot()
    return {"snapshot": snapshot}


class _Sink:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def deal_problems() -> list[str]:
    """Every inconsistency between a deal, its stage and its stage history."""
    problems = []
    stages = {s.pk: s for s in Stage.objects.all()}
    history: dict[int, list[StageChange]] = defaultdict(list)
    for change in StageChange.objects.order_by("deal_id", "at", "id"):
        history[change.deal_id].append(change)
    for deal in Deal.objects.all():
        stage = stages[deal.stage_id]
        if deal.pipeline_id != stage.pipeline_id or deal.status != stage.semantic:
            problems.append(f"{deal.pk}: stage/pipeline/status")
        if (deal.closed_at is None) != (deal.status == StageSemantic.OPEN):
            problems.append(f"{deal.pk}: closed_at vs status")
        if deal.closed_at is not None and deal.closed_at != deal.stage_entered_at:
            problems.append(f"{deal.pk}: closed_at != stage_entered_at")
        if deal.status == StageSemantic.LOST and deal.loss_reason_id is None:
            problems.append(f"{deal.pk}: lost without a reason")
        if not deal.opened_at <= deal.stage_entered_at <= NOW:
            problems.append(f"{deal.pk}: dates")
        changes = history[deal.pk]
        if not changes or changes[0].from_stage_id is not None or changes[0].at != deal.opened_at:
            problems.append(f"{deal.pk}: first stage change")
            continue
        if changes[-1].to_stage_id != deal.stage_id or changes[-1].at != deal.stage_entered_at:
            problems.append(f"{deal.pk}: last stage change")
        for before, after in zip(changes, changes[1:], strict=False):
            if after.from_stage_id != before.to_stage_id or after.at < before.at:
                problems.append(f"{deal.pk}: history chain")
            if stages[after.to_stage_id].pipeline_id != deal.pipeline_id:
                problems.append(f"{deal.pk}: history leaves the pipeline")
    return problems


def test_seed_300_deals_is_consistent(seeded: dict[str, Any]) -> None:
    """One seed, every check: deals, history, clients, team, tasks, LTV, counters, determinism."""
    # -- adds consistent deals
    assert Deal.objects.count() == 300
    assert 80 <= Company.objects.count() <= 130
    assert 120 <= Contact.objects.count() <= 200
    assert deal_problems() == []
    statuses = dict(Deal.objects.values_list("status").annotate(n=Count("id")))
    assert set(statuses) == {"open", "won", "lost"}
    # One pipeline holds ~30 % of all deals as open deals.
    biggest = (
        Deal.objects.filter(status="open")
        .values("pipeline")
        .annotate(n=Count("id"))
        .order_by("-n")[0]
    )
    assert 60 <= biggest["n"] <= 130
    # No audit or outbox rows for synthetic deals (only the pipelines' configuration has them).
    assert not AuditEntry.objects.filter(object_type="deal").exists()
    assert not DomainEvent.objects.filter(object_type="deal").exists()
    # -- contacts and team
    phones = list(ContactPhone.objects.values_list("number", flat=True))
    assert phones and all(E164.match(p) for p in phones)
    assert all("@" in e for e in ContactEmail.objects.values_list("address", flat=True))
    assert not Contact.objects.filter(phones__isnull=True).exists()
    # The control-screen benchmark needs a department of 20 managers with a head.
    dept = Department.objects.annotate(
        n=Count("members", filter=Q(members__roles__code="manager"))
    ).order_by("-n")[0]
    assert dept.n == 20 and dept.head is not None
    assert User.objects.filter(is_active=True, deals__isnull=False).distinct().count() >= 20
    # -- tasks
    tasks = Task.objects.all()
    assert 700 <= tasks.count() <= 1100  # ~3 per deal
    done = tasks.filter(status=TaskStatus.DONE)
    assert not done.filter(Q(completed_at__isnull=True) | Q(result="")).exists()
    assert done.count() > tasks.filter(status=TaskStatus.OPEN).count()
    # Open tasks hang only on open deals (or on a client), mostly 0–2 per deal.
    assert not tasks.filter(status=TaskStatus.OPEN, deal__status__in=["won", "lost"]).exists()
    per_deal = (
        Deal.objects.filter(status="open")
        .annotate(n=Count("tasks", filter=Q(tasks__status=TaskStatus.OPEN)))
        .values_list("n", flat=True)
    )
    assert max(per_deal) <= 2 and 0 in per_deal
    open_tasks = tasks.filter(status=TaskStatus.OPEN)
    assert open_tasks.filter(deadline__lt=NOW - dt.timedelta(days=1)).exists()  # overdue
    assert open_tasks.filter(deadline__gt=NOW + dt.timedelta(days=1)).exists()  # ahead
    assert open_tasks.filter(deadline__date=NOW.date()).exists()  # due today
    assert (
        Task.objects.filter(contact__isnull=False).exists()
        or Task.objects.filter(company__isnull=False).exists()
    )
    # -- a few deals in other currencies; LTV per currency = sum of won, Company.ltv = roubles
    currencies = dict(Deal.objects.values_list("currency").annotate(n=Count("id")))
    assert currencies.get("USD", 0) >= 3 and currencies.get("EUR", 0) >= 1, currencies
    assert currencies["RUB"] > 0.9 * sum(currencies.values()), currencies
    won = defaultdict(Decimal)
    for company_id, currency, amount in Deal.objects.filter(status="won").values_list(
        "company_id", "currency", "amount"
    ):
        won[(company_id, currency)] += amount
    assert {(c.company_id, c.currency): c.amount for c in CompanyLtv.objects.all()} == won
    for company_id, ltv in Company.objects.values_list("id", "ltv"):
        assert ltv == won.get((company_id, "RUB"), Decimal("0")), company_id
    # -- counters equal recount
    before = seeded["snapshot"]
    assert before["task_days"] and before["deal_days"] and before["deal_users"]
    with clock.frozen(NOW):
        task_counters_rebuild()
        assert counters_snapshot() == before
    # And the deal columns equal a plain recount from the task rows.
    counts: dict[int, int] = defaultdict(int)
    for deal_id in Task.objects.filter(status=TaskStatus.OPEN, deal__isnull=False).values_list(
        "deal_id", flat=True
    ):
        counts[deal_id] += 1
    for deal_id, n_open in Deal.objects.values_list("id", "open_tasks"):
        assert n_open == counts.get(deal_id, 0)
    # -- is deterministic
    from voronka.demo.seeder import Seeder

    def first_rows(seed: int) -> list[tuple[Any, ...]]:
        seeder = Seeder(seed=seed, tasks_per_deal=3, now=NOW, out=lambda _text: None)
        seeder.next_company, seeder.company_end = 10**9, 10**9 + 10  # ids as if reserved
        seeder.next_contact, seeder.contact_end = 10**9, 10**9 + 20
        seeder.next_deal, seeder.remaining = 10**9, 10
        for _ in range(5):
            seeder._company(2)
        return [row for table in seeder.t.values() for row in table.rows]

    assert first_rows(11) == first_rows(11)
    assert first_rows(11) != first_rows(12)


# --- negative controls: the checkers above catch a corrupted row --------------------------------


def test_negative_controls_checkers_catch_corruption(seeded: dict[str, Any]) -> None:
    deal = Deal.objects.filter(status="won").first()
    Deal.objects.filter(pk=deal.pk).update(closed_at=None)
    assert deal_problems() == [f"{deal.pk}: closed_at vs status"]
    # Put it back: the company's first/last purchase (in the snapshot) are read from closed_at.
    Deal.objects.filter(pk=deal.pk).update(closed_at=deal.closed_at)
    row = TaskDayCounter.objects.first()
    TaskDayCounter.objects.filter(pk=row.pk).update(count=row.count + 1)
    assert counters_snapshot() != seeded["snapshot"]
    with clock.frozen(NOW):
        task_counters_rebuild()
    assert counters_snapshot() == seeded["snapshot"]
