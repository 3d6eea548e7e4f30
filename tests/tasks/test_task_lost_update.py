"""RELIABILITY row 11 (LOST-UPDATE) for concurrent reschedules of one task, on the product's
database settings (SQLite: file test database, WAL, transaction_mode=IMMEDIATE, busy timeout —
tests/conftest.py; or PostgreSQL with DATABASE_URL).

Threads each read the task's version, wait for each other, then reschedule with that version
through activities.tasks_services.task_reschedule. Per version exactly one writer wins and the
others get Conflict; no "database is locked"; the history has exactly one row per success; the
final version is 1 + successes. Also the API: two clients with the same version → 200 then 409.

Negative control: patching out `check_version` where the services call it lets the stale writers through
(several winners per version), and the test's own check sees it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter, defaultdict
from typing import Any

import pytest
from django.db import OperationalError, connection

from factories import make_company
from negative_controls import no_version_check
from tasks.support import record_figures
from voronka.activities import tasks_services
from voronka.activities.models import Task, TaskDeadlineChange
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import Conflict

THREADS = 8
ROUNDS = 10
TIMEOUT = 110.0  # seconds for the whole race; a timeout is a failure (RELIABILITY §8.4)


@pytest.fixture
def race_task(transactional_db: None, personas: Any) -> Task:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Гонка")
    return tasks_services.task_create(
        actor=Actor.for_user(a1),
        data={
            "type": "call",
            "responsible": a1.pk,
            "deadline": "2026-12-01T10:00:00+03:00",
            "comment": "Позвонить",
            "company": company.pk,
        },
    )


def race(task_id: int, personas: Any) -> dict[str, Any]:
    """THREADS threads × ROUNDS rounds: read the version, barrier, reschedule with it."""
    actors = [Actor.for_user(personas["a1"].user), Actor.for_user(personas["head_a"].user)]
    read_barrier = threading.Barrier(THREADS, timeout=TIMEOUT)
    round_barrier = threading.Barrier(THREADS, timeout=TIMEOUT)
    outcomes: dict[int, Counter] = defaultdict(Counter)  # version read -> outcome counts
    errors: list[str] = []
    lock = threading.Lock()
    # Ahead of the real clock: a deadline is never moved into the past.
    base = (clock.now() + dt.timedelta(days=30)).replace(second=0, microsecond=0)

    def worker(i: int) -> None:
        try:
            for r in range(ROUNDS):
                current = Task.objects.get(pk=task_id)
                read_barrier.wait()
                deadline = base + dt.timedelta(minutes=r * THREADS + i + 1)  # unique per write
                try:
                    tasks_services.task_reschedule(
                        task=current,
                        actor=actors[i % 2],
                        deadline=deadline.isoformat(),
                        reason=f"Поток {i}, раунд {r}",
                        version=current.version,
                    )
                    result = "success"
                except Conflict:
                    result = "conflict"
                except OperationalError as exc:
                    result = "database is locked" if "locked" in str(exc) else f"operational: {exc}"
                with lock:
                    outcomes[current.version][result] += 1
                round_barrier.wait()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            with lock:
                errors.append(repr(exc))
            read_barrier.abort()
            round_barrier.abort()
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, started + TIMEOUT - time.monotonic()))
    alive = sum(t.is_alive() for t in threads)
    totals = sum(outcomes.values(), Counter())
    return {
        "alive": alive,
        "errors": errors,
        "outcomes": outcomes,
        "totals": totals,
        "seconds": round(time.monotonic() - started, 1),
    }


def summarize(result: dict[str, Any], task_id: int) -> dict[str, Any]:
    outcomes: dict[int, Counter] = result["outcomes"]
    totals: Counter = result["totals"]
    task = Task.objects.get(pk=task_id)
    return {
        "writes": THREADS * ROUNDS,
        "versions_raced": len(outcomes),
        "successes": totals["success"],
        "conflicts": totals["conflict"],
        "database_is_locked": totals["database is locked"],
        "other_errors": sum(
            n for k, n in totals.items() if k not in ("success", "conflict", "database is locked")
        ),
        "versions_with_several_winners": sum(1 for c in outcomes.values() if c["success"] > 1),
        "stale_writes_accepted": sum(max(0, c["success"] - 1) for c in outcomes.values()),
        "history_rows": TaskDeadlineChange.objects.filter(task_id=task_id).count(),
        "final_version": task.version,
        "engine": connection.vendor,
        "seconds": result["seconds"],
    }


def test_concurrent_reschedules_one_winner_per_version(race_task: Task, personas: Any) -> None:
    result = race(race_task.pk, personas)
    figures = summarize(result, race_task.pk)
    record_figures("LOST-UPDATE (task reschedule race)", figures)
    assert result["alive"] == 0, f"threads still running after {TIMEOUT}s"
    assert not result["errors"], result["errors"]
    assert figures["database_is_locked"] == 0 and figures["other_errors"] == 0, result["totals"]
    assert figures["versions_raced"] == ROUNDS  # every round read one fresh version
    assert all(c["success"] == 1 for c in result["outcomes"].values()), result["outcomes"]
    assert figures["successes"] == ROUNDS and figures["conflicts"] == (THREADS - 1) * ROUNDS
    assert figures["history_rows"] == figures["successes"]
    assert figures["final_version"] == 1 + figures["successes"]


def test_negative_control_without_the_version_check_stale_writers_win(
    race_task: Task, personas: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_version_check(monkeypatch)
    result = race(race_task.pk, personas)
    figures = summarize(result, race_task.pk)
    record_figures("LOST-UPDATE (task reschedule race) negative control", figures)
    assert result["alive"] == 0 and not result["errors"], result["errors"]
    # The check the real test makes ("one winner per version") detects the stale writers.
    assert figures["stale_writes_accepted"] > 0
    assert figures["versions_with_several_winners"] > 0
    assert figures["history_rows"] == figures["successes"] > ROUNDS


def ahead(days: int) -> str:
    """A deadline `days` ahead of the real clock (a deadline is never moved into the past)."""
    return (clock.now() + dt.timedelta(days=days)).replace(microsecond=0).isoformat()


@pytest.mark.django_db
def test_api_two_clients_same_version_second_gets_409(
    records: Any, api: Any, web: Any, nothing_written: Any
) -> None:
    task = records["a1"].task
    first, second = api("a1"), api("head_a")
    version = first.get_json(f"/api/v1/tasks/{task.pk}").json()["version"]
    assert second.get_json(f"/api/v1/tasks/{task.pk}").json()["version"] == version
    ok = first.post_json(
        f"/api/v1/tasks/{task.pk}/reschedule",
        {"deadline": ahead(60), "reason": "Первый", "version": version},
    )
    assert ok.status_code == 200, ok.content
    with nothing_written():
        stale = second.post_json(
            f"/api/v1/tasks/{task.pk}/reschedule",
            {"deadline": ahead(90), "reason": "Второй", "version": version},
        )
    assert stale.status_code == 409 and stale.json()["current_version"] == version + 1
    # The screens send the version from the form: a stale form is refused the same way.
    with nothing_written():
        page = web("head_a").post(
            f"/tasks/{task.pk}/reschedule/",
            {"deadline": ahead(120), "reason": "Старая форма", "version": version},
        )
    assert page.status_code == 409
    assert [c.reason for c in TaskDeadlineChange.objects.filter(task=task)] == ["Первый"]
