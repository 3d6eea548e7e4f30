"""The monitors' finders (DESIGN §6): what each sweep looks for, and the occurrence key that makes
its rule act once per occurrence — a task once per deadline, a deal once per stage entry or per
day, a company once per quiet spell, a contact once per birthday. The sweep (sweeps.py) turns
what they find into runs of the rule's action.

Each finder returns one indexed query (a QuerySet, not evaluated) of the objects it finds, with
the occurrence key computed in SQL as the annotation `registry.OCCURRENCE`: the sweep inserts the
runs straight from it in one statement, nothing passes through Python. The keys are the text the
finders produced in Python before (`d<deadline.isoformat()>` …): the runs already in the ledger
keep matching (`IsoFormat` writes a datetime as Python's `isoformat()` of the value Django reads).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import NotSupportedError
from django.db.models import (
    CharField,
    Exists,
    Expression,
    F,
    Func,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pydantic import Field, StrictInt

from voronka.activities.models import Task, TaskStatus
from voronka.automation.registry import OCCURRENCE, Params, monitor
from voronka.contacts.models import Company, Contact
from voronka.deals.models import Deal, StageSemantic


class IsoFormat(Func):
    """`value.isoformat()` of a datetime column, in SQL, as Python gives it for the value Django
    reads (aware, UTC): `2026-03-01T09:30:00+00:00`, `…T09:30:00.250000+00:00` — microseconds
    only when there are any. PostgreSQL: to_char in UTC. SQLite: Django stores `str()` of the
    naive UTC value (`2026-03-01 09:30:00[.250000]`), so the text with a `T` and the offset."""

    arity = 1
    output_field = CharField()

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra: Any,
    ) -> Any:
        raise NotSupportedError(f"IsoFormat is not written for {connection.vendor}")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template=(
                "(replace(to_char((%(expressions)s) AT TIME ZONE 'UTC',"
                " 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || '+00:00')"
            ),
            **extra,
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template="(replace(%(expressions)s, ' ', 'T') || '+00:00')",
            **extra,
        )


def key(*parts: str | Expression) -> Expression:
    """The occurrence key: text parts (literals) and SQL expressions, concatenated."""
    exprs = [Value(p) if isinstance(p, str) else p for p in parts]
    return exprs[0] if len(exprs) == 1 else Concat(*exprs, output_field=CharField())


class OverdueTask(Params):
    """Open tasks past their deadline by at least `after_minutes` (0: at once; the head's
    escalation: the grace period), overdue for at most `within_days` more (an installation
    does not notify about years-old tasks)."""

    after_minutes: StrictInt = Field(default=0, ge=0, le=60 * 24 * 30)
    within_days: StrictInt = Field(default=3, ge=1, le=365)


@monitor("overdue_task", OverdueTask, label=_("Просроченная задача"), object_type="task")
def overdue_tasks(p: OverdueTask, now: dt.datetime) -> QuerySet[Any]:
    latest = now - dt.timedelta(minutes=p.after_minutes)
    earliest = latest - dt.timedelta(days=p.within_days)
    # Overdue: the deadline has passed; "by at least N minutes" includes exactly N.
    past = {"deadline__lte": latest} if p.after_minutes else {"deadline__lt": now}
    return (
        Task.objects.filter(status=TaskStatus.OPEN, deadline__gte=earliest, **past)
        .annotate(**{OCCURRENCE: key("d", IsoFormat("deadline"))})  # once per deadline
        .order_by("deadline", "id")
    )


class NoNextTask(Params):
    """Open deals with no open task, idle for at least `after_hours` in their stage."""

    after_hours: StrictInt = Field(default=0, ge=0, le=24 * 365)


@monitor(
    "deal_without_task", NoNextTask, label=_("Сделка без следующей задачи"), object_type="deal"
)
def deals_without_task(p: NoNextTask, now: dt.datetime) -> QuerySet[Any]:
    day = timezone.localtime(now).date().isoformat()
    return (
        Deal.objects.needing_next_task()
        .filter(stage_entered_at__lte=now - dt.timedelta(hours=p.after_hours))
        # once a day while the deal stays without a task
        .annotate(**{OCCURRENCE: key(f"day{day}")})
        .order_by("id")
    )


class NoParams(Params):
    pass


@monitor("deal_over_sla", NoParams, label=_("Сделка дольше срока стадии"), object_type="deal")
def deals_over_sla(p: NoParams, now: dt.datetime) -> QuerySet[Any]:
    return (
        Deal.objects.over_stage_sla(now)
        .annotate(  # once per stage entry
            **{
                OCCURRENCE: key(
                    "s", Cast("stage_id", CharField()), ":", IsoFormat("stage_entered_at")
                )
            }
        )
        .order_by("id")
    )


class Quiet(Params):
    days: StrictInt = Field(default=30, ge=1, le=3650)


@monitor(
    "company_no_interaction", Quiet, label=_("Клиент без касаний N дней"), object_type="company"
)
def companies_quiet(p: Quiet, now: dt.datetime) -> QuerySet[Any]:
    """Companies whose last interaction (call, e-mail, meeting, task done) is older than `days`:
    the reanimation task of seed 002. Once per quiet spell (the key is the last interaction)."""
    return (
        Company.objects.filter(last_interaction_at__lt=now - dt.timedelta(days=p.days))
        .annotate(**{OCCURRENCE: key("q", IsoFormat("last_interaction_at"))})
        .order_by("id")
    )


@monitor(
    "company_without_deal", NoParams, label=_("Клиент без активной сделки"), object_type="company"
)
def companies_without_deal(p: NoParams, now: dt.datetime) -> QuerySet[Any]:
    """Companies that bought or talked before (they have deals) and have no open deal now.
    Once per spell: the key is the last closed deal."""
    open_deal = Deal.objects.filter(company=OuterRef("pk"), status=StageSemantic.OPEN)
    last_closed = (
        Deal.objects.filter(company=OuterRef("pk"))
        .exclude(status=StageSemantic.OPEN)
        .order_by("-closed_at", "-id")
        .values("id")[:1]
    )
    return (
        Company.objects.filter(~Exists(open_deal), Exists(last_closed))
        .annotate(last=Subquery(last_closed))
        .annotate(**{OCCURRENCE: key("after", Cast(F("last"), CharField()))})
        .order_by("id")
    )


@monitor("contact_birthday", NoParams, label=_("День рождения контакта"), object_type="contact")
def contacts_birthday(p: NoParams, now: dt.datetime) -> QuerySet[Any]:
    today = timezone.localtime(now).date()
    return (
        Contact.objects.filter(birthday__month=today.month, birthday__day=today.day)
        .annotate(**{OCCURRENCE: key(f"y{today.year}")})
        .order_by("id")
    )
