"""RELIABILITY rows 1 and 2 for tasks and counters.

Row 1 (AUTHZ-MATRIX, tasks): principals × task scope (own, colleague, sub-dept, parent-dept,
other dept, owner-deactivated) × actions (view, list, edit, reassign, complete, reschedule,
history) through the ninja API as the real user (Bearer token). Expected: allowed exactly when
the independent oracle (tasks/oracle.py, plain SQL) says the task is visible; otherwise 404 (a
task outside the scope does not exist) and nothing written; anonymous and deactivated: 401.
Every write runs in a savepoint that is rolled back, so cells are independent.

Row 2 (AUTHZ-AGGREGATE-LEAK, tasks): for each principal the oracle's visible task ids and badge
values are compared with /api/v1/tasks (every page, with filters), /api/v1/me/counters, the
calendar/my-day selectors and the control table.

Negative controls: negative_controls.no_scope_filter must turn both red."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction

from factories import table_counts
from negative_controls import no_scope_filter
from tasks import oracle
from tasks.support import NOW, World, record_figures
from voronka.activities.task_selectors import calendar_tasks, control_table, counters_for
from voronka.kernel import clock

pytestmark = pytest.mark.django_db

PRINCIPALS = [
    "a1",
    "a2",
    "a11",
    "b1",
    "head_a",
    "head_b",
    "head_root",
    "owner",
    "admin",
    "integration",
    "deact",
    "anonymous",
]
TASK_OWNERS = ["a1", "a2", "a11", "head_a", "deact", "b1", "head_b", "owner"]
ACTIONS = ["view", "list", "edit", "reassign", "complete", "reschedule", "history"]


@dataclass
class Matrix:
    cells: int = 0
    passed: int = 0
    wrongly_allowed: list[str] = field(default_factory=list)
    wrongly_denied: list[str] = field(default_factory=list)
    wrote_when_denied: list[str] = field(default_factory=list)
    by_scope: Counter = field(default_factory=Counter)

    def figures(self) -> dict[str, Any]:
        return {
            "cells_run": self.cells,
            "passed": self.passed,
            "failed": len(self.wrongly_allowed)
            + len(self.wrongly_denied)
            + len(self.wrote_when_denied),
            "wrongly_allowed": len(self.wrongly_allowed),
            "wrongly_denied": len(self.wrongly_denied),
            "writes_on_denied": len(self.wrote_when_denied),
            "cells_by_scope": dict(self.by_scope),
            "engine": oracle.connection.vendor,
        }


def send(
    client: Any, action: str, task: Any, principal_id: int | None, users: Any
) -> tuple[int, bool]:
    """(status, allowed?) of one cell; `list` → 200/404 by membership in the full list."""
    base = f"/api/v1/tasks/{task.pk}"
    if action == "view":
        r = client.get_json(base)
    elif action == "list":
        r = client.get_json("/api/v1/tasks", {"limit": 200})
        if r.status_code != 200:
            return r.status_code, False
        return (200, True) if task.pk in {t["id"] for t in r.json()["items"]} else (404, False)
    elif action == "edit":
        r = client.patch_json(base, {"comment": "Правка из матрицы"})
    elif action == "reassign":  # to the principal itself: always inside its own scope
        r = client.patch_json(
            base, {"responsible": principal_id or users["a1"].pk, "type": "meeting"}
        )
    elif action == "complete":
        r = client.post_json(f"{base}/complete", {"result": "Сделано из матрицы"})
    elif action == "reschedule":
        r = client.post_json(
            f"{base}/reschedule",
            # In the future of the real clock: a deadline is never moved into the past.
            {"deadline": (clock.now() + dt.timedelta(days=9)).isoformat(), "reason": "Матрица"},
        )
    elif action == "history":
        r = client.get_json(f"{base}/history")
    else:  # pragma: no cover
        raise AssertionError(action)
    return r.status_code, r.status_code == 200


def run_matrix(
    records: Any, personas: Any, users: Any, api: Any, principals: list[str] = PRINCIPALS
) -> Matrix:
    m = Matrix()
    tasks = {k: records[k].task for k in TASK_OWNERS}
    for principal in principals:
        persona = personas[principal]
        client = api(principal)
        visible = oracle.visible_task_ids(persona.pk if persona.active else None)
        for owner_key, task in tasks.items():
            label = (
                oracle.scope_label(persona.pk, task.responsible_id) if persona.pk else "anonymous"
            )
            for action in ACTIONS:
                m.cells += 1
                m.by_scope[label] += 1
                expected = task.pk in visible
                cell = f"{principal} {action} {owner_key}'s task ({label})"
                with transaction.atomic():
                    before = table_counts() if not expected else None
                    status, allowed = send(client, action, task, persona.pk, users)
                    wrote = before is not None and table_counts() != before
                    transaction.set_rollback(True)
                if principal in ("anonymous", "deact"):
                    expected_status = 401
                else:
                    expected_status = 200 if expected else 404
                if allowed and not expected:
                    m.wrongly_allowed.append(f"{cell}: {status}")
                elif status != expected_status:
                    (m.wrongly_denied if expected else m.wrongly_allowed).append(
                        f"{cell}: {status}"
                    )
                elif wrote:
                    m.wrote_when_denied.append(cell)
                else:
                    m.passed += 1
    return m


def test_authz_matrix_for_tasks(records: Any, personas: Any, users: Any, api: Any) -> None:
    # The oracle agrees with the brief's rules on a few hand-checked cells (so it is not vacuous).
    vis = {k: oracle.visible_task_ids(personas[k].pk) for k in ("a1", "head_a", "b1", "owner")}
    t = {k: records[k].task.pk for k in TASK_OWNERS}
    assert vis["a1"] & set(t.values()) == {t["a1"]}
    assert vis["head_a"] & set(t.values()) == {t["a1"], t["a2"], t["a11"], t["head_a"], t["deact"]}
    assert vis["b1"] & set(t.values()) == {t["b1"]}
    assert vis["owner"] >= set(t.values())
    m = run_matrix(records, personas, users, api)
    record_figures("AUTHZ-MATRIX (tasks)", m.figures())
    assert m.cells == len(PRINCIPALS) * len(TASK_OWNERS) * len(ACTIONS)
    assert not m.wrongly_allowed, m.wrongly_allowed[:20]
    assert not m.wrongly_denied, m.wrongly_denied[:20]
    assert not m.wrote_when_denied, m.wrote_when_denied[:20]
    assert m.passed == m.cells
    assert {"own", "colleague", "sub-dept", "parent-dept", "other dept"} <= set(m.by_scope)


def test_negative_control_matrix_goes_red_without_the_scope_filter(
    records: Any, personas: Any, users: Any, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The oracle's expectations are taken with the guard on; then the guard is switched off.
    no_scope_filter(monkeypatch)
    m = run_matrix(records, personas, users, api, ["a1", "b1", "head_b"])
    record_figures("AUTHZ-MATRIX (tasks) negative control", m.figures())
    assert len(m.wrongly_allowed) > 0  # the matrix detects the hole


# --- row 2: aggregates ----------------------------------------------------------------------------


@dataclass
class Leaks:
    comparisons: int = 0
    leaked: int = 0
    missing: int = 0
    aggregate_diff: int = 0
    details: list[str] = field(default_factory=list)

    def ids(self, where: str, got: set[int], expected: set[int]) -> None:
        self.comparisons += 1
        extra, lost = got - expected, expected - got
        self.leaked += len(extra)
        self.missing += len(lost)
        if extra or lost:
            self.details.append(f"{where}: leaked {sorted(extra)} missing {sorted(lost)}")

    def number(self, where: str, got: int, expected: int) -> None:
        self.comparisons += 1
        self.aggregate_diff += abs(got - expected)
        if got != expected:
            self.details.append(f"{where}: got {got}, expected {expected}")

    def figures(self) -> dict[str, Any]:
        return {
            "comparisons": self.comparisons,
            "leaked_ids": self.leaked,
            "missing_ids": self.missing,
            "aggregate_abs_difference": self.aggregate_diff,
            "engine": oracle.connection.vendor,
        }


def api_ids(client: Any, params: dict[str, Any]) -> set[int]:
    """Every page of /api/v1/tasks (limit 7, to exercise the cursor)."""
    out: set[int] = set()
    cursor = None
    for _ in range(100):
        query = {**params, "limit": 7, **({"cursor": cursor} if cursor else {})}
        r = client.get_json("/api/v1/tasks", query)
        assert r.status_code == 200, r.content
        body = r.json()
        page = [t["id"] for t in body["items"]]
        assert not (set(page) & out), "a page repeated ids"
        out |= set(page)
        cursor = body["next_cursor"]
        if not cursor:
            return out
    raise AssertionError("more than 100 pages")


AGGREGATE_PRINCIPALS = ["a1", "a2", "a11", "b1", "head_a", "head_b", "head_root", "owner", "admin"]


def check_aggregates(world: World, personas: Any, api: Any) -> Leaks:
    leaks = Leaks()
    tasks = oracle.all_tasks()
    d1, e1 = world.deals["D1"], world.deals["E1"]
    with clock.frozen(NOW):
        for key in AGGREGATE_PRINCIPALS:
            user = personas[key].user
            client = api(key)
            visible = {t.id: t for t in oracle.visible_tasks(user.pk)}
            ids = set(visible)
            leaks.ids(f"{key} /tasks", api_ids(client, {}), ids)
            leaks.ids(
                f"{key} /tasks?status=open",
                api_ids(client, {"status": "open"}),
                {i for i, t in visible.items() if t.status == "open"},
            )
            leaks.ids(
                f"{key} /tasks?status=done",
                api_ids(client, {"status": "done"}),
                {i for i, t in visible.items() if t.status == "done"},
            )
            leaks.ids(
                f"{key} /tasks?overdue=true",
                api_ids(client, {"overdue": "true"}),
                {i for i, t in visible.items() if t.status == "open" and t.deadline < NOW},
            )
            for who in ("a2", "b1"):
                rid = personas[who].pk
                leaks.ids(
                    f"{key} /tasks?responsible={who}",
                    api_ids(client, {"responsible": rid}),
                    {i for i, t in visible.items() if t.responsible_id == rid},
                )
            for deal in (d1, e1):
                leaks.ids(
                    f"{key} /tasks?deal={deal.title}",
                    api_ids(client, {"deal": deal.pk}),
                    {i for i, t in visible.items() if t.deal_id == deal.pk},
                )
            leaks.ids(
                f"{key} /tasks?company",
                api_ids(client, {"company": world.companies["a2"].pk}),
                {i for i, t in visible.items() if t.company_id == world.companies["a2"].pk},
            )
            start = NOW.date() - dt.timedelta(days=10)
            cal = calendar_tasks(user=user, start=start, days=14)
            window = (
                oracle.tomorrow_start(NOW) - dt.timedelta(days=11),
                oracle.tomorrow_start(NOW) + dt.timedelta(days=3),
            )
            leaks.ids(
                f"{key} calendar",
                {x.pk for items in cal.values() for x in items},
                {t.id for t in tasks if t.id in ids and window[0] <= t.deadline < window[1]},
            )
            expected = oracle.counters(user.pk, NOW)
            got_api = client.get_json("/api/v1/me/counters").json()
            got_sel = counters_for(user=user)
            for name, value in expected.items():
                leaks.number(f"{key} /me/counters {name}", got_api[name], value)
                leaks.number(f"{key} counters_for {name}", got_sel[name], value)
            leaks.number(
                f"{key} unread",
                got_api["unread_notifications"],
                oracle.unread_notifications(user.pk),
            )
            # Control table: only users in scope, each with the oracle's per-user numbers.
            if key in ("head_a", "head_b", "head_root", "owner"):
                rows = control_table(user=user)
                scope = oracle.visible_responsibles(user.pk)
                row_ids = {r.user.pk for r in rows}
                allowed = row_ids if scope is None else scope
                leaks.ids(f"{key} control users", row_ids - allowed, set())
                for r in rows:
                    mine = [
                        t for t in tasks if t.responsible_id == r.user.pk and t.status == "open"
                    ]
                    leaks.number(
                        f"{key} control {r.user.username} overdue",
                        r.overdue_tasks,
                        sum(1 for t in mine if t.deadline < NOW),
                    )
    return leaks


def test_no_task_or_counter_leaks(world: World, personas: Any, api: Any) -> None:
    leaks = check_aggregates(world, personas, api)
    record_figures("AUTHZ-AGGREGATE-LEAK (tasks, counters)", leaks.figures())
    assert leaks.comparisons >= 27 * len(
        AGGREGATE_PRINCIPALS
    )  # 10 id sets + 17 numbers each, + control
    assert (leaks.leaked, leaks.missing, leaks.aggregate_diff) == (0, 0, 0), leaks.details[:20]


def test_negative_control_aggregates_leak_without_the_scope_filter(
    world: World, personas: Any, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the filter off the lists and badges of a manager include other people's tasks —
    the comparison with the oracle (which never reads the switch) must see it."""
    no_scope_filter(monkeypatch)
    leaks = check_aggregates(world, personas, api)
    record_figures("AUTHZ-AGGREGATE-LEAK (tasks, counters) negative control", leaks.figures())
    assert leaks.leaked > 0
    assert leaks.aggregate_diff > 0
    assert any("/me/counters overdue_tasks" in d for d in leaks.details)
