"""POST /api/v1/contacts/merge and /companies/merge, POST /api/v1/merges/{id}/undo, GET
/api/v1/merges?entity=: the contract of issue 10 and its edges (decision 0021)."""

from __future__ import annotations

from typing import Any

import pytest

from factories import make_company, make_contact
from voronka.contacts.models import Company, Contact, Merge


@pytest.fixture
def pair(records: Any) -> dict[str, Any]:
    """Two companies and two contacts of manager a1 (head_a may merge them; a1 may not)."""
    user = records["a1"].user
    company = records["a1"].company
    twin = make_company(responsible=user, name="Компания a1 (дубль)", phone="+7 495 000-00-01")
    contact = records["a1"].contact
    other = make_contact(
        responsible=user,
        company=twin,
        first_name="Контакт a1",
        last_name="Иванов",
        phones=["+7 916 123-45-67"],
    )
    return {"company": company, "twin": twin, "contact": contact, "other": other}


def test_merge_companies_returns_the_kept_record_and_the_merge(api: Any, pair: Any) -> None:
    r = api("head_a").post_json(
        "/api/v1/companies/merge",
        {
            "keep": pair["company"].pk,
            "merge": [pair["twin"].pk],
            "fields": {"phone": pair["twin"].pk},
        },
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["company"]["id"] == pair["company"].pk
    assert body["company"]["phone"] == "+74950000001"
    assert body["merge"]["merged"] == [pair["twin"].pk]
    assert body["merge"]["kept"] == pair["company"].pk
    assert not Company.objects.filter(pk=pair["twin"].pk).exists()

    listed = api("head_a").get_json("/api/v1/merges?entity=company").json()
    assert [m["id"] for m in listed["items"]] == [body["merge"]["id"]]
    # Another department's head does not see it (its kept record is outside their scope).
    assert api("head_b").get_json("/api/v1/merges?entity=company").json()["items"] == []
    assert api("head_b").post_json(f"/api/v1/merges/{body['merge']['id']}/undo").status_code == 404

    r = api("head_a").post_json(f"/api/v1/merges/{body['merge']['id']}/undo")
    assert r.status_code == 200, r.content
    assert r.json()["undone_at"] is not None
    assert Company.objects.filter(pk=pair["twin"].pk).exists()
    r = api("head_a").post_json(f"/api/v1/merges/{body['merge']['id']}/undo")
    assert r.status_code == 409


def test_merge_contacts_and_the_undo_refused_after_an_edit(api: Any, pair: Any) -> None:
    r = api("head_a").post_json(
        "/api/v1/contacts/merge",
        {"keep": pair["contact"].pk, "merge": [pair["other"].pk], "fields": {"comment": "concat"}},
    )
    assert r.status_code == 200, r.content
    contact = r.json()["contact"]
    assert len(contact["phones"]) == 2
    merge_id = r.json()["merge"]["id"]
    r = api("head_a").patch_json(f"/api/v1/contacts/{pair['contact'].pk}", {"position": "Директор"})
    assert r.status_code == 200
    r = api("head_a").post_json(f"/api/v1/merges/{merge_id}/undo")
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"
    assert not Contact.objects.filter(pk=pair["other"].pk).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keep": True, "merge": ["twin"]}, "keep"),
        ({"keep": "company", "merge": [True]}, "merge"),
        ({"keep": "company", "merge": True}, "merge"),
        ({"keep": "company", "merge": ["company"]}, "merge"),
        ({"keep": "company", "merge": list(range(1, 12))}, "merge"),
        ({"keep": "company", "merge": ["twin"], "fields": {"name": True}}, "fields"),
        ({"keep": "company", "merge": ["twin"], "fields": {"password": "twin"}}, "fields"),
        ({"keep": "company", "merge": ["twin"], "fields": {"name": 99999999}}, "fields"),
        ({"keep": "company"}, "merge"),
        ({"keep": "company", "merge": ["twin"], "extra": 1}, "extra"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(
    api: Any, pair: Any, records: Any, nothing_written: Any, body: dict[str, Any], field: str
) -> None:
    ids = {**{k: v.pk for k, v in pair.items()}, "b1_company": records["b1"].company.pk}

    def sub(value: Any) -> Any:
        return ids.get(value, value) if isinstance(value, str) else value

    data = {k: ([sub(x) for x in v] if isinstance(v, list) else sub(v)) for k, v in body.items()}
    if isinstance(data.get("fields"), dict):
        data["fields"] = {k: sub(v) for k, v in data["fields"].items()}
    with nothing_written():
        r = api("head_a").post_json("/api/v1/companies/merge", data)
    assert r.status_code == 422, r.content
    assert field in r.json()["errors"], r.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keep": "company", "merge": ["b1_company"]}, "merge"),
        ({"keep": "b1_company", "merge": ["twin"]}, "keep"),
        ({"keep": "company", "merge": [99999999]}, "merge"),
    ],
)
def test_an_id_outside_the_scope_is_404_naming_the_field(
    api: Any, pair: Any, records: Any, nothing_written: Any, body: dict[str, Any], field: str
) -> None:
    ids = {**{k: v.pk for k, v in pair.items()}, "b1_company": records["b1"].company.pk}
    data = {
        "keep": ids.get(body["keep"], body["keep"]),
        "merge": [ids.get(m, m) if isinstance(m, str) else m for m in body["merge"]],
    }
    with nothing_written():
        r = api("head_a").post_json("/api/v1/companies/merge", data)
    assert r.status_code == 404, r.content
    assert list(r.json()["errors"]) == [field]


def test_a_manager_may_not_merge(api: Any, pair: Any, nothing_written: Any) -> None:
    with nothing_written():
        r = api("a1").post_json(
            "/api/v1/companies/merge", {"keep": pair["company"].pk, "merge": [pair["twin"].pk]}
        )
    assert r.status_code == 403


def test_merges_list_needs_a_known_entity(api: Any, records: Any) -> None:
    r = api("owner").get_json("/api/v1/merges?entity=deal")
    assert r.status_code == 422
    assert "entity" in r.json()["errors"]
    assert Merge.objects.count() == 0
