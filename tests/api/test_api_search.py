"""GET /api/v1/search (issue 10, decision 0019): deals, companies and contacts for one query,
each with id, label, what matched and its rank, within the caller's scope; a bad q or limit is a
4xx JSON naming the parameter. The deals list's q (UI and API) and the companies/contacts lists'
q use the same search."""

from __future__ import annotations

from typing import Any

import pytest

from factories import make_company, make_contact, make_deal
from negative_controls import no_scope_filter

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(personas: Any, pipeline: Any) -> dict[str, Any]:
    a1, b1 = personas["a1"].user, personas["b1"].user
    veter = make_company(responsible=a1, name="ООО Северный Ветер", inn="7707083893")
    put = make_company(responsible=b1, name="ООО Северный Путь", inn="7736207543")
    olga = make_contact(
        responsible=a1,
        company=veter,
        first_name="Ольга",
        last_name="Семёнова",
        phones=["+7 916 123-45-67"],
        emails=["olga@veter.test"],
    )
    irina = make_contact(
        responsible=b1,
        company=put,
        first_name="Ирина",
        last_name="Семёнова",
        phones=["+79167654321"],
    )
    deal = make_deal(responsible=a1, company=veter, title="Поставка кулеров в офис")
    other = make_deal(responsible=b1, company=put, title="Поставка кулеров на склад")
    return {"veter": veter, "put": put, "olga": olga, "irina": irina, "deal": deal, "other": other}


def test_search_answers_three_groups_with_what_matched(api: Any, data: dict[str, Any]) -> None:
    resp = api("a1").get("/api/v1/search", {"q": "8 (916) 123-45-67"})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert set(body) == {"q", "deals", "companies", "contacts", "more"}
    assert body["contacts"] == [
        {
            "id": data["olga"].pk,
            "label": "Семёнова Ольга",
            "matched": ["phone"],
            "rank": 0,
            "company": data["veter"].pk,
            "company_name": "ООО Северный Ветер",
            "inn": None,
            "phone": None,
        }
    ]
    body = api("a1").get("/api/v1/search", {"q": "семенова ольга"}).json()
    assert [(c["id"], c["rank"], c["matched"]) for c in body["contacts"]] == [
        (data["olga"].pk, 1, ["name"])
    ]
    body = api("a1").get("/api/v1/search", {"q": "северныи кулеров"}).json()  # a letter off
    assert [(d["id"], d["rank"]) for d in body["deals"]] == [(data["deal"].pk, 3)]
    body = api("a1").get("/api/v1/search", {"q": "7707083893"}).json()
    assert [(c["id"], c["matched"], c["rank"]) for c in body["companies"]] == [
        (data["veter"].pk, ["inn"], 0)
    ]


def test_limit_and_more(api: Any, data: dict[str, Any]) -> None:
    body = api("owner").get("/api/v1/search", {"q": "Семёнова", "limit": 1}).json()
    assert len(body["contacts"]) == 1 and body["more"]["contacts"] is True
    assert body["more"]["deals"] is False


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 201},
        {"q": "ok", "limit": 0},
        {"q": "ok", "limit": 51},
        {"q": "ok", "limit": "x"},
    ],
)
def test_bad_input_is_a_4xx_json(api: Any, data: dict[str, Any], params: dict[str, Any]) -> None:
    resp = api("a1").get("/api/v1/search", params)
    assert 400 <= resp.status_code < 500, resp.content
    assert resp["Content-Type"].startswith("application/json")


def test_nul_in_q_is_refused(api: Any, data: dict[str, Any]) -> None:
    resp = api("a1").get("/api/v1/search", {"q": "Сем\x00ёнова"})
    assert resp.status_code == 400


def test_empty_q_finds_nothing(api: Any, data: dict[str, Any]) -> None:
    body = api("a1").get("/api/v1/search", {"q": "   "}).json()
    assert body["deals"] == body["companies"] == body["contacts"] == []


def test_scope_a_manager_never_finds_another_managers_records(
    api: Any, data: dict[str, Any]
) -> None:
    for q in ("Семёнова", "кулеров", "северный", "4321", "7736207543"):
        body = api("a1").get("/api/v1/search", {"q": q}).json()
        found = {(g, i["id"]) for g in ("deals", "companies", "contacts") for i in body[g]}
        assert ("contacts", data["irina"].pk) not in found, q
        assert ("companies", data["put"].pk) not in found, q
        assert ("deals", data["other"].pk) not in found, q


def test_negative_control_scope_off_the_leak_shows(
    api: Any, data: dict[str, Any], monkeypatch: Any
) -> None:
    no_scope_filter(monkeypatch)
    body = api("a1").get("/api/v1/search", {"q": "кулеров"}).json()
    assert data["other"].pk in [d["id"] for d in body["deals"]]


def test_the_lists_q_is_the_same_search(api: Any, web: Any, data: dict[str, Any]) -> None:
    client = api("a1")
    items = client.get("/api/v1/deals", {"q": "кулеров северныи"}).json()["items"]
    assert [d["id"] for d in items] == [data["deal"].pk]
    items = client.get("/api/v1/contacts", {"q": "ольга семенова"}).json()["items"]
    assert [c["id"] for c in items] == [data["olga"].pk]
    items = client.get("/api/v1/companies", {"q": "ветер"}).json()["items"]
    assert [c["id"] for c in items] == [data["veter"].pk]
    html = web("a1").get("/deals/", {"q": "кулеров северныи"}).content.decode()
    assert "Поставка кулеров в офис" in html and "на склад" not in html
