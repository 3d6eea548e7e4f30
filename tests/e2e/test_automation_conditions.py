"""The robot form's condition pickers and the order of a stage's robots in Chromium at 1440 px and
390 px, in Russian and in English: a head of sales adds a robot with the condition "responsible
is A1" (picked from the people's select — the comparisons offered fit a person: no "≥") and
"company is …" (the type-ahead company picker), saves; the robot's card names the person and
the company, the reopened form shows them picked; the new robot (last of its stage) is moved up
with its ↑ button and the stage's robots come back in the new order. No sideways scroll, no
JavaScript error. Screenshots go to $VORONKA_SCREENS (when set) for a look."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import login

from .test_automation_screen import DESKTOP, OVERFLOW_JS, PASSWORD, PHONE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WORDS = {
    "ru": {"saved": "добавлено", "earlier": "раньше", "responsible": "Ответственный"},
    "en": {"saved": "added", "earlier": "earlier", "responsible": "Responsible"},
}


def _shot(page: Any, name: str) -> None:
    screens = os.environ.get("VORONKA_SCREENS")
    if screens:
        Path(screens).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(screens) / name), full_page=True)


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440", "390"])
def test_pick_a_user_and_a_company_in_conditions_then_move_the_robot_up(
    page: Any,
    owner: Any,
    personas: Any,
    pipeline: Any,
    size: dict[str, int],
    lang: str,
) -> None:
    from tests.factories import make_company

    from voronka.automation.models import Rule
    from voronka.automation.services import rule_create
    from voronka.kernel.actor import Actor

    words = WORDS[lang]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size(size)
    talks = pipeline.stages["talks"]
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Условие")
    for name in ("Первый робот", "Второй робот"):
        rule_create(
            actor=Actor.for_user(owner),
            data={
                "kind": "robot",
                "name": name,
                "stage": talks.pk,
                "action": "create_task",
                "params": {"comment": name},
                "conditions": [{"field": "amount", "op": "gte", "value": "100000"}],
            },
        )
    login(page, owner.username, PASSWORD)
    if lang == "en":
        page.goto(page.base + "/deals/")
        page.click("button.lang-btn[value=en]")
        page.wait_for_load_state()

    page.goto(page.base + f"/settings/pipelines/{pipeline.sales.pk}/automation/")
    page.locator(f"#robots-{talks.pk} a.auto-add").click()
    page.wait_for_selector("#rule-form")
    page.fill("#f-name", "Для A1")
    page.fill("#f-p-create_task-comment", "Позвонить")

    # Row 0: the responsible — a select of people; the comparisons fit a person.
    row = page.locator("[data-cond-row][data-index='0']")
    row.locator("[data-cond-field]").select_option("responsible")
    assert row.locator("select[name='cond-0-user']").is_visible()
    assert not row.locator("input[name='cond-0-text']").is_visible()
    offered = row.locator("[data-cond-op] option:not([disabled])").evaluate_all(
        "os => os.map(o => o.value)"
    )
    assert offered == ["eq", "ne", "in", "set", "not_set"]
    # "One of": the same select takes several people.
    row.locator("[data-cond-op]").select_option("in")
    assert row.locator("select[name='cond-0-user']").evaluate("s => s.multiple")
    row.locator("[data-cond-op]").select_option("eq")
    assert not row.locator("select[name='cond-0-user']").evaluate("s => s.multiple")
    row.locator("select[name='cond-0-user']").select_option(str(a1.pk))

    # Row 1 (added): the company — the type-ahead picker, no "new company" in a condition.
    page.locator("[data-cond-add]").click()
    row = page.locator("[data-cond-row][data-index='1']")
    row.locator("[data-cond-field]").select_option("company")
    box = row.locator("#cond-1-company-input")
    assert box.is_visible()
    box.fill("Условие")
    option = row.locator(f"#cond-1-company-opt-{company.pk}")
    option.wait_for()
    assert row.locator("[data-create]").count() == 0
    _shot(page, f"conditions_picker_{size['width']}_{lang}.png")
    option.click()
    assert row.locator("input[name='cond-1-company']").input_value() == str(company.pk)
    assert page.evaluate(OVERFLOW_JS) <= 0, "the form scrolls the page sideways"
    page.locator("#conditions").scroll_into_view_if_needed()
    _shot(page, f"conditions_form_{size['width']}_{lang}.png")
    page.click("#rule-save")
    page.wait_for_selector("#automation-board .robot-card")
    assert words["saved"] in page.locator(".messages").inner_text()
    rule = Rule.objects.get(name="Для A1")
    assert rule.conditions == [
        {"field": "responsible", "op": "eq", "value": a1.pk},
        {"field": "company", "op": "eq", "value": company.pk},
    ]

    # The card names them; the new robot is the stage's last.
    card = page.locator(f"#rule-{rule.pk}")
    texts = card.locator(".robot-conds").inner_text()
    assert f"{words['responsible']} = {a1.display_name}" in texts
    assert "ООО Условие" in texts
    names = page.locator(f"#robots-{talks.pk} .robot-name").all_inner_texts()
    assert names == ["Первый робот", "Второй робот", "Для A1"]
    assert page.evaluate(OVERFLOW_JS) <= 0, "the board scrolls the page sideways"

    # Moved up with its ↑: the stage's robots come back in the new order.
    up = card.locator("button[data-step='-1']")
    assert words["earlier"] in (up.get_attribute("aria-label") or "")
    up.click()
    page.wait_for_function(
        f"() => document.querySelector('#robots-{talks.pk} .robot-card:nth-of-type(2)')?.id"
        f" === 'rule-{rule.pk}'"
    )
    names = page.locator(f"#robots-{talks.pk} .robot-name").all_inner_texts()
    assert names == ["Первый робот", "Для A1", "Второй робот"]
    assert list(Rule.objects.robots_of(talks.pk).values_list("name", flat=True)) == names
    page.locator(f"#robots-{talks.pk}").scroll_into_view_if_needed()
    _shot(page, f"conditions_board_{size['width']}_{lang}.png")

    # The reopened form shows the person and the company by name.
    page.goto(page.base + f"/settings/automation/rules/{rule.pk}/")
    page.wait_for_selector("#rule-form")
    user_select = page.locator("select[name='cond-0-user']")
    assert user_select.is_visible()
    assert user_select.evaluate("s => s.selectedOptions[0].textContent") == a1.display_name
    assert page.locator("#cond-1-company-input").input_value() == "ООО Условие"
    assert not errors, errors
