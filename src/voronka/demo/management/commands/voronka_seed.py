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

import random
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from voronka.deals.models import (
    LossReason,
    Pipeline,
)
from voronka.demo.seeder import Seeder
from voronka.demo.vocabulary import (
    CALLS_STAGES,
    DEAL_FIELDS,
    FIRST_F,
    FIRST_M,
    LAST,
    LOSS_REASONS,
    MIDDLE_F,
    MIDDLE_M,
    SALES_STAGES,
    TEAM_DEPARTMENTS,
    WARMING_STAGES,
)
from voronka.identity.models import Department, User
from voronka.identity.services import department_create, roles_ensure_defaults
from voronka.kernel import clock
from voronka.kernel.models import CustomField

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
        from voronka.customfields.services import custom_field_create
        from voronka.deals.services import pipeline_create
        from voronka.kernel.actor import Actor

        if not Pipeline.objects.filter(is_active=True).exists():
            actor = Actor.system()
            existing = set(CustomField.objects.filter(entity="deal").values_list("key", flat=True))
            for key, name, ftype, choices in DEAL_FIELDS:
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
            sales = pipeline_create(actor=actor, name="Продажа", stages=SALES_STAGES)
            pipeline_create(actor=actor, name="Обзвон", stages=CALLS_STAGES)
            warming = pipeline_create(actor=actor, name="Подогрев", stages=WARMING_STAGES)
            for index, name in enumerate(LOSS_REASONS):
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
            last = rng.choice(LAST) + ("а" if female else "")
            user = User(
                username=username,
                first_name=rng.choice(FIRST_F if female else FIRST_M),
                last_name=last,
                patronymic=rng.choice(MIDDLE_F if female else MIDDLE_M),
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
