"""The generators of `voronka seed`: one synthetic deal after another, deterministic per seed."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection, transaction

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
from voronka.demo.bulk import BulkWriter, Table
from voronka.demo.vocabulary import (
    AMOUNTS,
    BIG_OPEN_TARGET,
    BIG_PIPELINE_SHARE,
    CITIES,
    DAY,
    DOMAINS,
    FIRST_F,
    FIRST_M,
    FLUSH_DEALS,
    FOREIGN,
    HISTORY_DAYS,
    LAST,
    LOSS_COMMENTS,
    MIDDLE_F,
    MIDDLE_M,
    MOBILE,
    ORG_FIRST,
    ORG_FORMS,
    ORG_SECOND,
    OTHER_OPEN,
    POSITIONS,
    PRODUCTS,
    RESULTS,
    SOURCES,
    STREETS,
    TASK_COMMENTS,
    TASK_TYPES,
    UTC,
    UTM,
    WON_OF_CLOSED,
    random_account,
    random_inn10,
    random_inn12,
    random_ogrn,
    translit,
)
from voronka.identity.models import User
from voronka.kernel.models import CustomField
from voronka.kernel.money import MAIN_CURRENCY


def _ts(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, UTC)


# --- bulk writer ---------------------------------------------------------------------------------


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
        base_last = LAST[int(r() * len(LAST))]
        last = base_last + ("а" if female else "")
        first = (FIRST_F if female else FIRST_M)[int(r() * 14)]
        middle = (MIDDLE_F if female else MIDDLE_M)[int(r() * 6)]
        city = CITIES[int(r() * len(CITIES))]
        kind_roll = r()
        inn = kpp = ogrn = bik = account = bank = email = ""
        if kind_roll < 0.55:
            kind = "legal"
            name = (
                f"{ORG_FORMS[int(r() * len(ORG_FORMS))]} «{ORG_FIRST[int(r() * len(ORG_FIRST))]} "
                f"{ORG_SECOND[int(r() * len(ORG_SECOND))]}»"
            )
            inn = random_inn10(rng)
            kpp, ogrn, bik, bank = inn[:4] + "01001", random_ogrn(rng), "044525225", "ПАО Сбербанк"
            account = random_account(rng, bik)
            email = f"info@{translit(name)[:14] or 'firm'}{company_id}.ru"
            address_kind = "legal"
        elif kind_roll < 0.75:
            kind = "sole_proprietor"
            name = f"ИП {last} {first[0]}.{middle[0]}."
            inn = random_inn12(rng)
            address_kind = "actual"
        else:
            kind = "family"
            name = f"Семья {base_last}ых"
            address_kind = "home"
        phone = f"+7{MOBILE[int(r() * len(MOBILE))]}{rng.randint(1000000, 9999999)}"
        created_at = _ts(created)
        street = STREETS[int(r() * len(STREETS))]
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
                else LAST[int(r() * len(LAST))] + ("а" if fem else "")
            )
            c_first = first if n == 0 else (FIRST_F if fem else FIRST_M)[int(r() * 14)]
            c_middle = (MIDDLE_F if fem else MIDDLE_M)[int(r() * 6)]
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
                else f"+7{MOBILE[int(r() * len(MOBILE))]}{rng.randint(1000000, 9999999)}"
            )
            self.t["phone"].add((contact_id, number, "mobile"))
            address = (
                f"{translit(c_first)}.{translit(c_last)}{int(r() * 99) + 1}"
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
            assert final is not None  # the branch above takes pipelines with neither
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
                SOURCES[int(r() * len(SOURCES))],
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
