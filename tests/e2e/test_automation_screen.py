"""Settings → Automation in Chromium at 1440 px and 390 px, in Russian and in English: a head of
sales configures a robot on a stage through the form, a deal moves there, the automation runs
(as the worker would) and the task appears on the deal's card; the robot's switch works in
place, its dry run opens in the modal, a failed run is retried from the run log. The pages never
scroll sideways and raise no JavaScript error."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.conftest import OWNER_PASSWORD, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = OWNER_PASSWORD
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
TEXT = {
    "ru": {"saved": "добавлено", "off": "выключен", "dry": "Что бы сделал за прошлый месяц"},
    "en": {"saved": "added", "off": "off", "dry": "What it would have done last month"},
}


def drain() -> None:
    """What the worker does: hand the events to the planner, run what is due (bounded)."""
    from voronka.automation.executor import run_until_idle
    from voronka.kernel.outbox import events_dispatch

    for _ in range(20):
        handled = events_dispatch("automation", respect_backoff=False).total
        ran = run_until_idle().claimed
        if not handled and not ran:
            return
    raise AssertionError("automation did not settle")


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440", "390"])
def test_configure_a_robot_and_see_its_task_on_the_deal(
    page: Any, owner: Any, personas: Any, pipeline: Any, size: dict[str, int], lang: str
) -> None:
    from tests.factories import make_company, make_deal

    from voronka.automation.models import Rule, RuleRun, RunStatus
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    words = TEXT[lang]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda dialog: dialog.accept())
    page.set_viewport_size(size)
    login(page, owner.username, PASSWORD)
    if lang == "en":
        page.goto(page.base + "/deals/")
        page.click("button.lang-btn[value=en]")
        page.wait_for_load_state()

    talks = pipeline.stages["talks"]
    board = f"/settings/pipelines/{pipeline.sales.pk}/automation/"
    page.goto(page.base + "/settings/pipelines/")
    # The settings navigation leads to the automation; its pipeline tab to the stage columns.
    page.locator(".settings-nav a[href='/settings/automation/']").click()
    page.wait_for_selector("#automation-board")
    assert page.url.endswith(board)
    for stage in pipeline.sales.stages.all():
        assert page.locator(f"#stage-{stage.pk}").is_visible()
    assert page.evaluate(OVERFLOW_JS) <= 0, "the board scrolls the page sideways"

    # "+ Robot" under the stage: the form, the action's fields from its Params.
    page.locator(f"#stage-{talks.pk} a.auto-add:not(.auto-add--trigger)").click()
    page.wait_for_selector("#rule-form")
    assert page.locator("#f-stage").input_value() == str(talks.pk)
    assert page.locator("#f-p-create_task-comment").is_visible()
    assert not page.locator("#f-p-notify-text").is_visible()  # another action's field
    # The responsible's "user" picker shows only when "a chosen user" is picked.
    assert not page.locator("#f-p-create_task-responsible-user").is_visible()
    page.select_option("#f-p-create_task-responsible-kind", "user")
    assert page.locator("#f-p-create_task-responsible-user").is_visible()
    page.select_option("#f-p-create_task-responsible-kind", "deal")
    page.fill("#f-name", "Подтвердить получение КП")
    page.select_option("#f-p-create_task-type", "call")
    page.fill("#f-p-create_task-comment", "Позвонить: получено ли КП по ")
    page.locator(
        "[data-name=create_task] [data-insert='{deal.title}']"
    ).click()  # the placeholder chip
    page.fill("#f-p-create_task-deadline-amount", "2")
    page.select_option("#f-p-create_task-deadline-unit", "days")
    assert page.evaluate(OVERFLOW_JS) <= 0, "the form scrolls the page sideways"
    page.click("#rule-save")
    page.wait_for_selector("#automation-board .robot-card")
    assert words["saved"] in page.locator(".messages").inner_text()
    rule = Rule.objects.get(kind="robot")
    assert rule.params["comment"] == "Позвонить: получено ли КП по {deal.title}"
    assert rule.params["deadline"]["amount"] == 2 and rule.stage_id == talks.pk
    card = page.locator(f"#rule-{rule.pk}")
    assert "Подтвердить получение КП" in card.inner_text()
    assert card.locator(".robot-icon").is_visible() and card.locator(".switch").is_visible()

    # A deal enters the stage (as a manager would, on the board); the worker runs the robot.
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Робот")
    deal = make_deal(responsible=a1, company=company, title="Станки", stage=pipeline.stages["new"])
    drain()
    deal_move_to_stage(deal=deal, stage=talks, actor=Actor.for_user(a1))
    drain()
    assert RuleRun.objects.get(rule=rule).status == RunStatus.DONE
    page.goto(page.base + f"/deals/{deal.pk}/")
    assert "Позвонить: получено ли КП по Станки" in page.locator("main").inner_text()

    # The card counts the run; the switch turns the robot off in place.
    page.goto(page.base + board)
    card = page.locator(f"#rule-{rule.pk}")
    assert card.locator(".run-badge--done").inner_text().strip().endswith("1")
    card.locator(".switch").click()
    page.wait_for_selector(f"#rule-{rule.pk}.is-off")
    assert words["off"] in page.locator(f"#rule-{rule.pk}").inner_text()
    rule.refresh_from_db()
    assert not rule.enabled

    # The dry run: the modal opens with the report (the deal's run of the last month).
    card = page.locator(f"#rule-{rule.pk}")
    card.locator(".rule-menu summary").click()
    card.locator("[data-dry-run]").click()
    page.wait_for_selector("#dry-run-report")
    report = page.locator("#dry-run-report")
    assert words["dry"] in report.inner_text()
    assert report.locator(f"a[href='/deals/{deal.pk}/']").count() >= 1
    box = page.locator("#modal").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 1
    report.locator("[data-modal-close]").first.click()

    # The run log: a failed run, retried in place.
    RuleRun.objects.filter(rule=rule).update(status=RunStatus.FAILED, error="Сбой сети")
    page.goto(page.base + "/settings/automation/runs/")
    row = page.locator("#runs-table tr[data-status=failed]")
    assert "Сбой сети" in row.inner_text()
    assert page.locator("[data-status-tab=failed] .badge--red").inner_text() == "1"
    assert page.evaluate(OVERFLOW_JS) <= 0, "the run log scrolls the page sideways"
    row.locator("button").click()
    page.wait_for_selector("#runs-table tr[data-status=pending]")
    assert RuleRun.objects.get(rule=rule).status == RunStatus.PENDING

    # Delete, confirmed.
    page.goto(page.base + f"/settings/automation/rules/{rule.pk}/")
    page.locator(".rule-danger .btn--danger").click()
    page.wait_for_selector("#automation-board")
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert errors == []
