"""Deal bookkeeping through one function (issue 8): `deals.counters.deal_state_changed(before,
after)` moves every maintained counter — board cells, stage day buckets, per-user open / "needs
a next task" numbers, company LTV — from what a deal counted as to what it counts as now.

* the algebra of `deal_state_deltas` (Hypothesis): over any sequence of states of any deals
  (create, update, move, reassign, task opened/closed, delete) the deltas add up to what the
  final states count — the recount — and a no-op writes nothing;
* every write path calls it exactly once, with the deal's real state before and after.

The random-sequence "maintained == recounted" check against the database, with real services
and the negative control that drops one counter, is in tests/tasks/test_task_counters.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from factories import make_company, make_deal, make_task, system
from voronka.deals import counters
from voronka.deals.counters import DealState, deal_state_deltas
from voronka.deals.models import Deal

T0 = dt.datetime(2026, 3, 18, 12, 0, tzinfo=dt.UTC)

states = st.builds(
    DealState,
    status=st.sampled_from(["open", "open", "won", "lost"]),
    stage_id=st.integers(1, 4),
    responsible_id=st.integers(1, 3),
    currency=st.sampled_from(["RUB", "USD"]),
    amount=st.decimals(0, 10**6, places=2, allow_nan=False, allow_infinity=False),
    company_id=st.integers(1, 3),
    open_tasks=st.integers(0, 2),
    stage_entered_at=st.integers(0, 72).map(lambda h: T0 + dt.timedelta(hours=h)),
)
# One deal's life: created (or not yet), a few writes, maybe deleted at the end.
lives = st.tuples(st.lists(states, min_size=1, max_size=6), st.booleans())

Totals = dict[tuple[str, tuple[tuple[str, Any], ...], str], Decimal]


def add(totals: Totals, cells: list[counters.Cell]) -> None:
    for model, keys, deltas in cells:
        for column, delta in deltas.items():
            key = (model._meta.label, tuple(keys.items()), column)
            totals[key] = totals.get(key, Decimal(0)) + delta
            if not totals[key]:
                del totals[key]


@hsettings(max_examples=300, deadline=None)
@given(deals=st.lists(lives, min_size=1, max_size=5))
def test_deltas_of_any_history_add_up_to_the_recount(
    deals: list[tuple[list[DealState], bool]],
) -> None:
    maintained: Totals = {}
    recount: Totals = {}
    for history, deleted in deals:
        steps: list[DealState | None] = [None, *history, *([None] if deleted else [])]
        for before, after in zip(steps, steps[1:], strict=False):
            add(maintained, deal_state_deltas(before, after))
        if steps[-1] is not None:
            add(recount, deal_state_deltas(None, steps[-1]))  # what the final row counts as
    assert maintained == recount


@given(a=states, b=states)
def test_a_change_and_its_reverse_cancel_and_a_no_op_writes_nothing(
    a: DealState, b: DealState
) -> None:
    assert deal_state_deltas(a, a) == []
    there: Totals = {}
    add(there, deal_state_deltas(a, b))
    add(there, deal_state_deltas(b, a))
    assert there == {}


def test_a_task_opened_on_a_deal_only_moves_its_needs_a_next_task_number() -> None:
    a = DealState("open", 1, 7, "RUB", Decimal("10"), 3, 0, T0)
    b = DealState("open", 1, 7, "RUB", Decimal("10"), 3, 1, T0)
    cells = deal_state_deltas(a, b)
    assert [(m.__name__, k, d) for m, k, d in cells] == [
        ("DealUserCounter", {"responsible": 7}, {"without_task": -1})
    ]
    assert deal_state_deltas(b, dataclasses.replace(b, open_tasks=2)) == []


# --- every write path calls it once ---------------------------------------------------------------

CALLERS = (
    "voronka.deals.services.deal",
    "voronka.deals.services.moves",
    "voronka.activities.tasks_services",
)


@contextmanager
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, Any]]]:
    import importlib

    calls: list[tuple[Any, Any]] = []
    real = counters.deal_state_changed
    real_many = counters.deal_states_changed

    def spy(before: DealState | None, after: DealState | None) -> None:
        calls.append((before, after))
        real(before, after)

    def spy_many(changes: Any) -> None:
        changes = list(changes)
        calls.extend(changes)
        real_many(changes)

    for name in CALLERS:
        module = importlib.import_module(name)
        # Imported by name (the one call or the batch's): patched there.
        found = False
        for attr, fake, original in (
            ("deal_state_changed", spy, real),
            ("deal_states_changed", spy_many, real_many),
        ):
            if hasattr(module, attr):
                assert getattr(module, attr) is original, name
                monkeypatch.setattr(module, attr, fake)
                found = True
        assert found, name
    yield calls


def state(deal: Deal) -> DealState:
    return DealState.of(Deal.objects.get(pk=deal.pk))


def test_every_write_path_calls_the_bookkeeping_once(
    personas: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voronka.activities.tasks_services import task_complete
    from voronka.deals.services import deal_delete, deal_move_to_stage, deal_update

    a1, b1 = personas["a1"].user, personas["b1"].user
    company = make_company(responsible=a1, name="ООО Учёт")
    other = make_company(responsible=a1, name="ООО Другая")
    seen: Counter[str] = Counter()
    with recorded(monkeypatch) as calls:

        def step(name: str, deal: Deal | None, write: Any) -> Any:
            before = None if deal is None else state(deal)
            calls.clear()
            result = write()
            target = result if isinstance(result, Deal) else deal
            assert target is not None
            after = state(target) if Deal.objects.filter(pk=target.pk).exists() else None
            assert calls == [(before, after)], name
            seen[name] += 1
            return result

        deal = step("create", None, lambda: make_deal(responsible=a1, company=company, title="Т"))
        step("amount", deal, lambda: deal_update(deal=deal, actor=system(), data={"amount": "5"}))
        step(
            "reassign",
            deal,
            lambda: deal_update(deal=deal, actor=system(), data={"responsible": b1.pk}),
        )
        step(
            "company",
            deal,
            lambda: deal_update(deal=deal, actor=system(), data={"company": other.pk}),
        )
        task = step("task open", deal, lambda: make_task(responsible=b1, deal=deal))
        step("task close", deal, lambda: task_complete(task=task, actor=system(), result="Готово"))
        won = pipeline.stages["won"]
        step("move", deal, lambda: deal_move_to_stage(deal=deal, stage=won, actor=system()))
        step("delete", deal, lambda: deal_delete(deal=deal, actor=system()))
    assert len(seen) == 8
