"""Issue 10 — "find the client" on the new-deal form: a type-ahead over contacts (name, a phone
in any format or its last digits, e-mail) within the user's scope; each option carries its
company, and the company's contacts come back with the chosen one ticked."""

from __future__ import annotations

import re
from typing import Any

import pytest

from factories import make_company, make_contact
from negative_controls import no_scope_filter

pytestmark = pytest.mark.django_db


def _options(html: str) -> dict[int, str]:
    """contact id → its company id, as the options carry them."""
    return {
        int(c): company
        for c, company in re.findall(r'data-value="(\d+)"[^>]*data-company="(\d*)"', html)
    }


@pytest.fixture
def clients(personas: Any) -> dict[str, Any]:
    a1, b1 = personas["a1"].user, personas["b1"].user
    mine = make_company(responsible=a1, name="ООО Ромашка")
    theirs = make_company(responsible=b1, name="ООО Лютик")
    return {
        "mine": mine,
        "anna": make_contact(
            responsible=a1,
            company=mine,
            first_name="Анна",
            last_name="Сорокина",
            phones=["+7 (916) 555-12-34"],
            emails=["anna@romashka.ru"],
        ),
        "other": make_contact(
            responsible=b1,
            company=theirs,
            first_name="Анна",
            last_name="Сорокина",
            phones=["+7 916 555-99-99"],
        ),
    }


def test_contacts_found_by_name_phone_digits_and_email_each_with_its_company(
    web: Any, clients: dict[str, Any]
) -> None:
    anna, mine = clients["anna"], clients["mine"]
    client = web("a1")
    for q in ("Сорокина Анна", "сорокина", "8 916 555 12 34", "1234", "ANNA@romashka.ru"):
        html = client.get("/contacts/picker/", {"q": q, "picker": "p"}).content.decode()
        assert _options(html) == {anna.pk: str(mine.pk)}, q
        assert 'id="p-opt-' in html and "ООО Ромашка" in html and "+7 916 555-12-34" in html
    html = client.get("/contacts/picker/", {"q": ""}).content.decode()
    assert _options(html) == {}  # a person is looked for, not browsed
    html = client.get("/contacts/picker/", {"q": "Нет такого"}).content.decode()
    assert "Не найдено" in html


def test_a_contact_outside_the_scope_is_never_offered_and_its_negative_control(
    web: Any, clients: dict[str, Any], monkeypatch: Any
) -> None:
    html = web("a1").get("/contacts/picker/", {"q": "Сорокина"}).content.decode()
    assert clients["other"].pk not in _options(html)
    no_scope_filter(monkeypatch)
    html = web("a1").get("/contacts/picker/", {"q": "Сорокина"}).content.decode()
    assert clients["other"].pk in _options(html)


def test_the_deal_form_offers_it_and_ticks_the_chosen_contact(
    web: Any, clients: dict[str, Any]
) -> None:
    anna, mine = clients["anna"], clients["mine"]
    client = web("a1")
    html = client.get("/deals/new/").content.decode()
    assert 'data-fills="deal-company"' in html and 'name="client_contact"' in html
    # The company picker's change (the contact's company put there) asks for its contacts,
    # the chosen one sent along.
    resp = client.get(
        "/deals/new/",
        {"company": mine.pk, "client_contact": anna.pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="deal-contacts",
    )
    body = resp.content.decode()
    assert re.search(rf'value="{anna.pk}"\s+checked', body), body
    # A contact of another company is not ticked into this one.
    resp = client.get(
        "/deals/new/",
        {"company": mine.pk, "client_contact": clients["other"].pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="deal-contacts",
    )
    assert "checked" not in resp.content.decode()
