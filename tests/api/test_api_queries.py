"""Query budgets (no N+1): the deal list API, companies/contacts lists and
deals.selectors.pipeline_board issue the same number of queries at 10 and at 100 deals."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from factories import make_contact, make_deal, report_figures
from voronka.deals.selectors import pipeline_board

pytestmark = pytest.mark.django_db

SIZES = (10, 100)


def fill(records: Any, pipeline: Any, total: int) -> None:
    """`total` deals (fixture deals included) spread over every stage of "Продажа" and three
    responsibles, each with a contact, so every column and every join has rows."""
    from voronka.deals.models import Deal
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    stage_keys = ["new", "talks", "won", "lost", "contract"]
    owners = ["a1", "a2", "a11"]
    have = Deal.objects.count()
    if have == len(records):  # first call: spread the fixture deals over every stage too
        for i, rec in enumerate(records.values()):
            key = stage_keys[i % len(stage_keys)]
            if key != "new":
                deal_move_to_stage(
                    deal=rec.deal,
                    stage=pipeline.stages[key],
                    actor=Actor.system(),
                    fields={"contract_no": "Д-0"} if key == "contract" else None,
                    loss_reason=pipeline.loss_reasons[0] if key == "lost" else None,
                )
    for i in range(total - have):
        rec = records[owners[i % len(owners)]]
        stage = pipeline.stages[stage_keys[i % len(stage_keys)]]
        custom = {"contract_no": f"Д-{i}"} if stage == pipeline.stages["contract"] else {}
        contact = make_contact(
            responsible=rec.user, company=rec.company, first_name=f"К{i}", phones=[f"+7916{i:07d}"]
        )
        make_deal(
            responsible=rec.user,
            company=rec.company,
            title=f"Объём {i}",
            stage=stage,
            custom=custom,
            contacts=[contact.pk],
            # Created in a lost stage, a deal takes a loss reason as a move there does.
            **({"loss_reason": pipeline.loss_reasons[0].pk} if stage.semantic == "lost" else {}),
        )


def count_queries(func: Any) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as ctx:
        result = func()
    return len(ctx.captured_queries), result


@pytest.mark.parametrize("who", ["owner", "head_a", "a1", "integration"])
def test_deal_list_api_queries_do_not_grow_with_rows(
    records: Any, pipeline: Any, api: Any, who: str
) -> None:
    client = api(who)
    client.get("/api/v1/deals")  # warm: token last_used_at update happens once a minute
    counts = {}
    rows = {}
    for size in SIZES:
        fill(records, pipeline, size)
        n, response = count_queries(lambda: client.get("/api/v1/deals", {"limit": 200}))
        assert response.status_code == 200
        counts[size], rows[size] = n, len(response.json()["items"])
    report_figures(
        f"QUERY-BUDGET deal list API as {who}: {counts[10]} queries for {rows[10]} rows, "
        f"{counts[100]} queries for {rows[100]} rows"
    )
    assert rows[100] > rows[10]
    assert counts[100] == counts[10]
    assert counts[100] <= 6


@pytest.mark.parametrize("who", ["owner", "head_a", "a1"])
def test_pipeline_board_queries_do_not_grow_with_rows(
    records: Any, pipeline: Any, personas: Any, who: str
) -> None:
    """The board costs a fixed number of queries plus one per non-empty column (bounded by the
    number of stages), whatever the number of deals."""
    from voronka.identity.models import User

    fixed = {}
    counts = {}
    cards = {}
    for size in SIZES:
        fill(records, pipeline, size)
        user = User.objects.get(pk=personas[who].pk)  # fresh: no cached scopes
        n, columns = count_queries(
            lambda user=user: pipeline_board(pipeline=pipeline.sales, user=user)
        )
        n_after, _ = count_queries(  # what the template touches must not query
            lambda columns=columns: [
                (c.company.name, c.responsible.display_name, c.title, c.amount)
                for col in columns
                for c in col.cards
            ]
        )
        assert n_after == 0
        counts[size], cards[size] = n, sum(len(c.cards) for c in columns)
        fixed[size] = n - sum(1 for c in columns if c.count)
    report_figures(
        f"QUERY-BUDGET pipeline_board as {who}: {counts[10]} queries ({cards[10]} cards), "
        f"{counts[100]} queries ({cards[100]} cards); fixed part {fixed[10]} / {fixed[100]}"
    )
    assert cards[100] > cards[10]
    assert fixed[100] == fixed[10]
    assert counts[100] <= 5 + len(pipeline.stages)


@pytest.mark.parametrize("path", ["/api/v1/companies", "/api/v1/contacts", "/api/v1/tasks"])
def test_other_lists_do_not_grow_with_rows(
    records: Any, pipeline: Any, api: Any, path: str
) -> None:
    client = api("owner")
    client.get(path)
    counts = {}
    for size in SIZES:
        fill(records, pipeline, size)
        n, response = count_queries(lambda: client.get(path, {"limit": 200}))
        assert response.status_code == 200
        counts[size] = n
    report_figures(f"QUERY-BUDGET {path}: {counts[10]} queries at 10 deals, {counts[100]} at 100")
    assert counts[100] == counts[10]


def test_deal_card_and_timeline_queries_are_constant(records: Any, pipeline: Any, api: Any) -> None:
    from voronka.deals.services import deal_move_to_stage, deal_update
    from voronka.kernel.actor import Actor

    client = api("owner")
    deal = records["a1"].deal
    client.get(f"/api/v1/deals/{deal.pk}")
    before_card, _ = count_queries(lambda: client.get(f"/api/v1/deals/{deal.pk}"))
    before_tl, _ = count_queries(lambda: client.get(f"/api/v1/deals/{deal.pk}/timeline"))
    for i in range(10):
        actor = Actor.for_user(records["head_a"].user if i % 2 else records["a1"].user)
        deal_update(deal=deal, actor=actor, data={"title": f"v{i}"})
        deal_move_to_stage(
            deal=deal, stage=pipeline.stages["talks" if i % 2 == 0 else "new"], actor=Actor.system()
        )
    after_card, _ = count_queries(lambda: client.get(f"/api/v1/deals/{deal.pk}"))
    after_tl, response = count_queries(lambda: client.get(f"/api/v1/deals/{deal.pk}/timeline"))
    assert len(response.json()) > 20
    report_figures(
        f"QUERY-BUDGET deal card {before_card}→{after_card}, timeline {before_tl}→{after_tl} queries"
    )
    assert after_card == before_card and after_tl == before_tl
