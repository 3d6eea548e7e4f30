"""RELIABILITY rows 1 and 2 for tasks and counters — the screens' channel (htmx views, session
login). test_task_authz.py covers the ninja API channel; this file sends the same principals ×
task scopes × actions through the task screens:

  view        GET  /tasks/<id>/                     200 | 404
  history     GET  /tasks/<id>/ → #deadline-history  200 with the section | 404
  list        GET  /tasks/list/?responsible=<id>     the task's link present | absent
  edit        POST /tasks/<id>/reassign/             302 and the task changed | 404, nothing written
  complete    POST /tasks/<id>/complete/             302 and done | 404, nothing written
  reschedule  POST /tasks/<id>/reschedule/           302 and moved | 404, nothing written

Anonymous, the deactivated user's session and the integration token (no session) are sent to
the login page. Expected outcomes: the independent SQL oracle (tasks/oracle.py). Each write runs
in a savepoint that is rolled back. Row 2 on the screens: the live badge (/counters/, JSON and
HTML), the task list page and "my day" against the oracle.

Negative controls: negative_controls.no_scope_filter turns both red."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection, transaction

from factories import table_counts
from negative_controls import no_scope_filter
from tasks import oracle
from tasks.support import NOW, record_figures
from voronka.activities.models import Task
from voronka.kernel import clock

pytestmark = pytest.mark.django_db

PRINCIPALS = [
    "owner",
    "admin",
    "head_root",
    "head_a",
    "head_b",
    "a1",
    "a2",
    "a11",
    "b1",
    "deact",
    "anonymous",
    "integration",
]
TASK_OWNERS = ["owner", "admin", "head_root", "head_a", "a1", "a2", "a11", "deact", "head_b", "b1"]
NO_SESSION = {"anonymous", "deact", "integration"}  # → the login page


@dataclass
class Action:
    name: str
    write: bool
    call: Callable[[Any, Task, Any], Any]  # (client, task, a user the principal may assign to)
    ok: int


def _moved(task: Task) -> str:
    return (task.deadline + dt.timedelta(days=1, minutes=7)).isoformat()


ACTIONS = [
    Action("view", False, lambda c, t, u: c.get(f"/tasks/{t.pk}/"), 200),
    Action("history", False, lambda c, t, u: c.get(f"/tasks/{t.pk}/"), 200),
    Action(
        "list", False, lambda c, t, u: c.get("/tasks/list/", {"responsible": t.responsible_id}), 200
    ),
    Action(
        "edit",
        True,
        lambda c, t, u: c.post(
            f"/tasks/{t.pk}/reassign/", {"responsible": u.pk, "version": t.version}
        ),
        302,
    ),
    Action(
        "complete",
        True,
        lambda c, t, u: c.post(
            f"/tasks/{t.pk}/complete/", {"result": "Сделано", "version": t.version}
        ),
        302,
    ),
    Action(
        "reschedule",
        True,
        lambda c, t, u: c.post(
            f"/tasks/{t.pk}/reschedule/",
            {"deadline": _moved(t), "reason": "Матрица", "version": t.version},
        ),
        302,
    ),
]


@dataclass
class Tally:
    cells: int = 0
    passed: int = 0
    wrongly_allowed: list[str] = field(default_factory=list)
    wrongly_denied: list[str] = field(default_factory=list)
    wrote_when_denied: list[str] = field(default_factory=list)
    by_scope: Counter = field(default_factory=Counter)

    def figures(self) -> dict[str, Any]:
        return {
            "channel": "htmx",
            "cells_run": self.cells,
            "passed": self.passed,
            "wrongly_allowed": len(self.wrongly_allowed),
            "wrongly_denied": len(self.wrongly_denied),
            "writes_on_denied": len(self.wrote_when_denied),
            "cells_by_scope": dict(self.by_scope),
            "engine": connection.vendor,
        }


def task_state(task_id: int) -> tuple[Any, ...]:
    t = Task.objects.get(pk=task_id)
    return (t.version, t.status, t.deadline, t.responsible_id)


def outcome(action: Action, principal: str, task: Task, response: Any) -> str:
    """allowed / denied / login / other — from the response alone."""
    status = response.status_code
    if status == 302 and response["Location"].startswith("/login/"):
        return "login"
    if status == 404:
        return "denied"
    if status != action.ok:
        return f"other {status}"
    if action.name == "list":
        return "allowed" if f'href="/tasks/{task.pk}/"' in response.content.decode() else "denied"
    if action.name == "history":
        return (
            "allowed"
            if 'id="deadline-history"' in response.content.decode()
            else "other: no history"
        )
    return "allowed"


def assignee(principal: str, personas: Any) -> Any:
    """Someone the principal may hand a task to: themselves (a1 for the integration token)."""
    user = personas[principal].user
    return user if user is not None else personas["a1"].user


def run_matrix(web: Any, personas: Any, tasks: dict[str, Task], principals: list[str]) -> Tally:
    tally = Tally()
    for principal in principals:
        persona = personas[principal]
        client = web(principal)
        visible = oracle.visible_task_ids(persona.pk if persona.active else None)
        for owner_key, task in tasks.items():
            label = (
                oracle.scope_label(persona.pk, task.responsible_id) if persona.pk else "anonymous"
            )
            if owner_key == "deact" and label != "own":
                label = "owner-deactivated"
            for action in ACTIONS:
                tally.cells += 1
                tally.by_scope[label] += 1
                cell = f"{principal} {action.name} {owner_key}'s task ({label})"
                # Row counts of every table only where a write must be refused (they are slow).
                check_writes = action.write and (principal in NO_SESSION or task.pk not in visible)
                with transaction.atomic():
                    counts, state = table_counts() if check_writes else None, task_state(task.pk)
                    response = action.call(client, task, assignee(principal, personas))
                    wrote = check_writes and table_counts() != counts
                    changed = task_state(task.pk) != state
                    transaction.set_rollback(True)
                got = outcome(action, principal, task, response)
                if principal in NO_SESSION:
                    want = "login"
                else:
                    want = "allowed" if task.pk in visible else "denied"
                if got == "allowed" and action.write and not changed:
                    got = "other: allowed without effect"
                if got == want and (want == "allowed" or not (wrote or changed)):
                    tally.passed += 1
                elif got == want:
                    tally.wrote_when_denied.append(cell)
                elif got == "allowed" or (want == "denied" and got == "login"):
                    tally.wrongly_allowed.append(f"{cell}: {got}")
                elif want == "allowed":
                    tally.wrongly_denied.append(f"{cell}: {got}")
                else:
                    tally.wrongly_allowed.append(f"{cell}: {got} (expected {want})")
    return tally


@pytest.fixture
def owner_tasks(records: Any) -> dict[str, Task]:
    return {k: records[k].task for k in TASK_OWNERS}


def test_row1_task_screens_matrix(owner_tasks: dict[str, Task], personas: Any, web: Any) -> None:
    # The oracle agrees with the rules on hand-checked cells (it is not vacuous).
    t = {k: v.pk for k, v in owner_tasks.items()}
    assert oracle.visible_task_ids(personas["head_a"].pk) & set(t.values()) == {
        t["head_a"],
        t["a1"],
        t["a2"],
        t["a11"],
        t["deact"],
    }
    assert oracle.visible_task_ids(personas["head_root"].pk) & set(t.values()) == set(
        t.values()
    ) - {t["admin"]}
    started = time.monotonic()
    tally = run_matrix(web, personas, owner_tasks, PRINCIPALS)
    record_figures(
        "AUTHZ-MATRIX (tasks, screens)",
        {**tally.figures(), "seconds": round(time.monotonic() - started, 1)},
    )
    assert tally.cells == len(PRINCIPALS) * len(TASK_OWNERS) * len(ACTIONS)
    assert not tally.wrongly_allowed, tally.wrongly_allowed[:20]
    assert not tally.wrongly_denied, tally.wrongly_denied[:20]
    assert not tally.wrote_when_denied, tally.wrote_when_denied[:20]
    assert tally.passed == tally.cells
    assert {
        "own",
        "colleague",
        "sub-dept",
        "parent-dept",
        "other dept",
        "unassigned",
        "owner-deactivated",
    } <= set(tally.by_scope)


def test_row1_task_screens_negative_control(
    owner_tasks: dict[str, Task], personas: Any, web: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_scope_filter(monkeypatch)
    tally = run_matrix(web, personas, owner_tasks, ["a1", "head_b"])
    record_figures("AUTHZ-MATRIX (tasks, screens) negative control", tally.figures())
    leaked = {cell.split(" ")[1] for cell in tally.wrongly_allowed}
    assert {"view", "history", "list", "edit", "complete", "reschedule"} <= leaked, leaked


# --- row 2 on the screens ---------------------------------------------------------------------------

BADGES = ("overdue_tasks", "tasks_today", "deals_without_task", "deals_over_sla")
SCREEN_PRINCIPALS = ["a1", "a2", "a11", "b1", "head_a", "head_b", "head_root", "owner", "admin"]


@dataclass
class Leaks:
    comparisons: int = 0
    leaked: int = 0
    missing: int = 0
    aggregate_diff: int = 0
    details: list[str] = field(default_factory=list)

    def ids(self, where: str, got: set[int], expected: set[int]) -> None:
        self.comparisons += 1
        self.leaked += len(got - expected)
        self.missing += len(expected - got)
        if got != expected:
            self.details.append(
                f"{where}: leaked {sorted(got - expected)} missing {sorted(expected - got)}"
            )

    def number(self, where: str, got: int, expected: int) -> None:
        self.comparisons += 1
        self.aggregate_diff += abs(got - expected)
        if got != expected:
            self.details.append(f"{where}: got {got}, expected {expected}")


TASK_LINK = re.compile(r'href="/tasks/(\d+)/"')


def badge_numbers(html: str) -> dict[str, int]:
    """The numbers in the badge templates of /counters/ (HTML), by slot."""
    out: dict[str, int] = {}
    for slot, body in re.findall(
        r'<template data-badge="(\w+)">(.*?)</template>', html, flags=re.S
    ):
        out[slot] = sum(
            int(n) for n in re.findall(r'<span class="badge[^"]*"[^>]*>(\d+)</span>', body)
        )
    return out


def check_screens(web: Any, personas: Any) -> Leaks:
    leaks = Leaks()
    with clock.frozen(NOW):
        for key in SCREEN_PRINCIPALS:
            uid = personas[key].pk
            client = web(key)
            expected = oracle.counters(uid, NOW)
            got = client.get("/counters/", HTTP_ACCEPT="application/json").json()
            for name in BADGES:
                leaks.number(f"{key} /counters/ {name}", got[name], expected[name])
            html = badge_numbers(client.get("/counters/").content.decode())
            leaks.number(
                f"{key} badge tasks",
                html.get("tasks", 0),
                expected["overdue_tasks"] + expected["tasks_today"],
            )
            leaks.number(
                f"{key} badge deals",
                html.get("deals", 0),
                expected["deals_without_task"] + expected["deals_over_sla"],
            )
            leaks.number(
                f"{key} badge contacts", html.get("contacts", 0), expected["contacts_overdue_tasks"]
            )
            leaks.number(
                f"{key} badge companies",
                html.get("companies", 0),
                expected["companies_overdue_tasks"],
            )
            visible = oracle.visible_tasks(uid)
            page = client.get("/tasks/list/", {"status": "open"})
            assert page.status_code == 200
            leaks.ids(
                f"{key} /tasks/list/?status=open",
                set(map(int, TASK_LINK.findall(page.content.decode()))),
                {t.id for t in visible if t.status == "open"},
            )
            page = client.get("/tasks/list/", {"overdue": "true"})
            leaks.ids(
                f"{key} /tasks/list/?overdue=true",
                set(map(int, TASK_LINK.findall(page.content.decode()))),
                {t.id for t in visible if t.status == "open" and t.deadline < NOW},
            )
            mine = client.get("/tasks/")
            leaks.ids(
                f"{key} /tasks/ (my day)",
                set(map(int, TASK_LINK.findall(mine.content.decode()))),
                {t.id for t in visible if t.status == "open" and t.responsible_id == uid},
            )
    return leaks


@pytest.mark.usefixtures("world")
def test_row2_screens_equal_the_oracle(personas: Any, web: Any) -> None:
    open_tasks = sum(1 for t in oracle.all_tasks() if t.status == "open")
    assert open_tasks < 50, "the list page holds 50 rows: keep the world below that"
    leaks = check_screens(web, personas)
    record_figures(
        "AUTHZ-AGGREGATE-LEAK (tasks, screens)",
        {
            "comparisons": leaks.comparisons,
            "leaked_ids": leaks.leaked,
            "missing_ids": leaks.missing,
            "aggregate_abs_difference": leaks.aggregate_diff,
            "engine": connection.vendor,
        },
    )
    assert leaks.comparisons == len(SCREEN_PRINCIPALS) * 11
    assert (leaks.leaked, leaks.missing, leaks.aggregate_diff) == (0, 0, 0), leaks.details[:20]


@pytest.mark.usefixtures("world")
def test_row2_screens_negative_control(
    personas: Any, web: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_scope_filter(monkeypatch)
    leaks = check_screens(web, personas)
    record_figures(
        "AUTHZ-AGGREGATE-LEAK (tasks, screens) negative control",
        {"leaked_ids": leaks.leaked, "aggregate_abs_difference": leaks.aggregate_diff},
    )
    assert leaks.leaked > 0 and leaks.aggregate_diff > 0
    assert any("/counters/ overdue_tasks" in d for d in leaks.details)
    assert any("/tasks/list/" in d for d in leaks.details)
