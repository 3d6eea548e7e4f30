"""The demo (`voronka demo`) looks like a working team on a normal day (issue 7, item 17),
whatever the moment it is loaded: most open deals on time and with a next task, a visible
minority red, deadlines in working hours (Moscow time), tasks today, amounts on «Подогрев»
deals, avatars that do not read as "ИП".

The demo is generated under a frozen clock at moments chosen to be awkward: a weekday
afternoon, a Saturday night, a weekday evening after hours. Negative control: the figures come
from `demo_figures`, and after planting what the old demo did (`plant_breaches`) the same
function reports the breaches (a check that cannot fail proves nothing)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from voronka.activities.models import Task, TaskStatus
from voronka.activities.task_selectors import deal_marks
from voronka.deals.models import Deal, StageSemantic
from voronka.identity.models import User
from voronka.kernel import clock

pytestmark = pytest.mark.django_db

MSK = timezone.get_default_timezone()  # settings.TIME_ZONE = Europe/Moscow
COMPANIES = 90


@dataclass
class Figures:
    open_deals: int
    red: int  # over the stage limit, an overdue next task or no next task (the board's marks)
    over_limit: int
    overdue: int
    with_task: int
    tasks: int
    off_hours: list[str]  # deadlines outside 9:00–19:00 Moscow time
    weekend: list[str]  # deadlines on Saturday/Sunday other than today
    today_open: int
    today_done: int
    warming_zero: list[str]  # open «Подогрев» deals without an amount
    completed_in_future: int

    @property
    def red_share(self) -> float:
        return self.red / self.open_deals

    @property
    def overdue_share(self) -> float:
        return self.overdue / self.open_deals

    @property
    def task_share(self) -> float:
        return self.with_task / self.open_deals


def demo_figures(now: dt.datetime, *, user: User | None = None) -> Figures:
    """The demo's figures at `now` (for one responsible, or everybody)."""
    deals = Deal.objects.filter(status=StageSemantic.OPEN).select_related("pipeline", "stage")
    tasks = Task.objects.all()
    if user is not None:
        deals, tasks = deals.filter(responsible=user), tasks.filter(responsible=user)
    deals = list(deals)
    deal_marks(deals, now)
    today = timezone.localtime(now, MSK).date()
    off_hours, weekend = [], []
    today_open = today_done = completed_in_future = 0
    for task in tasks:
        local = timezone.localtime(task.deadline, MSK)
        label = f"task {task.pk} {local:%a %Y-%m-%d %H:%M}"
        if not (dt.time(9, 0) <= local.time() <= dt.time(19, 0)):
            off_hours.append(label)
        if local.weekday() >= 5 and local.date() != today:
            weekend.append(label)
        if local.date() == today:
            if task.status == TaskStatus.DONE:
                today_done += 1
            else:
                today_open += 1
        if task.completed_at is not None and task.completed_at > now:
            completed_in_future += 1
    return Figures(
        open_deals=len(deals),
        red=sum(d.mark_over_sla or d.mark_overdue or d.mark_no_task for d in deals),
        over_limit=sum(d.mark_over_sla for d in deals),
        overdue=sum(d.mark_overdue for d in deals),
        with_task=sum(d.open_tasks > 0 for d in deals),
        tasks=len(tasks),
        off_hours=off_hours,
        weekend=weekend,
        today_open=today_open,
        today_done=today_done,
        warming_zero=[
            d.title for d in deals if d.pipeline.name == "Подогрев" and not d.amount > Decimal(0)
        ],
        completed_in_future=completed_in_future,
    )


def load_demo(now: dt.datetime) -> None:
    with clock.frozen(now):
        call_command("voronka_demo", companies=COMPANIES, stdout=io.StringIO())


MOMENTS = {
    # A Tuesday afternoon: tasks done this morning and due later today.
    "weekday-afternoon": dt.datetime(2026, 12, 8, 15, 20, tzinfo=MSK),
    # A Saturday night: nothing is "later today" in working hours but today still has tasks.
    "saturday-night": dt.datetime(2026, 12, 12, 3, 10, tzinfo=MSK),
    # A Wednesday evening after hours.
    "weekday-evening": dt.datetime(2026, 12, 9, 21, 40, tzinfo=MSK),
}


@pytest.mark.parametrize("moment", list(MOMENTS), ids=list(MOMENTS))
def test_the_demo_looks_like_a_working_team_on_a_normal_day(moment: str) -> None:
    now = MOMENTS[moment]
    load_demo(now)
    everyone = demo_figures(now)
    manager1 = demo_figures(now, user=User.objects.get(username="manager1"))
    for figures in (everyone, manager1):
        assert figures.open_deals >= 15
        # Most deals on time; a visible minority red.
        assert figures.overdue_share <= 0.25, figures
        assert 0.05 <= figures.red_share <= 0.25, figures
        assert figures.over_limit / figures.open_deals <= 0.2, figures
        # Most open deals have a next task (the methodology's rule).
        assert figures.task_share >= 0.8, figures
        # Deadlines in working hours, Moscow time; no weekend deadlines except today's.
        assert figures.off_hours == [], figures.off_hours[:5]
        assert figures.weekend == [], figures.weekend[:5]
        assert figures.completed_in_future == 0
        # «Подогрев» deals keep the amount of the deal that was lost.
        assert figures.warming_zero == []
    # Today has tasks whatever the hour: done ones, and — before the day ends — due later.
    assert manager1.today_open + manager1.today_done > 0, manager1
    assert everyone.today_done > 0, everyone
    if timezone.localtime(now, MSK).time() < dt.time(18, 0):
        assert everyone.today_open > 0, everyone
    # «Подогрев» has deals to work on, manager1's among them.
    warming = Deal.objects.filter(pipeline__name="Подогрев", status=StageSemantic.OPEN)
    assert warming.count() >= 5 and warming.filter(responsible__username="manager1").exists()
    if moment == "weekday-afternoon":  # the negative control, once
        plant_breaches(now)
        after = demo_figures(now)
        assert after.off_hours and after.weekend and after.warming_zero
        assert after.red_share > 0.25 >= everyone.red_share


def test_avatars_do_not_read_as_sole_proprietor() -> None:
    """Иван Петров's avatar showed "ИП" beside companies named "ИП …"."""
    assert User(first_name="Иван", last_name="Петров").initials == "Ив"
    assert User(first_name="", last_name="", username="manager1").initials == "Ma"
    assert User(first_name="Мария", last_name="Смирнова").initials == "Ма"


def plant_breaches(now: dt.datetime) -> None:
    """Negative control: what the old demo did — deadlines at 00:55 and on a Sunday, a warming
    deal at 0 ₽, half the deals months in their stage."""
    first, second = Task.objects.filter(status=TaskStatus.OPEN, deadline__gt=now)[:2]
    Task.objects.filter(pk=first.pk).update(deadline=dt.datetime(2026, 12, 10, 0, 55, tzinfo=MSK))
    Task.objects.filter(pk=second.pk).update(deadline=dt.datetime(2026, 12, 13, 11, 0, tzinfo=MSK))
    warming = Deal.objects.filter(pipeline__name="Подогрев", status=StageSemantic.OPEN).first()
    assert warming is not None
    Deal.objects.filter(pk=warming.pk).update(amount=Decimal(0))
    open_ids = list(Deal.objects.filter(status=StageSemantic.OPEN).values_list("pk", flat=True))
    Deal.objects.filter(pk__in=open_ids[: len(open_ids) // 2]).update(
        stage_entered_at=now - dt.timedelta(days=60)
    )


def test_the_demo_has_duplicates_to_review() -> None:
    """A few clients were entered twice (another phone format, the name in Latin letters): the
    scan the demo ends with groups each with its original."""
    from voronka.contacts.models import DuplicateGroup

    load_demo(MOMENTS["weekday-afternoon"])
    groups = DuplicateGroup.objects.filter(entity="contact", status="open")
    assert groups.count() >= 5
    assert all("phone" in g.matched and len(g.ids) >= 2 for g in groups)
