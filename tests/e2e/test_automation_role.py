"""The robot form's "whom" of a notification in Chromium at 1440 px and 390 px, in Russian and in
English: a head of sales picks "Role…" for the notify action, the role picker appears (only
then, and only for notify — a task's responsible offers no role), saves; a deal of manager a1
is won, the automation runs (as the worker would) and the heads who see the deal are told —
not the head of the other department. No sideways scroll, no JavaScript error. Screenshots of
the form with the picker open go to $VORONKA_SCREENS (when set) for a look."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import login

from .test_automation_screen import DESKTOP, OVERFLOW_JS, PASSWORD, PHONE, drain

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WORDS = {
    "ru": {"role": "Роль…", "saved": "добавлено", "note": "Все активные сотрудники с этой ролью"},
    "en": {"role": "Role…", "saved": "added", "note": "Every active user with this role"},
}


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440", "390"])
def test_choose_a_role_as_the_notifications_recipients(
    page: Any,
    owner: Any,
    org: Any,
    personas: Any,
    pipeline: Any,
    size: dict[str, int],
    lang: str,
) -> None:
    from tests.factories import make_company, make_deal

    from voronka.activities.models import Notification
    from voronka.automation.models import Rule, RuleRun, RunStatus
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    words = WORDS[lang]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size(size)
    login(page, owner.username, PASSWORD)
    if lang == "en":
        page.goto(page.base + "/deals/")
        page.click("button.lang-btn[value=en]")
        page.wait_for_load_state()

    won = pipeline.stages["won"]
    page.goto(page.base + f"/settings/pipelines/{pipeline.sales.pk}/automation/")
    page.locator(f"#stage-{won.pk} a.auto-add:not(.auto-add--trigger)").click()
    page.wait_for_selector("#rule-form")
    # A task's responsible is one person: no role among the choices.
    task_kinds = page.locator("#f-p-create_task-responsible-kind option").all_inner_texts()
    assert words["role"] not in task_kinds
    page.fill("#f-name", "Выиграна → руководителям")
    page.select_option("#f-action", "notify")
    kind = page.locator("#f-p-notify-to-kind")
    assert kind.is_visible()
    assert words["role"] in kind.locator("option").all_inner_texts()
    picker = page.locator("#f-p-notify-to-role")
    assert not picker.is_visible()  # only once "Role…" is chosen
    page.select_option("#f-p-notify-to-kind", "role")
    assert picker.is_visible()
    assert words["note"] in page.locator("[data-name=notify]").inner_text()
    head = org.roles["head"]
    page.select_option("#f-p-notify-to-role", str(head.pk))
    page.fill("#f-p-notify-text", "Сделка выиграна")
    assert page.evaluate(OVERFLOW_JS) <= 0, "the form scrolls the page sideways"
    screens = os.environ.get("VORONKA_SCREENS")
    if screens:
        Path(screens).mkdir(parents=True, exist_ok=True)
        page.locator("[data-name=notify]").scroll_into_view_if_needed()
        page.screenshot(
            path=str(Path(screens) / f"role_{size['width']}_{lang}.png"), full_page=True
        )
    page.click("#rule-save")
    page.wait_for_selector("#automation-board .robot-card")
    assert words["saved"] in page.locator(".messages").inner_text()
    rule = Rule.objects.get(kind="robot", builtin="")
    assert rule.action == "notify" and rule.stage_id == won.pk
    assert rule.params["to"] == {"kind": "role", "user": None, "role": head.pk}

    # The form of the saved rule shows the role chosen.
    page.goto(page.base + f"/settings/automation/rules/{rule.pk}/")
    page.wait_for_selector("#rule-form")
    assert page.locator("#f-p-notify-to-kind").input_value() == "role"
    assert page.locator("#f-p-notify-to-role").input_value() == str(head.pk)
    assert page.locator("#f-p-notify-to-role").is_visible()

    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Роль")
    deal = make_deal(responsible=a1, company=company, title="Станки", stage=pipeline.stages["new"])
    drain()
    deal_move_to_stage(deal=deal, stage=won, actor=Actor.for_user(a1))
    drain()
    assert RuleRun.objects.get(rule=rule).status == RunStatus.DONE
    told = set(
        Notification.objects.filter(kind="automation", deal=deal).values_list(
            "user__username", flat=True
        )
    )
    assert told == {"head_a", "head_root"}
    assert not errors, errors
