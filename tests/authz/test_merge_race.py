"""RELIABILITY row 11 applied to merges (decision 0021): two merges over overlapping records run
at the same moment from two threads — the same record merged into two others, or two records
merged into each other crosswise. Exactly one succeeds, the other gets a 409 conflict, and
nothing is lost or duplicated (every deal, contact and address of the merged company is on the
survivor once; one Merge row). On SQLite (a file database, BEGIN IMMEDIATE) and PostgreSQL
(rows locked FOR UPDATE in id order).

Each merge holds its records for a moment after locking them, so that the other one certainly
arrives while the first is still running. Negative controls: without the lock (PostgreSQL:
`_lock_rows` without FOR UPDATE; SQLite: DEFERRED transactions instead of IMMEDIATE) both
merges read the same rows and the race turns red."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.db import connection, connections

from authz.harness import record_figures
from authz.test_lost_update import run_threads
from factories import make_company, make_contact, make_deal
from voronka.contacts import merge as merge_module
from voronka.contacts.models import Company, CompanyAddress, Contact, Merge
from voronka.deals.models import Deal
from voronka.kernel.actor import Actor
from voronka.kernel.errors import Conflict

HOLD = 0.5  # seconds each merge keeps its records locked


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def trio(transactional_db: None, records: Any, pipeline: Any) -> dict[str, Any]:
    user = records["a1"].user
    a = records["a1"].company
    b = make_company(
        responsible=user,
        name="Дубль",
        addresses=[{"kind": "actual", "text": "Москва, Арбат, 5"}],
    )
    c = make_company(responsible=user, name="Третья")
    contact = make_contact(responsible=user, company=b, first_name="Пётр")
    deals = [
        make_deal(responsible=user, company=b, title=f"Сделка дубля {i}", amount="100")
        for i in range(3)
    ]
    return {
        "a": a,
        "b": b,
        "c": c,
        "contact": contact,
        "deals": [d.pk for d in deals],
        "actor": Actor.for_user(records["head_a"].user),
    }


def race(trio: dict[str, Any], variant: str) -> tuple[Counter[str], list[BaseException]]:
    a, b, c = trio["a"].pk, trio["b"].pk, trio["c"].pk
    plans = [(a, [b]), (c, [b])] if variant == "same" else [(a, [b]), (b, [a])]
    barrier = threading.Barrier(2)
    outcomes: Counter[str] = Counter()

    def worker(i: int) -> None:
        keep, merged = plans[i]
        barrier.wait(timeout=30)
        time.sleep(0.05 * i)  # the first one goes first; the second arrives while it holds
        try:
            merge_module.company_merge(actor=trio["actor"], keep_id=keep, merge_ids=merged)
            outcomes["ok"] += 1
        except Conflict:
            outcomes["conflict"] += 1

    errors = run_threads(2, worker, timeout=120)
    for exc in errors:
        outcomes[type(exc).__name__] += 1
    return outcomes, errors


def invariants(trio: dict[str, Any]) -> list[str]:
    """What must hold after the race: one merge; every moved row on the survivor, once."""
    problems = []
    merges = list(Merge.objects.filter(undone_at=None))
    if len(merges) != 1:
        problems.append(f"{len(merges)} merges recorded")
        return problems
    kept = merges[0].kept_id
    gone = merges[0].merged_ids
    if Company.objects.filter(pk__in=gone).exists():
        problems.append("a merged company still exists")
    if not Company.objects.filter(pk=kept).exists():
        problems.append("the kept company is gone")
    if set(Deal.objects.filter(pk__in=trio["deals"]).values_list("company_id", flat=True)) != {
        kept
    }:
        problems.append("a deal is not on the kept company")
    if Contact.objects.get(pk=trio["contact"].pk).company_id != kept:
        problems.append("the contact is not on the kept company")
    arbat = CompanyAddress.objects.filter(text="Москва, Арбат, 5")
    if list(arbat.values_list("company_id", flat=True)) != [kept]:
        problems.append(f"the address is on {list(arbat.values_list('company_id', flat=True))}")
    third = Company.objects.get(pk=trio["c"].pk)
    if kept != third.pk and third.version != trio["c"].version:
        problems.append("the company of the losing merge was changed")
    return problems


@pytest.fixture
def hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each merge keeps its records a moment after locking them."""
    original = merge_module._lock

    def slow_lock(*args: Any, **kwargs: Any) -> Any:
        rows = original(*args, **kwargs)
        time.sleep(HOLD)
        return rows

    monkeypatch.setattr(merge_module, "_lock", slow_lock)


@pytest.mark.parametrize("variant", ["same", "cross"])
def test_concurrent_merges_one_wins_the_other_conflicts(
    trio: dict[str, Any], hold: None, variant: str
) -> None:
    outcomes, errors = race(trio, variant)
    problems = invariants(trio)
    record_figures(
        "MERGE-RACE",
        {"variant": variant, **outcomes, "invariant_violations": len(problems)},
    )
    assert not errors, errors
    assert outcomes == Counter({"ok": 1, "conflict": 1})
    assert problems == []


@pytest.mark.parametrize("variant", ["same", "cross"])
def test_negative_control_without_the_lock_the_race_is_lost(
    trio: dict[str, Any], hold: None, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    if is_postgres():
        monkeypatch.setattr(merge_module, "_lock_rows", lambda qs: qs)
    else:
        options = connections.settings["default"].setdefault("OPTIONS", {})
        monkeypatch.setitem(options, "transaction_mode", "DEFERRED")
    outcomes, _errors = race(trio, variant)
    problems = invariants(trio)
    record_figures(
        "MERGE-RACE negative control",
        {"variant": variant, **outcomes, "invariant_violations": len(problems)},
    )
    # The guard off: not "one success and one clean conflict with everything in place".
    assert outcomes != Counter({"ok": 1, "conflict": 1}) or problems, (outcomes, problems)
