"""RELIABILITY row 11 — LOST-UPDATE, on the product's database settings (SQLite: WAL,
transaction_mode=IMMEDIATE, busy timeout, a *file* test database — tests/conftest.py; or
PostgreSQL with DATABASE_URL).

(a) 8 threads × 50 read-modify-writes on one deal through deals.services.deal_update with the
    version read before (retrying on Conflict): 0 lost, 0 "database is locked".
(b) two clients read the same version and both PATCH: the stale one gets 409.
(c) PATCH with If-Match.
(d) racing stage moves from threads: exactly one winner per version.
Negative controls: patching out `check_version` where the deal services call it makes a naive RMW lose updates
and lets several racing moves win."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import OperationalError, connection

from authz.harness import record_figures
from factories import make_deal, report_figures
from negative_controls import no_version_check
from voronka.deals import services
from voronka.deals.models import Deal
from voronka.kernel.actor import Actor
from voronka.kernel.errors import Conflict

THREADS = 8
PER_THREAD = 50
MAX_ATTEMPTS = 2000  # per increment: a bound, never reached in a healthy run (reported if it is)


def run_threads(n: int, target: Callable[[int], None], timeout: float = 240) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrapper(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapper, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = sum(t.is_alive() for t in threads)
    assert alive == 0, f"{alive} threads still running after {timeout}s (a timeout is a failure)"
    return errors


@pytest.fixture
def counter_deal(transactional_db: None, records: Any) -> Deal:
    return make_deal(
        responsible=records["a1"].user, company=records["a1"].company, title="Счётчик", amount="0"
    )


def increment_with_version(deal_id: int, actor: Actor, stats: Counter) -> None:
    for _ in range(MAX_ATTEMPTS):
        current = Deal.objects.get(pk=deal_id)
        try:
            services.deal_update(
                deal=current,
                actor=actor,
                data={"amount": str(current.amount + 1), "version": current.version},
            )
            stats["applied"] += 1
            return
        except Conflict:
            stats["conflicts"] += 1
        except OperationalError as exc:
            stats["operational_errors"] += 1
            stats[f"error: {exc}"] += 1
    stats["gave_up"] += 1


def test_a_concurrent_read_modify_write_loses_nothing(counter_deal: Deal, records: Any) -> None:
    stats: Counter = Counter()
    actor = Actor.for_user(records["a1"].user)
    started = time.monotonic()

    def worker(_i: int) -> None:
        for _ in range(PER_THREAD):
            increment_with_version(counter_deal.pk, actor, stats)

    errors = run_threads(THREADS, worker)
    final = Deal.objects.get(pk=counter_deal.pk)
    total = THREADS * PER_THREAD
    lost = total - int(final.amount)
    figures = {
        "updates": total,
        "lost": lost,
        "operational_errors": stats["operational_errors"],
        "conflicts_retried": stats["conflicts"],
        "gave_up": stats["gave_up"],
        "final_version": final.version,
        "seconds": round(time.monotonic() - started, 1),
    }
    record_figures("LOST-UPDATE (a) versioned RMW", figures)
    report_figures(
        f"LOST-UPDATE (a): {lost} of {total} lost, {stats['operational_errors']} OperationalError, "
        f"{stats['conflicts']} conflicts retried"
    )
    assert not errors, errors
    assert (lost, stats["operational_errors"], stats["gave_up"]) == (0, 0, 0), stats
    assert final.version == total + 1 and stats["applied"] == total


def test_a_negative_control_without_the_version_check_updates_are_lost(
    counter_deal: Deal, records: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_version_check(monkeypatch)
    stats: Counter = Counter()
    actor = Actor.for_user(records["a1"].user)

    def worker(_i: int) -> None:
        for _ in range(PER_THREAD):
            current = Deal.objects.get(pk=counter_deal.pk)  # naive: read…
            time.sleep(0.0005)  # …think…
            try:
                services.deal_update(  # …and write what was read, with its (now unchecked) version
                    deal=current,
                    actor=actor,
                    data={"amount": str(current.amount + 1), "version": current.version},
                )
            except OperationalError:
                stats["operational_errors"] += 1

    errors = run_threads(THREADS, worker)
    final = Deal.objects.get(pk=counter_deal.pk)
    total = THREADS * PER_THREAD
    lost = total - int(final.amount)
    record_figures(
        "LOST-UPDATE negative control (VERSION_CHECK_DISABLED)",
        {"updates": total, "lost": lost, "operational_errors": stats["operational_errors"]},
    )
    report_figures(f"LOST-UPDATE negative control: {lost} of {total} lost")
    assert not errors, errors
    assert lost > 0


def test_d_racing_stage_moves_have_exactly_one_winner_per_version(
    transactional_db: None, records: Any, pipeline: Any
) -> None:
    figures = race_moves(records, pipeline, rounds=10)
    record_figures("LOST-UPDATE (d) racing moves", figures)
    assert figures["rounds_with_exactly_one_winner"] == figures["rounds"], figures
    assert figures["operational_errors"] == 0


def test_d_negative_control_without_the_version_check_several_moves_win(
    transactional_db: None, records: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_version_check(monkeypatch)
    figures = race_moves(records, pipeline, rounds=3)
    record_figures("LOST-UPDATE (d) negative control", figures)
    assert figures["rounds_with_several_winners"] > 0


def race_moves(records: Any, pipeline: Any, *, rounds: int) -> dict[str, Any]:
    deal = records["a2"].deal
    targets = [pipeline.stages["new"], pipeline.stages["talks"]]
    exact = several = errors_total = 0
    for _round in range(rounds):
        current = Deal.objects.get(pk=deal.pk)
        version = current.version
        barrier = threading.Barrier(THREADS)
        wins: list[int] = []
        stats: Counter = Counter()

        def mover(
            i: int,
            current: Deal = current,
            version: int = version,
            barrier: Any = barrier,
            wins: list[int] = wins,
            stats: Counter = stats,
        ) -> None:
            target = (
                next(s for s in targets if s.pk != current.stage_id)
                if i % 2 == 0
                else targets[i % 2]
            )
            barrier.wait(timeout=30)
            try:
                services.deal_move_to_stage(
                    deal=current, stage=target, actor=Actor.system(), version=version
                )
                wins.append(i)
            except Conflict:
                stats["conflicts"] += 1
            except OperationalError:
                stats["operational_errors"] += 1

        errors = run_threads(THREADS, mover)
        assert not errors, errors
        errors_total += stats["operational_errors"]
        if len(wins) == 1:
            exact += 1
        elif len(wins) > 1:
            several += 1
    return {
        "rounds": rounds,
        "threads": THREADS,
        "rounds_with_exactly_one_winner": exact,
        "rounds_with_several_winners": several,
        "operational_errors": errors_total,
    }


def test_e_concurrent_edits_and_moves_only_ever_conflict(
    transactional_db: None, records: Any, pipeline: Any
) -> None:
    """Edits racing stage moves (PostgreSQL re-checks FOR UPDATE joins against the updated row:
    a locking query joined to the stage used to find nothing — DoesNotExist, a 500)."""
    deal_id = records["b1"].deal.pk
    stages = [pipeline.stages["new"], pipeline.stages["talks"]]
    outcomes: Counter = Counter()

    def worker(i: int) -> None:
        for n in range(15):
            current = Deal.objects.get(pk=deal_id)
            try:
                if (i + n) % 2:
                    services.deal_move_to_stage(
                        deal=current,
                        stage=stages[n % 2],
                        actor=Actor.system(),
                        version=current.version,
                    )
                else:
                    services.deal_update(
                        deal=current,
                        actor=Actor.system(),
                        data={"title": f"t{i}-{n}", "version": current.version},
                    )
                outcomes["applied"] += 1
            except Conflict:
                outcomes["conflict"] += 1

    errors = run_threads(THREADS, worker)
    record_figures(
        "LOST-UPDATE (e) edits racing moves", {**outcomes, "unexpected_errors": len(errors)}
    )
    assert not errors, [repr(e) for e in errors[:5]]
    assert outcomes["applied"] + 1 == Deal.objects.get(pk=deal_id).version


# --- (b), (c) through the API --------------------------------------------------------------------


@pytest.mark.django_db
def test_b_c_stale_submissions_are_refused_through_the_api(records: Any, api: Any) -> None:
    deal = records["a1"].deal
    first, second = api("a1"), api("integration")  # two sessions of work on the same deal
    read_1 = first.get(f"/api/v1/deals/{deal.pk}").json()
    read_2 = second.get(f"/api/v1/deals/{deal.pk}").json()
    ok = first.patch_json(
        f"/api/v1/deals/{deal.pk}", {"version": read_1["version"], "title": "первый"}
    )
    stale_body = second.patch_json(
        f"/api/v1/deals/{deal.pk}", {"version": read_2["version"], "title": "второй"}
    )
    stale_header = second.patch_json(
        f"/api/v1/deals/{deal.pk}", {"title": "третий"}, HTTP_IF_MATCH=f'"{read_2["version"]}"'
    )
    fresh_header = second.patch_json(
        f"/api/v1/deals/{deal.pk}", {"amount": "10"}, HTTP_IF_MATCH='"2"'
    )
    stale_move = second.post_json(
        f"/api/v1/deals/{deal.pk}/move", {"stage": deal.stage_id, "version": read_2["version"]}
    )
    accepted = sum(r.status_code != 409 for r in (stale_body, stale_header, stale_move))
    record_figures(
        "LOST-UPDATE (b)(c) API", {"stale_submissions": 3, "stale_submissions_accepted": accepted}
    )
    assert ok.status_code == 200 and fresh_header.status_code == 200
    assert accepted == 0
    assert stale_body.json()["current_version"] == 2
    final = Deal.objects.get(pk=deal.pk)
    assert (final.title, final.amount, final.version) == ("первый", Decimal("10.00"), 3)
