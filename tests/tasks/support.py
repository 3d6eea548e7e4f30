"""Helpers of the tasks-and-control tests (issue 3): the fixed clock, builders that go through
the services (so the maintained counters are real), the hand-built counters world, a random
operation runner for "maintained == recounted", and the figures line of the battery rows."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from factories import make_company, make_contact, make_deal, while_active
from voronka.activities.counters import counters_snapshot, task_counters_rebuild
from voronka.activities.models import Task, TaskStatus
from voronka.activities.tasks_services import (
    task_complete,
    task_create,
    task_reschedule,
    task_update,
)
from voronka.deals.models import Deal
from voronka.deals.services import deal_create, deal_delete, deal_move_to_stage, deal_update
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError

MSK = zoneinfo.ZoneInfo("Europe/Moscow")  # settings.TIME_ZONE: the zone "today" is counted in
# Wednesday 18 March 2026, 15:00 Moscow time (12:00 UTC): the moment every counter is read at.
NOW = dt.datetime(2026, 3, 18, 15, 0, tzinfo=MSK)
USER_KEYS = ("owner", "admin", "head_root", "head_a", "head_b", "a1", "a2", "a11", "b1", "deact")


def local(days: int, hour: int, minute: int = 0) -> dt.datetime:
    """A Moscow wall-clock time `days` after NOW's date."""
    day = NOW.date() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=MSK)


def actor_of(user: Any) -> Actor:
    return Actor.for_user(user)


def task_data(
    responsible: Any, deadline: dt.datetime, *, comment: str = "", type: str = "call", **links: Any
) -> dict[str, Any]:
    return {
        "type": type,
        "responsible": responsible.pk,
        "deadline": deadline.isoformat(),
        "comment": comment or f"Задача для {responsible.username}",
        **{k: (v.pk if hasattr(v, "pk") else v) for k, v in links.items()},
    }


def new_task(responsible: Any, deadline: dt.datetime, *, by: Any = None, **links: Any) -> Task:
    """A task created by `by` (default: the responsible themselves, so nobody is notified)."""
    actor = Actor.system() if by == "system" else actor_of(by or responsible)
    return task_create(actor=actor, data=task_data(responsible, deadline, **links))


def new_deal(
    responsible: Any, company: Any, stage: Any, entered_at: dt.datetime, title: str
) -> Deal:
    with clock.frozen(entered_at):
        return make_deal(responsible=responsible, company=company, title=title, stage=stage)


@dataclass
class World:
    users: dict[str, Any]
    companies: dict[str, Any] = field(default_factory=dict)
    contacts: dict[str, Any] = field(default_factory=dict)
    deals: dict[str, Deal] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)


def build_world(personas: dict[str, Any], pipeline: Any) -> World:
    """The hand-built counters fixture. Every number the tests expect is derived by hand from
    this function (see EXPECTED in test_task_counters.py); keep the two in step.

    Clock: NOW = Wed 18.03.2026 15:00 MSK. Stage SLAs: Продажа/new 3 days, talks 7 days; the
    "Обзвон" pipeline has none. Tasks are created by their responsible (no notifications)."""
    u = {k: personas[k].user for k in USER_KEYS}
    s, other = pipeline.stages, pipeline.other_stages
    w = World(users=u)
    hour, day, minute = dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(minutes=1)
    with while_active(u["deact"]), clock.frozen(NOW - 3 * hour):
        for key in ("owner", "head_a", "a1", "a2", "a11", "b1", "deact"):
            w.companies[key] = make_company(responsible=u[key], name=f"ООО Мир {key}")
        for key in ("a1", "a11"):
            w.contacts[key] = make_contact(
                responsible=u[key], company=w.companies[key], first_name=f"Контакт {key}"
            )

        def deal(key: str, label: str, stage: Any, entered: dt.datetime) -> Deal:
            w.deals[label] = new_deal(u[key], w.companies[key], stage, entered, f"Сделка {label}")
            return w.deals[label]

        def task(label: str, key: str, deadline: dt.datetime, **links: Any) -> Task:
            w.tasks[label] = new_task(u[key], deadline, **links)
            return w.tasks[label]

        # --- a1 (department A) ---------------------------------------------------------------
        d1 = deal("a1", "D1", s["new"], NOW - hour)  # fresh, has tasks
        deal("a1", "D2", s["talks"], NOW - 2 * day)  # no task, within SLA (7 d)
        deal("a1", "D3", s["new"], NOW - 5 * day)  # no task, over SLA on whole past days
        d4 = deal("a1", "D4", s["new"], NOW - 3 * day - minute)  # just over the SLA (boundary day)
        d5 = deal("a1", "D5", s["new"], NOW - 3 * day + minute)  # just under the SLA
        deal("a1", "D6", s["won"], NOW - day)  # closed, no task: counted nowhere
        d7 = deal("a1", "D7", s["new"], local(-4, 10))  # lost later, keeps an open overdue task
        task("a1_yday", "a1", local(-1, 10), deal=d1)  # overdue yesterday
        task("a1_later", "a1", local(0, 18), deal=d1)  # due later today
        task("a1_tomorrow", "a1", local(1, 10), deal=d4)  # tomorrow
        task("a1_morning", "a1", local(0, 9), deal=d5)  # overdue earlier today
        task("a1_lost", "a1", local(-2, 12), deal=d7)  # overdue, on a closed deal
        task("a1_contact", "a1", local(-1, 12), contact=w.contacts["a1"])  # overdue, contact
        task("a1_company", "a1", local(0, 17), company=w.companies["a1"])  # today, company
        done = task("a1_done", "a1", local(-2, 9), deal=d1)  # completed today: not counted
        with clock.frozen(NOW - hour):
            task_complete(task=done, actor=actor_of(u["a1"]), result="Сделано")
        with clock.frozen(local(-1, 10)):
            deal_move_to_stage(
                deal=d7, stage=s["lost"], actor=Actor.system(), loss_reason=pipeline.loss_reasons[0]
            )
        # --- a2 (department A) ---------------------------------------------------------------
        e1 = deal("a2", "E1", s["talks"], NOW - 8 * day)  # over SLA (7 d), has a task
        deal("a2", "E2", s["new"], local(-3, 0, 30))  # boundary day, early: over SLA, no task
        e3 = deal("a2", "E3", other["new"], NOW - 30 * day)  # pipeline without SLA
        task("a2_e1", "a2", local(0, 14, 59), deal=e1)  # overdue by one minute
        task("a2_e3", "a2", local(1, 12), deal=e3)  # tomorrow
        task("a2_now", "a2", NOW, company=w.companies["a2"])  # due exactly now: today
        task("a2_1501", "a2", local(0, 15, 1), company=w.companies["a2"])  # today
        done2 = task("a2_done", "a2", local(-1, 10), company=w.companies["a2"])
        with clock.frozen(local(-1, 11)):  # completed yesterday: not "done today"
            task_complete(task=done2, actor=actor_of(u["a2"]), result="Сделано вчера")
        # --- a11 (sub-department A-1) --------------------------------------------------------
        f1 = deal("a11", "F1", s["new"], NOW - 2 * day)
        task("a11_f1", "a11", local(-1, 23, 59), deal=f1)  # overdue (yesterday, last minute)
        task("a11_today", "a11", local(0, 23, 59), contact=w.contacts["a11"])  # today (last minute)
        task("a11_tomorrow", "a11", local(1, 0, 0), contact=w.contacts["a11"])  # tomorrow 00:00
        # --- head of A -----------------------------------------------------------------------
        deal("head_a", "H1", s["new"], NOW - 4 * day)  # no task, over SLA
        task("ha_company", "head_a", local(-8, 9), company=w.companies["head_a"])  # long overdue
        # --- deactivated manager of A (records created while it was active) -----------------
        deal("deact", "X1", s["new"], NOW - hour)  # no task
        # --- b1 (department B) ---------------------------------------------------------------
        deal("b1", "G1", s["new"], NOW - 10 * day)  # no task, over SLA
        g2 = deal("b1", "G2", s["new"], NOW - hour)
        task("b1_od", "b1", local(-1, 8), deal=g2)
        task("b1_today", "b1", local(0, 20), deal=g2)
        # --- owner ---------------------------------------------------------------------------
        deal("owner", "O1", s["new"], NOW)  # no task, entered right now
    for label, obj in list(w.deals.items()):
        w.deals[label] = Deal.objects.get(pk=obj.pk)
    for label, obj in list(w.tasks.items()):
        w.tasks[label] = Task.objects.get(pk=obj.pk)
    return w


# --- maintained == recounted ------------------------------------------------------------------


def snapshot_differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per part of counters_snapshot(): rows only in the maintained / only in the recount."""
    out: dict[str, Any] = {}
    for key in before.keys() | after.keys():
        a, b = set(before.get(key, [])), set(after.get(key, []))
        if a != b:
            out[key] = {
                "maintained_only": sorted(a - b, key=repr)[:10],
                "recounted_only": sorted(b - a, key=repr)[:10],
            }
    return out


def maintained_vs_recounted() -> dict[str, Any]:
    """Snapshot the maintained counters, rebuild them from the rows, snapshot again: the
    differences (empty when the services kept every counter in step)."""
    before = counters_snapshot()
    task_counters_rebuild()
    return snapshot_differences(before, counters_snapshot())


OPS = (
    "task_create",
    "task_complete",
    "task_reschedule",
    "task_reassign",
    "deal_create",
    "deal_move",
    "deal_reassign",
    "deal_amount",
    "deal_currency",
    "deal_company",
    "deal_delete",
    "clock",
)
CURRENCIES = ("RUB", "RUB", "USD", "EUR")  # deals in several currencies: cells and LTV per currency


class OpRunner:
    """Random service operations over a world (seeded; used by the random-sequence test and
    by the Hypothesis test). Refusals (ApplicationError) are legitimate outcomes."""

    def __init__(self, users: dict[str, Any], pipeline: Any, start: dt.datetime) -> None:
        self.users = [users[k] for k in ("owner", "head_a", "a1", "a2", "a11", "b1", "head_b")]
        self.head = users["head_a"]
        self.pipeline = pipeline
        self.now = start
        self.outcomes: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.outcomes[name] = self.outcomes.get(name, 0) + 1

    def run(self, op: str, seed: int) -> None:
        rng = random.Random(seed)
        handler: Callable[[random.Random], None] = getattr(self, f"_{op}")
        try:
            with clock.frozen(self.now):
                handler(rng)
            self._count(f"{op}: ok")
        except ApplicationError as exc:
            self._count(f"{op}: refused ({exc.code})")
        except LookupError:
            self._count(f"{op}: nothing to act on")

    def _actor(self, rng: random.Random) -> Actor:
        return Actor.system() if rng.random() < 0.7 else actor_of(self.head)

    def _deadline(self, rng: random.Random) -> str:
        return (self.now + dt.timedelta(minutes=rng.randint(-5 * 1440, 5 * 1440))).isoformat()

    def _pick(self, qs: Any, rng: random.Random) -> Any:
        ids = list(qs.order_by("pk").values_list("pk", flat=True))
        if not ids:
            raise LookupError
        return qs.model.objects.get(pk=rng.choice(ids))

    def _link(self, rng: random.Random, responsible: Any) -> dict[str, Any]:
        from voronka.contacts.models import Company, Contact

        kind = rng.choice(["deal", "deal", "contact", "company"])
        model = {"deal": Deal, "contact": Contact, "company": Company}[kind]
        return {kind: self._pick(model.objects.all(), rng).pk}

    def _task_create(self, rng: random.Random) -> None:
        who = rng.choice(self.users)
        data = {
            "type": rng.choice(["call", "meeting", "email", "other"]),
            "responsible": who.pk,
            "deadline": self._deadline(rng),
            "comment": "Случайная задача",
            **self._link(rng, who),
        }
        task_create(actor=Actor.system(), data=data)

    def _task_complete(self, rng: random.Random) -> None:
        task = self._pick(Task.objects.filter(status=TaskStatus.OPEN), rng)
        nxt = None
        if rng.random() < 0.4:
            nxt = {
                "type": "call",
                "responsible": rng.choice(self.users).pk,
                "deadline": self._deadline(rng),
                "comment": "Следующая",
            }
        task_complete(task=task, actor=self._actor(rng), result="Готово", next_task=nxt)

    def _task_reschedule(self, rng: random.Random) -> None:
        task = self._pick(Task.objects.filter(status=TaskStatus.OPEN), rng)
        task_reschedule(
            task=task,
            actor=self._actor(rng),
            deadline=self._deadline(rng),
            reason="Клиент попросил",
        )

    def _task_reassign(self, rng: random.Random) -> None:
        task = self._pick(Task.objects.filter(status=TaskStatus.OPEN), rng)
        task_update(
            task=task, actor=self._actor(rng), data={"responsible": rng.choice(self.users).pk}
        )

    def _stage(self, rng: random.Random, pipeline_id: int | None = None) -> Any:
        stages = list(self.pipeline.stages.values()) + list(self.pipeline.other_stages.values())
        if pipeline_id is not None:
            stages = [st for st in stages if st.pipeline_id == pipeline_id]
        return rng.choice(stages)

    def _deal_create(self, rng: random.Random) -> None:
        from voronka.contacts.models import Company

        who = rng.choice(self.users)
        stage = self._stage(rng)
        data: dict[str, Any] = {
            "title": "Случайная сделка",
            "company": self._pick(Company.objects.all(), rng).pk,
            "responsible": who.pk,
            "stage": stage.pk,
            "amount": "100",
            "currency": rng.choice(CURRENCIES),
        }
        if stage.required_fields:
            data["custom"] = {"contract_no": "Д-1"}
        deal_create(actor=Actor.system(), data=data)

    def _deal_move(self, rng: random.Random) -> None:
        deal = self._pick(Deal.objects.all(), rng)
        stage = self._stage(rng, deal.pipeline_id)
        fields = {"contract_no": "Д-2"} if stage.required_fields else None
        reason = self.pipeline.loss_reasons[0] if stage.semantic == "lost" else None
        deal_move_to_stage(
            deal=deal, stage=stage, actor=Actor.system(), fields=fields, loss_reason=reason
        )

    def _deal_reassign(self, rng: random.Random) -> None:
        deal = self._pick(Deal.objects.all(), rng)
        deal_update(
            deal=deal, actor=Actor.system(), data={"responsible": rng.choice(self.users).pk}
        )

    def _deal_amount(self, rng: random.Random) -> None:
        """A new amount (refused on a closed deal): moves the board's column sum."""
        deal = self._pick(Deal.objects.all(), rng)
        amount = f"{rng.randint(0, 10**6)}.{rng.randint(0, 99):02d}"
        if rng.random() < 0.5:
            deal_update(deal=deal, actor=Actor.system(), data={"amount": amount})
        else:
            stage = self._stage(rng, deal.pipeline_id)
            fields = {"amount": amount}
            if stage.required_fields:
                fields["contract_no"] = "Д-3"
            reason = self.pipeline.loss_reasons[0] if stage.semantic == "lost" else None
            deal_move_to_stage(
                deal=deal, stage=stage, actor=Actor.system(), fields=fields, loss_reason=reason
            )

    def _deal_currency(self, rng: random.Random) -> None:
        """Another currency (refused on a closed deal): the deal moves to another board cell."""
        deal = self._pick(Deal.objects.all(), rng)
        deal_update(deal=deal, actor=Actor.system(), data={"currency": rng.choice(CURRENCIES)})

    def _deal_company(self, rng: random.Random) -> None:
        """Another company: a won deal takes its amount to the new company's LTV (per currency)."""
        from voronka.contacts.models import Company

        deal = self._pick(Deal.objects.all(), rng)
        company = self._pick(Company.objects.all(), rng)
        deal_update(deal=deal, actor=Actor.system(), data={"company": company.pk})

    def _deal_delete(self, rng: random.Random) -> None:
        deal_delete(deal=self._pick(Deal.objects.all(), rng), actor=Actor.system())

    def _clock(self, rng: random.Random) -> None:
        self.now += dt.timedelta(minutes=rng.randint(1, 36 * 60))


# --- figures ----------------------------------------------------------------------------------


def record_figures(row: str, figures: dict[str, Any]) -> None:
    """Print the figures of a battery row (raw numerators and denominators, RELIABILITY §8.3);
    with VORONKA_BATTERY_DIR set the shared harness also writes them as JSON."""
    try:
        from authz.harness import record_figures as shared
    except ImportError:  # the authorization harness is not there: print only
        print(f"\n[battery] {json.dumps({'row': row, **figures}, ensure_ascii=False, default=str)}")
        return
    shared(row, figures)


def db_vendor() -> str:
    from django.db import connection

    return connection.vendor


def in_xdist() -> bool:
    return bool(os.environ.get("PYTEST_XDIST_WORKER"))
