"""`voronka demo`: the demo company once (idempotent) — users, the three pipelines of seed 002
(Обзвон, Продажа, Подогрев), ~200 clients and deals with six months of history.

Everything is written through the services under a frozen application clock, so the
timeline, audit rows and stage history look exactly as if people had worked for months.

It looks like a working team on a normal day, whatever the moment it is loaded: most open
deals are within their stage limits and have a next task; a visible minority (about 15 %) is
red — over the limit, an overdue task or no task; deadlines fall in working hours (9:00–19:00
Moscow time, on working days); today has tasks (done earlier, due later); deals in «Подогрев»
keep the amount of the deal that was lost. tests/web/test_demo_data.py holds it to that.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from voronka.activities.services import comment_add
from voronka.activities.tasks_services import task_complete, task_create, task_reschedule
from voronka.contacts.dedup import duplicates_scan
from voronka.contacts.models import ClientEntity, Company, CompanyType, Contact
from voronka.contacts.services import company_create, contact_create
from voronka.customfields.services import custom_field_create
from voronka.deals.models import LossReason, Pipeline, Stage, StageSemantic
from voronka.deals.services import (
    deal_create,
    deal_move_to_stage,
    pipeline_create,
)
from voronka.demo.automation import demo_rules
from voronka.demo.vocabulary import (
    CALLS_STAGES,
    CITIES,
    DEAL_FIELDS,
    FIRST_F,
    FIRST_M,
    LAST,
    LOSS_REASONS,
    MIDDLE_F,
    MIDDLE_M,
    ORG_TAIL,
    ORG_WORDS,
    PASSWORD,
    SALES_STAGES,
    SOURCES,
    STREETS,
    USERS,
    WARMING_STAGES,
    random_account,
    random_inn10,
    random_inn12,
    random_ogrn,
    random_phone,
    translit,
)
from voronka.identity.models import User
from voronka.identity.services import department_create, roles_ensure_defaults
from voronka.kernel import clock
from voronka.kernel.actor import Actor, ActorKind

# which exist whatever the day of the week, so that "Мой день" is never empty.
DAY_OPEN = 9 * 60
DAY_CLOSE = 19 * 60
LAST_SLOT = DAY_CLOSE - 15
# What becomes of each manager's open deals, dealt out in shuffled rounds of 25 so that the
# shares hold for every manager whatever the moment: 4 of 25 (16 %) red on the board — over
# the stage limit, an overdue next task or no next task — and 6 with a task due today.
FATES = (
    ["over_limit"] * 2
    + ["overdue", "no_task"]
    + ["done_today"] * 3  # the task due today is done (and the next one is set)
    + ["later_today"] * 3  # the task is due later today
    + ["future"] * 15  # due in the coming working days
)


def _zone() -> Any:
    return timezone.get_default_timezone()


def _at(day: dt.date, minutes: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=_zone())


def _windows(
    lo: dt.datetime, hi: dt.datetime, close: int, *, any_day: dt.date | None = None
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The working intervals inside [lo, hi]: 9:00–`close` of Monday to Friday (and of
    `any_day` whatever its weekday)."""
    result = []
    day, last = timezone.localtime(lo, _zone()).date(), timezone.localtime(hi, _zone()).date()
    while day <= last:  # bounded: the demo's intervals are at most about 200 days
        if day.weekday() < 5 or day == any_day:
            a, b = max(lo, _at(day, DAY_OPEN)), min(hi, _at(day, close))
            if a < b:
                result.append((a, b))
        day += dt.timedelta(days=1)
    return result


def _pick(rng: random.Random, windows: list[tuple[dt.datetime, dt.datetime]]) -> dt.datetime:
    total = sum((b - a).total_seconds() for a, b in windows)
    offset = rng.uniform(0, total)
    for a, b in windows:
        span = (b - a).total_seconds()
        if offset <= span:
            return a + dt.timedelta(seconds=offset)
        offset -= span
    return windows[-1][1]


def office_time(rng: random.Random, lo: dt.datetime, hi: dt.datetime) -> dt.datetime:
    """A moment in [lo, hi] in working hours — or anywhere in it when it holds none."""
    if hi <= lo:
        return lo
    windows = _windows(lo, hi, DAY_CLOSE)
    return _pick(rng, windows) if windows else lo + (hi - lo) * rng.random()


def deadline_slot(
    rng: random.Random, lo: dt.datetime, hi: dt.datetime, *, today: dt.date | None = None
) -> dt.datetime | None:
    """A deadline in [lo, hi] on the quarter hour, 9:00–18:45 of a working day (or of `today`);
    None when the interval holds no such moment."""
    windows = [
        (a, b)
        for a, b in (
            (_ceil_quarter(a), _floor_quarter(b))
            for a, b in _windows(lo, hi, LAST_SLOT + 1, any_day=today)
        )
        if a <= b
    ]
    if not windows:
        return None
    moment = _pick(rng, [(a, b + dt.timedelta(minutes=14)) for a, b in windows])
    slot = _floor_quarter(moment)
    return min(max(slot, windows[0][0]), windows[-1][1])


def _floor_quarter(moment: dt.datetime) -> dt.datetime:
    local = timezone.localtime(moment, _zone())
    return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)


def _ceil_quarter(moment: dt.datetime) -> dt.datetime:
    floor = _floor_quarter(moment)
    return floor if floor == moment else floor + dt.timedelta(minutes=15)


@dataclass
class DealPlan:
    """A deal's life decided before anything is written: the stages it enters and when, and
    (an open deal) its fate from FATES."""

    pipeline: Pipeline
    path: list[Stage]
    times: list[dt.datetime]
    fate: str = ""

    @property
    def is_open(self) -> bool:
        return self.path[-1].semantic == StageSemantic.OPEN


class Command(BaseCommand):
    help = "Load the demo company once (idempotent)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--companies", type=int, default=200)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, **opts: Any) -> None:
        if User.objects.filter(username="owner").exists():
            self.stdout.write("Demo data is already loaded.")
            return
        rng = random.Random(opts["seed"])
        now = clock.now()
        start = now - dt.timedelta(days=182)
        with transaction.atomic(), clock.frozen(start - dt.timedelta(days=1)):
            users = self._users()
            system = Actor(kind=ActorKind.SYSTEM, user=users["owner"])
            self._config(system)
        self.pipelines = {p.name: p for p in Pipeline.objects.all()}
        self.stages = {
            name: list(p.stages.order_by("sort", "id")) for name, p in self.pipelines.items()
        }
        self.reasons = list(LossReason.objects.select_related("warming_stage").order_by("sort"))
        self.now, self.start = now, start
        self.fates: dict[int, list[str]] = {}
        self.today = timezone.localtime(now, _zone()).date()
        managers = [
            users["manager1"],
            users["manager1"],
            users["manager2"],
            users["manager2"],
            users["head"],
        ]
        self.stdout.write(f"Loading {opts['companies']} clients with deals …")
        for index in range(opts["companies"]):
            with transaction.atomic():
                self._client(rng, index, managers)
            if (index + 1) % 50 == 0:
                self.stdout.write(f"  {index + 1} clients")
        self._duplicates(random.Random(opts["seed"] + 1), users)
        rules = demo_rules(Actor.for_user(users["owner"]))
        self.stdout.write(f"Automation: {rules} robots, triggers and monitors")
        self.stdout.write(
            self.style.SUCCESS(
                "Demo loaded: logins owner / head / manager1 / manager2, password demo"
            )
        )

    def _duplicates(self, rng: random.Random, users: dict[str, User]) -> None:
        """A few clients entered twice, the way it happens (a colleague types the phone another
        way, the name in Latin letters), so the duplicates screen has something to review; then
        the scan the worker would run at night."""
        actor = Actor(kind=ActorKind.SYSTEM, user=users["owner"])
        originals = list(
            Contact.objects.filter(phones__isnull=False, birthday__isnull=False)
            .prefetch_related("phones", "emails")
            .order_by("id")
            .distinct()
        )
        for contact in rng.sample(originals, min(6, len(originals))):
            number = contact.phones.all()[0].number[2:]
            latin = rng.random() < 0.5
            contact_create(
                actor=actor,
                data={
                    "last_name": translit(contact.last_name).capitalize()
                    if latin
                    else contact.last_name,
                    "first_name": translit(contact.first_name).capitalize()
                    if latin
                    else contact.first_name,
                    "phones": [f"8 ({number[:3]}) {number[3:6]}-{number[6:8]}-{number[8:]}"],
                    "birthday": contact.birthday.isoformat() if contact.birthday else None,
                    "responsible": rng.choice([users["manager1"], users["manager2"]]).pk,
                },
            )
        for entity in ClientEntity.values:
            duplicates_scan(entity)

    def _users(self) -> dict[str, User]:
        roles = roles_ensure_defaults()
        root = department_create(name="Кристально чистая вода")
        sales = department_create(name="Отдел продаж", parent=root)
        users = {}
        for username, first, last, role in USERS:
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@voronka.example",
                department=sales if role != "owner" else root,
            )
            user.set_password(PASSWORD)
            user.save()
            user.roles.add(roles[role])
            users[username] = user
        root.head, sales.head = users["owner"], users["head"]
        root.save(update_fields=["head"])
        sales.save(update_fields=["head"])
        return users

    def _config(self, actor: Actor) -> None:
        for key, name, ftype, choices in DEAL_FIELDS:
            custom_field_create(
                actor=actor,
                data={
                    "entity": "deal",
                    "key": key,
                    "name": name,
                    "type": ftype,
                    "choices": choices,
                },
            )
        custom_field_create(
            actor=actor,
            data={
                "entity": "company",
                "key": "segment",
                "name": "Сегмент",
                "type": "list",
                "choices": ["Офис", "Дом", "HoReCa", "Медицина", "Образование"],
            },
        )
        custom_field_create(
            actor=actor,
            data={
                "entity": "contact",
                "key": "preferred_time",
                "name": "Удобное время звонка",
                "type": "string",
                "choices": [],
            },
        )
        pipeline_create(actor=actor, name="Продажа", stages=SALES_STAGES)
        pipeline_create(actor=actor, name="Обзвон", stages=CALLS_STAGES)
        warming = pipeline_create(actor=actor, name="Подогрев", stages=WARMING_STAGES)
        for index, name in enumerate(LOSS_REASONS):
            LossReason.objects.create(
                name=name, sort=index, warming_stage=warming.stages.get(name=name)
            )
        # Order: the main pipeline first in navigation.
        for sort, name in enumerate(["Продажа", "Обзвон", "Подогрев"]):
            Pipeline.objects.filter(name=name).update(sort=sort)

    def _fate(self, rng: random.Random, user: User) -> str:
        deck = self.fates.setdefault(user.pk, [])
        if not deck:
            deck.extend(rng.sample(FATES, len(FATES)))
        return deck.pop()

    def _plan(self, rng: random.Random, pipeline_name: str, manager: User) -> DealPlan:
        """Won (30 %), lost (25 %) or open (45 %). A closed deal lived somewhere in the last six
        months; an open one entered its stage recently — within the stage's limit unless its
        fate says otherwise — and walked its earlier stages in the days before."""
        stages = self.stages[pipeline_name]
        open_stages = [s for s in stages if s.semantic == StageSemantic.OPEN]
        won = next(s for s in stages if s.semantic == StageSemantic.WON)
        lost = next(s for s in stages if s.semantic == StageSemantic.LOST)
        now, roll = self.now, rng.random()
        if roll < 0.55:
            path = (
                [*open_stages, won]
                if roll < 0.30
                else [*open_stages[: rng.randint(1, len(open_stages))], lost]
            )
            # Almost half the lost deals are of the last weeks: their clients are in «Подогрев».
            recent = roll >= 0.30 and rng.random() < 0.45
            first = now - dt.timedelta(days=45) if recent else self.start
            created = office_time(rng, first, now - dt.timedelta(days=12))
            gap = min(dt.timedelta(days=9), (now - dt.timedelta(days=1) - created) / len(path))
            times = [created]
            for _ in path[1:]:
                times.append(office_time(rng, times[-1] + dt.timedelta(hours=4), times[-1] + gap))
            return DealPlan(self.pipelines[pipeline_name], path, times)
        current = min(len(open_stages) - 1, int(rng.random() ** 1.3 * len(open_stages)))
        path = open_stages[: current + 1]
        limit = dt.timedelta(days=path[-1].sla_days or 14)
        fate = self._fate(rng, manager)
        if fate == "over_limit":
            window = (now - limit - dt.timedelta(days=6), now - limit - dt.timedelta(hours=3))
        else:
            window = (now - limit * 0.85, now - dt.timedelta(minutes=40))
        times = [office_time(rng, *window)]
        for _ in path[:-1]:
            times.insert(
                0,
                office_time(rng, times[0] - dt.timedelta(days=6), times[0] - dt.timedelta(hours=5)),
            )
        return DealPlan(self.pipelines[pipeline_name], path, times, fate)

    def _client(self, rng: random.Random, index: int, managers: list[User]) -> None:
        manager = rng.choice(managers)
        actor = Actor(kind=ActorKind.USER, user=manager)
        # Deals: most clients have one in Продажа; some have a periodic-calls deal.
        plans = [self._plan(rng, "Продажа", manager)]
        if rng.random() < 0.25:
            plans.append(self._plan(rng, "Обзвон", manager))
        first = min(p.times[0] for p in plans)
        created = office_time(rng, first - dt.timedelta(days=3), first - dt.timedelta(minutes=10))
        kind = rng.choices(
            [CompanyType.LEGAL, CompanyType.SOLE_PROPRIETOR, CompanyType.FAMILY], [55, 20, 25]
        )[0]
        female = rng.random() < 0.5
        base_last = rng.choice(LAST)
        last = base_last + ("а" if female else "")
        first_name = rng.choice(FIRST_F if female else FIRST_M)
        middle = rng.choice(MIDDLE_F if female else MIDDLE_M)
        city = rng.choice(CITIES)
        address = f"{city}, {rng.choice(STREETS)}, д. {rng.randint(1, 120)}"
        with clock.frozen(created):
            data: dict[str, Any] = {
                "type": kind,
                "responsible": manager.pk,
                "phone": random_phone(rng),
                "addresses": [{"kind": "actual", "text": address}],
                "custom": {
                    "segment": rng.choice(["Офис", "Дом", "HoReCa", "Медицина", "Образование"])
                },
            }
            if kind == CompanyType.LEGAL:
                name = f"ООО «{rng.choice(ORG_WORDS)} {rng.choice(ORG_TAIL)}»"
                bik = "044525225"
                inn = random_inn10(rng)
                data.update(
                    name=name,
                    inn=inn,
                    kpp=inn[:4] + "01001",
                    ogrn=random_ogrn(rng),
                    bank_bik=bik,
                    bank_account=random_account(rng, bik),
                    bank_name="ПАО Сбербанк",
                    email=f"info@{translit(name)[:12] or 'firm'}{index}.ru",
                )
                data["addresses"].append(
                    {
                        "kind": "legal",
                        "text": f"{city}, {rng.choice(STREETS)}, д. {rng.randint(1, 80)}, оф. {rng.randint(1, 400)}",
                    }
                )
            elif kind == CompanyType.SOLE_PROPRIETOR:
                data.update(name=f"ИП {last} {first_name[0]}.{middle[0]}.", inn=random_inn12(rng))
            else:
                data.update(name=f"Семья {base_last}ых", custom={"segment": "Дом"})
                data["addresses"][0]["kind"] = "home"
            company = company_create(actor=actor, data=data)
            contacts = []
            for n in range(
                rng.choice([1, 1, 2, 3]) if kind != CompanyType.FAMILY else rng.choice([1, 2])
            ):
                f2 = female if n == 0 else rng.random() < 0.5
                cl = (
                    last
                    if kind == CompanyType.FAMILY or n == 0
                    else rng.choice(LAST) + ("а" if f2 else "")
                )
                cf = first_name if n == 0 else rng.choice(FIRST_F if f2 else FIRST_M)
                contact = contact_create(
                    actor=actor,
                    data={
                        "company": company.pk,
                        "last_name": cl,
                        "first_name": cf,
                        "middle_name": rng.choice(MIDDLE_F if f2 else MIDDLE_M),
                        "position": ""
                        if kind == CompanyType.FAMILY
                        else rng.choice(
                            ["Директор", "Офис-менеджер", "Бухгалтер", "Администратор", "Завхоз"]
                        ),
                        "phones": [random_phone(rng)]
                        + ([random_phone(rng)] if rng.random() < 0.3 else []),
                        "emails": [
                            f"{translit(cf)}.{translit(cl)}{rng.randint(1, 99)}@{rng.choice(['mail.ru', 'yandex.ru', 'gmail.com', 'bk.ru'])}"
                        ],
                        "birthday": dt.date(
                            rng.randint(1965, 2000), rng.randint(1, 12), rng.randint(1, 28)
                        ).isoformat()
                        if rng.random() < 0.7
                        else None,
                        "responsible": manager.pk,
                    },
                )
                contacts.append(contact)
        for plan in plans:
            self._deal(rng, actor, company, contacts, plan, address)

    def _deal(
        self,
        rng: random.Random,
        actor: Actor,
        company: Company,
        contacts: list,
        plan: DealPlan,
        address: str,
    ) -> None:
        pipeline = plan.pipeline
        amount = Decimal(
            rng.choice(
                [3500, 5600, 8900, 12400, 18000, 24500, 36000, 52000, 78000, 120000, 185000, 260000]
            )
        )
        currency = "RUB"
        if pipeline.name == "Продажа" and company.pk % 12 == 0:
            # Imported coolers are sold in euros: the board shows a sum per currency. Chosen by
            # the company id, so the random stream (and the rest of the demo) stays the same.
            currency, amount = "EUR", Decimal(max(40, int(amount / 95) // 10 * 10))
        bottles = rng.choice([4, 6, 10, 20, 40, 80])
        title = {
            "Продажа": rng.choice(
                [
                    "Доставка воды",
                    "Вода + кулер",
                    "Договор поставки",
                    "Разовый заказ",
                    "Абонемент на воду",
                ]
            ),
            "Обзвон": "Повторный заказ",
        }[pipeline.name] + f" — {company.name}"
        with clock.frozen(plan.times[0]):
            deal = deal_create(
                actor=actor,
                data={
                    "title": title[:255],
                    "company": company.pk,
                    "stage": plan.path[0].pk,
                    "amount": str(amount),
                    "currency": currency,
                    "contacts": [c.pk for c in contacts[:2]],
                    "source": rng.choice(SOURCES),
                    "utm_source": rng.choice(["yandex", "vk", "google", ""]),
                    "custom": {"bottles": bottles, "delivery_address": address},
                },
            )
        reason = None
        for stage, at in zip(plan.path[1:], plan.times[1:], strict=True):
            fields: dict[str, Any] = {}
            for key in stage.required_fields or []:
                fields[key] = {
                    "contract_no": f"Д-{rng.randint(100, 999)}/{at:%y}",
                    "delivery_date": (at + dt.timedelta(days=rng.randint(1, 5))).date().isoformat(),
                    "payment_type": rng.choice(["Наличные", "Безналичный расчёт", "Карта курьеру"]),
                    "amount": str(amount),
                }.get(key, "")
            if stage.name == "Оформление заказа":
                fields["extras"] = rng.sample(
                    ["Кулер", "Помпа", "Стаканчики", "Подставка"], rng.randint(0, 2)
                )
                fields["needs_invoice"] = company.type == CompanyType.LEGAL
            if stage.semantic == StageSemantic.LOST:
                reason = rng.choice(self.reasons)
            if rng.random() < 0.6:
                self._done_task(rng, actor, deal, at)
            with clock.frozen(at):
                deal = deal_move_to_stage(
                    deal=deal,
                    stage=stage,
                    actor=actor,
                    fields=fields,
                    loss_reason=reason,
                    loss_comment="",
                )
                if rng.random() < 0.35:
                    comment_add(obj=deal, actor=actor, text=rng.choice(COMMENTS))
        if plan.is_open:
            self._next_task(rng, actor, deal, TASKS, plan.fate)
        elif reason is not None and reason.warming_stage_id and rng.random() < 0.8:
            self._warming(rng, actor, deal, reason, plan.times[-1], contacts)

    def _warming(
        self,
        rng: random.Random,
        actor: Actor,
        lost_deal: Any,
        reason: LossReason,
        lost_at: dt.datetime,
        contacts: list,
    ) -> None:
        """Seed 002: a lost client goes to «Подогрев» at its loss reason, with what the deal was
        worth. A warming is worked for up to a month: an older one has ended (reanimated or a
        final refusal) unless it was forgotten (a few are left, over the stage's limit)."""
        now = self.now
        created = office_time(
            rng, lost_at + dt.timedelta(minutes=10), min(lost_at + dt.timedelta(days=1), now)
        )
        with clock.frozen(created):
            deal = deal_create(
                actor=actor,
                data={
                    "title": f"Подогрев — {lost_deal.company.name}"[:255],
                    "company": lost_deal.company_id,
                    "stage": reason.warming_stage_id,
                    "amount": str(lost_deal.amount),
                    "currency": lost_deal.currency,
                    "source": "Подогрев",
                    "contacts": [c.pk for c in contacts[:1]],
                },
            )
        limit = dt.timedelta(days=deal.stage.sla_days or 30)
        if now - created < limit * 0.95:
            fate = self._fate(rng, deal.responsible)
            self._next_task(rng, actor, deal, WARMING_TASKS, fate)
            return
        stages = self.stages["Подогрев"]
        ended = office_time(rng, created + dt.timedelta(days=3), created + limit * 0.9)
        self._done_task(rng, actor, deal, ended, WARMING_TASKS)
        won = rng.random() < 0.25
        target = next(
            s for s in stages if s.semantic == (StageSemantic.WON if won else StageSemantic.LOST)
        )
        with clock.frozen(ended):
            deal_move_to_stage(
                deal=deal,
                stage=target,
                actor=actor,
                fields={},
                loss_reason=None if won else reason,
                loss_comment="" if won else "Не удалось вернуть клиента",
            )

    def _done_task(
        self,
        rng: random.Random,
        actor: Actor,
        deal: Any,
        before: dt.datetime,
        kinds: list[tuple[str, str]] | None = None,
    ) -> None:
        """A task that was set and done before the deal moved on (at `before`)."""
        created = office_time(
            rng,
            max(deal.stage_entered_at, before - dt.timedelta(days=3)),
            before - dt.timedelta(hours=1),
        )
        deadline = deadline_slot(
            rng, created + dt.timedelta(hours=1), created + dt.timedelta(days=3)
        )
        if created >= before or deadline is None:
            return
        done_at = office_time(rng, created + dt.timedelta(minutes=20), before)
        self._task(rng, actor, deal, created, deadline, kinds or TASKS, done_at=done_at)

    def _task(
        self,
        rng: random.Random,
        actor: Actor,
        deal: Any,
        created: dt.datetime,
        deadline: dt.datetime,
        kinds: list[tuple[str, str]],
        *,
        done_at: dt.datetime | None = None,
    ) -> Any:
        ttype, comment = rng.choice(kinds)
        with clock.frozen(created):
            task = task_create(
                actor=actor,
                data={
                    "type": ttype,
                    "responsible": deal.responsible_id,
                    "comment": comment,
                    "deal": deal.pk,
                    "deadline": deadline.isoformat(),
                },
            )
        if done_at is not None:
            with clock.frozen(done_at):
                task_complete(task=task, actor=actor, result=rng.choice(RESULTS))
        return task

    def _next_task(
        self, rng: random.Random, actor: Actor, deal: Any, kinds: list[tuple[str, str]], fate: str
    ) -> None:
        """The next task of an open deal, by its fate (FATES): mostly in the coming working
        days, some due today (done already, or later today), a few overdue, a few none."""
        now, today = self.now, self.today
        entered = deal.stage_entered_at
        if fate == "no_task":
            return
        set_from = max(entered, now - dt.timedelta(days=4))
        if fate == "overdue":
            deadline = deadline_slot(
                rng,
                max(entered + dt.timedelta(hours=1), now - dt.timedelta(days=3)),
                now - dt.timedelta(minutes=20),
                today=today,
            )
            if deadline is not None:
                created = office_time(rng, entered, deadline - dt.timedelta(hours=1))
                self._task(rng, actor, deal, created, deadline, kinds)
                return
        elif fate == "done_today" and (now >= _at(today, DAY_OPEN) or rng.random() < 0.35):
            # Before the working day starts only a few of today's tasks are done (ahead).
            self._done_today(rng, actor, deal, kinds)
            set_from = max(set_from, min(now, entered + dt.timedelta(minutes=30)))
        elif fate in ("later_today", "done_today"):  # due later today
            deadline = deadline_slot(
                rng, now + dt.timedelta(minutes=15), _at(today, LAST_SLOT), today=today
            )
            if deadline is not None:
                self._open_task(rng, actor, deal, set_from, deadline, kinds)
                return
        # In the coming working days (1–8 ahead, mostly the next three).
        day = today
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8])):
            day += dt.timedelta(days=1)
            while day.weekday() >= 5:
                day += dt.timedelta(days=1)
        deadline = deadline_slot(rng, _at(day, DAY_OPEN), _at(day, LAST_SLOT))
        assert deadline is not None  # a working day always has slots
        self._open_task(rng, actor, deal, set_from, deadline, kinds)

    def _done_today(
        self, rng: random.Random, actor: Actor, deal: Any, kinds: list[tuple[str, str]]
    ) -> None:
        """A task due today that is done already: due earlier today — or, before the working
        day starts, later today and done ahead of time (yesterday evening)."""
        now, today = self.now, self.today
        entered = deal.stage_entered_at
        deadline = deadline_slot(
            rng, _at(today, DAY_OPEN), min(now, _at(today, LAST_SLOT)), today=today
        ) or deadline_slot(rng, _at(today, DAY_OPEN), _at(today, LAST_SLOT), today=today)
        assert deadline is not None
        latest = min(now, deadline + dt.timedelta(minutes=30)) - dt.timedelta(minutes=5)
        created = office_time(
            rng, max(entered, latest - dt.timedelta(days=3)), latest - dt.timedelta(minutes=30)
        )
        if created >= latest or created >= deadline:
            return
        done_at = office_time(rng, created + dt.timedelta(minutes=20), latest)
        self._task(rng, actor, deal, created, deadline, kinds, done_at=done_at)

    def _open_task(
        self,
        rng: random.Random,
        actor: Actor,
        deal: Any,
        set_from: dt.datetime,
        deadline: dt.datetime,
        kinds: list[tuple[str, str]],
    ) -> None:
        """An open task due at `deadline`; about one in seven was first set for an earlier
        time and put off once, with a reason (the history row of the task)."""
        now = self.now
        created = office_time(rng, set_from, min(now, deadline) - dt.timedelta(minutes=5))
        first, moved_at = deadline, None
        if rng.random() < 0.15:
            earlier = deadline_slot(
                rng, created + dt.timedelta(hours=2), deadline - dt.timedelta(hours=1)
            )
            if earlier is not None:
                lo, hi = created + dt.timedelta(minutes=30), min(earlier, now)
                if lo < hi:
                    first, moved_at = earlier, office_time(rng, lo, hi)
        task = self._task(rng, actor, deal, created, first, kinds)
        if moved_at is not None:
            with clock.frozen(moved_at):
                task_reschedule(
                    task=task,
                    actor=actor,
                    deadline=deadline.isoformat(),
                    reason=rng.choice(RESCHEDULE_REASONS),
                )


TASKS = [
    ("call", "Позвонить, уточнить потребность и объём"),
    ("call", "Перезвонить по КП, ответить на вопросы"),
    ("email", "Отправить КП и прайс на почту"),
    ("meeting", "Встреча в офисе клиента, презентация кулеров"),
    ("call", "Согласовать дату первой доставки"),
    ("email", "Выставить счёт на предоплату"),
    ("other", "Подготовить договор поставки"),
]
RESULTS = [
    "Дозвонился, договорились",
    "КП отправлено",
    "Клиент подтвердил",
    "Счёт отправлен",
    "Встреча прошла, интерес есть",
    "Договор подписан",
]

WARMING_TASKS = [
    ("call", "Позвонить: узнать, актуален ли ещё заказ"),
    ("email", "Отправить новое предложение со скидкой"),
    ("call", "Предложить пробную поставку"),
]
COMMENTS = [
    "Клиент просил перезвонить после обеда.",
    "Отправил КП на почту, ждём ответа.",
    "Уточнили объём: нужен кулер на второй этаж.",
    "Договорились о пробной поставке.",
    "Бухгалтерия запросила счёт с НДС.",
]
RESCHEDULE_REASONS = [
    "Клиент в отпуске до конца недели",
    "Попросили перезвонить позже",
    "Ждём согласования бюджета",
    "Директор в командировке",
]
