"""Query budget of the badges and the control screen (issue 3, decision 0003): the number of SQL
queries of counters_for, control_table and their HTTP endpoints does not grow with the number
of tasks and deals (10 vs 200 of each). The rows are bulk-loaded and the maintained counters
rebuilt (the `voronka seed` path), so only the row count changes between the two measurements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from factories import make_company, make_contact
from tasks.support import NOW
from voronka.activities.counters import task_counters_rebuild
from voronka.activities.models import Task, TaskStatus
from voronka.activities.task_selectors import control_table, counters_for
from voronka.deals.models import Deal
from voronka.identity.models import User
from voronka.kernel import clock

pytestmark = pytest.mark.django_db

OWNERS = ["a1", "a2", "a11", "head_a", "b1"]


def load(
    n_total: int, personas: Any, pipeline: Any, companies: dict[str, Any], contacts: dict[str, Any]
) -> None:
    """Bring the number of bulk-loaded deals and tasks up to n_total each, then rebuild."""
    have = Deal.objects.filter(title__startswith="Нагрузка").count()
    stages = [pipeline.stages[k] for k in ("new", "talks", "contract", "won", "new", "talks")]
    deals = []
    for i in range(have, n_total):
        key = OWNERS[i % len(OWNERS)]
        stage = stages[i % len(stages)]
        entered = NOW - dt.timedelta(days=i % 11, hours=i % 7)
        deals.append(
            Deal(
                title=f"Нагрузка {i}",
                pipeline=pipeline.sales,
                stage=stage,
                status=stage.semantic,
                amount=i,
                responsible=personas[key].user,
                company=companies[key],
                opened_at=entered,
                stage_entered_at=entered,
                closed_at=entered if stage.is_closed else None,
            )
        )
    Deal.objects.bulk_create(deals)
    new = list(Deal.objects.filter(title__startswith="Нагрузка").order_by("id"))[have:]
    tasks = []
    for i, deal in enumerate(new, start=have):
        key = OWNERS[(i * 3) % len(OWNERS)]
        link: dict[str, Any] = (
            {"deal": deal, "company": deal.company}
            if i % 3 == 0
            else {"contact": contacts[key]}
            if i % 3 == 1
            else {"company": companies[key]}
        )
        tasks.append(
            Task(
                type="call",
                responsible=personas[key].user,
                comment=f"Нагрузка {i}",
                deadline=NOW + dt.timedelta(hours=(i % 97) - 60),
                status=TaskStatus.DONE if i % 5 == 0 else TaskStatus.OPEN,
                completed_at=NOW - dt.timedelta(hours=1) if i % 5 == 0 else None,
                **link,
            )
        )
    Task.objects.bulk_create(tasks)
    task_counters_rebuild()


def queries(fn: Callable[[], Any]) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return len(ctx.captured_queries), result


def fresh(personas: Any, key: str) -> User:
    """A user object without cached scopes, as a request would load it."""
    return User.objects.get(pk=personas[key].pk)


def measure(personas: Any, api: Any, web: Any, dept_a: int) -> dict[str, tuple[int, Any]]:
    with clock.frozen(NOW):
        out = {
            "counters_for owner": queries(lambda: counters_for(user=fresh(personas, "owner"))),
            "counters_for head_a": queries(lambda: counters_for(user=fresh(personas, "head_a"))),
            "counters_for a1": queries(lambda: counters_for(user=fresh(personas, "a1"))),
            "control_table head_a": queries(
                lambda: [
                    (r.user.pk, r.open_deals, r.overdue_tasks, r.deals_over_sla, r.tasks_done_today)
                    for r in control_table(user=fresh(personas, "head_a"), department_id=dept_a)
                ]
            ),
            "control_table owner": queries(
                lambda: [
                    (r.user.pk, r.open_deals, r.overdue_tasks)
                    for r in control_table(user=fresh(personas, "owner"))
                ]
            ),
        }
        owner_api, head_api, owner_web = api("owner"), api("head_a"), web("owner")
        # Warm up: the first request of a client also stamps its token / session (once).
        owner_api.get_json("/api/v1/me/counters")
        head_api.get_json(f"/api/v1/control?department={dept_a}")
        owner_web.get("/counters/")
        out["GET /api/v1/me/counters"] = queries(
            lambda: owner_api.get_json("/api/v1/me/counters").json()
        )
        out["GET /api/v1/control"] = queries(
            lambda: head_api.get_json(f"/api/v1/control?department={dept_a}").json()
        )
        out["GET /counters/"] = queries(lambda: owner_web.get("/counters/").status_code)
    return out


def test_counters_and_control_do_not_grow_with_rows(
    personas: Any, pipeline: Any, api: Any, web: Any, org: Any
) -> None:
    companies = {
        k: make_company(responsible=personas[k].user, name=f"ООО Объём {k}") for k in OWNERS
    }
    contacts = {
        k: make_contact(responsible=personas[k].user, company=companies[k], first_name=f"Объём {k}")
        for k in OWNERS
    }
    dept_a = org.departments["a"].pk
    load(10, personas, pipeline, companies, contacts)
    small = measure(personas, api, web, dept_a)
    load(200, personas, pipeline, companies, contacts)
    large = measure(personas, api, web, dept_a)
    counts = {name: (small[name][0], large[name][0]) for name in small}
    print("\n[query counts 10 vs 200]", counts)
    assert all(a == b for a, b in counts.values()), counts
    # The data really grew (the measurement is not of an empty screen).
    assert (
        large["counters_for owner"][1]["open_deals"]
        > small["counters_for owner"][1]["open_deals"] + 100
    )
    assert (
        large["counters_for owner"][1]["overdue_tasks"]
        > small["counters_for owner"][1]["overdue_tasks"] + 50
    )
    assert sum(r[2] for r in large["control_table head_a"][1]) > sum(
        r[2] for r in small["control_table head_a"][1]
    )
    assert large["GET /counters/"][1] == 200
    # Budgets (the current numbers; a regression adds queries).
    assert counts["counters_for owner"][1] <= 9, counts
    assert counts["control_table head_a"][1] <= 13, counts


def test_negative_control_a_per_row_counter_is_caught(personas: Any, pipeline: Any) -> None:
    """The 10-vs-200 comparison is not vacuous: a naive per-deal recount (one query per deal)
    measured the same way grows with the rows and fails the same equality."""
    companies = {
        k: make_company(responsible=personas[k].user, name=f"ООО Наивная {k}") for k in OWNERS
    }
    contacts = {
        k: make_contact(
            responsible=personas[k].user, company=companies[k], first_name=f"Наивный {k}"
        )
        for k in OWNERS
    }

    def naive() -> int:
        return sum(
            1
            for d in Deal.objects.filter(status="open")
            if not d.tasks.filter(status="open").exists()
        )

    load(10, personas, pipeline, companies, contacts)
    small = queries(naive)
    load(200, personas, pipeline, companies, contacts)
    large = queries(naive)
    assert large[0] > small[0] + 100  # the equality the real test asserts would fail
