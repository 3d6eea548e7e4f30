"""The worker's reaper (PostgreSQL; on SQLite the executor takes over, decision 0017): the runs
of a dead worker whose lease expired are all taken from it within one poll, however many it held
and however few the reaper's takeover threads can carry out — those beyond the takeover threads'
share go back in the queue, under a new token, so the stopped holder, if it wakes, holds none.

RELIABILITY row 13 measures the same thing on real processes (test_reliability_worker_crash);
this pins the case its storm met by chance: a reaper that has not measured its pace yet (a
worker just restarted by its supervisor) facing a dead worker's big claim."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.models import F

from voronka.automation import executor
from voronka.automation.management.commands import voronka_worker
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus
from voronka.kernel import clock

pytestmark = pytest.mark.django_db(transaction=True)

DEAD = "gone-host:999999"
HELD = 40


@pytest.fixture
def dead_workers_runs(pipeline: Any) -> list[int]:
    """HELD runs leased to a worker that died a second after its lease ran out."""
    if connection.vendor != "postgresql":
        pytest.skip("the reaper runs on PostgreSQL (SQLite: the executor takes over, 0017)")
    stage = pipeline.stages["talks"]
    rule = Rule.objects.create(
        kind=RuleKind.ROBOT,
        name="reaper",
        pipeline_id=stage.pipeline_id,
        stage=stage,
        action="create_task",
        params={"title": "Позвонить"},
    )
    expired = clock.db_now() - dt.timedelta(seconds=1)
    runs = RuleRun.objects.bulk_create(
        RuleRun(
            rule=rule,
            object_type="deal",
            object_id=n,
            key=f"reaper-{n}",
            status=RunStatus.RUNNING,
            worker=DEAD,
            lease_token=1,
            leased_until=expired,
            due_at=expired,
        )
        for n in range(1, HELD + 1)
    )
    return [run.pk for run in runs]


@pytest.fixture
def busy_takeovers(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """A just-started worker: no pace measured (one run per takeover thread), and takeovers that
    take their time (they are held until the test ends) — as slow actions would."""
    monkeypatch.setattr(executor, "_pace", None)
    done = threading.Event()

    def slow(claimed: list[tuple[int, int]], *, now: dt.datetime, **_: Any) -> None:
        done.wait(10)

    monkeypatch.setattr(executor, "execute_claimed", slow)
    yield done
    done.set()
    for thread in threading.enumerate():  # each closes its connection before the test's end
        if thread.name == "takeover":
            thread.join(5)


def still_with_the_dead(ids: list[int]) -> int:
    return RuleRun.objects.filter(pk__in=ids, status=RunStatus.RUNNING, worker=DEAD).count()


def reap(ids: list[int], seconds: float) -> tuple[int, bool]:
    """Run the reaper thread until none of `ids` is with the dead worker (or `seconds` passed):
    (runs still with the dead worker, whether the executors were woken)."""
    stop, wake = threading.Event(), threading.Event()
    reaper = threading.Thread(target=voronka_worker._reaper, args=(stop, wake), daemon=True)
    reaper.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds and still_with_the_dead(ids):
            time.sleep(0.05)
    finally:
        stop.set()
        reaper.join(5)
    return still_with_the_dead(ids), wake.is_set()


def test_a_dead_workers_big_claim_is_taken_from_it_within_one_poll(
    dead_workers_runs: list[int], busy_takeovers: threading.Event
) -> None:
    started = time.monotonic()
    left, woken = reap(dead_workers_runs, seconds=3)
    took = time.monotonic() - started
    busy_takeovers.set()
    assert left == 0
    assert took < voronka_worker.DISPATCH_SECONDS + 0.5, took  # one poll, and the thread's start
    rows = RuleRun.objects.filter(pk__in=dead_workers_runs)
    taken = rows.filter(status=RunStatus.RUNNING, worker=voronka_worker.WORKER, lease_token=2)
    queued = rows.filter(status=RunStatus.PENDING, leased_until=None, worker="", lease_token=3)
    # One run for each of the takeover threads (the pace is not known); the rest given back to
    # the queue under a new token, the executors woken for them.
    assert taken.count() == voronka_worker.TAKEOVERS
    assert queued.count() == HELD - voronka_worker.TAKEOVERS
    assert woken
    # The dead (or stopped) holder's old token holds nothing now: it cannot renew and act.
    now = clock.db_now()
    assert executor.renew([(pk, 1) for pk in dead_workers_runs], now=now) == []
    # The runs given back are due: the next claim of any worker takes them.
    waiting = set(queued.values_list("pk", flat=True))
    claimed = executor.claim(worker="alive:1", limit=HELD, now=now)
    assert {pk for pk, _t in claimed} == waiting


def test_negative_control_without_giving_back_the_rest_waits_a_lease(
    dead_workers_runs: list[int], busy_takeovers: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor, "release", lambda claimed: 0)
    reap(dead_workers_runs, seconds=1)
    busy_takeovers.set()
    # Taken from the dead worker, but held by a reaper whose takeover threads are all busy: no
    # other worker can have them before this lease ends too.
    assert executor.claim(worker="alive:1", limit=HELD, now=clock.db_now()) == []
    assert not RuleRun.objects.filter(pk__in=dead_workers_runs, status=RunStatus.PENDING).exists()


def test_only_runs_still_held_under_the_claims_token_are_given_back(
    dead_workers_runs: list[int],
) -> None:
    now = clock.db_now()
    claimed = executor.claim(worker="alive:1", limit=HELD, now=now, expired_only=True)
    assert len(claimed) == HELD
    # Five of them expire and another worker takes them over meanwhile.
    RuleRun.objects.filter(pk__in=dead_workers_runs[:5]).update(
        worker="alive:2", lease_token=F("lease_token") + 1
    )
    assert executor.release(claimed) == HELD - 5
    assert RuleRun.objects.filter(worker="alive:2", status=RunStatus.RUNNING).count() == 5
    assert executor.release([]) == 0
