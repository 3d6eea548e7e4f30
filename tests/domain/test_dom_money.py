"""Money per currency (issue 7 item 8, decision 0010): amounts of different currencies are never
added. The board's maintained cells are keyed (stage, responsible, currency); a company's LTV is
kept per currency (deals.CompanyLtv, `Company.ltv` = the main currency); the board, its search,
the company stats sum per currency. Maintained == recounted from the deals after every service
(hand-written sequence and Hypothesis), with negative controls: services that key the cells or
the LTV without the currency are caught."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from factories import make_deal
from voronka.activities.counters import counters_snapshot, task_counters_rebuild
from voronka.contacts.models import Company
from voronka.deals import selectors, services
from voronka.deals.models import CompanyLtv, Deal, DealBoardCounter
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, ValidationError
from voronka.kernel.money import MAIN_CURRENCY, MoneySums, sum_by_currency
from voronka.web.templatetags.voronka import money, money_sums

pytestmark = pytest.mark.django_db

D = Decimal
SYSTEM = Actor.system()


# --- the oracle: everything recounted from the deals ------------------------------------------


def cells_recounted() -> dict[tuple[int, int, str], tuple[int, Decimal]]:
    out: dict[tuple[int, int, str], tuple[int, Decimal]] = {}
    for d in Deal.objects.all():
        key = (d.stage_id, d.responsible_id, d.currency)
        n, s = out.get(key, (0, D(0)))
        out[key] = (n + 1, s + d.amount)
    return out


def cells_maintained() -> dict[tuple[int, int, str], tuple[int, Decimal]]:
    return {
        (c.stage_id, c.responsible_id, c.currency): (c.count, c.amount)
        for c in DealBoardCounter.objects.all()
        if c.count or c.amount
    }


def ltv_recounted() -> dict[tuple[int, str], Decimal]:
    out: dict[tuple[int, str], Decimal] = {}
    for d in Deal.objects.filter(status="won"):
        out[(d.company_id, d.currency)] = out.get((d.company_id, d.currency), D(0)) + d.amount
    return {k: v for k, v in out.items() if v}


def ltv_maintained() -> dict[tuple[int, str], Decimal]:
    return {(c.company_id, c.currency): c.amount for c in CompanyLtv.objects.exclude(amount=0)}


def main_ltv_problems() -> list[int]:
    """Companies whose `Company.ltv` is not the sum of their won deals in the main currency."""
    want = ltv_recounted()
    return [c.pk for c in Company.objects.all() if c.ltv != want.get((c.pk, MAIN_CURRENCY), D(0))]


def money_problems() -> dict[str, Any]:
    problems: dict[str, Any] = {}
    if cells_maintained() != cells_recounted():
        problems["cells"] = (cells_maintained(), cells_recounted())
    if ltv_maintained() != ltv_recounted():
        problems["ltv"] = (ltv_maintained(), ltv_recounted())
    if main_ltv_problems():
        problems["company.ltv"] = main_ltv_problems()
    return problems


# --- MoneySums and its filter ------------------------------------------------------------------


def test_money_sums_add_per_currency_and_order_main_first() -> None:
    sums = MoneySums.of([("USD", "3000"), ("RUB", D("1250000")), ("EUR", 5), ("USD", D("0.5"))])
    assert sums == {"USD": D("3000.5"), "RUB": D("1250000"), "EUR": D("5")}
    assert [c for c, _ in sums.ordered()] == ["RUB", "EUR", "USD"]
    assert sums.as_list()[0] == {"currency": "RUB", "amount": "1250000.00"}
    assert (sums - MoneySums(USD=D("3000.5"))).ordered() == [("RUB", D(1250000)), ("EUR", D(5))]
    assert sums + MoneySums(KZT=D(1)) == {**sums, "KZT": D(1)}
    assert MoneySums.of([("RUB", None)]) == {} and MoneySums().ordered() == []
    rows = [{"amount": D(1), "currency": "USD"}, {"amount": D(2), "currency": "RUB"}]
    assert sum_by_currency(rows) == {"USD": D(1), "RUB": D(2)}


def test_money_sums_filter_never_adds_currencies() -> None:
    html = str(money_sums(MoneySums(USD=D(3000), RUB=D(1250000))))
    assert html.index(money(1250000)) < html.index(money(3000, "USD"))
    assert f'<span class="money-main">{money(1250000)}</span>' in html
    assert f'<span class="money-other">· {money(3000, "USD")}</span>' in html
    assert money(1253000) not in html
    # Only another currency: it comes first; nothing at all: 0 in the main currency.
    assert str(money_sums(MoneySums(EUR=D(7)))).count("money-main") == 1
    assert money(0) in str(money_sums(MoneySums())) and money(0) in str(money_sums(None))
    assert "<b>" not in str(money_sums(MoneySums({"<b>": D(1)})))  # escaped


# --- the board ---------------------------------------------------------------------------------


def column(columns: list[Any], stage: Any) -> Any:
    return next(c for c in columns if c.stage.pk == stage.pk)


def test_board_column_sums_are_per_currency_from_cells_and_from_search(
    records: Any, pipeline: Any, personas: Any
) -> None:
    owner, a1 = personas["owner"].user, personas["a1"].user
    new = pipeline.stages["new"]
    before = column(selectors.pipeline_board(pipeline=pipeline.sales, user=owner), new)
    assert set(before.sums) == {MAIN_CURRENCY}
    make_deal(
        responsible=a1,
        company=records["a1"].company,
        title="Сделка в долларах",
        stage=new,
        amount="1000",
        currency="USD",
    )
    make_deal(
        responsible=a1,
        company=records["a1"].company,
        title="Сделка в евро",
        stage=new,
        amount="250.50",
        currency="EUR",
    )
    after = column(selectors.pipeline_board(pipeline=pipeline.sales, user=owner), new)
    assert after.count == before.count + 2
    assert after.sums == {
        MAIN_CURRENCY: before.sums[MAIN_CURRENCY],  # the rouble sum did not move
        "USD": D("1000"),
        "EUR": D("250.50"),
    }
    # The search path (a GROUP BY over the matching deals) sums per currency too.
    found = column(selectors.pipeline_board(pipeline=pipeline.sales, user=owner, q="Сделка"), new)
    assert found.count == after.count and found.sums == after.sums
    # A manager's board: only their cells, still per currency.
    mine = column(selectors.pipeline_board(pipeline=pipeline.sales, user=a1), new)
    assert mine.sums == {
        MAIN_CURRENCY: records["a1"].deal.amount,
        "USD": D("1000"),
        "EUR": D("250.50"),
    }
    by_a1 = column(
        selectors.pipeline_board(pipeline=pipeline.sales, user=owner, responsible=a1.pk), new
    )
    assert by_a1.sums == mine.sums and by_a1.count == mine.count == 3


def test_company_stats_sum_open_deals_per_currency(records: Any, personas: Any) -> None:
    company = records["a2"].company
    make_deal(
        responsible=personas["a2"].user,
        company=company,
        title="Доллары",
        amount="70",
        currency="USD",
    )
    stats = selectors.deal_stats(
        selectors.deals_visible(personas["owner"].user).filter(company=company)
    )
    assert stats["n"] == stats["open_n"] == 2
    assert stats["open_sums"] == {MAIN_CURRENCY: records["a2"].deal.amount, "USD": D(70)}


# --- every service keeps the cells and the LTV per currency -------------------------------------


def test_each_service_keeps_cells_and_ltv_per_currency(
    records: Any, pipeline: Any, personas: Any
) -> None:
    s, a1, a2 = pipeline.stages, personas["a1"].user, personas["a2"].user
    company, other = records["a1"].company, records["a1"].spare_company
    assert money_problems() == {}
    usd = make_deal(
        responsible=a1, company=company, title="USD", stage=s["new"], amount="100", currency="USD"
    )
    assert money_problems() == {}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("amount", lambda: services.deal_update(deal=usd, actor=SYSTEM, data={"amount": "150"})),
        (
            "currency",
            lambda: services.deal_update(deal=usd, actor=SYSTEM, data={"currency": "EUR"}),
        ),
        ("back", lambda: services.deal_update(deal=usd, actor=SYSTEM, data={"currency": "USD"})),
        (
            "reassign",
            lambda: services.deal_update(deal=usd, actor=SYSTEM, data={"responsible": a2.pk}),
        ),
        ("move", lambda: services.deal_move_to_stage(deal=usd, stage=s["talks"], actor=SYSTEM)),
        ("won", lambda: services.deal_move_to_stage(deal=usd, stage=s["won"], actor=SYSTEM)),
        (
            "company",
            lambda: services.deal_update(deal=usd, actor=SYSTEM, data={"company": other.pk}),
        ),
        ("reopen", lambda: services.deal_move_to_stage(deal=usd, stage=s["new"], actor=SYSTEM)),
        ("won again", lambda: services.deal_move_to_stage(deal=usd, stage=s["won"], actor=SYSTEM)),
    ]
    for name, step in steps:
        step()
        usd.refresh_from_db()
        assert money_problems() == {}, name
    # Won in dollars: the dollars are the company's LTV in USD; the rouble LTV did not move.
    assert ltv_maintained()[(other.pk, "USD")] == D(150)
    assert Company.objects.get(pk=other.pk).ltv == 0
    assert Company.objects.get(pk=other.pk).ltv_sums == {"USD": D(150)}
    services.deal_delete(deal=usd, actor=SYSTEM)
    assert money_problems() == {} and (other.pk, "USD") not in ltv_maintained()


def test_currency_of_a_closed_deal_cannot_change(
    records: Any, pipeline: Any, personas: Any, nothing_written: Any
) -> None:
    """Like its amount: 1,000 ₽ won must not silently become 1,000 $ in the LTV."""
    deal = make_deal(
        responsible=personas["a1"].user,
        company=records["a1"].company,
        title="Закрыта",
        stage=pipeline.stages["won"],
        amount="1000",
    )
    with nothing_written(), pytest.raises(ValidationError) as info:
        services.deal_update(deal=deal, actor=SYSTEM, data={"currency": "USD"})
    assert "currency" in info.value.errors
    services.deal_update(deal=deal, actor=SYSTEM, data={"currency": "RUB"})  # unchanged: fine


# --- property: random service sequences in three currencies -----------------------------------

CURRENCIES = ("RUB", "USD", "EUR")
MONEY_OPS = ("create", "move", "amount", "currency", "reassign", "company", "delete")


class MoneyOps:
    """Deal services with random arguments in three currencies; refusals are legitimate."""

    def __init__(self, pipeline: Any, personas: Any, records: Any) -> None:
        self.stages = list(pipeline.stages.values()) + list(pipeline.other_stages.values())
        self.reason = pipeline.loss_reasons[0]
        self.users = [personas[k].user for k in ("owner", "a1", "a2", "b1")]
        self.companies = [r.company for r in records.values()][:4]
        self.applied = 0

    def run(self, op: str, n: int) -> None:
        try:
            getattr(self, f"_{op}")(n)
            self.applied += 1
        except (ApplicationError, LookupError):
            pass

    def _deal(self, n: int) -> Deal:
        ids = list(Deal.objects.order_by("pk").values_list("pk", flat=True))
        if not ids:
            raise LookupError
        return Deal.objects.get(pk=ids[n % len(ids)])

    def _create(self, n: int) -> None:
        stage = self.stages[n % len(self.stages)]
        data: dict[str, Any] = {
            "title": f"Сделка {n}",
            "company": self.companies[n % len(self.companies)].pk,
            "responsible": self.users[n % len(self.users)].pk,
            "stage": stage.pk,
            "amount": f"{n % 1000}.{n % 100:02d}",
            "currency": CURRENCIES[n % 3],
        }
        if stage.required_fields:
            data["custom"] = {"contract_no": "Д-1"}
        if stage.semantic == "lost":
            data["loss_reason"] = self.reason.pk
        services.deal_create(actor=SYSTEM, data=data)

    def _move(self, n: int) -> None:
        deal = self._deal(n)
        stages = [x for x in self.stages if x.pipeline_id == deal.pipeline_id]
        stage = stages[n % len(stages)]
        fields = {"contract_no": "Д-2"} if stage.required_fields else None
        if n % 3 == 0:
            fields = {**(fields or {}), "amount": str(n % 5000)}
        services.deal_move_to_stage(
            deal=deal,
            stage=stage,
            actor=SYSTEM,
            fields=fields,
            loss_reason=self.reason if stage.semantic == "lost" else None,
        )

    def _amount(self, n: int) -> None:
        services.deal_update(deal=self._deal(n), actor=SYSTEM, data={"amount": str(n % 777)})

    def _currency(self, n: int) -> None:
        services.deal_update(deal=self._deal(n), actor=SYSTEM, data={"currency": CURRENCIES[n % 3]})

    def _reassign(self, n: int) -> None:
        user = self.users[n % len(self.users)]
        services.deal_update(deal=self._deal(n), actor=SYSTEM, data={"responsible": user.pk})

    def _company(self, n: int) -> None:
        company = self.companies[n % len(self.companies)]
        services.deal_update(deal=self._deal(n), actor=SYSTEM, data={"company": company.pk})

    def _delete(self, n: int) -> None:
        deal = self._deal(n)
        if deal.open_tasks:
            raise LookupError
        services.deal_delete(deal=deal, actor=SYSTEM)


OP_LISTS = st.lists(
    st.tuples(st.sampled_from(MONEY_OPS), st.integers(0, 10**6)), min_size=1, max_size=15
)
BUDGET = 30.0  # seconds of Hypothesis examples


def test_hypothesis_money_cells_and_ltv_equal_their_recount(
    records: Any, pipeline: Any, personas: Any
) -> None:
    started, examples, applied = time.monotonic(), [], []

    @hsettings(max_examples=60, deadline=None)
    @given(ops=OP_LISTS)
    def check(ops: list[tuple[str, int]]) -> None:
        if time.monotonic() - started > BUDGET:
            return
        with transaction.atomic():
            runner = MoneyOps(pipeline, personas, records)
            for op, n in ops:
                runner.run(op, n)
            assert money_problems() == {}, ops
            # ...and the rebuild (the seed's and the migration's SQL) agrees with the services.
            before = counters_snapshot()
            task_counters_rebuild()
            assert counters_snapshot() == before, ops
            transaction.set_rollback(True)
        examples.append(len(ops))
        applied.append(runner.applied)

    check()
    assert len(examples) >= 5 and sum(applied) >= len(examples), (examples, applied)


def _run_fixed_sequence(pipeline: Any, personas: Any, records: Any) -> None:
    runner = MoneyOps(pipeline, personas, records)
    for i in range(30):
        runner.run(("create", "move", "currency", "amount")[i % 4], 7919 * i + 13)


def test_negative_control_cells_keyed_without_currency_are_caught(
    records: Any, pipeline: Any, personas: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old key (stage, responsible): a dollar deal lands in the rouble cell. The recount
    by currency sees it."""
    from voronka.deals import counters

    real = counters.MAINTAINED["board"]
    monkeypatch.setitem(
        counters.MAINTAINED,
        "board",
        lambda state: real(dataclasses.replace(state, currency=MAIN_CURRENCY)),
    )
    _run_fixed_sequence(pipeline, personas, records)
    assert "cells" in money_problems()
    before = counters_snapshot()
    task_counters_rebuild()
    assert counters_snapshot()["deal_board"] != before["deal_board"]


def test_negative_control_ltv_without_currency_is_caught(
    records: Any, pipeline: Any, personas: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding every won amount to the main currency (the old `Company.ltv`) is caught."""
    from voronka.deals import counters

    real = counters.MAINTAINED["ltv"]
    monkeypatch.setitem(
        counters.MAINTAINED,
        "ltv",
        lambda state: real(dataclasses.replace(state, currency=MAIN_CURRENCY)),
    )
    _run_fixed_sequence(pipeline, personas, records)
    assert {"ltv", "company.ltv"} <= set(money_problems())


def test_negative_control_board_adding_currencies_is_caught(
    records: Any, pipeline: Any, personas: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Column totals over every currency (the defect of the issue): the board test fails."""

    def mixed_add(self: MoneySums, currency: str, amount: Any) -> None:
        if amount is not None:
            self[MAIN_CURRENCY] = self.get(MAIN_CURRENCY, D(0)) + D(amount)

    monkeypatch.setattr(MoneySums, "add", mixed_add)
    with pytest.raises(AssertionError):
        test_board_column_sums_are_per_currency_from_cells_and_from_search(
            records, pipeline, personas
        )
