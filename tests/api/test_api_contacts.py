"""Companies and contacts over the API: CRUD, lists with search and pagination."""

from __future__ import annotations

from typing import Any

import pytest

from factories import ACCOUNT, BIK, INN_LEGAL, KPP, make_company
from voronka.contacts.models import Company, Contact

pytestmark = pytest.mark.django_db

COMPANY_KEYS = {
    "id",
    "name",
    "type",
    "inn",
    "kpp",
    "ogrn",
    "bank_bik",
    "bank_account",
    "bank_name",
    "phone",
    "email",
    "website",
    "comment",
    "responsible",
    "custom",
    "addresses",
    "ltv",
    "ltv_by_currency",
    "phone_info",
    "deals_count",
    "won_count",
    "first_purchase_at",
    "last_purchase_at",
    "last_interaction_at",
    "version",
    "created_at",
    "updated_at",
}
CONTACT_KEYS = {
    "id",
    "company",
    "company_name",
    "last_name",
    "first_name",
    "middle_name",
    "position",
    "birthday",
    "phones",
    "emails",
    "messengers",
    "consent_calls",
    "consent_mailing",
    "comment",
    "responsible",
    "custom",
    "version",
    "created_at",
    "updated_at",
}


def test_company_crud(records: Any, api: Any) -> None:
    client = api("a1")
    response = client.post_json(
        "/api/v1/companies",
        {
            "name": "ООО Водолей",
            "inn": INN_LEGAL,
            "kpp": KPP,
            "bank_bik": BIK,
            "bank_account": ACCOUNT,
            "phone": "8 495 123 45 67",
            "email": "Office@Vodoley.RU",
            "addresses": [{"kind": "legal", "text": "Москва"}, {"text": "Химки"}],
            "custom": {"staff": "12"},
        },
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == COMPANY_KEYS
    assert created["phone"] == "+74951234567" and created["email"] == "office@vodoley.ru"
    assert created["addresses"] == [
        {"kind": "legal", "text": "Москва", "postal_code": ""},
        {"kind": "actual", "text": "Химки", "postal_code": ""},
    ]
    assert (
        created["responsible"] == records["a1"].user.pk
        and created["ltv"] == "0.00"
        and created["ltv_by_currency"] == []
        and created["version"] == 1
    )
    path = f"/api/v1/companies/{created['id']}"
    assert client.get(path).json() == created
    patched = client.patch_json(path, {"version": 1, "name": "ООО Водолей+", "addresses": []})
    assert (
        patched.status_code == 200
        and patched.json()["version"] == 2
        and patched.json()["addresses"] == []
    )
    assert client.patch_json(path, {"version": 1, "name": "stale"}).status_code == 409
    assert client.delete(path).status_code == 403  # managers may not delete
    assert api("head_a").delete(path).status_code == 204
    assert not Company.objects.filter(pk=created["id"]).exists()


def test_company_with_deals_cannot_be_deleted(records: Any, api: Any) -> None:
    response = api("owner").delete(f"/api/v1/companies/{records['a1'].company.pk}")
    assert response.status_code == 409 and response.json()["code"] == "in_use"


def test_company_list_search_and_pagination(records: Any, api: Any) -> None:
    owner = records["owner"].user
    for i in range(7):
        make_company(responsible=owner, name=f"ЗАО Пагинация {i}")
    make_company(responsible=owner, name="ООО Инн", inn=INN_LEGAL)
    client = api("owner")
    assert [c["name"] for c in client.get("/api/v1/companies", {"q": "Инн"}).json()["items"]] == [
        "ООО Инн"
    ]
    assert [c["inn"] for c in client.get("/api/v1/companies", {"q": "770708"}).json()["items"]] == [
        INN_LEGAL
    ]
    seen: list[int] = []
    cursor = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": 3, "q": "Пагинация"}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/companies", params).json()
        seen += [c["id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    assert (
        api("a1").get("/api/v1/companies").json()["items"][0]["responsible"]
        == records["a1"].user.pk
    )
    assert {c["id"] for c in api("a1").get("/api/v1/companies").json()["items"]} == {
        records["a1"].company.pk,
        records["a1"].spare_company.pk,
    }
    assert api("a1").get("/api/v1/companies", {"limit": 0}).status_code == 422


def test_contact_crud_and_family_company(records: Any, api: Any) -> None:
    client = api("a1")
    response = client.post_json(
        "/api/v1/contacts",
        {
            "first_name": "Ольга",
            "last_name": "Смирнова",
            "phones": ["8 916 555-44-33"],
            "emails": ["Olga@Mail.RU"],
            "birthday": "1985-03-08",
            "consent_mailing": True,
            "messengers": {"telegram": "@olga"},
            "custom": {"vip": "да"},
        },
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == CONTACT_KEYS
    assert [p["e164"] for p in created["phones"]] == ["+79165554433"]
    assert created["phones"][0]["value"] == "+7 916 555-44-33"
    assert created["emails"] == ["olga@mail.ru"]
    assert created["birthday"] == "1985-03-08" and created["custom"] == {"vip": True}
    family = Company.objects.get(pk=created["company"])
    assert family.type == "family" and created["company_name"] == "Семья Смирнова"
    path = f"/api/v1/contacts/{created['id']}"
    assert client.get(path).json() == created
    patched = client.patch_json(
        path,
        {
            "version": 1,
            "company": records["a1"].company.pk,
            # what a GET answered (an object) and a plain string are both accepted
            "phones": [created["phones"][0], "+7 903 000 00 01"],
        },
    )
    assert patched.status_code == 200
    assert patched.json()["company"] == records["a1"].company.pk
    assert [p["e164"] for p in patched.json()["phones"]] == ["+79165554433", "+79030000001"]
    assert api("head_a").delete(path).status_code == 204
    assert not Contact.objects.filter(pk=created["id"]).exists()


def test_contact_list_search_by_phone_email_and_company(records: Any, api: Any) -> None:
    client = api("owner")
    contact = records["a2"].contact
    phone = contact.phones.get().number
    assert [c["id"] for c in client.get("/api/v1/contacts", {"q": phone[-7:]}).json()["items"]] == [
        contact.pk
    ]
    assert [
        c["id"] for c in client.get("/api/v1/contacts", {"q": "contact.a2@"}).json()["items"]
    ] == [contact.pk]
    assert [
        c["id"]
        for c in client.get("/api/v1/contacts", {"company": records["a2"].company.pk}).json()[
            "items"
        ]
    ] == [contact.pk]
    assert [c["id"] for c in api("a2").get("/api/v1/contacts").json()["items"]] == [contact.pk]


def test_nulls_in_patch_are_refused(records: Any, api: Any) -> None:
    client = api("a1")
    for body in ({"name": None}, {"responsible": None}, {"addresses": None}):
        response = client.patch_json(f"/api/v1/companies/{records['a1'].company.pk}", body)
        assert response.status_code == 422 and next(iter(body)) in response.json()["errors"]
    for body in ({"first_name": None}, {"company": None}, {"phones": None}):
        response = client.patch_json(f"/api/v1/contacts/{records['a1'].contact.pk}", body)
        assert response.status_code == 422 and next(iter(body)) in response.json()["errors"]


def test_contact_phones_carry_region_and_time_zone(records: Any, api: Any) -> None:
    """Issue 10: a phone is {value, e164, region, timezone}; writes take strings or objects."""
    client = api("a1")
    created = client.post_json(
        "/api/v1/contacts",
        {"first_name": "Нина", "phones": ["8 383 212-34-56", {"e164": "+74951234567"}]},
    ).json()
    assert created["phones"] == [
        {
            "value": "+7 383 212-34-56",
            "e164": "+73832123456",
            "region": "Новосибирская обл.",
            "timezone": "Asia/Novosibirsk",
        },
        {
            "value": "+7 495 123-45-67",
            "e164": "+74951234567",
            "region": "Москва",
            "timezone": "Europe/Moscow",
        },
    ]
    english = client.get(f"/api/v1/contacts/{created['id']}", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["phones"][1]["region"] in ("Moscow", "Москва")  # the request's language
    for bad in ([{"number": "+74951234567", "extra": 1}], [12345], [{"e164": 5}]):
        response = client.post_json("/api/v1/contacts", {"first_name": "Нина", "phones": bad})
        assert response.status_code == 422 and "phones.0" in response.json()["errors"]
    company = client.post_json(
        "/api/v1/companies", {"name": "ООО Телефон", "phone": "+7 812 123-45-67"}
    ).json()
    assert company["phone_info"]["region"] == "Санкт-Петербург"
    assert (company["deals_count"], company["won_count"], company["last_purchase_at"]) == (
        0,
        0,
        None,
    )


def test_company_list_ordering_and_metric_filters(records: Any, api: Any) -> None:
    from voronka.contacts.models import Company

    owner = api("owner")
    ids = [c["id"] for c in owner.get("/api/v1/companies", {"limit": 200}).json()["items"]]
    Company.objects.filter(pk=ids[0]).update(ltv=500, deals_count=3)
    Company.objects.filter(pk=ids[1]).update(ltv=900, deals_count=1)
    ordered = owner.get("/api/v1/companies", {"ordering": "-ltv", "limit": 2}).json()["items"]
    assert [c["id"] for c in ordered] == [ids[1], ids[0]]
    rich = owner.get("/api/v1/companies", {"ltv_min": "600"}).json()["items"]
    assert [c["id"] for c in rich] == [ids[1]]
    by_deals = owner.get("/api/v1/companies", {"ordering": "-deals_count", "limit": 1}).json()
    assert by_deals["items"][0]["id"] == ids[0]
    for params, field in (
        ({"ordering": "-nope"}, "ordering"),
        ({"ltv_min": "x"}, "ltv_min"),
        ({"last_interaction_before": "вчера"}, "last_interaction_before"),
    ):
        response = owner.get("/api/v1/companies", params)
        assert response.status_code == 422 and field in response.json()["errors"], params
    # The scope applies: a manager never sees another's company however it is sorted.
    mine = api("a1").get("/api/v1/companies", {"ordering": "-ltv", "limit": 200}).json()["items"]
    assert all(c["responsible"] == records["a1"].user.pk for c in mine)
