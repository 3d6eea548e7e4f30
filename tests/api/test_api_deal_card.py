"""`GET /api/v1/deals/<id>` reads one row of values (the deal joined to its company) and its
contact ids, and writes them straight to JSON (issue 8, "thin in time"): the answer must stay
exactly what `deal_out` of the model instance gives (the schema DealOut documents), and the deal
query must not go back to the seven-table join whose planning cost ten times its execution.

Negative controls: a row that differs from the instance in one field is detected; the wide
select_related query is detected by the join check.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import voronka.deals.selectors as deal_selectors
from factories import make_contact, make_deal
from voronka.deals.api import deal_out

pytestmark = pytest.mark.django_db


def expected(user: Any, deal_id: int) -> Any:
    """What the API answered before: deal_out of the model instance, through the API's JSON."""
    deal = deal_selectors.deal_get(user=user, deal_id=deal_id)
    return json.loads(orjson.dumps(deal_out(deal), default=str))


def rich_deal(records: Any, pipeline: Any) -> Any:
    """A lost deal with contacts, UTM marks and a loss reason: every field has a value."""
    from voronka.deals.models import LossReason
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    rec = records["a1"]
    contacts = [
        make_contact(responsible=rec.user, company=rec.company, first_name=f"Контакт {i}")
        for i in range(3)
    ]
    deal = make_deal(
        responsible=rec.user,
        company=rec.company,
        title="Полная сделка",
        amount="1234.50",
        currency="USD",
        contacts=[c.pk for c in contacts],
        utm_source="yandex",
        comment="Комментарий",
    )
    reason = LossReason.objects.create(name="Дорого для теста карточки")
    deal_move_to_stage(
        deal=deal,
        stage=pipeline.stages["lost"],
        actor=Actor.system(),
        loss_reason=reason.pk,
        loss_comment="не сейчас",
    )
    return deal


def test_card_api_answers_what_deal_out_gives(
    api: Any, personas: Any, records: Any, pipeline: Any
) -> None:
    deal = rich_deal(records, pipeline)
    for who, deal_id in (("owner", deal.pk), ("a1", deal.pk), ("a1", records["a1"].deal.pk)):
        body = api(who).get(f"/api/v1/deals/{deal_id}").json()
        assert body == expected(personas[who].user, deal_id)
    body = api("owner").get(f"/api/v1/deals/{deal.pk}").json()
    assert len(body["contacts"]) == 3 and body["loss_reason"] and body["closed_at"]
    assert body["amount"] == "1234.50" and body["currency"] == "USD"


def test_card_api_keeps_the_scope(api: Any, records: Any) -> None:
    assert api("a2").get(f"/api/v1/deals/{records['a1'].deal.pk}").status_code == 404
    assert api("a1").get("/api/v1/deals/999999999").status_code == 404


def deal_query_joins(client: Any, deal_id: int) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/api/v1/deals/{deal_id}").status_code == 200
    deal_sql = [q["sql"] for q in ctx.captured_queries if 'FROM "deals_deal"' in q["sql"]]
    assert len(deal_sql) == 1, deal_sql
    return deal_sql[0].count(" JOIN ")


def test_card_api_reads_the_deal_with_its_company_only(api: Any, records: Any) -> None:
    assert deal_query_joins(api("owner"), records["a1"].deal.pk) == 1


def test_negative_control_a_differing_row_is_detected(
    api: Any, records: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = deal_selectors.deal_values

    def stale(**kwargs: Any) -> dict[str, Any]:
        return {**real(**kwargs), "version": 999}

    monkeypatch.setattr(deal_selectors, "deal_values", stale)
    deal_id = records["a1"].deal.pk
    assert api("a1").get(f"/api/v1/deals/{deal_id}").json() != expected(records["a1"].user, deal_id)


def test_negative_control_the_wide_join_is_detected(
    api: Any, records: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def wide(*, user: Any, deal_id: int) -> dict[str, Any]:
        deal = deal_selectors.deal_get(user=user, deal_id=deal_id)
        row = {
            k: getattr(deal, k.replace("company__name", "pk")) for k in deal_selectors.DEAL_VALUES
        }
        return {**row, "company__name": deal.company.name, "contacts": []}

    monkeypatch.setattr(deal_selectors, "deal_values", wide)
    assert deal_query_joins(api("owner"), records["a1"].deal.pk) > 1
