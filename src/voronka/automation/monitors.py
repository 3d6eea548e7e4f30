"""The monitors' finders (DESIGN §6): what each sweep looks for, and the occurrence key that makes
its rule act once per occurrence — a task once per deadline, a deal once per stage entry or per
day, a company once per quiet spell, a contact once per birthday. The sweep (sweeps.py) turns
what they find into runs of the rule's action.

Each finder is one indexed query streamed in id order; none loads the table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pydantic import Field, StrictInt

from voronka.activities.models import Task, TaskStatus
from voronka.automation.registry import Params, monitor
from voronka.contacts.models import Company, Contact
from voronka.deals.models import Deal, StageSemantic

CHUNK = 2000


class OverdueTask(Params):
    """Open tasks past their deadline by at least `after_minutes` (0: at once; the head's
    escalation: the grace period), overdue for at most `within_days` more (an installation
    does not notify about years-old tasks)."""

    after_minutes: StrictInt = Field(default=0, ge=0, le=60 * 24 * 30)
    within_days: StrictInt = Field(default=3, ge=1, le=365)


@monitor("overdue_task", OverdueTask, label=_("Просроченная задача"), object_type="task")
def overdue_tasks(p: OverdueTask, now: dt.datetime) -> Iterator[tuple[int, str]]:
    latest = now - dt.timedelta(minutes=p.after_minutes)
    earliest = latest - dt.timedelta(days=p.within_days)
    # Overdue: the deadline has passed; "by at least N minutes" includes exactly N.
    past = {"deadline__lte": latest} if p.after_minutes else {"deadline__lt": now}
    rows = (
        Task.objects.filter(status=TaskStatus.OPEN, deadline__gte=earliest, **past)
        .order_by("deadline", "id")
        .values_list("id", "deadline")
    )
    for pk, deadline in rows.iterator(chunk_size=CHUNK):
        yield pk, f"d{deadline.isoformat()}"


class NoNextTask(Params):
    """Open deals with no open task, idle for at least `after_hours` in their stage."""

    after_hours: StrictInt = Field(default=0, ge=0, le=24 * 365)


@monitor(
    "deal_without_task", NoNextTask, label=_("Сделка без следующей задачи"), object_type="deal"
)
def deals_without_task(p: NoNextTask, now: dt.datetime) -> Iterator[tuple[int, str]]:
    day = timezone.localtime(now).date().isoformat()
    rows = (
        Deal.objects.needing_next_task()
        .filter(stage_entered_at__lte=now - dt.timedelta(hours=p.after_hours))
        .order_by("id")
        .values_list("id", flat=True)
    )
    for pk in rows.iterator(chunk_size=CHUNK):
        yield pk, f"day{day}"  # once a day while the deal stays without a task


class NoParams(Params):
    pass


@monitor("deal_over_sla", NoParams, label=_("Сделка дольше срока стадии"), object_type="deal")
def deals_over_sla(p: NoParams, now: dt.datetime) -> Iterator[tuple[int, str]]:
    rows = (
        Deal.objects.over_stage_sla(now)
        .order_by("id")
        .values_list("id", "stage_id", "stage_entered_at")
    )
    for pk, stage_id, entered in rows.iterator(chunk_size=CHUNK):
        yield pk, f"s{stage_id}:{entered.isoformat()}"  # once per stage entry


class Quiet(Params):
    days: StrictInt = Field(default=30, ge=1, le=3650)


@monitor(
    "company_no_interaction", Quiet, label=_("Клиент без касаний N дней"), object_type="company"
)
def companies_quiet(p: Quiet, now: dt.datetime) -> Iterator[tuple[int, str]]:
    """Companies whose last interaction (call, e-mail, meeting, task done) is older than `days`:
    the reanimation task of seed 002. Once per quiet spell (the key is the last interaction)."""
    rows = (
        Company.objects.filter(last_interaction_at__lt=now - dt.timedelta(days=p.days))
        .order_by("id")
        .values_list("id", "last_interaction_at")
    )
    for pk, last in rows.iterator(chunk_size=CHUNK):
        yield pk, f"q{last.isoformat() if last else ''}"


@monitor(
    "company_without_deal", NoParams, label=_("Клиент без активной сделки"), object_type="company"
)
def companies_without_deal(p: NoParams, now: dt.datetime) -> Iterator[tuple[int, str]]:
    """Companies that bought or talked before (they have deals) and have no open deal now.
    Once per spell: the key is the last closed deal."""
    open_deal = Deal.objects.filter(company=OuterRef("pk"), status=StageSemantic.OPEN)
    last_closed = (
        Deal.objects.filter(company=OuterRef("pk"))
        .exclude(status=StageSemantic.OPEN)
        .order_by("-closed_at", "-id")
        .values("id")[:1]
    )
    rows = (
        Company.objects.filter(~Exists(open_deal), Exists(last_closed))
        .annotate(last=last_closed)
        .order_by("id")
        .values_list("id", "last")
    )
    for pk, last in rows.iterator(chunk_size=CHUNK):
        yield pk, f"after{last}"


@monitor("contact_birthday", NoParams, label=_("День рождения контакта"), object_type="contact")
def contacts_birthday(p: NoParams, now: dt.datetime) -> Iterator[tuple[int, str]]:
    today = timezone.localtime(now).date()
    rows = (
        Contact.objects.filter(birthday__month=today.month, birthday__day=today.day)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for pk in rows.iterator(chunk_size=CHUNK):
        yield pk, f"y{today.year}"
