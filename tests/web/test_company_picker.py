"""Issue 7 item 13 — choosing a company is a type-ahead within the user's scope (not a list of
every company) with "new company" inline, on the new-deal form, the deal's edit form, the
contact form and the task form without a link."""

from __future__ import annotations

import re
from typing import Any

import pytest

from negative_controls import no_scope_filter

pytestmark = pytest.mark.django_db


def _option_ids(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-value="(\d+)"', html)}


def test_forms_offer_a_picker_not_a_list_of_every_company(web: Any, records: Any) -> None:
    client = web("owner")
    deal, contact = records["a1"].deal, records["a1"].contact
    for url in ("/deals/new/", f"/deals/{deal.pk}/?edit=1", "/contacts/new/"):
        html = client.get(url).content.decode()
        assert 'data-combobox="pick"' in html and 'role="combobox"' in html, url
        assert '<select name="company"' not in html, url
        assert "ООО Запасная b1" not in html, url  # no list of everybody's companies
    html = client.get(f"/deals/{deal.pk}/?edit=1").content.decode()
    assert f'name="company" value="{deal.company_id}"' in html
    assert f'value="{deal.company.name}" data-label="{deal.company.name}"' in html
    html = client.get(f"/contacts/{contact.pk}/edit/").content.decode()
    assert f'name="company" value="{contact.company_id}"' in html


def test_picker_offers_visible_companies_matching_the_text(web: Any, records: Any) -> None:
    a1 = records["a1"]
    html = web("a1").get("/companies/picker/", {"q": "компания", "picker": "p"}).content.decode()
    assert _option_ids(html) == {a1.company.pk}
    assert 'id="p-opt-create"' in html and 'data-create="компания"' in html
    html = web("owner").get("/companies/picker/", {"q": "Запасная"}).content.decode()
    assert records["b1"].spare_company.pk in _option_ids(html)
    # Before anything is typed: the newest visible companies.
    html = web("a1").get("/companies/picker/", {"q": ""}).content.decode()
    assert _option_ids(html) == {a1.company.pk, a1.spare_company.pk}
    html = web("a1").get("/companies/picker/", {"q": "Нет такой"}).content.decode()
    assert "Не найдено" in html and 'data-create="Нет такой"' in html


def test_picker_never_offers_a_company_outside_the_scope(web: Any, records: Any) -> None:
    html = web("a1").get("/companies/picker/", {"q": "Запасная b1"}).content.decode()
    assert records["b1"].spare_company.pk not in _option_ids(html)


def test_negative_control_picker_without_the_scope_filter(
    web: Any, records: Any, monkeypatch: Any
) -> None:
    no_scope_filter(monkeypatch)
    html = web("a1").get("/companies/picker/", {"q": "Запасная b1"}).content.decode()
    assert records["b1"].spare_company.pk in _option_ids(html)


def test_new_company_inline_goes_through_the_service(web: Any, records: Any, personas: Any) -> None:
    from voronka.contacts.models import Company
    from voronka.kernel.models import AuditEntry

    resp = web("a1").post(
        "/companies/quick-create/",
        {"new_company_name": "ИП Петров П.П.", "new_company_type": "sole_proprietor"},
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 201
    company = Company.objects.get(name="ИП Петров П.П.")
    assert company.type == "sole_proprietor"
    assert company.responsible == personas["a1"].user
    html = resp.content.decode()
    assert f'data-picked-id="{company.pk}"' in html and 'data-picked-label="ИП Петров П.П."' in html
    assert AuditEntry.objects.filter(object_type="company", object_id=company.pk).exists()


@pytest.mark.parametrize(
    "data",
    [
        {"new_company_name": "   ", "new_company_type": "legal"},
        {"new_company_name": "ООО Тип", "new_company_type": "alien"},
        {"new_company_name": "x" * 300, "new_company_type": "legal"},
    ],
)
def test_refused_new_company_writes_nothing_and_says_why(
    web: Any, records: Any, nothing_written: Any, data: dict[str, str]
) -> None:
    client = web("a1")
    with nothing_written():
        resp = client.post("/companies/quick-create/", data, HTTP_HX_REQUEST="true")
    assert resp.status_code == 422
    html = resp.content.decode()
    assert "field-error" in html and "data-picked-id" not in html
    assert 'name="new_company_name"' in html  # the panel again, with what was typed


def test_deal_created_with_the_picked_company(web: Any, records: Any) -> None:
    from voronka.deals.models import Deal

    company = records["a1"].spare_company
    resp = web("a1").post(
        "/deals/new/", {"title": "Через пикер", "company": company.pk, "q": "Запасная"}
    )
    assert resp.status_code == 302
    assert Deal.objects.get(title="Через пикер").company_id == company.pk
    # A refused form shows the chosen company in the picker again.
    resp = web("a1").post("/deals/new/", {"title": "", "company": company.pk})
    assert resp.status_code == 422
    html = resp.content.decode()
    assert f'name="company" value="{company.pk}"' in html and f'value="{company.name}"' in html


def test_prefilled_company_only_if_visible(web: Any, records: Any) -> None:
    mine, theirs = records["a1"].company, records["b1"].company
    html = web("a1").get("/contacts/new/", {"company": mine.pk}).content.decode()
    assert f'name="company" value="{mine.pk}"' in html and mine.name in html
    html = web("a1").get("/contacts/new/", {"company": theirs.pk}).content.decode()
    assert theirs.name not in html and f'value="{theirs.pk}"' not in html
    html = web("a1").get("/deals/new/", {"company": theirs.pk}).content.decode()
    assert theirs.name not in html
