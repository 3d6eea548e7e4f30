"""Companies and contacts: lists with search, create/edit forms (requisites validated, several
addresses/phones/e-mails, phones stored as E.164), cards, scope (404), optimistic locking."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_company_list_search_and_type_filter(web: Any, records: Any) -> None:
    client = web("owner")
    html = client.get("/companies/", {"q": "Компания a1"}).content.decode()
    assert "ООО Компания a1" in html and "ООО Компания b1" not in html
    resp = client.get(
        "/companies/", {"q": "a1"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="company-results"
    )
    assert resp.status_code == 200 and "<html" not in resp.content.decode()
    html = client.get("/companies/", {"type": "family"}).content.decode()
    assert "ООО Компания a1" not in html
    assert "ООО Компания b1" not in web("a1").get("/companies/").content.decode()


def test_create_company_with_requisites_and_addresses(web: Any, personas: Any) -> None:
    from voronka.contacts.models import Company

    client = web("a1")
    assert client.get("/companies/new/").status_code == 200
    resp = client.post(
        "/companies/new/",
        {
            "name": "ООО Ромашка",
            "type": "legal",
            "inn": "7707083893",
            "kpp": "773601001",
            "ogrn": "1027700132195",
            "phone": "8 (495) 123-45-67",
            "email": "Info@Romashka.RU",
            "responsible": personas["a1"].pk,
            "address_kind": ["legal", "delivery", "actual"],
            "address_text": ["Москва, ул. Вавилова, 19", "Склад, Подольск", ""],
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:800]
    company = Company.objects.get(name="ООО Ромашка")
    assert (
        company.inn == "7707083893"
        and company.phone == "+74951234567"
        and company.email == "info@romashka.ru"
    )
    assert [(a.kind, a.text) for a in company.addresses.all()] == [
        ("legal", "Москва, ул. Вавилова, 19"),
        ("delivery", "Склад, Подольск"),
    ]
    html = client.get(resp["Location"]).content.decode()
    assert "Склад, Подольск" in html and "+7 495 123-45-67" in html


def test_invalid_inn_is_422_naming_the_field_and_keeps_the_input(
    web: Any, personas: Any, nothing_written: Any
) -> None:
    client = web("a1")
    with nothing_written():
        resp = client.post(
            "/companies/new/",
            {
                "name": "ООО Ошибка",
                "type": "legal",
                "inn": "1234567890",
                "responsible": personas["a1"].pk,
                "address_kind": ["legal"],
                "address_text": ["Казань, ул. Баумана, 1"],
            },
        )
    assert resp.status_code == 422
    html = resp.content.decode()
    inn_field = html.split('name="inn"', 1)[0].rsplit("<label", 1)[1]
    assert "has-error" in inn_field
    assert "Казань, ул. Баумана, 1" in html and 'value="ООО Ошибка"' in html


def test_company_card_and_scope(web: Any, records: Any) -> None:
    company = records["a1"].company
    html = web("a1").get(f"/companies/{company.pk}/").content.decode()
    assert "ООО Компания a1" in html and "Сделка a1" in html and "Контакт a1" in html
    assert "Москва, ул. a1, 1" in html
    assert web("b1").get(f"/companies/{company.pk}/").status_code == 404
    assert web("b1").get(f"/companies/{company.pk}/edit/").status_code == 404
    assert web("b1").post(f"/companies/{company.pk}/edit/", {"name": "Взлом"}).status_code == 404


def test_company_stale_edit_is_a_conflict(web: Any, records: Any) -> None:
    from voronka.contacts.services import company_update
    from voronka.kernel.actor import Actor

    company = records["a1"].company
    stale = company.version
    company_update(
        company=company, actor=Actor.system(), data={"comment": "чужой", "version": stale}
    )
    resp = web("a1").post(f"/companies/{company.pk}/edit/", {"version": stale, "name": "Моё имя"})
    assert resp.status_code == 409
    assert "другой пользователь" in resp.content.decode()
    company.refresh_from_db()
    assert company.name == "ООО Компания a1"


def test_create_contact_with_several_phones_and_emails(
    web: Any, records: Any, personas: Any
) -> None:
    from voronka.contacts.models import Contact

    client = web("a1")
    assert client.get("/contacts/new/", {"company": records["a1"].company.pk}).status_code == 200
    resp = client.post(
        "/contacts/new/",
        {
            "company": records["a1"].company.pk,
            "last_name": "Петрова",
            "first_name": "Анна",
            "birthday": "1990-05-17",
            "phone": ["8 916 123-45-67", "+7 (903) 000-11-22", ""],
            "email": ["Anna@Mail.RU", ""],
            "consent_calls": "on",
            "messenger_telegram": "@anna",
            "responsible": personas["a1"].pk,
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:800]
    contact = Contact.objects.get(first_name="Анна")
    assert sorted(p.number for p in contact.phones.all()) == ["+79030001122", "+79161234567"]
    assert [e.address for e in contact.emails.all()] == ["anna@mail.ru"]
    assert contact.birthday.isoformat() == "1990-05-17" and contact.messengers == {
        "telegram": "@anna"
    }
    html = client.get(resp["Location"]).content.decode()
    assert "+7 916 123-45-67" in html and "17.05.1990" in html


def test_contact_without_company_gets_a_family(web: Any, personas: Any) -> None:
    from voronka.contacts.models import Contact

    resp = web("a1").post(
        "/contacts/new/",
        {
            "last_name": "Сидоров",
            "first_name": "Пётр",
            "company": "",
            "responsible": personas["a1"].pk,
        },
    )
    assert resp.status_code == 302
    assert Contact.objects.get(first_name="Пётр").company.type == "family"


def test_invalid_phone_is_422(web: Any, records: Any, nothing_written: Any) -> None:
    with nothing_written():
        resp = web("a1").post(
            "/contacts/new/",
            {"company": records["a1"].company.pk, "first_name": "Ошибка", "phone": ["12"]},
        )
    assert resp.status_code == 422
    assert "field-error" in resp.content.decode()


def test_contact_card_and_scope(web: Any, records: Any) -> None:
    contact = records["a1"].contact
    html = web("a1").get(f"/contacts/{contact.pk}/").content.decode()
    assert "Контакт a1" in html and "ООО Компания a1" in html
    assert web("b1").get(f"/contacts/{contact.pk}/").status_code == 404
    assert web("a1").get("/contacts/", {"q": "Контакт"}).status_code == 200


def test_contact_edit_keeps_messengers_the_form_does_not_show(
    web: Any, records: Any, personas: Any
) -> None:
    from voronka.contacts.services import contact_update
    from voronka.kernel.actor import Actor

    contact = records["a1"].contact
    contact = contact_update(
        contact=contact,
        actor=Actor.system(),
        data={"messengers": {"icq": "123"}, "version": contact.version},
    )
    resp = web("a1").post(
        f"/contacts/{contact.pk}/edit/",
        {
            "version": contact.version,
            "first_name": contact.first_name,
            "company": contact.company_id,
            "phone": ["+7 916 000-01-01"],
            "messenger_vk": "id1",
            "responsible": personas["a1"].pk,
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:500]
    contact.refresh_from_db()
    assert contact.messengers == {"icq": "123", "vk": "id1"}
