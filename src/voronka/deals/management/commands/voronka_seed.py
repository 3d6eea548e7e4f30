"""`voronka seed --deals N [--seed S] [--tasks-per-deal K]`: synthetic data for benchmarks.

Adds N deals with their companies (~N/3), contacts (~N/2, E.164 phones, e-mails), stage history
(StageChange rows ending at each deal's stage and `stage_entered_at`) and tasks (~K per deal:
mostly done; the open ones with deadlines from three weeks ago to three weeks ahead), spread
over the existing pipelines and active users and over the last 12 months. One pipeline (the
first active one) holds ~30 % of all deals as open deals: 300,000 of 1,000,000.

When the database has no pipeline, the three pipelines of the demo are created; when no active
user holds the manager role, a synthetic team is created (an owner, «Отдел продаж №1» with a
head and 20 managers — the control-screen benchmark needs it — and «Отдел продаж №2» with a head
and 5 managers; passwords unusable: use `voronka token USERNAME`). Both through the services.

Fast, not faithful to the services: rows are written in bulk (PostgreSQL: COPY through
psycopg 3 with the foreign keys of the loaded tables dropped and re-added — re-adding
validates every row; SQLite: executemany), all in one transaction. So there are NO audit
entries and NO outbox events for synthetic data, and nothing is sent to automations. At the
end the maintained counters are recomputed from the rows
(`activities.counters.task_counters_rebuild()`, which also sets the LTV per currency and
`Company.ltv`, the won deals in the main currency); on PostgreSQL the loaded tables are
vacuumed and analysed after the commit. A few deals are in USD and EUR (by their id, so the
random stream is the same as without them): the board's sums are per currency.
Run it while nobody writes to the database (ids are reserved in blocks; tables are locked).

Deterministic for a given --seed: the same names, amounts, stages and offsets, relative to
the moment it runs (the application clock, so tests can freeze it).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import time
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction

from voronka.activities.counters import task_counters_rebuild
from voronka.activities.models import Task, TaskDayCounter
from voronka.contacts.models import Company, CompanyAddress, Contact, ContactEmail, ContactPhone
from voronka.deals.models import (
    CompanyLtv,
    Deal,
    DealBoardCounter,
    DealStageDayCounter,
    DealUserCounter,
    LossReason,
    Pipeline,
    Stage,
    StageChange,
    StageSemantic,
)
from voronka.identity.models import Department, User
from voronka.identity.services import department_create, roles_ensure_defaults
from voronka.kernel import clock
from voronka.kernel.models import CustomField
from voronka.kernel.money import MAIN_CURRENCY
from voronka.web.management.commands import voronka_demo as demo

UTC = dt.UTC
DAY = 86400.0
HISTORY_DAYS = 365
BIG_PIPELINE_SHARE = 0.55  # of all deals; with 55 % of them open: ~30 % of all deals
BIG_OPEN_TARGET = 0.30  # open deals of the big pipeline / all deals
OTHER_OPEN = 0.30  # open share in the other pipelines
WON_OF_CLOSED = 0.45
FLUSH_DEALS = 20000  # deals per bulk write (with their companies, contacts, history, tasks)

PRODUCTS = [
    "Доставка воды",
    "Вода + кулер",
    "Договор поставки",
    "Разовый заказ",
    "Абонемент на воду",
    "Аренда кулера",
    "Поставка для офиса",
    "Обслуживание кулеров",
]
AMOUNTS = [3500, 5600, 8900, 12400, 18000, 24500, 36000, 52000, 78000, 120000, 185000, 260000]
# Deals in another currency: every 40th deal id in USD, every 100th in EUR (~3.5 %), with the
# amount in that currency (≈ the rouble amount / rate).
FOREIGN = (("EUR", 100, 100), ("USD", 40, 90))  # (currency, every n-th deal id, rate)
ORG_FORMS = ["ООО", "ООО", "ООО", "АО", "ПАО", "ЗАО"]
ORG_FIRST = [
    "Альфа",
    "Вектор",
    "Гранит",
    "Меридиан",
    "Ресурс",
    "Светоч",
    "Прогресс",
    "Эталон",
    "Северный",
    "Техно",
    "Логистик",
    "Медиа",
    "Бизнес",
    "Дента",
    "Фитнес",
    "Авто",
    "Хлебный",
    "Детский",
    "Мед",
    "Офис",
    "Инжиниринг",
    "Консалт",
    "Торговый",
    "Кофе",
    "Стиль",
    "Школьный",
    "Строй",
    "Агро",
    "Транс",
    "Энерго",
    "Финанс",
    "Сервис",
]
ORG_SECOND = [
    "Плюс",
    "Про",
    "М",
    "Сити",
    "Экспресс",
    "Север",
    "Юг",
    "24",
    "Групп",
    "Трейд",
    "Лайн",
    "Дом",
    "Центр",
    "Мир",
    "Сфера",
    "Холдинг",
    "Партнёр",
    "Маркет",
    "Альянс",
    "Регион",
    "Стандарт",
    "Комплект",
    "Снаб",
    "Систем",
]
UTM = ["yandex", "vk", "google", "telegram", "", "", ""]
POSITIONS = [
    "Директор",
    "Офис-менеджер",
    "Бухгалтер",
    "Администратор",
    "Завхоз",
    "Генеральный директор",
    "Закупщик",
    "Секретарь",
]
DOMAINS = ["mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru"]
TASK_TYPES = ["call"] * 11 + ["meeting"] * 2 + ["email"] * 4 + ["other"] * 3
TASK_COMMENTS = {
    "call": [
        "Позвонить, уточнить потребность и объём",
        "Перезвонить по КП, ответить на вопросы",
        "Согласовать дату первой доставки",
        "Напомнить об оплате счёта",
        "Уточнить, получили ли воду",
        "Предложить абонемент на квартал",
    ],
    "meeting": [
        "Встреча в офисе клиента, презентация кулеров",
        "Подписание договора",
        "Дегустация воды в офисе",
    ],
    "email": [
        "Отправить КП и прайс на почту",
        "Выставить счёт на предоплату",
        "Отправить скан договора",
        "Отправить акт сверки",
    ],
    "other": [
        "Подготовить договор поставки",
        "Проверить оплату в банке",
        "Согласовать скидку с руководителем",
    ],
}
RESULTS = [
    "Дозвонился, договорились",
    "КП отправлено",
    "Клиент подтвердил",
    "Счёт отправлен",
    "Встреча прошла, интерес есть",
    "Договор подписан",
    "Не дозвонился, перезвоню",
    "Клиент думает, вернётся на следующей неделе",
    "Оплата поступила",
]
LOSS_COMMENTS = [
    "",
    "",
    "Нашли дешевле",
    "Переехали",
    "Не отвечает на звонки",
    "Закрыли офис",
    "Решили пить из-под крана",
]
TEAM_DEPARTMENTS = [("Отдел продаж №1", 20), ("Отдел продаж №2", 5)]


@functools.cache
def _translit(text: str) -> str:
    return demo._translit(text)


def _ts(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, UTC)


# --- bulk writer ---------------------------------------------------------------------------------


class Table:
    """A table being loaded: its columns (ours, then constant defaults of the rest) and a buffer."""

    def __init__(
        self, model: type[models.Model], columns: Sequence[str], *, table: str | None = None
    ) -> None:
        self.model = model
        self.table = table or model._meta.db_table
        fields = {f.column: f for f in model._meta.concrete_fields}
        unknown = [c for c in columns if c not in fields]
        if unknown:
            raise CommandError(f"{self.table}: no columns {unknown}")
        self.fields = [fields[c] for c in columns]
        rest = [
            f for f in model._meta.concrete_fields if f.column not in columns and not f.primary_key
        ]
        # Columns another change may add later get their model default, written once per row.
        self.extra_fields = [f for f in rest if f.has_default() or f.null]
        self.extra = tuple(
            f.get_db_prep_save(f.get_default(), connection) if f.has_default() else None
            for f in self.extra_fields
        )
        self.columns = [*columns, *(f.column for f in self.extra_fields)]
        self.rows: list[tuple[Any, ...]] = []
        self.written = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row + self.extra if self.extra else row)


class BulkWriter:
    def __init__(self) -> None:
        self.vendor = connection.vendor
        self.qn = connection.ops.quote_name

    def reserve_ids(self, model: type[models.Model], count: int) -> int:
        """The first of `count` consecutive primary keys nobody else will get."""
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
                seq = cursor.fetchone()[0]
                cursor.execute("SELECT setval(%s, nextval(%s) + %s - 1)", [seq, seq, count])
                return int(cursor.fetchone()[0]) - count + 1
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.qn(table)}")
            return int(cursor.fetchone()[0]) + 1

    def flush(self, table: Table) -> None:
        if not table.rows:
            return
        cols = ", ".join(self.qn(c) for c in table.columns)
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                raw = cursor.cursor  # the psycopg cursor under Django's wrapper
                with raw.copy(f"COPY {self.qn(table.table)} ({cols}) FROM STDIN") as copy:
                    write = copy.write_row
                    for row in table.rows:
                        write(row)
            else:
                marks = ", ".join(["%s"] * len(table.columns))
                adapt = _sqlite_adapter(table)
                cursor.executemany(
                    f"INSERT INTO {self.qn(table.table)} ({cols}) VALUES ({marks})",
                    [adapt(row) for row in table.rows],
                )
        table.written += len(table.rows)
        table.rows = []

    # PostgreSQL: checking each foreign key per row during COPY costs more than the load;
    # drop them for the load and re-add them (one validating join per constraint).
    def drop_foreign_keys(self, tables: Iterable[str]) -> list[tuple[str, str, str]]:
        if self.vendor != "postgresql":
            return []
        with connection.cursor() as cursor:
            # Pending deferred checks of the caller's transaction would forbid the ALTER TABLE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
                [list(tables)],
            )
            found = [(t, n, d) for t, n, d in cursor.fetchall()]
            for table, name, _definition in found:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.qn(name)}")
        return found

    def rows_of(self, model: type[models.Model]) -> int:
        if self.vendor != "postgresql":
            return model._default_manager.count()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass",
                [model._meta.db_table],
            )
            return int(cursor.fetchone()[0])

    def drop_indexes(self, tables: Iterable[str]) -> list[tuple[str, str]]:
        """PostgreSQL: drop the secondary indexes (not those of the primary key or of a
        constraint) of the loaded tables; `create_indexes` builds them again after the load."""
        if self.vendor != "postgresql":
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [list(tables)],
            )
            found = [(name, definition) for name, definition in cursor.fetchall()]
            for name, _definition in found:
                cursor.execute(f"DROP INDEX {name}")
        return found

    def create_indexes(self, found: list[tuple[str, str]]) -> None:
        with connection.cursor() as cursor:
            for _name, definition in found:
                cursor.execute(definition)

    def add_foreign_keys(self, found: list[tuple[str, str, str]]) -> None:
        with connection.cursor() as cursor:
            for table, name, definition in found:
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {self.qn(name)} {definition}")
            if self.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _sqlite_adapter(table: Table) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Per column, what Django's SQLite backend would store (naive UTC text for datetimes)."""

    def stamp(value: Any) -> Any:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")

    def day(value: Any) -> Any:
        return None if value is None else value.isoformat()

    convert: list[tuple[int, Callable[[Any], Any]]] = []
    for index, column in enumerate(table.columns):
        field = table.model._meta.get_field(
            next(f.name for f in table.model._meta.concrete_fields if f.column == column)
        )
        if isinstance(field, models.DateTimeField):
            convert.append((index, stamp))
        elif isinstance(field, models.DateField):
            convert.append((index, day))
    if not convert:
        return lambda row: row

    def adapt(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for index, func in convert:
            values[index] = func(values[index])
        return tuple(values)

    return adapt


# --- the command ---------------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Add N synthetic deals (companies, contacts, stage history, tasks) fast, for benchmarks."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--deals", type=int, required=True, help="how many deals to add")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--tasks-per-deal", type=int, default=3, help="average tasks per deal (default 3)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        count, seed, per_deal = opts["deals"], opts["seed"], opts["tasks_per_deal"]
        if count < 1 or count > 50_000_000:
            raise CommandError("--deals: 1..50000000")
        if per_deal < 0 or per_deal > 50:
            raise CommandError("--tasks-per-deal: 0..50")
        started = time.monotonic()
        with transaction.atomic():
            self._ensure_config(random.Random(seed))
        seeder = Seeder(seed=seed, tasks_per_deal=per_deal, now=clock.now(), out=self.stdout.write)
        seeder.run(count)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {count} deals in {time.monotonic() - started:.1f} s "
                f"(no audit entries or outbox events for synthetic rows)"
            )
        )

    def _ensure_config(self, rng: random.Random) -> None:
        from voronka.deals.services import custom_field_create, pipeline_create
        from voronka.kernel.actor import Actor

        if not Pipeline.objects.filter(is_active=True).exists():
            actor = Actor.system()
            existing = set(CustomField.objects.filter(entity="deal").values_list("key", flat=True))
            for key, name, ftype, choices in demo.DEAL_FIELDS:
                if key not in existing:
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
            sales = pipeline_create(actor=actor, name="Продажа", stages=demo.SALES_STAGES)
            pipeline_create(actor=actor, name="Обзвон", stages=demo.CALLS_STAGES)
            warming = pipeline_create(actor=actor, name="Подогрев", stages=demo.WARMING_STAGES)
            for index, name in enumerate(demo.LOSS_REASONS):
                LossReason.objects.get_or_create(
                    name=name,
                    defaults={
                        "sort": index,
                        "warming_stage": warming.stages.filter(name=name).first(),
                    },
                )
            Pipeline.objects.filter(pk=sales.pk).update(sort=0)
            self.stdout.write("Created pipelines Продажа, Обзвон, Подогрев")
        if not User.objects.filter(is_active=True, roles__code="manager").exists():
            self._team(rng)

    def _team(self, rng: random.Random) -> None:
        roles = roles_ensure_defaults()
        used: set[str] = set(User.objects.values_list("username", flat=True))

        def person(username: str, role: str, dept: Department) -> User:
            female = rng.random() < 0.5
            last = rng.choice(demo.LAST) + ("а" if female else "")
            user = User(
                username=username,
                first_name=rng.choice(demo.FIRST_F if female else demo.FIRST_M),
                last_name=last,
                patronymic=rng.choice(demo.MIDDLE_F if female else demo.MIDDLE_M),
                email=f"{username}@seed.voronka.example",
                department=dept,
            )
            user.set_unusable_password()
            user.save()
            user.roles.add(roles[role])
            return user

        def free(name: str) -> str:
            if name in used:
                raise CommandError(
                    f"user {name!r} exists but holds no manager role; remove it first"
                )
            used.add(name)
            return name

        root = department_create(name="Компания")
        owner = person(free("seed_owner"), "owner", root)
        root.head = owner
        root.save(update_fields=["head"])
        number = 0
        for index, (name, managers) in enumerate(TEAM_DEPARTMENTS, start=1):
            dept = department_create(name=name, parent=root)
            dept.head = person(free(f"seed_head{index}"), "head", dept)
            dept.save(update_fields=["head"])
            for _ in range(managers):
                number += 1
                person(free(f"seed_m{number:02d}"), "manager", dept)
        self.stdout.write(
            f"Created a team: seed_owner, {len(TEAM_DEPARTMENTS)} heads, {number} managers"
        )


class Seeder:
    def __init__(
        self, *, seed: int, tasks_per_deal: int, now: dt.datetime, out: Callable[[str], Any]
    ) -> None:
        self.rng = random.Random(seed)
        self.per_deal = tasks_per_deal
        self.now = now.timestamp()
        self.out = out
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        local_now = now.astimezone(zone)
        self.today0 = dt.datetime.combine(local_now.date(), dt.time.min, zone).timestamp()
        self.writer = BulkWriter()
        self.t = {
            "company": Table(
                Company,
                [
                    "id",
                    "created_at",
                    "updated_at",
                    "name",
                    "type",
                    "inn",
                    "kpp",
                    "ogrn",
                    "bank_bik",
                    "bank_account",
                    "bank_name",
                    "phone",
                    "email",
                    "website",
                    "comment",
                    "responsible_id",
                    "custom",
                    "ltv",
                    "last_interaction_at",
                    "version",
                ],
            ),
            "address": Table(CompanyAddress, ["company_id", "kind", "text", "postal_code"]),
            "contact": Table(
                Contact,
                [
                    "id",
                    "created_at",
                    "updated_at",
                    "company_id",
                    "last_name",
                    "first_name",
                    "middle_name",
                    "position",
                    "birthday",
                    "messengers",
                    "consent_calls",
                    "consent_mailing",
                    "comment",
                    "responsible_id",
                    "custom",
                    "version",
                ],
            ),
            "phone": Table(ContactPhone, ["contact_id", "number", "kind"]),
            "email": Table(ContactEmail, ["contact_id", "address", "kind"]),
            "deal": Table(
                Deal,
                [
                    "id",
                    "created_at",
                    "updated_at",
                    "title",
                    "pipeline_id",
                    "stage_id",
                    "status",
                    "amount",
                    "currency",
                    "responsible_id",
                    "company_id",
                    "source",
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                    "utm_content",
                    "utm_term",
                    "comment",
                    "custom",
                    "opened_at",
                    "closed_at",
                    "stage_entered_at",
                    "loss_reason_id",
                    "loss_comment",
                    "created_by_id",
                    "version",
                    "open_tasks",
                    "next_task_deadline",
                ],
            ),
            "deal_contact": Table(Deal.contacts.through, ["deal_id", "contact_id"]),
            "stage_change": Table(
                StageChange,
                [
                    "deal_id",
                    "from_stage_id",
                    "to_stage_id",
                    "at",
                    "by_id",
                    "actor_kind",
                    "seconds_in_from",
                ],
            ),
            "task": Table(
                Task,
                [
                    "type",
                    "responsible_id",
                    "deadline",
                    "comment",
                    "status",
                    "result",
                    "deal_id",
                    "contact_id",
                    "company_id",
                    "created_by_id",
                    "created_at",
                    "updated_at",
                    "completed_at",
                    "completed_by_id",
                    "version",
                ],
            ),
        }
        self._load_config()

    # -- configuration ---------------------------------------------------------------------------

    def _load_config(self) -> None:
        pipelines = []
        for pipeline in (
            Pipeline.objects.filter(is_active=True)
            .prefetch_related("stages")
            .order_by("sort", "id")
        ):
            stages = list(pipeline.stages.all())
            opened = [s.pk for s in stages if s.semantic == StageSemantic.OPEN]
            if not opened:
                continue
            won = [s.pk for s in stages if s.semantic == StageSemantic.WON]
            lost = [s.pk for s in stages if s.semantic == StageSemantic.LOST]
            pipelines.append(
                (pipeline.pk, opened, won[0] if won else None, lost[0] if lost else None)
            )
        if not pipelines:
            raise CommandError("No active pipeline with an open stage")
        # Deals that passed a stage with required fields carry them (as if the move was checked).
        fields = {f.key: f for f in CustomField.objects.filter(entity="deal", is_active=True)}
        self.required: dict[int, list[CustomField]] = {}
        for stage in Stage.objects.filter(pipeline__in=[p[0] for p in pipelines]):
            keys = [
                k for k in stage.required_fields or [] if k in fields and fields[k].type != "file"
            ]
            if keys:
                self.required[stage.pk] = [fields[k] for k in keys]
        self.pipelines = pipelines
        self.big = pipelines[0]
        self.big_share = BIG_PIPELINE_SHARE if len(pipelines) > 1 else 1.0
        self.big_open = min(1.0, BIG_OPEN_TARGET / self.big_share)
        self.loss_reasons = list(
            LossReason.objects.filter(is_active=True).values_list("pk", flat=True)
        )
        users = list(User.objects.filter(is_active=True).prefetch_related("roles").order_by("id"))
        if not users:
            raise CommandError("No active users")
        pool: list[int] = []
        for user in users:
            codes = {r.code for r in user.roles.all()}
            weight = 20 if "manager" in codes or not codes else 6 if "head" in codes else 1
            pool.extend([user.pk] * weight)
        self.user_pool = pool

    # -- generation ------------------------------------------------------------------------------

    def run(self, count: int) -> None:
        writer = self.writer
        started = time.monotonic()
        timings: dict[str, float] = {}
        with transaction.atomic():
            tables = [t.table for t in self.t.values()]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            foreign_keys = writer.drop_foreign_keys(tables)
            # A big load into small tables: build the secondary indexes once, afterwards.
            indexes = (
                writer.drop_indexes(tables)
                if count >= 50_000 and count >= writer.rows_of(Deal)
                else []
            )
            # Ids of companies, contacts and deals are reserved in blocks (rows refer to them).
            self._reserve_clients(int(count * 0.36) + 64)  # 2.9 deals per company on average
            self.next_deal = writer.reserve_ids(Deal, count)
            done = 0
            last_report = started
            while done < count:
                self.remaining = count - done
                done += self._company(min(count - done, self._deals_for_company()))
                if len(self.t["deal"].rows) >= FLUSH_DEALS or done >= count:
                    self._flush_all()
                    elapsed = time.monotonic() - started
                    if time.monotonic() - last_report > 5 or done >= count:
                        last_report = time.monotonic()
                        rows = sum(t.written for t in self.t.values())
                        self.out(
                            f"  {done:>9} deals, {rows:>10} rows  "
                            f"({done / elapsed:,.0f} deals/s, {rows / elapsed:,.0f} rows/s)"
                        )
            timings["load"] = time.monotonic() - started
            step = time.monotonic()
            writer.create_indexes(indexes)
            timings["indexes"] = time.monotonic() - step
            step = time.monotonic()
            writer.add_foreign_keys(foreign_keys)
            timings["foreign keys"] = time.monotonic() - step
            step = time.monotonic()
            self._analyze()
            timings["analyze"] = time.monotonic() - step
            step = time.monotonic()
            task_counters_rebuild()
            timings["counters rebuild"] = time.monotonic() - step
        step = time.monotonic()
        self._vacuum()
        timings["vacuum"] = time.monotonic() - step
        self.timings = timings
        summary = ", ".join(f"{name} {t.written}" for name, t in self.t.items())
        self.out(f"  rows: {summary}")
        self.out("  " + ", ".join(f"{name} {value:.1f} s" for name, value in timings.items()))

    def _reserve_clients(self, companies: int) -> None:
        self.next_company = self.writer.reserve_ids(Company, companies)
        self.company_end = self.next_company + companies
        self.next_contact = self.writer.reserve_ids(Contact, companies * 2)
        self.contact_end = self.next_contact + companies * 2

    def _deals_for_company(self) -> int:
        r = self.rng.random()
        return (
            1
            if r < 0.3
            else 2
            if r < 0.5
            else 3
            if r < 0.65
            else 4
            if r < 0.8
            else 5
            if r < 0.92
            else 7
        )

    def _user(self) -> int:
        pool = self.user_pool
        return pool[int(self.rng.random() * len(pool))]

    def _flush_all(self) -> None:
        for table in self.t.values():
            self.writer.flush(table)

    def _company(self, deals: int) -> int:
        rng, r, now = self.rng, self.rng.random, self.now
        if self.next_company >= self.company_end or self.next_contact + 2 > self.contact_end:
            self._flush_all()  # (SQLite reserves after the highest written id)
            self._reserve_clients(1 + self.remaining // 3)
        company_id = self.next_company
        self.next_company += 1
        responsible = self._user()
        created = now - HISTORY_DAYS * DAY * r()
        female = r() < 0.5
        base_last = demo.LAST[int(r() * len(demo.LAST))]
        last = base_last + ("а" if female else "")
        first = (demo.FIRST_F if female else demo.FIRST_M)[int(r() * 14)]
        middle = (demo.MIDDLE_F if female else demo.MIDDLE_M)[int(r() * 6)]
        city = demo.CITIES[int(r() * len(demo.CITIES))]
        kind_roll = r()
        inn = kpp = ogrn = bik = account = bank = email = ""
        if kind_roll < 0.55:
            kind = "legal"
            name = (
                f"{ORG_FORMS[int(r() * len(ORG_FORMS))]} «{ORG_FIRST[int(r() * len(ORG_FIRST))]} "
                f"{ORG_SECOND[int(r() * len(ORG_SECOND))]}»"
            )
            inn = demo._inn10(rng)
            kpp, ogrn, bik, bank = inn[:4] + "01001", demo._ogrn(rng), "044525225", "ПАО Сбербанк"
            account = demo._account(rng, bik)
            email = f"info@{_translit(name)[:14] or 'firm'}{company_id}.ru"
            address_kind = "legal"
        elif kind_roll < 0.75:
            kind = "sole_proprietor"
            name = f"ИП {last} {first[0]}.{middle[0]}."
            inn = demo._inn12(rng)
            address_kind = "actual"
        else:
            kind = "family"
            name = f"Семья {base_last}ых"
            address_kind = "home"
        phone = f"+7{demo.MOBILE[int(r() * len(demo.MOBILE))]}{rng.randint(1000000, 9999999)}"
        created_at = _ts(created)
        street = demo.STREETS[int(r() * len(demo.STREETS))]
        self.t["address"].add(
            (company_id, address_kind, f"{city}, {street}, д. {int(r() * 120) + 1}", "")
        )
        contacts = []
        for n in range(1 if r() < 0.5 else 2):
            contact_id = self.next_contact
            self.next_contact += 1
            fem = female if n == 0 else r() < 0.5
            c_last = (
                last
                if n == 0 or kind == "family"
                else demo.LAST[int(r() * len(demo.LAST))] + ("а" if fem else "")
            )
            c_first = first if n == 0 else (demo.FIRST_F if fem else demo.FIRST_M)[int(r() * 14)]
            c_middle = (demo.MIDDLE_F if fem else demo.MIDDLE_M)[int(r() * 6)]
            birthday = (
                dt.date(1960 + int(r() * 42), 1 + int(r() * 12), 1 + int(r() * 28))
                if r() < 0.6
                else None
            )
            position = "" if kind == "family" else POSITIONS[int(r() * len(POSITIONS))]
            self.t["contact"].add(
                (
                    contact_id,
                    created_at,
                    created_at,
                    company_id,
                    c_last,
                    c_first,
                    c_middle,
                    position,
                    birthday,
                    "{}",
                    True,
                    r() < 0.3,
                    "",
                    responsible,
                    "{}",
                    1,
                )
            )
            number = (
                phone
                if n == 0
                else f"+7{demo.MOBILE[int(r() * len(demo.MOBILE))]}{rng.randint(1000000, 9999999)}"
            )
            self.t["phone"].add((contact_id, number, "mobile"))
            address = (
                f"{_translit(c_first)}.{_translit(c_last)}{int(r() * 99) + 1}"
                f"@{DOMAINS[int(r() * len(DOMAINS))]}"
            )
            self.t["email"].add((contact_id, address, "work"))
            contacts.append(contact_id)
        ltv = 0
        for _ in range(deals):
            ltv += self._deal(company_id, name, responsible, created, contacts)
        self.t["company"].add(
            (
                company_id,
                created_at,
                created_at,
                name,
                kind,
                inn,
                kpp,
                ogrn,
                bik,
                account,
                bank,
                phone,
                email,
                "",
                "",
                responsible,
                "{}",
                ltv,
                None,
                1,
            )
        )
        # A few tasks hang on the client itself rather than on a deal.
        roll = r()
        if roll < 0.05:
            self._open_task(
                responsible,
                created,
                None,
                contacts[0] if roll < 0.03 else None,
                None if roll < 0.03 else company_id,
            )
        return deals

    def _deal(
        self,
        company_id: int,
        company_name: str,
        company_resp: int,
        company_created: float,
        contacts: list[int],
    ) -> int:
        """One deal with its history and tasks; returns its amount when won in the main
        currency (its share of `Company.ltv`)."""
        r, now = self.rng.random, self.now
        deal_id = self.next_deal
        self.next_deal += 1
        if r() < self.big_share:
            pipeline, open_p = self.big, self.big_open
        else:
            others = self.pipelines[1:] or self.pipelines
            pipeline, open_p = others[int(r() * len(others))], OTHER_OPEN
        pipeline_id, open_stages, won, lost = pipeline
        responsible = company_resp if r() < 0.85 else self._user()
        roll = r()
        if roll < open_p or (won is None and lost is None):
            final = None
            # Open deals are younger (~N/365 new deals a day): recent months more than a year ago.
            opened = max(company_created, now - HISTORY_DAYS * DAY * r() ** 1.2)
            k = min(len(open_stages) - 1, int(len(open_stages) * r() ** 1.4))
            path = open_stages[: k + 1]
            end = now
        else:
            wins = (roll - open_p) / (1 - open_p) < WON_OF_CLOSED
            final = won if (wins and won is not None) or lost is None else lost
            opened = company_created + (now - company_created) * r() * 0.95
            reached = len(open_stages) if final == won else 1 + int(r() * len(open_stages))
            path = [*open_stages[:reached], final]
            end = opened + (now - opened) * (0.05 + 0.95 * r())
        opened = min(opened, now - 60)
        end = max(min(end, now - 1), opened + 1)
        # Entry times: the first at `opened`, the last at `end` (closed) or before `end` (open).
        moves = len(path) - 1
        if final is None:
            cuts = sorted(r() for _ in range(moves))
        else:
            cuts = [*sorted(r() for _ in range(moves - 1)), 1.0]
        times = [opened] + [opened + (end - opened) * c for c in cuts]
        stage_changes = self.t["stage_change"]
        previous = None
        for index, stage_id in enumerate(path):
            at = times[index]
            stage_changes.add(
                (
                    deal_id,
                    previous,
                    stage_id,
                    _ts(at),
                    responsible,
                    "user",
                    None if index == 0 else int(at - times[index - 1]),
                )
            )
            previous = stage_id
        entered = _ts(times[-1])
        status = "open" if final is None else "won" if final == won else "lost"
        amount = AMOUNTS[int(r() * len(AMOUNTS))] * (80 + int(r() * 41)) // 100 // 100 * 100
        currency = MAIN_CURRENCY
        for code, every, rate in FOREIGN:
            if deal_id % every == 0:
                currency, amount = code, max(10, amount // rate // 10 * 10)
                break
        loss_reason = loss_comment = None
        if status == "lost" and self.loss_reasons:
            loss_reason = self.loss_reasons[int(r() * len(self.loss_reasons))]
            loss_comment = LOSS_COMMENTS[int(r() * len(LOSS_COMMENTS))]
        opened_at = _ts(opened)
        custom = "{}"
        if self.required:
            values = {}
            for index, stage_id in enumerate(path):
                for cf in self.required.get(stage_id, ()):
                    values[cf.key] = self._custom_value(cf, times[index])
            if values:
                custom = json.dumps(values, ensure_ascii=False)
        # Tasks: the open deal's next steps (0–2 open) and the done ones behind it.
        total = max(0, self.per_deal + int(r() * 3) - 1) if self.per_deal else 0
        open_count = 0
        next_deadline = None
        if final is None and total:
            roll = r()
            open_count = min(total, 0 if roll < 0.15 else 1 if roll < 0.8 else 2)
            for _ in range(open_count):
                deadline = self._open_task(responsible, opened, deal_id, None, None)
                if next_deadline is None or deadline < next_deadline:
                    next_deadline = deadline
        for _ in range(total - open_count):
            self._done_task(responsible, opened, times[-1] if final is not None else now, deal_id)
        self.t["deal"].add(
            (
                deal_id,
                opened_at,
                entered,
                f"{PRODUCTS[int(r() * len(PRODUCTS))]} — {company_name}"[:255],
                pipeline_id,
                path[-1],
                status,
                amount,
                currency,
                responsible,
                company_id,
                demo.SOURCES[int(r() * len(demo.SOURCES))],
                UTM[int(r() * len(UTM))],
                "",
                "",
                "",
                "",
                "",
                custom,
                opened_at,
                entered if final is not None else None,
                entered,
                loss_reason,
                loss_comment or "",
                responsible,
                len(path),
                open_count,
                _ts(next_deadline) if next_deadline is not None else None,
            )
        )
        self.t["deal_contact"].add((deal_id, contacts[int(r() * len(contacts))]))
        return amount if status == "won" and currency == MAIN_CURRENCY else 0

    def _custom_value(self, cf: CustomField, at: float) -> Any:
        r = self.rng.random
        moment = _ts(at)
        kind = cf.type
        if kind == "number":
            return str(1 + int(r() * 80))
        if kind == "money":
            return {"amount": f"{int(r() * 500) * 100}.00", "currency": "RUB"}
        if kind in ("list", "multi") and cf.choices:
            choice = cf.choices[int(r() * len(cf.choices))]
            return choice if kind == "list" else [choice]
        if kind == "date":
            return (moment + dt.timedelta(days=1 + int(r() * 5))).date().isoformat()
        if kind == "datetime":
            return moment.isoformat()
        if kind == "boolean":
            return r() < 0.5
        if kind == "link":
            return "https://example.ru/"
        return f"Д-{100 + int(r() * 900)}/{moment:%y}"

    def _open_task(
        self,
        responsible: int,
        not_before: float,
        deal_id: int | None,
        contact_id: int | None,
        company_id: int | None,
    ) -> float:
        """An open task: deadlines from three weeks ago to three weeks ahead, at working hours."""
        r = self.rng.random
        roll = r()
        day = -1 - int(r() * 21) if roll < 0.25 else 0 if roll < 0.37 else 1 + int(r() * 21)
        deadline = self.today0 + day * DAY + 9 * 3600 + int(r() * 40) * 900
        if day < 0 and deadline < not_before:  # overdue, but not before the deal existed
            deadline = not_before + (self.now - not_before) * r()
        created = max(not_before, min(deadline, self.now) - DAY * (0.2 + 6 * r()))
        created = min(created, self.now)
        kind = TASK_TYPES[int(r() * len(TASK_TYPES))]
        comments = TASK_COMMENTS[kind]
        self.t["task"].add(
            (
                kind,
                responsible,
                _ts(deadline),
                comments[int(r() * len(comments))],
                "open",
                "",
                deal_id,
                contact_id,
                company_id,
                responsible,
                _ts(created),
                _ts(created),
                None,
                None,
                1,
            )
        )
        return deadline

    def _done_task(self, responsible: int, start: float, end: float, deal_id: int) -> None:
        """A done task: completed at a moment spread evenly over the deal's life (so "done
        today" is a day's share), mostly a little before its deadline, some late."""
        r = self.rng.random
        completed = start + (end - start) * r()
        deadline = completed + 3 * 3600 * r() if r() < 0.8 else max(start, completed - DAY * r())
        created = max(start, min(deadline, completed) - DAY * (0.1 + 4 * r()))
        kind = TASK_TYPES[int(r() * len(TASK_TYPES))]
        comments = TASK_COMMENTS[kind]
        done_at = _ts(completed)
        self.t["task"].add(
            (
                kind,
                responsible,
                _ts(deadline),
                comments[int(r() * len(comments))],
                "done",
                RESULTS[int(r() * len(RESULTS))],
                deal_id,
                None,
                None,
                responsible,
                _ts(created),
                done_at,
                done_at,
                responsible,
                1,
            )
        )

    # -- the end ---------------------------------------------------------------------------------

    def _analyze(self) -> None:
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            for table in self.t.values():
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table.table)}")

    def _vacuum(self) -> None:
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            return  # (inside a caller's transaction, e.g. a test, VACUUM cannot run)
        counters = (
            CompanyLtv,
            DealBoardCounter,
            DealStageDayCounter,
            DealUserCounter,
            TaskDayCounter,
        )
        names = {t.table for t in self.t.values()} | {m._meta.db_table for m in counters}
        with connection.cursor() as cursor:
            for name in sorted(names):
                cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(name)}")
