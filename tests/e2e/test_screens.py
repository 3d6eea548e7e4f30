"""Every screen in Chromium: it opens, shows its heading, raises no JavaScript error and no
CSP violation (in Russian and in English); and the forms users fill most: a company with an
invalid INN is refused with the message next to the field and nothing is saved; a stage added
in the pipeline settings appears on the board."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "e2e-owner-1234"


@pytest.fixture
def owner(personas: Any, pipeline: Any, records: Any) -> Any:
    user = personas["owner"].user
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    return errors


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_screen_opens_without_errors(
    page: Any, owner: Any, pipeline: Any, records: Any, lang: str
) -> None:
    from voronka.activities.models import Task
    from voronka.contacts.models import Company, Contact
    from voronka.deals.models import Deal

    errors = watch_errors(page)
    login(page, owner.username, PASSWORD)
    if lang == "en":
        page.click("button.lang-btn[value=en]")
        page.wait_for_load_state()
    deal = Deal.objects.order_by("pk").first()
    company = Company.objects.order_by("pk").first()
    contact = Contact.objects.order_by("pk").first()
    paths = [
        f"/pipelines/{pipeline.sales.pk}/board/",
        "/deals/",
        "/deals/new/",
        f"/deals/{deal.pk}/",
        "/companies/",
        "/companies/new/",
        f"/companies/{company.pk}/",
        f"/companies/{company.pk}/edit/",
        "/contacts/",
        "/contacts/new/",
        f"/contacts/{contact.pk}/",
        "/tasks/",
        "/tasks/list/",
        "/tasks/calendar/",
        "/tasks/new/",
        "/control/",
        "/notifications/",
        "/settings/pipelines/",
        f"/settings/pipelines/{pipeline.sales.pk}/",
        "/settings/fields/",
        "/account/2fa/",
    ]
    task = Task.objects.order_by("pk").first()
    if task is not None:
        paths.append(f"/tasks/{task.pk}/")
    statuses = {}
    for path in paths:
        response = page.goto(page.base + path)
        statuses[path] = response.status
        page.wait_for_selector("h1")
        page.wait_for_load_state("networkidle")
    assert {p: s for p, s in statuses.items() if s != 200} == {}
    assert errors == []
    assert page.locator("html").get_attribute("lang") == lang


def test_company_with_an_invalid_inn_is_refused_next_to_the_field(
    page: Any, owner: Any, pipeline: Any, records: Any
) -> None:
    from voronka.contacts.models import Company

    errors = watch_errors(page)
    before = Company.objects.count()
    login(page, owner.username, PASSWORD)
    page.goto(page.base + "/companies/new/")
    page.fill("input[name=name]", "ООО «Проверка ИНН»")
    page.select_option("select[name=type]", "legal")
    page.fill("input[name=inn]", "7707083894")  # the check digit is wrong
    page.click("#company-form button.btn--primary")
    page.wait_for_selector(".has-error input[name=inn]")
    assert page.locator(".has-error:has(input[name=inn]) .field-error").inner_text()
    assert "/companies/new/" in page.url
    assert Company.objects.count() == before
    assert page.locator("input[name=name]").input_value() == "ООО «Проверка ИНН»"  # kept
    page.fill("input[name=inn]", "7707083893")
    page.click("#company-form button.btn--primary")
    page.wait_for_selector("h1:has-text('Проверка ИНН')")
    company = Company.objects.get(name="ООО «Проверка ИНН»")
    assert company.inn == "7707083893"
    # The refused form answers 422 (Chromium logs that status); nothing else may appear.
    assert [e for e in errors if "status of 422" not in e] == []


def test_a_stage_added_in_settings_shows_on_the_board(
    page: Any, owner: Any, pipeline: Any, records: Any
) -> None:
    errors = watch_errors(page)
    login(page, owner.username, PASSWORD)
    page.goto(f"{page.base}/settings/pipelines/{pipeline.sales.pk}/")
    page.fill("#stage-create input.stage-name", "Тестовая стадия")
    page.fill("#stage-create input.stage-sla", "3")
    page.click("#stage-create button.btn--primary")
    page.wait_for_selector("input[value='Тестовая стадия']")
    page.goto(f"{page.base}/pipelines/{pipeline.sales.pk}/board/")
    column = page.locator(".column", has_text="Тестовая стадия")
    assert column.count() == 1
    assert "3" in column.locator(".column-sla").inner_text()
    assert errors == []


def test_visitor_switches_the_login_page_to_english(page: Any, owner: Any) -> None:
    errors = watch_errors(page)
    page.goto(page.base + "/login/")
    page.click("button.lang-btn[value=en]")
    page.wait_for_selector("button[type=submit]:has-text('Log in')")
    assert page.url.endswith("/login/")
    login(page, owner.username, PASSWORD)
    assert page.locator("html").get_attribute("lang") == "en"
    assert errors == []
