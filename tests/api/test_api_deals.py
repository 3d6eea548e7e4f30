"""The contract of issue 2 for pipelines and deals: /api/v1/pipelines, /deals (filters, keyset
pagination), /deals/{id} (GET/PATCH/DELETE, version and If-Match), /deals/{id}/move
(200 / 409 / 422 with missing_fields), /deals/{id}/timeline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from factories import make_deal
from voronka.deals.models import Deal, StageChange
from voronka.kernel import clock
from voronka.kernel.models import AuditEntry

pytestmark = pytest.mark.django_db

DEAL_KEYS = {
    "id",
    "title",
    "pipeline",
    "stage",
    "status",
    "amount",
    "currency",
    "responsible",
    "company",
    "company_name",
    "contacts",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "comment",
    "custom",
    "opened_at",
    "closed_at",
    "stage_entered_at",
    "loss_reason",
    "loss_comment",
    "version",
    "created_at",
    "updated_at",
}
LIST_KEYS = {
    "id",
    "title",
    "pipeline",
    "stage",
    "status",
    "amount",
    "currency",
    "responsible",
    "company",
    "company_name",
    "opened_at",
    "closed_at",
    "stage_entered_at",
    "version",
}


def url(deal: Any, suffix: str = "") -> str:
    return f"/api/v1/deals/{deal.pk}{suffix}"


# --- pipelines --------------------------------------------------------------------------------


def test_pipelines_with_stages(pipeline: Any, api: Any) -> None:
    response = api("a1").get("/api/v1/pipelines")
    assert response.status_code == 200
    body = response.json()
    assert [p["name"] for p in body] == ["Продажа", "Обзвон"]
    sales = body[0]
    assert [s["id"] for s in sales["stages"]] == [s.pk for s in pipeline.stages.values()]
    for stage in sales["stages"]:
        assert {"id", "name", "semantic", "sla_days", "required_fields"} <= set(stage)
    by_name = {s["name"]: s for s in sales["stages"]}
    assert by_name["Договор"]["required_fields"] == ["contract_no"]
    assert by_name["Новая"]["sla_days"] == 3 and by_name["Договор"]["sla_days"] is None
    assert [s["semantic"] for s in sales["stages"]] == ["open", "open", "open", "won", "lost"]
    single = api("a1").get(f"/api/v1/pipelines/{pipeline.sales.pk}").json()
    assert single == sales
    assert api("a1").get("/api/v1/pipelines/999999").status_code == 404
    assert api("anonymous").get("/api/v1/pipelines").status_code == 401


def test_loss_reasons_and_custom_fields(pipeline: Any, api: Any) -> None:
    reasons = api("a1").get("/api/v1/pipelines/loss-reasons").json()
    assert [r["name"] for r in reasons] == ["Дорого", "Выбрали конкурента"]
    fields = api("a1").get("/api/v1/pipelines/custom-fields", {"entity": "deal"}).json()
    assert {f["key"] for f in fields} == set(pipeline.fields)
    assert {f["type"] for f in fields} >= {
        "string",
        "number",
        "money",
        "list",
        "multi",
        "date",
        "datetime",
        "boolean",
        "address",
        "link",
        "file",
    }


# --- list -------------------------------------------------------------------------------------


def test_list_shape_and_scope(records: Any, api: Any) -> None:
    body = api("a1").get("/api/v1/deals").json()
    assert body["next_cursor"] is None
    assert [d["id"] for d in body["items"]] == [records["a1"].deal.pk]
    item = body["items"][0]
    assert set(item) == LIST_KEYS
    assert (
        item["pipeline"] == records["a1"].deal.pipeline_id
        and item["stage"] == records["a1"].deal.stage_id
    )
    assert (
        item["version"] == 1
        and item["company_name"] == "ООО Компания a1"
        and item["amount"] == "5000.00"
    )
    everything = api("owner").get("/api/v1/deals").json()["items"]
    assert sorted(d["id"] for d in everything) == sorted(r.deal.pk for r in records.values())


def test_list_filters(records: Any, pipeline: Any, api: Any) -> None:
    owner = api("owner")
    moved = records["b1"].deal
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    deal_move_to_stage(deal=moved, stage=pipeline.stages["talks"], actor=Actor.system())
    other = make_deal(
        responsible=records["a2"].user,
        company=records["a2"].company,
        title="Звонок Ромашка",
        stage=pipeline.other_stages["call"],
    )

    def ids(**params: Any) -> set[int]:
        response = owner.get("/api/v1/deals", params)
        assert response.status_code == 200, response.content
        return {d["id"] for d in response.json()["items"]}

    assert ids(pipeline=pipeline.other.pk) == {other.pk}
    assert ids(stage=pipeline.stages["talks"].pk) == {moved.pk}
    assert ids(responsible=records["a2"].user.pk) == {records["a2"].deal.pk, other.pk}
    assert ids(q="Ромашка") == {other.pk}
    assert ids(q="Компания b1") == {moved.pk}  # company name
    assert ids(q="Сделка a2") == {records["a2"].deal.pk}
    assert ids(status="open", pipeline=pipeline.other.pk) == {other.pk}
    assert ids(amount_min="9000") == {r.deal.pk for r in records.values() if r.deal.amount >= 9000}
    assert ids(company=records["a1"].company.pk) == {records["a1"].deal.pk}
    # A manager filtering by another manager's id sees nothing (the scope still applies).
    assert (
        api("a1").get("/api/v1/deals", {"responsible": records["a2"].user.pk}).json()["items"] == []
    )


@pytest.mark.parametrize(
    "sort", ["-id", "id", "-amount", "amount", "title", "-title", "-stage_entered_at", "opened_at"]
)
def test_keyset_pagination_has_no_duplicates_or_gaps(records: Any, api: Any, sort: str) -> None:
    owner = records["owner"]
    moment = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    for i in range(23):
        # Ties on purpose: equal amounts, equal titles, equal timestamps.
        with clock.frozen(moment + dt.timedelta(minutes=i // 5)):
            make_deal(
                responsible=owner.user,
                company=owner.company,
                title=f"Пачка {i % 4}",
                amount=100 * (i % 3),
            )
    expected = set(Deal.objects.values_list("pk", flat=True))
    client = api("owner")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 4, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/deals", params).json()
        seen += [d["id"] for d in body["items"]]
        cursor = body["next_cursor"]
        pages += 1
        assert pages <= 20
        if not cursor:
            break
    assert len(seen) == len(set(seen)), "duplicates across pages"
    assert set(seen) == expected, f"gaps: {expected - set(seen)}"
    if sort in ("-id", "id"):
        assert seen == sorted(seen, reverse=sort == "-id")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        (
            {"cursor": "WyJ4IiwyXQ", "sort": "-amount"},
            "cursor",
        ),  # valid base64 ["x",2]: not an amount
        ({"sort": "password"}, "sort"),
        ({"pipeline": "abc"}, "pipeline"),
        ({"stage": "-1"}, "stage"),
        ({"status": "maybe"}, "status"),
        ({"amount_min": "много"}, "amount_min"),
        ({"opened_from": "01.02.2026"}, "opened_from"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_list_bad_parameters_are_4xx_naming_the_parameter(
    records: Any, api: Any, params: dict[str, Any], field: str
) -> None:
    response = api("owner").get("/api/v1/deals", params)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]


# --- single deal ------------------------------------------------------------------------------


def test_create_get_patch_delete(records: Any, pipeline: Any, api: Any) -> None:
    client = api("head_a")
    response = client.post_json(
        "/api/v1/deals",
        {
            "title": "API сделка",
            "company": records["a1"].company.pk,
            "responsible": records["a1"].user.pk,
            "amount": "1500.50",
            "contacts": [records["a1"].contact.pk],
            "custom": {"f_list": "Альфа"},
        },
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == DEAL_KEYS
    assert (
        created["pipeline"] == pipeline.sales.pk and created["stage"] == pipeline.stages["new"].pk
    )
    assert (
        created["version"] == 1
        and created["amount"] == "1500.50"
        and created["custom"] == {"f_list": "Альфа"}
    )
    assert created["responsible"] == records["a1"].user.pk and created["contacts"] == [
        records["a1"].contact.pk
    ]
    deal = Deal.objects.get(pk=created["id"])
    assert api("a1").get(url(deal)).json() == created
    patched = client.patch_json(
        url(deal), {"version": 1, "title": "Переименована", "comment": "звонили"}
    )
    assert patched.status_code == 200 and patched.json()["version"] == 2
    assert patched.json()["title"] == "Переименована" and patched.json()["comment"] == "звонили"
    assert client.delete(url(deal)).status_code == 204
    assert client.get(url(deal)).status_code == 404
    assert not Deal.objects.filter(pk=deal.pk).exists()


def test_manager_cannot_delete(records: Any, api: Any) -> None:
    response = api("a1").delete(url(records["a1"].deal))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert Deal.objects.filter(pk=records["a1"].deal.pk).exists()


def test_patch_stale_version_is_409_with_current_version(records: Any, api: Any) -> None:
    client = api("a1")
    deal = records["a1"].deal
    assert client.patch_json(url(deal), {"version": 1, "title": "first"}).status_code == 200
    stale = client.patch_json(url(deal), {"version": 1, "title": "second"})
    assert stale.status_code == 409
    assert stale.json()["code"] == "conflict" and stale.json()["current_version"] == 2
    assert Deal.objects.get(pk=deal.pk).title == "first"


@pytest.mark.parametrize("header", ['"{v}"', 'W/"{v}"', "{v}"])
def test_patch_with_if_match(records: Any, api: Any, header: str) -> None:
    client = api("a1")
    deal = records["a1"].deal
    ok = client.patch_json(url(deal), {"title": "if-match"}, HTTP_IF_MATCH=header.format(v=1))
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = client.patch_json(url(deal), {"title": "stale"}, HTTP_IF_MATCH=header.format(v=1))
    assert stale.status_code == 409
    assert Deal.objects.get(pk=deal.pk).title == "if-match"


def test_patch_without_version_is_last_writer_wins(records: Any, api: Any) -> None:
    """Decision 0002: clients that send no version get their write applied."""
    client = api("a1")
    deal = records["a1"].deal
    assert client.patch_json(url(deal), {"title": "one"}).status_code == 200
    assert client.patch_json(url(deal), {"title": "two"}).status_code == 200
    assert Deal.objects.get(pk=deal.pk).version == 3


@pytest.mark.parametrize(
    "body",
    [{"title": None}, {"company": None}, {"amount": None}, {"version": True}, {"version": "1"}],
)
def test_patch_nulls_and_version_tricks_are_422(
    records: Any, api: Any, body: dict[str, Any]
) -> None:
    response = api("a1").patch_json(url(records["a1"].deal), body)
    assert response.status_code == 422, response.content
    assert next(iter(body)) in response.json()["errors"]
    assert Deal.objects.get(pk=records["a1"].deal.pk).version == 1


# --- move -------------------------------------------------------------------------------------


def test_move_200_then_409_on_stale_version(records: Any, pipeline: Any, api: Any) -> None:
    client = api("a1")
    deal = records["a1"].deal
    response = client.post_json(
        url(deal, "/move"), {"stage": pipeline.stages["talks"].pk, "version": 1}
    )
    assert response.status_code == 200, response.content
    assert (
        response.json()["stage"] == pipeline.stages["talks"].pk and response.json()["version"] == 2
    )
    stale = client.post_json(url(deal, "/move"), {"stage": pipeline.stages["new"].pk, "version": 1})
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    assert Deal.objects.get(pk=deal.pk).stage_id == pipeline.stages["talks"].pk
    # If-Match works for moves too.
    assert (
        client.post_json(
            url(deal, "/move"), {"stage": pipeline.stages["new"].pk}, HTTP_IF_MATCH='"1"'
        ).status_code
        == 409
    )


def test_move_422_lists_missing_required_fields_then_succeeds_with_them(
    records: Any, pipeline: Any, api: Any, nothing_written: Any
) -> None:
    client = api("a1")
    deal = records["a1"].deal
    with nothing_written():
        response = client.post_json(
            url(deal, "/move"), {"stage": pipeline.stages["contract"].pk, "version": 1}
        )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "required_fields_missing"
    assert body["missing_fields"] == [{"key": "contract_no", "name": "Номер договора"}]
    assert "contract_no" in body["errors"] and "Номер договора" in body["detail"]
    ok = client.post_json(
        url(deal, "/move"),
        {
            "stage": pipeline.stages["contract"].pk,
            "version": 1,
            "fields": {"contract_no": "Д-15/26"},
        },
    )
    assert ok.status_code == 200 and ok.json()["custom"]["contract_no"] == "Д-15/26"


def test_move_to_stage_of_another_pipeline_or_unknown_stage_is_4xx(
    records: Any, pipeline: Any, api: Any, nothing_written: Any
) -> None:
    client = api("a1")
    deal = records["a1"].deal
    with nothing_written():
        other = client.post_json(url(deal, "/move"), {"stage": pipeline.other_stages["call"].pk})
        unknown = client.post_json(url(deal, "/move"), {"stage": 10**9})
        not_int = client.post_json(url(deal, "/move"), {"stage": "talks"})
        no_stage = client.post_json(url(deal, "/move"), {"version": 1})
    assert (
        other.status_code == 422
        and other.json()["code"] == "stage_not_in_pipeline"
        and "stage" in other.json()["errors"]
    )
    assert unknown.status_code == 422 and "stage" in unknown.json()["errors"]
    assert not_int.status_code == 422 and "stage" in not_int.json()["errors"]
    assert no_stage.status_code == 422 and "stage" in no_stage.json()["errors"]


def test_move_to_lost_needs_a_loss_reason(records: Any, pipeline: Any, api: Any) -> None:
    client = api("a1")
    deal = records["a1"].deal
    missing = client.post_json(url(deal, "/move"), {"stage": pipeline.stages["lost"].pk})
    assert missing.status_code == 422 and missing.json()["code"] == "loss_reason_required"
    ok = client.post_json(
        url(deal, "/move"),
        {
            "stage": pipeline.stages["lost"].pk,
            "loss_reason": pipeline.loss_reasons[0].pk,
            "loss_comment": "дорого",
        },
    )
    assert ok.status_code == 200
    assert ok.json()["status"] == "lost" and ok.json()["loss_reason"] == pipeline.loss_reasons[0].pk
    assert ok.json()["closed_at"] is not None


def test_move_won_updates_company_ltv(records: Any, pipeline: Any, api: Any) -> None:
    client = api("a1")
    deal = records["a1"].deal
    assert (
        client.post_json(url(deal, "/move"), {"stage": pipeline.stages["won"].pk}).status_code
        == 200
    )
    company = client.get(f"/api/v1/companies/{records['a1'].company.pk}").json()
    assert Decimal(company["ltv"]) == deal.amount


def test_timeline_shows_the_move_with_time_and_field_changes(
    records: Any, pipeline: Any, api: Any
) -> None:
    deal = records["a1"].deal
    client = api("a1")
    t_move = dt.datetime(2030, 1, 15, 10, 30, tzinfo=dt.UTC)
    with clock.frozen(t_move):
        assert (
            client.post_json(url(deal, "/move"), {"stage": pipeline.stages["talks"].pk}).status_code
            == 200
        )
    with clock.frozen(t_move + dt.timedelta(minutes=5)):
        assert (
            client.patch_json(url(deal, ""), {"title": "Новое имя", "amount": "7000"}).status_code
            == 200
        )
    response = client.get(url(deal, "/timeline"))
    assert response.status_code == 200
    items = response.json()
    stage_rows = [i for i in items if i["kind"] == "stage"]
    assert len(stage_rows) == 1
    move = stage_rows[0]
    assert dt.datetime.fromisoformat(move["at"]) == t_move
    assert (move["from_stage_name"], move["to_stage_name"]) == ("Новая", "Переговоры")
    assert move["user"] == records["a1"].user.pk and move["actor_kind"] == "api"
    expected_seconds = int(
        (t_move - StageChange.objects.filter(deal=deal, from_stage=None).get().at).total_seconds()
    )
    assert move["seconds_in_from"] == expected_seconds
    update = next(i for i in items if i["kind"] == "updated")
    assert dt.datetime.fromisoformat(update["at"]) == t_move + dt.timedelta(minutes=5)
    changes = {c["field"]: (c["old"], c["new"]) for c in update["changes"]}
    assert changes == {"title": ("Сделка a1", "Новое имя"), "amount": ("5000.00", "7000.00")}
    assert items[0]["kind"] == "updated" and items[-1]["kind"] == "created"  # newest first
    assert AuditEntry.objects.filter(object_type="deal", object_id=deal.pk).count() == 3


def test_unknown_and_huge_ids_are_404(records: Any, api: Any) -> None:
    client = api("owner")
    for deal_id in (10**9, 2**63 - 1, 10**30):
        assert client.get(f"/api/v1/deals/{deal_id}").status_code == 404
        assert client.patch_json(f"/api/v1/deals/{deal_id}", {"title": "x"}).status_code == 404
