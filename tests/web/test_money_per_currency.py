"""Every other place that sums money shows a sum per currency (issue 7 item 8): the company
card (LTV, open deals), the company list (LTV), the deal card (its company's LTV) and the
companies API (`ltv_by_currency`; `ltv` is the main currency only). Each check has its negative
control: the defect put back (every currency added into roubles) is caught."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from factories import make_deal
from voronka.kernel.money import MAIN_CURRENCY, MoneySums
from voronka.web.templatetags.voronka import money

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(records: Any, pipeline: Any) -> Any:
    """a1's company: won 1 000 ₽ and 50 $; open: its fixture deal (₽) and 70 € in talks."""
    rec = records["a1"]
    for amount, currency, stage in (
        ("1000", "RUB", "won"),
        ("50", "USD", "won"),
        ("70", "EUR", "talks"),
    ):
        make_deal(
            responsible=rec.user,
            company=rec.company,
            title=f"{currency} {stage}",
            stage=pipeline.stages[stage],
            amount=amount,
            currency=currency,
        )
    return rec


def page_checks(web: Any, rec: Any) -> None:
    client = web("owner")
    detail = client.get(f"/companies/{rec.company.pk}/").content.decode()
    kpis = detail.split('class="kpis"', 1)[1].split('class="card-grid"', 1)[0]
    assert f'<span class="money-main">{money(1000)}</span>' in kpis, kpis
    assert f'<span class="money-other">· {money(50, "USD")}</span>' in kpis, kpis
    assert f'<span class="money-main">{money(rec.deal.amount)}</span>' in kpis, kpis
    assert f'<span class="money-other">· {money(70, "EUR")}</span>' in kpis, kpis
    assert money(1050) not in kpis and money(rec.deal.amount + 70) not in kpis
    listing = client.get("/companies/", {"q": rec.company.name}).content.decode()
    row = listing.split(f">{rec.company.name}</a>", 1)[1].split("</tr>", 1)[0]
    assert money(1000) in row and money(50, "USD") in row and money(1050) not in row, row
    card = client.get(f"/deals/{rec.deal.pk}/").content.decode()
    ltv = card.split("LTV", 1)[1].split("</div>", 1)[0]
    assert money(1000) in ltv and money(50, "USD") in ltv and money(1050) not in ltv, ltv


def api_checks(api: Any, rec: Any) -> None:
    client = api("owner")
    one = client.get_json(f"/api/v1/companies/{rec.company.pk}").json()
    assert one["ltv"] == "1000.00"  # the main currency only
    assert one["ltv_by_currency"] == [
        {"currency": "RUB", "amount": "1000.00"},
        {"currency": "USD", "amount": "50.00"},
    ]
    items = client.get_json("/api/v1/companies", {"limit": 200}).json()["items"]
    listed = next(c for c in items if c["id"] == rec.company.pk)
    assert listed["ltv_by_currency"] == one["ltv_by_currency"] and listed["ltv"] == "1000.00"
    empty = next(c for c in items if c["id"] == rec.spare_company.pk)
    assert empty["ltv_by_currency"] == [] and empty["ltv"] == "0.00"


def test_company_pages_show_sums_per_currency(web: Any, mixed: Any) -> None:
    page_checks(web, mixed)


def test_companies_api_returns_ltv_per_currency(api: Any, mixed: Any) -> None:
    api_checks(api, mixed)


def _add_into_main(self: MoneySums, currency: str, amount: Any) -> None:
    if amount is not None:
        self[MAIN_CURRENCY] = self.get(MAIN_CURRENCY, Decimal(0)) + Decimal(amount)


@pytest.mark.parametrize("check", [page_checks, api_checks], ids=["pages", "api"])
def test_negative_control_sums_over_every_currency_are_caught(
    web: Any,
    api: Any,
    mixed: Any,
    monkeypatch: pytest.MonkeyPatch,
    check: Callable[[Any, Any], None],
) -> None:
    monkeypatch.setattr(MoneySums, "add", _add_into_main)
    with pytest.raises(AssertionError):
        check(web if check is page_checks else api, mixed)
