"""Issue 7 items 10, 13, 15 in Chromium, at 1440 px and at 390 px:
- the company picker of the new-deal form: type-ahead within the scope, keys only (↓, Enter),
  the company's contacts follow, "new company" inline (Enter creates), the deal is created;
- the header search: a phone typed in any format finds the contact, ↓ + Enter opens it;
- the pipeline settings: edits in several rows, a reorder and one Save keep everything.
Each screen is checked for JavaScript errors, CSP violations and horizontal page scroll, and a
screenshot is written to the test's temporary directory (VORONKA_SHOTS=<dir> keeps them)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "e2e-gaps-1234"
WIDTHS = [1440, 390]


@pytest.fixture
def people(personas: Any, pipeline: Any, records: Any) -> dict[str, Any]:
    for key in ("a1", "owner"):
        user = personas[key].user
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    return {"a1": personas["a1"].user, "owner": personas["owner"].user}


def _watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    return errors


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("VORONKA_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _no_horizontal_scroll(page: Any) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("width", WIDTHS)
def test_company_picker_type_ahead_and_inline_create(
    page: Any, people: Any, records: Any, width: int, tmp_path: Path
) -> None:
    from voronka.contacts.models import Company
    from voronka.deals.models import Deal

    page.set_viewport_size({"width": width, "height": 900})
    errors = _watch(page)
    login(page, "a1", PASSWORD)
    page.goto(f"{page.base}/deals/new/")
    page.fill("input[name=title]", f"Пикер {width}")
    box = page.locator("#deal-company-input")
    expect(box).to_have_attribute("role", "combobox")
    box.focus()
    box.type("компания", delay=30)
    listbox = page.locator("#deal-company-list")
    expect(listbox).to_have_class("picker-list is-open")
    options = listbox.locator("[role=option][data-value]")
    expect(options).to_have_count(1)  # a1 sees only a1's «ООО Компания a1»
    assert "ООО Компания a1" in options.first.inner_text()
    assert "b1" not in listbox.inner_text()
    box.press("ArrowDown")
    expect(box).to_have_attribute(
        "aria-activedescendant", f"deal-company-opt-{records['a1'].company.pk}"
    )
    _no_horizontal_scroll(page)
    _shot(page, tmp_path, f"picker-open-{width}")
    box.press("Enter")
    expect(page.locator("input[name=company]")).to_have_value(str(records["a1"].company.pk))
    expect(box).to_have_value("ООО Компания a1")
    expect(box).to_have_attribute("aria-expanded", "false")
    # The company's contacts follow the choice.
    expect(page.locator("#deal-contacts")).to_contain_text("Контакт a1")

    # A company that does not exist yet: "new company" inline, keyboard only.
    box.fill("")
    box.type("ООО Горизонт", delay=20)
    create = listbox.locator("[data-create]")
    expect(create).to_contain_text("ООО Горизонт")
    # (CI failed here at 390 px: ↑ fell inside the 20 ms in which htmx settles a swapped list
    # and puts the options' class back — the picker now remembers the highlight by id; see
    # test_a_highlight_made_while_the_options_settle_is_kept.)
    page.wait_for_load_state("networkidle")
    box.press("ArrowUp")  # the last option: create
    expect(box).to_have_attribute("aria-activedescendant", "deal-company-opt-create")
    box.press("Enter")
    panel = page.locator("#deal-company [data-picker-create]")
    expect(panel).to_be_visible()
    name = panel.locator("input[name=new_company_name]")
    expect(name).to_be_focused()
    expect(name).to_have_value("ООО Горизонт")
    _shot(page, tmp_path, f"picker-create-{width}")
    name.press("Enter")
    expect(panel).to_be_hidden()
    created = Company.objects.get(name="ООО Горизонт")
    assert created.responsible_id == people["a1"].pk
    expect(page.locator("input[name=company]")).to_have_value(str(created.pk))
    expect(box).to_have_value("ООО Горизонт")
    _no_horizontal_scroll(page)

    page.click("#deal-create-form button[type=submit]")
    page.wait_for_selector("h1:has-text('Пикер')")
    assert Deal.objects.get(title=f"Пикер {width}").company_id == created.pk
    assert [e for e in errors if "status of 4" not in e] == []


def test_picker_on_the_deal_edit_and_contact_forms(
    page: Any, people: Any, records: Any, tmp_path: Path
) -> None:
    from voronka.deals.models import Deal

    errors = _watch(page)
    login(page, "a1", PASSWORD)
    deal = records["a1"].deal
    page.goto(f"{page.base}/deals/{deal.pk}/?edit=1")
    box = page.locator("#deal-company-input")
    expect(box).to_have_value("ООО Компания a1")
    box.fill("Запасная")
    page.locator("#deal-company-list [data-value]").first.click()
    expect(page.locator("#deal-contacts")).to_contain_text("нет контактов")
    page.click("#deal-form button[type=submit]")
    page.wait_for_selector("#deal-props")
    assert Deal.objects.get(pk=deal.pk).company_id == records["a1"].spare_company.pk

    page.goto(f"{page.base}/contacts/new/")
    box = page.locator("#contact-company-input")
    box.focus()
    expect(page.locator("#contact-company-list [data-value]")).to_have_count(2)  # newest own
    box.press("Escape")
    expect(page.locator("#contact-company-list")).not_to_have_class("picker-list is-open")
    _shot(page, tmp_path, "contact-form")
    assert errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_header_search_finds_a_contact_by_phone(
    page: Any, people: Any, records: Any, width: int, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})
    errors = _watch(page)
    login(page, "a1", PASSWORD)
    contact = records["a1"].contact  # +7 916 000-05-05 (a1 is the fifth persona)
    number = contact.phones.first().number  # E.164
    typed = f"8 ({number[2:5]}) {number[5:8]}-{number[8:10]}-{number[10:]}"
    search = page.locator("#header-search")
    search.click()
    search.type(typed, delay=15)
    dropdown = page.locator("#search-dropdown")
    expect(dropdown).to_have_class("search-pop is-open")
    expect(dropdown.locator(f'a[href="/contacts/{contact.pk}/"]')).to_be_visible()
    assert "b1" not in dropdown.inner_text()
    box = dropdown.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    _no_horizontal_scroll(page)
    _shot(page, tmp_path, f"search-dropdown-{width}")
    search.press("ArrowDown")
    expect(search).to_have_attribute("aria-activedescendant", f"search-opt-contact-{contact.pk}")
    search.press("Enter")
    page.wait_for_url(f"{page.base}/contacts/{contact.pk}/")
    # Enter without a highlighted hit: the full results page, grouped.
    search = page.locator("#header-search")
    search.fill("Компания a1")
    search.press("Enter")
    page.wait_for_url("**/search/?q=*")
    expect(page.locator("#search-companies")).to_contain_text("ООО Компания a1")
    _no_horizontal_scroll(page)
    _shot(page, tmp_path, f"search-page-{width}")
    assert errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_pipeline_settings_save_all_rows_at_once(
    page: Any, people: Any, pipeline: Any, width: int, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    errors = _watch(page)
    st = pipeline.stages
    login(page, "owner", PASSWORD)
    page.goto(f"{page.base}/settings/pipelines/{pipeline.sales.pk}/")
    note = page.locator("[data-dirty-note]")
    expect(note).to_be_hidden()
    page.fill(f"#stage-row-{st['new'].pk} .stage-name", "Входящая заявка")
    page.fill(f"#stage-row-{st['talks'].pk} .stage-sla", "4")
    page.fill(f"#stage-row-{st['won'].pk} .stage-name", "Оплачено")
    expect(note).to_be_visible()
    page.click(f"#stage-row-{st['contract'].pk} [data-move=up]")  # reorder on the page only
    rows = page.locator(".stage-row[data-stage]")
    assert rows.nth(1).get_attribute("data-stage") == str(st["contract"].pk)
    _no_horizontal_scroll(page)
    _shot(page, tmp_path, f"settings-dirty-{width}")
    page.click("#settings-save")
    page.wait_for_selector(".alert--success")
    for s in st.values():
        s.refresh_from_db()
    assert st["new"].name == "Входящая заявка"
    assert st["talks"].sla_days == 4
    assert st["won"].name == "Оплачено"
    order = [s.pk for s in pipeline.sales.stages.all()]
    assert order.index(st["contract"].pk) < order.index(st["talks"].pk)
    expect(page.locator(f"#stage-row-{st['new'].pk} .stage-name")).to_have_value("Входящая заявка")
    _shot(page, tmp_path, f"settings-saved-{width}")
    assert errors == []


@pytest.mark.parametrize(("width", "lang"), [(1440, "ru"), (390, "en")])
def test_find_the_client_by_phone_digits_fills_company_and_contact(
    page: Any, people: Any, records: Any, width: int, lang: str, tmp_path: Path
) -> None:
    """Issue 10: on the new-deal form, the last digits of a phone find the person; choosing them
    (keys only) puts their company into the company picker and ticks them among its contacts,
    and the deal is created with both."""
    from factories import make_contact
    from voronka.deals.models import Deal

    a1 = records["a1"]
    person = make_contact(
        responsible=people["a1"],
        company=a1.company,
        first_name="Зинаида",
        last_name="Клиентова",
        phones=["8 (916) 700-44-21"],
    )
    page.set_viewport_size({"width": width, "height": 900})
    errors = _watch(page)
    page.goto(f"{page.base}/login/")
    page.click(f"button.lang-btn[value={lang}]")
    login(page, "a1", PASSWORD)
    page.goto(f"{page.base}/deals/new/")
    expect(page.locator("label[for=deal-client-input]")).to_have_text(
        "Find the client" if lang == "en" else "Найти клиента"
    )
    page.fill("input[name=title]", f"Клиент {width}")
    box = page.locator("#deal-client-input")
    box.focus()
    box.type("4421", delay=30)
    listbox = page.locator("#deal-client-list")
    expect(listbox).to_have_class("picker-list is-open")
    options = listbox.locator("[role=option][data-value]")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Клиентова Зинаида")
    expect(options.first).to_contain_text(a1.company.name)
    page.wait_for_load_state("networkidle")
    _no_horizontal_scroll(page)
    _shot(page, tmp_path, f"client-picker-{width}-{lang}")
    box.press("ArrowDown")
    box.press("Enter")
    expect(page.locator("input[name=company]")).to_have_value(str(a1.company.pk))
    expect(page.locator("#deal-company-input")).to_have_value(a1.company.name)
    ticked = page.locator(f"#deal-contacts input[name=contacts][value='{person.pk}']")
    expect(ticked).to_be_checked()
    _shot(page, tmp_path, f"client-picked-{width}-{lang}")
    page.click("#deal-create-form button[type=submit]")
    page.wait_for_selector("h1:has-text('Клиент')")
    deal = Deal.objects.get(title=f"Клиент {width}")
    assert deal.company_id == a1.company.pk
    assert list(deal.contacts.values_list("pk", flat=True)) == [person.pk]
    assert [e for e in errors if "status of 4" not in e] == []


def test_a_highlight_made_while_the_options_settle_is_kept(
    page: Any, people: Any, records: Any
) -> None:
    """htmx settles swapped content for a moment (20 ms by default; 1.5 s here, to land a key
    inside it every time) and then puts the new elements' class attribute back as the server
    sent it: a highlight (↓) made meanwhile lost its class, and Enter chose nothing. The picker
    remembers the highlight by id: Enter after the settling still chooses, and the highlight
    is shown again."""
    login(page, "a1", PASSWORD)
    page.goto(f"{page.base}/deals/new/")
    page.evaluate("() => { htmx.config.defaultSettleDelay = 1500; }")
    box = page.locator("#deal-company-input")
    box.focus()
    box.type("компания", delay=10)
    option = page.locator("#deal-company-list [role=option][data-value]")
    expect(option).to_have_count(1)
    box.press("ArrowDown")  # inside the settling
    page.wait_for_timeout(1700)  # settled: the class attribute was put back
    expect(option).to_have_class(re.compile(r"\bis-active\b"))
    box.press("Enter")
    expect(page.locator("input[name=company]")).to_have_value(str(records["a1"].company.pk))
