"""`voronka demo`: the demo company once (idempotent) — users, the three pipelines of seed 002
(Обзвон, Продажа, Подогрев), ~200 clients and deals with six months of history.

Everything is written through the services under a frozen application clock, so the
timeline, audit rows and stage history look exactly as if people had worked for months.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from voronka.activities.services import comment_add
from voronka.activities.tasks_services import task_complete, task_create, task_reschedule
from voronka.contacts.models import Company, CompanyType
from voronka.contacts.services import company_create, contact_create
from voronka.deals.models import LossReason, Pipeline, Stage, StageSemantic
from voronka.deals.services import (
    custom_field_create,
    deal_create,
    deal_move_to_stage,
    pipeline_create,
)
from voronka.identity.models import User
from voronka.identity.services import department_create, roles_ensure_defaults
from voronka.kernel import clock
from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.models import CustomField

PASSWORD = "demo"
USERS = [
    # username, first, last, role
    ("owner", "Андрей", "Соколов", "owner"),
    ("head", "Елена", "Морозова", "head"),
    ("manager1", "Иван", "Петров", "manager"),
    ("manager2", "Мария", "Смирнова", "manager"),
]

DEAL_FIELDS = [
    ("contract_no", "Номер договора", "string", []),
    ("delivery_date", "Дата первой доставки", "date", []),
    ("payment_type", "Способ оплаты", "list", ["Наличные", "Безналичный расчёт", "Карта курьеру"]),
    ("bottles", "Бутылей 19 л в месяц", "number", []),
    ("delivery_address", "Адрес доставки", "address", []),
    ("extras", "Доп. оборудование", "multi", ["Кулер", "Помпа", "Стаканчики", "Подставка"]),
    ("prepayment", "Предоплата", "money", []),
    ("callback_at", "Перезвонить", "datetime", []),
    ("needs_invoice", "Нужен счёт", "boolean", []),
    ("client_site", "Сайт клиента", "link", []),
    ("contract_file", "Скан договора", "file", []),
]

SALES_STAGES = [
    dict(name="Новое обращение", semantic="open", color="#64748b", sla_days=2),
    dict(name="Выявление потребности", semantic="open", color="#3b82f6", sla_days=7),
    dict(name="КП отправлено", semantic="open", color="#8b5cf6", sla_days=10),
    dict(
        name="Оформление заказа",
        semantic="open",
        color="#f59e0b",
        sla_days=5,
        required_fields=["contract_no", "delivery_date", "payment_type"],
    ),
    dict(
        name="Оплата и доставка",
        semantic="open",
        color="#06b6d4",
        sla_days=7,
        required_fields=["amount"],
    ),
    dict(name="Успешно", semantic="won", color="#16a34a"),
    dict(name="Отказ", semantic="lost", color="#dc2626"),
]
CALLS_STAGES = [
    dict(name="Запланирован звонок", semantic="open", color="#64748b", sla_days=14),
    dict(name="Дозвонились", semantic="open", color="#3b82f6", sla_days=2),
    dict(name="Договорились о заказе", semantic="open", color="#f59e0b", sla_days=1),
    dict(name="Заказ оформлен", semantic="won", color="#16a34a"),
    dict(name="Не актуально", semantic="lost", color="#dc2626"),
]
LOSS_REASONS = [
    "Дорого",
    "Выбрали конкурента",
    "Нет потребности сейчас",
    "Не дозвонились",
    "Не устроило качество",
]
WARMING_STAGES = [
    *[
        dict(name=r, semantic="open", color=c, sla_days=30)
        for r, c in zip(
            LOSS_REASONS, ["#f97316", "#ef4444", "#a855f7", "#64748b", "#eab308"], strict=True
        )
    ],
    dict(name="Реанимирован", semantic="won", color="#16a34a"),
    dict(name="Окончательный отказ", semantic="lost", color="#991b1b"),
]

LAST = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
]
FIRST_M = [
    "Александр",
    "Дмитрий",
    "Максим",
    "Сергей",
    "Андрей",
    "Алексей",
    "Артём",
    "Илья",
    "Кирилл",
    "Михаил",
    "Никита",
    "Матвей",
    "Роман",
    "Егор",
    "Олег",
    "Павел",
]
FIRST_F = [
    "Анна",
    "Мария",
    "Елена",
    "Дарья",
    "Алина",
    "Ирина",
    "Екатерина",
    "Ольга",
    "Татьяна",
    "Наталья",
    "Юлия",
    "Светлана",
    "Ксения",
    "Виктория",
]
MIDDLE_M = ["Александрович", "Сергеевич", "Дмитриевич", "Андреевич", "Игоревич", "Викторович"]
MIDDLE_F = ["Александровна", "Сергеевна", "Дмитриевна", "Андреевна", "Игоревна", "Викторовна"]
ORG_WORDS = [
    "Альфа",
    "Вектор",
    "Гранит",
    "Меридиан",
    "Ресурс",
    "Светоч",
    "Прогресс",
    "Эталон",
    "Северстрой",
    "Техносфера",
    "Логистик",
    "Медиа Групп",
    "Бизнес Центр",
    "Стоматология",
    "Фитнес",
    "Автосервис",
    "Пекарня",
    "Детский сад",
    "Клиника",
    "Офис-Сервис",
    "Инжиниринг",
    "Консалтинг",
    "Торговый дом",
    "Кофейня",
    "Салон красоты",
    "Школа",
]
ORG_TAIL = ["Плюс", "Про", "М", "Сити", "Экспресс", "Север", "Юг", "24", "Групп", "Трейд", "Лайн"]
STREETS = [
    "ул. Ленина",
    "пр-т Мира",
    "ул. Гагарина",
    "ул. Садовая",
    "Ленинградский пр-т",
    "ул. Профсоюзная",
    "ул. Новослободская",
    "Варшавское ш.",
    "ул. Тверская",
    "ул. Лесная",
]
CITIES = ["Москва", "Москва", "Москва", "Химки", "Мытищи", "Красногорск", "Одинцово", "Люберцы"]
MOBILE = ["903", "905", "910", "915", "916", "917", "925", "926", "977", "985", "999"]
SOURCES = ["Звонок", "Сайт", "Яндекс.Директ", "ВКонтакте", "Telegram", "Рекомендация", "Авито"]


def _inn10(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(9)]
    digits[0], digits[1] = 7, 7
    weights = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    return "".join(map(str, digits)) + str(
        sum(d * w for d, w in zip(digits, weights, strict=True)) % 11 % 10
    )


def _inn12(rng: random.Random) -> str:
    digits = [7, 7] + [rng.randint(0, 9) for _ in range(8)]
    w11 = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
    digits.append(sum(d * w for d, w in zip(digits, w11, strict=True)) % 11 % 10)
    w12 = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
    digits.append(sum(d * w for d, w in zip(digits, w12, strict=True)) % 11 % 10)
    return "".join(map(str, digits))


def _ogrn(rng: random.Random) -> str:
    body = "1" + "".join(str(rng.randint(0, 9)) for _ in range(11))
    return body + str(int(body) % 11 % 10)


def _account(rng: random.Random, bik: str) -> str:
    digits = list("40702810") + ["0"] + [str(rng.randint(0, 9)) for _ in range(11)]
    weights = [7, 1, 3] * 8
    key = bik[-3:] + "".join(digits)
    total = sum(int(d) * w for d, w in zip(key, weights, strict=False))
    for k in range(10):
        if (total + k * weights[11]) % 10 == 0:
            digits[8] = str(k)
            break
    return "".join(digits)


def _phone(rng: random.Random) -> str:
    return f"+7{rng.choice(MOBILE)}{rng.randint(1000000, 9999999)}"


def _translit(text: str) -> str:
    table = str.maketrans(
        {
            "а": "a",
            "б": "b",
            "в": "v",
            "г": "g",
            "д": "d",
            "е": "e",
            "ё": "e",
            "ж": "zh",
            "з": "z",
            "и": "i",
            "й": "y",
            "к": "k",
            "л": "l",
            "м": "m",
            "н": "n",
            "о": "o",
            "п": "p",
            "р": "r",
            "с": "s",
            "т": "t",
            "у": "u",
            "ф": "f",
            "х": "h",
            "ц": "ts",
            "ч": "ch",
            "ш": "sh",
            "щ": "sch",
            "ъ": "",
            "ы": "y",
            "ь": "",
            "э": "e",
            "ю": "yu",
            "я": "ya",
        }
    )
    return "".join(ch for ch in text.lower().translate(table) if ch.isalnum())


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
        pipelines = {p.name: p for p in Pipeline.objects.all()}
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
                self._client(rng, index, start, now, managers, pipelines)
            if (index + 1) % 50 == 0:
                self.stdout.write(f"  {index + 1} clients")
        self.stdout.write(
            self.style.SUCCESS(
                "Demo loaded: logins owner / head / manager1 / manager2, password demo"
            )
        )

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

    def _client(
        self,
        rng: random.Random,
        index: int,
        start: dt.datetime,
        now: dt.datetime,
        managers: list[User],
        pipelines: dict[str, Pipeline],
    ) -> None:
        manager = rng.choice(managers)
        actor = Actor(kind=ActorKind.USER, user=manager)
        created = start + dt.timedelta(
            minutes=rng.randint(0, int((now - start).total_seconds() / 60 * 0.85))
        )
        created = created.replace(hour=rng.randint(6, 15), minute=rng.randint(0, 59))
        kind = rng.choices(
            [CompanyType.LEGAL, CompanyType.SOLE_PROPRIETOR, CompanyType.FAMILY], [55, 20, 25]
        )[0]
        female = rng.random() < 0.5
        base_last = rng.choice(LAST)
        last = base_last + ("а" if female else "")
        first = rng.choice(FIRST_F if female else FIRST_M)
        middle = rng.choice(MIDDLE_F if female else MIDDLE_M)
        city = rng.choice(CITIES)
        address = f"{city}, {rng.choice(STREETS)}, д. {rng.randint(1, 120)}"
        with clock.frozen(created):
            data: dict[str, Any] = {
                "type": kind,
                "responsible": manager.pk,
                "phone": _phone(rng),
                "addresses": [{"kind": "actual", "text": address}],
                "custom": {
                    "segment": rng.choice(["Офис", "Дом", "HoReCa", "Медицина", "Образование"])
                },
            }
            if kind == CompanyType.LEGAL:
                name = f"ООО «{rng.choice(ORG_WORDS)} {rng.choice(ORG_TAIL)}»"
                bik = "044525225"
                inn = _inn10(rng)
                data.update(
                    name=name,
                    inn=inn,
                    kpp=inn[:4] + "01001",
                    ogrn=_ogrn(rng),
                    bank_bik=bik,
                    bank_account=_account(rng, bik),
                    bank_name="ПАО Сбербанк",
                    email=f"info@{_translit(name)[:12] or 'firm'}{index}.ru",
                )
                data["addresses"].append(
                    {
                        "kind": "legal",
                        "text": f"{city}, {rng.choice(STREETS)}, д. {rng.randint(1, 80)}, оф. {rng.randint(1, 400)}",
                    }
                )
            elif kind == CompanyType.SOLE_PROPRIETOR:
                data.update(name=f"ИП {last} {first[0]}.{middle[0]}.", inn=_inn12(rng))
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
                cf = first if n == 0 else rng.choice(FIRST_F if f2 else FIRST_M)
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
                        "phones": [_phone(rng)] + ([_phone(rng)] if rng.random() < 0.3 else []),
                        "emails": [
                            f"{_translit(cf)}.{_translit(cl)}{rng.randint(1, 99)}@{rng.choice(['mail.ru', 'yandex.ru', 'gmail.com', 'bk.ru'])}"
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
        # Deals: most clients have one in Продажа; some have a periodic-calls deal.
        plan = ["Продажа"] + (["Обзвон"] if rng.random() < 0.25 else [])
        for pname in plan:
            self._deal(rng, actor, company, contacts, pipelines[pname], created, now, address)

    def _deal(
        self,
        rng: random.Random,
        actor: Actor,
        company: Company,
        contacts: list,
        pipeline: Pipeline,
        created: dt.datetime,
        now: dt.datetime,
        address: str,
    ) -> None:
        stages = list(pipeline.stages.all())
        open_stages = [s for s in stages if s.semantic == StageSemantic.OPEN]
        won = next(s for s in stages if s.semantic == StageSemantic.WON)
        lost = next(s for s in stages if s.semantic == StageSemantic.LOST)
        age_days = (now - created).days
        # Older deals are more likely closed.
        roll = rng.random()
        if age_days > 30 and roll < 0.35:
            final = won
        elif age_days > 20 and roll < 0.55:
            final = lost
        else:
            final = open_stages[
                min(len(open_stages) - 1, int(rng.random() ** 1.3 * len(open_stages)))
            ]
        path = (
            open_stages[: open_stages.index(final) + 1]
            if final.semantic == StageSemantic.OPEN
            else (open_stages if final == won else open_stages[: rng.randint(1, len(open_stages))])
        )
        amount = Decimal(
            rng.choice(
                [3500, 5600, 8900, 12400, 18000, 24500, 36000, 52000, 78000, 120000, 185000, 260000]
            )
        )
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
        at = created + dt.timedelta(minutes=rng.randint(5, 240))
        with clock.frozen(at):
            deal = deal_create(
                actor=actor,
                data={
                    "title": title[:255],
                    "company": company.pk,
                    "stage": path[0].pk,
                    "amount": str(amount),
                    "contacts": [c.pk for c in contacts[:2]],
                    "source": rng.choice(SOURCES),
                    "utm_source": rng.choice(["yandex", "vk", "google", ""]),
                    "custom": {"bottles": bottles, "delivery_address": address},
                },
            )
        remaining = max(1.0, (now - at).total_seconds() / 86400 - 0.5)
        steps = path[1:] + ([final] if final.semantic != StageSemantic.OPEN else [])
        step_budget = remaining / (len(steps) + 1) if steps else 0
        for stage in steps:
            at = at + dt.timedelta(
                days=rng.uniform(0.15, 1.6) * step_budget, minutes=rng.randint(1, 600)
            )
            if at >= now:
                break
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
            reason = None
            if stage.semantic == StageSemantic.LOST:
                reason = (
                    LossReason.objects.order_by("?").first()
                    if pipeline.name != "Подогрев"
                    else None
                )
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
                    comment_add(
                        obj=deal,
                        actor=actor,
                        text=rng.choice(
                            [
                                "Клиент просил перезвонить после обеда.",
                                "Отправил КП на почту, ждём ответа.",
                                "Уточнили объём: нужен кулер на второй этаж.",
                                "Договорились о пробной поставке.",
                                "Бухгалтерия запросила счёт с НДС.",
                            ]
                        ),
                    )
        if deal.status == StageSemantic.OPEN and rng.random() < 0.8:
            self._next_task(rng, actor, deal, now)
        if deal.stage.semantic == StageSemantic.LOST and deal.loss_reason_id and rng.random() < 0.6:
            # The methodology of seed 002: a lost client goes to «Подогрев» at its loss reason.
            warming_stage = Stage.objects.filter(pk=deal.loss_reason.warming_stage_id).first()
            if warming_stage is not None:
                with clock.frozen(min(now, at + dt.timedelta(hours=1))):
                    deal_create(
                        actor=actor,
                        data={
                            "title": f"Подогрев — {company.name}"[:255],
                            "company": company.pk,
                            "stage": warming_stage.pk,
                            "amount": "0",
                            "source": "Подогрев",
                            "contacts": [c.pk for c in contacts[:1]],
                        },
                    )

    def _done_task(self, rng: random.Random, actor: Actor, deal: Any, before: dt.datetime) -> None:
        """A task that was set and done before the deal moved on."""
        created = max(deal.stage_entered_at, before - dt.timedelta(hours=rng.randint(2, 48)))
        if created >= before:
            return
        ttype, comment = rng.choice(TASKS)
        with clock.frozen(created):
            task = task_create(
                actor=actor,
                data={
                    "type": ttype,
                    "responsible": deal.responsible_id,
                    "comment": comment,
                    "deal": deal.pk,
                    "deadline": (created + dt.timedelta(hours=rng.randint(2, 30))).isoformat(),
                },
            )
        with clock.frozen(created + (before - created) * rng.uniform(0.3, 0.95)):
            task_complete(task=task, actor=actor, result=rng.choice(RESULTS))

    def _next_task(self, rng: random.Random, actor: Actor, deal: Any, now: dt.datetime) -> None:
        """The next task of an open deal: mostly in the future, some overdue, some moved."""
        ttype, comment = rng.choice(TASKS)
        created = max(deal.stage_entered_at, now - dt.timedelta(days=rng.uniform(0.5, 6)))
        roll = rng.random()
        if roll < 0.25:  # overdue
            deadline = created + (now - created) * rng.uniform(0.2, 0.9)
        elif roll < 0.45:  # today
            deadline = now.replace(hour=rng.randint(6, 16), minute=rng.choice([0, 15, 30, 45]))
            if deadline <= created:
                deadline = created + dt.timedelta(hours=1)
        else:
            deadline = now + dt.timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 8))
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
        if rng.random() < 0.2 and deadline > created + dt.timedelta(hours=3):
            moved_at = created + (min(deadline, now) - created) * 0.5
            with clock.frozen(moved_at):
                task_reschedule(
                    task=task,
                    actor=actor,
                    deadline=(deadline + dt.timedelta(days=rng.randint(1, 3))).isoformat(),
                    reason=rng.choice(
                        [
                            "Клиент в отпуске до конца недели",
                            "Попросили перезвонить позже",
                            "Ждём согласования бюджета",
                            "Директор в командировке",
                        ]
                    ),
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


assert CustomField  # imported for type checkers of the config above
