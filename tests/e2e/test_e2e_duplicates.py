"""Duplicate control in Chromium, at 1440 px and 390 px, in Russian and English: typing the phone
of an existing contact on the new-contact form shows the warning; saving gives «Такой клиент уже
есть» with «Новая сделка на нём» (the deal form with the company and contact chosen) and «Всё равно
создать», which creates; the review screen «Дубли» lists the group the scan found and «Не дубли»
takes it away. The pages never scroll sideways; no JavaScript error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import OWNER_PASSWORD, login
from factories import make_company, make_contact

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
WIDE_JS = """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""
TEXT = {
    "ru": {"exists": "Такой клиент уже есть", "anyway": "Всё равно создать", "new_deal": "Новая сделка на нём",
           "title": "Дубли", "not_dup": "Не дубли", "dismissed": "разные клиенты", "save": "Сохранить",
           "scan": "Последняя проверка", "empty": "Дублей не найдено"},
    "en": {"exists": "This client already exists", "anyway": "Create anyway", "new_deal": "New deal on it",
           "title": "Duplicates", "not_dup": "Not duplicates", "dismissed": "different clients", "save": "Save",
           "scan": "Last check", "empty": "No duplicates found"},
}  # fmt: skip


def shot(page: Any, name: str) -> None:
    folder = Path(os.environ.get("VORONKA_DATA_DIR", "/tmp")) / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"dup_{name}.png"), full_page=True)


def no_sideways_scroll(page: Any) -> None:
    assert page.evaluate(OVERFLOW_JS) <= 0, f"the page scrolls sideways: {page.evaluate(WIDE_JS)}"


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440", "390"])
def test_duplicate_warning_create_anyway_and_review(
    page: Any, owner: Any, pipeline: Any, size: dict[str, int], lang: str
) -> None:
    from voronka.contacts.dedup import duplicates_scan
    from voronka.contacts.models import Contact, DuplicateGroup

    owner.language = lang
    owner.save(update_fields=["language"])
    t = TEXT[lang]
    label = f"{size['width']}_{lang}"
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(  # the refused save is a 409 page: the one error the browser logs by design
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "409" not in m.text else None,
    )
    page.set_viewport_size(size)
    company = make_company(responsible=owner, name="ООО Ромашка")
    ivanov = make_contact(
        responsible=owner,
        company=company,
        first_name="Пётр",
        last_name="Иванов",
        phones=["+7 916 123-45-67"],
    )
    login(page, "owner", OWNER_PASSWORD)

    # Typing the phone of an existing contact: the strong warning, as the person types.
    page.goto(page.base + "/contacts/new/")
    page.fill("#contact-form input[name=last_name]", "Иванов")
    page.fill("#contact-form input[name=first_name]", "Пётр")
    page.locator("#contact-form input[name=phone]").first.press_sequentially("8 916 123-45-67")
    panel = page.locator("#dup-check [data-dup-panel][data-exact]")
    panel.wait_for()
    assert t["exists"] in panel.inner_text() and "Иванов Пётр" in panel.inner_text()
    assert panel.locator(f"a[href='/contacts/{ivanov.pk}/']").count() >= 1
    no_sideways_scroll(page)
    shot(page, f"form_warning_{label}")

    # Saving: refused with the existing client; the typed form is kept.
    page.locator("#contact-form .form-actions button.btn--primary").click()
    existing = page.locator("#dup-existing")
    existing.wait_for()
    assert t["exists"] in existing.inner_text()
    assert page.locator("#contact-form input[name=first_name]").input_value() == "Пётр"
    deal_link = existing.get_by_role("link", name=t["new_deal"]).get_attribute("href")
    assert deal_link == f"/deals/new/?company={company.pk}&contacts={ivanov.pk}"
    no_sideways_scroll(page)
    shot(page, f"form_exists_{label}")

    # «Всё равно создать»: the second record is made.
    existing.get_by_role("button", name=t["anyway"]).click()
    page.wait_for_url(f"{page.base}/contacts/*/")
    petya = Contact.objects.exclude(pk=ivanov.pk).get(last_name="Иванов")
    assert page.url.endswith(f"/contacts/{petya.pk}/")
    assert [p.number for p in petya.phones.all()] == ["+79161234567"]

    # «Новая сделка на нём»: the deal form with the company and the contact chosen.
    page.goto(page.base + deal_link)
    assert page.locator("#deal-company-input").input_value() == "ООО Ромашка"
    assert page.locator(f"#deal-contacts input[name=contacts][value='{ivanov.pk}']").is_checked()

    # The review screen: the scan (what the worker does) finds the two; «Не дубли» removes them.
    duplicates_scan("contact")
    group = DuplicateGroup.objects.get(entity="contact")
    assert sorted(group.ids) == sorted([ivanov.pk, petya.pk])
    page.goto(page.base + "/contacts/")
    nav = page.locator(".sidebar a.nav-link[href='/duplicates/']")
    assert nav.count() == 1 and t["title"] in nav.text_content()
    page.goto(page.base + "/duplicates/?entity=contact")
    assert page.locator("h1").inner_text() == t["title"]
    assert t["scan"] in page.locator("#dup-scan").inner_text()
    card = page.locator(f"#dup-group-{group.pk}")
    assert card.inner_text().count("Иванов Пётр") == 2
    assert card.locator(".dup-record").count() == 2
    boxes = [card.locator(".dup-record").nth(i).bounding_box() for i in range(2)]
    if size is PHONE:  # stacked on a phone, side by side on a desktop
        assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"] - 1
    else:
        assert abs(boxes[1]["y"] - boxes[0]["y"]) < 2 and boxes[1]["x"] > boxes[0]["x"]
    no_sideways_scroll(page)
    shot(page, f"review_{label}")
    card.get_by_role("button", name=t["not_dup"]).click()
    done = page.locator("[data-dup-dismissed]")
    done.wait_for()
    assert t["dismissed"] in done.inner_text()
    assert page.locator(f"#dup-group-{group.pk}").count() == 0
    group.refresh_from_db()
    assert group.status == DuplicateGroup.Status.DISMISSED
    shot(page, f"review_dismissed_{label}")
    page.reload()
    assert t["empty"] in page.locator("#dup-cards").inner_text()
    assert not errors, errors


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440", "390"])
def test_company_checks_quick_create_pick_and_scan_progress(
    page: Any, owner: Any, pipeline: Any, size: dict[str, int]
) -> None:
    """The company form warns on an INN already entered; the inline «new company» of the deal
    form offers the similar company, and choosing it picks it; «Проверить базу» shows the bar
    until the worker has scanned, then the page lists what it found."""
    from factories import INN_LEGAL
    from voronka.contacts.dedup import duplicates_scan
    from voronka.contacts.models import DuplicateScan

    label = str(size["width"])
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size(size)
    company = make_company(responsible=owner, name="ООО Ромашка", inn=INN_LEGAL)
    login(page, "owner", OWNER_PASSWORD)

    page.goto(page.base + "/companies/new/")
    page.fill("#company-form input[name=name]", "Ромашка")
    page.locator("#company-form input[name=inn]").press_sequentially(INN_LEGAL)
    panel = page.locator("#dup-check [data-dup-panel][data-exact]")
    panel.wait_for()
    assert "ООО Ромашка" in panel.inner_text() and "ИНН" in panel.inner_text()
    no_sideways_scroll(page)
    shot(page, f"company_form_{label}")
    # Its own edit form does not call the company a duplicate of itself.
    page.goto(f"{page.base}/companies/{company.pk}/edit/")
    page.wait_for_load_state("networkidle")
    assert page.locator("#dup-check [data-dup-panel]").count() == 0

    # The deal form's inline «new company»: the similar one is offered and picked.
    page.goto(page.base + "/deals/new/")
    page.locator("#deal-company-input").press_sequentially("Ромашк")
    page.locator("#deal-company-list [data-create]").click()
    quick = page.locator("#deal-company [data-picker-create]")
    quick.locator("input[name=new_company_name]").fill("")
    quick.locator("input[name=new_company_name]").press_sequentially("Ромашка")
    option = quick.locator(f".dup-pick [role=option][data-value='{company.pk}']")
    option.wait_for()
    no_sideways_scroll(page)
    shot(page, f"quick_create_{label}")
    option.click()
    assert page.locator("#deal-company input[name=company]").input_value() == str(company.pk)
    assert page.locator("#deal-company-input").input_value() == "ООО Ромашка"
    assert quick.is_hidden()

    # «Проверить базу»: the bar while the worker has not finished; then the page reloads.
    page.goto(page.base + "/duplicates/?entity=company")
    assert "Базу ещё не проверяли" in page.locator("#dup-scan").inner_text()
    assert page.locator("[data-dup-empty]").count() == 1
    page.locator("#dup-scan-start").click()
    page.locator("#dup-scan [role=progressbar]").wait_for()
    assert page.locator("#dup-scan-start").is_disabled()
    no_sideways_scroll(page)
    shot(page, f"scan_running_{label}")
    scan = DuplicateScan.objects.get(entity="company")
    duplicates_scan("company", run=scan)  # what the worker does
    page.locator("#dup-scan [data-scan-finished]").wait_for()
    assert page.locator("#dup-scan [role=progressbar]").count() == 0
    assert not errors, errors
