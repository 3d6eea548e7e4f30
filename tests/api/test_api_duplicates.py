"""Duplicate control over the API: the check of a new record, the refusal (or reuse) of an
exact duplicate on create, the scan's groups, dismissing a group, the scan request."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from factories import INN_LEGAL, make_company, make_contact
from voronka.contacts.dedup import duplicates_scan
from voronka.contacts.models import Contact, DuplicateGroup, DuplicateScan

pytestmark = pytest.mark.django_db


@pytest.fixture
def ivanov(personas: Any) -> Any:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО «Ромашка»", inn=INN_LEGAL)
    return make_contact(
        responsible=a1,
        company=company,
        first_name="Пётр",
        last_name="Иванов",
        middle_name="Сергеевич",
        birthday="1980-04-12",
        phones=["+79161234567"],
        emails=["petr.ivanov@gmail.com"],
    )


def test_check_finds_the_phone_in_any_format_and_the_gmail_box(api: Any, ivanov: Any) -> None:
    client = api("a1")
    for params in (
        {"phone": "8 (916) 123-45-67"},
        {"phone": "+7 916 1234567"},
        {"email": "Petr.Ivanov+crm@GoogleMail.com"},
        {"email": "PETRIVANOV@gmail.com"},
    ):
        found = client.get("/api/v1/duplicates/check", params).json()["candidates"]
        assert found[0]["id"] == ivanov.pk, params
        assert found[0]["exact"] is True
        assert found[0]["label"] == "Иванов Пётр Сергеевич"


def test_check_suggests_a_similar_name_with_the_same_birthday_but_not_as_exact(
    api: Any, ivanov: Any
) -> None:
    found = api("a1").get(
        "/api/v1/duplicates/check",
        {"name": "Petr Ivanov", "birthday": "1980-04-12", "entity": "contact"},
    )
    candidates = found.json()["candidates"]
    assert [(c["id"], c["exact"]) for c in candidates] == [(ivanov.pk, False)]
    assert set(candidates[0]["matched"]) >= {"name", "birthday"}
    # A namesake born another year is not suggested on the name alone.
    other = api("a1").get(
        "/api/v1/duplicates/check",
        {"name": "Иванов Пётр", "birthday": "1991-01-01", "entity": "contact"},
    )
    assert other.json()["candidates"] == []


def test_check_finds_a_company_by_inn(api: Any, ivanov: Any) -> None:
    found = api("a1").get("/api/v1/duplicates/check", {"inn": INN_LEGAL}).json()["candidates"]
    assert [(c["entity"], c["id"], c["exact"]) for c in found] == [
        ("company", ivanov.company_id, True)
    ]


def test_a_candidate_outside_the_scope_is_masked(api: Any, ivanov: Any) -> None:
    """b1 may not see a1's client: told it exists and whose it is, nothing more."""
    found = api("b1").get("/api/v1/duplicates/check", {"phone": "89161234567"}).json()
    [candidate] = found["candidates"]
    assert candidate["visible"] is False and candidate["id"] is None
    assert "Иванов" not in json.dumps(candidate, ensure_ascii=False)
    assert candidate["responsible"]  # the manager to ask
    # Negative control: the owner sees everything, so the same check shows the record.
    seen = api("owner").get("/api/v1/duplicates/check", {"phone": "89161234567"}).json()
    assert seen["candidates"][0]["id"] == ivanov.pk


@pytest.mark.parametrize(
    "params, field",
    [
        ({"name": "x" * 301}, "name"),
        ({"entity": "deal", "name": "Иванов"}, "entity"),
    ],
)
def test_check_refuses_bad_input_naming_the_field(api: Any, params: Any, field: str) -> None:
    response = api("a1").get("/api/v1/duplicates/check", params)
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_check_ignores_a_half_typed_phone(api: Any, ivanov: Any) -> None:
    response = api("a1").get("/api/v1/duplicates/check", {"phone": "8916", "name": "   "})
    assert response.status_code == 200
    assert response.json()["candidates"] == []
    nul = api("a1").get("/api/v1/duplicates/check", {"name": "Ива\x00нов"})
    assert nul.status_code == 400 and "detail" in nul.json()  # the platform's NUL guard


def test_create_refuses_an_exact_duplicate_and_writes_nothing(
    api: Any, ivanov: Any, nothing_written: Any
) -> None:
    body = {"first_name": "Петя", "phones": ["8 916 123 45 67"]}
    with nothing_written():
        response = api("a1").post_json("/api/v1/contacts", body)
    assert response.status_code == 409
    answer = response.json()
    assert answer["code"] == "duplicate"
    assert answer["existing"][0]["id"] == ivanov.pk
    assert "Иванов" in answer["detail"]


def test_create_uses_the_existing_contact_when_asked(api: Any, ivanov: Any) -> None:
    body = {"first_name": "Петя", "emails": ["petr.ivanov@gmail.com"]}
    response = api("a1").post_json("/api/v1/contacts?on_duplicate=use", body)
    assert response.status_code == 200
    assert response.json()["id"] == ivanov.pk
    assert Contact.objects.count() == 1
    created = api("a1").post_json("/api/v1/contacts?on_duplicate=create", body)
    assert created.status_code == 201
    assert Contact.objects.count() == 2


def test_use_does_not_hand_out_a_contact_outside_the_scope(api: Any, ivanov: Any) -> None:
    body = {"first_name": "Петя", "phones": ["+79161234567"]}
    response = api("b1").post_json("/api/v1/contacts?on_duplicate=use", body)
    assert response.status_code == 409
    assert response.json()["existing"][0]["id"] is None


def test_company_create_refuses_the_same_inn(api: Any, ivanov: Any) -> None:
    body = {"name": "Ромашка", "inn": INN_LEGAL}
    response = api("a1").post_json("/api/v1/companies", body)
    assert response.status_code == 409
    assert response.json()["existing"][0]["id"] == ivanov.company_id
    branch = api("a1").post_json("/api/v1/companies?on_duplicate=create", body)
    assert branch.status_code == 201


def _second_ivanov(personas: Any, ivanov: Any) -> Any:
    return make_contact(
        responsible=personas["a1"].user,
        company=ivanov.company,
        first_name="Petr",
        last_name="Ivanov",
        phones=["+79161234567"],
    )


def test_scan_groups_list_and_dismiss(api: Any, personas: Any, ivanov: Any) -> None:
    twin = _second_ivanov(personas, ivanov)
    run = duplicates_scan("contact")
    assert run.status == DuplicateScan.Status.DONE and run.groups == 1
    listed = api("a1").get("/api/v1/duplicates", {"entity": "contact"}).json()
    [group] = listed["items"]
    assert group["ids"] == sorted([ivanov.pk, twin.pk])
    assert {"phone", "name"} <= set(group["matched"])
    assert group["score"] >= 0.9
    # b1 sees neither record: the group is not listed to them, and cannot be dismissed.
    assert api("b1").get("/api/v1/duplicates", {"entity": "contact"}).json()["items"] == []
    refused = api("b1").post_json(f"/api/v1/duplicates/{group['id']}/dismiss")
    assert refused.status_code == 404
    dismissed = api("a1").post_json(f"/api/v1/duplicates/{group['id']}/dismiss")
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    # The next scan keeps the decision.
    duplicates_scan("contact")
    assert DuplicateGroup.objects.get().status == DuplicateGroup.Status.DISMISSED
    assert api("a1").get("/api/v1/duplicates", {"entity": "contact"}).json()["items"] == []


def test_cli_scan_prints_json(personas: Any, ivanov: Any) -> None:
    twin = _second_ivanov(personas, ivanov)
    out = StringIO()
    call_command("voronka_duplicates", "scan", "--entity", "contact", "--json", stdout=out)
    [group] = json.loads(out.getvalue())
    assert group["ids"] == sorted([ivanov.pk, twin.pk])
    assert 0.8 <= group["score"] <= 1
    assert "phone" in group["matched"]


def test_reindex_rebuilds_keys_written_around_the_services(ivanov: Any) -> None:
    from voronka.contacts.models import ClientKey

    before = sorted(ClientKey.objects.values_list("entity", "object_id", "kind", "key"))
    ClientKey.objects.all().delete()
    call_command("voronka_duplicates", "reindex", stderr=StringIO())
    assert sorted(ClientKey.objects.values_list("entity", "object_id", "kind", "key")) == before


def test_scan_request_starts_one_scan_at_a_time(api: Any, ivanov: Any) -> None:
    first = api("a1").post_json("/api/v1/duplicates/scan?entity=contact")
    assert first.status_code == 202
    again = api("a1").post_json("/api/v1/duplicates/scan?entity=contact")
    assert again.json()["id"] == first.json()["id"]
    progress = api("a1").get(f"/api/v1/duplicates/scans/{first.json()['id']}")
    assert progress.status_code == 200 and progress.json()["entity"] == "contact"
    bad = api("a1").post_json("/api/v1/duplicates/scan?entity=deal")
    assert bad.status_code == 422 and "entity" in bad.json()["errors"]


@pytest.mark.parametrize(
    "path, status, field",
    [
        ("/api/v1/duplicates?entity=contact&limit=0", 422, "limit"),
        ("/api/v1/duplicates?entity=contact&limit=201", 422, "limit"),
        ("/api/v1/duplicates?entity=contact&offset=-1", 422, "offset"),
        ("/api/v1/duplicates?entity=contact&status=closed", 422, "status"),
        ("/api/v1/duplicates?entity=deal", 422, "entity"),
        ("/api/v1/duplicates/scans/999999", 404, None),
    ],
)
def test_list_and_scan_edges_are_4xx_json(
    api: Any, ivanov: Any, path: str, status: int, field: str | None
) -> None:
    response = api("a1").get(path)
    assert response.status_code == status
    body = response.json()
    assert "detail" in body
    if field:
        assert field in body["errors"]


def test_dismiss_edges_write_nothing(api: Any, ivanov: Any, nothing_written: Any) -> None:
    with nothing_written():
        assert api("a1").post_json("/api/v1/duplicates/true/dismiss").status_code == 422
        assert api("a1").post_json("/api/v1/duplicates/999999/dismiss").status_code == 404


@pytest.mark.parametrize("birthday", ["0001-01-01", "9999-12-31"])
def test_check_with_edge_birthdays_answers_without_a_guess(
    api: Any, ivanov: Any, birthday: str
) -> None:
    """Out-of-range birthdays are ignored by the check (the form names them on save)."""
    response = api("a1").get(
        "/api/v1/duplicates/check", {"name": "Иванов Пётр", "birthday": birthday}
    )
    assert response.status_code == 200
    assert all(not c["exact"] for c in response.json()["candidates"])
