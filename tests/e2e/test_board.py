"""The issue's browser path: log in, open the board, drag a card to a stage with a required
field, fill the small form, see the card moved and the move (with date and time) in the
deal's timeline; switch the language; a stale edit gets the conflict message."""

from __future__ import annotations

import re
from typing import Any

import pytest

from e2e import pointer
from e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def drag(page: Any, source: str, target: str) -> None:
    pointer.drag(page, source, target, aim_y=40)


@pytest.fixture
def manager(personas: Any, pipeline: Any, records: Any) -> Any:
    user = personas["a1"].user
    user.set_password("e2e-pass-1234")
    user.save(update_fields=["password"])
    return user


def test_drag_card_to_stage_with_required_field(
    page: Any, manager: Any, pipeline: Any, records: Any
) -> None:
    from voronka.deals.models import Deal, StageChange

    deal = Deal.objects.get(title="Сделка a1")
    contract = pipeline.stages["contract"]
    login(page, manager.username, "e2e-pass-1234")
    page.goto(f"{page.base}/pipelines/{pipeline.sales.pk}/board/")
    card = f'.deal-card[data-deal-id="{deal.pk}"]'
    page.wait_for_selector(card)
    drag(page, card, f'.column-body[data-stage-id="{contract.pk}"]')
    # The stage requires "Номер договора": the modal asks for exactly that field.
    page.wait_for_selector("#modal[open] [data-move-form]")
    assert page.locator("#modal input[name=cf_contract_no]").count() == 1
    page.fill("#modal input[name=cf_contract_no]", "Д-42/26")
    page.click("#modal button[type=submit]")
    page.wait_for_selector("#modal:not([open])", state="attached")
    # The server's fresh card (version + 1) replaces the dragged one in the new column.
    page.wait_for_selector(
        f'.column-body[data-stage-id="{contract.pk}"] {card}[data-version="{deal.version + 1}"]'
    )
    deal.refresh_from_db()
    assert deal.stage_id == contract.pk
    assert deal.custom["contract_no"] == "Д-42/26"
    move = StageChange.objects.filter(deal=deal, to_stage=contract).get()
    # The card shows the move with its date and time in the timeline.
    page.goto(f"{page.base}/deals/{deal.pk}/")
    timeline = page.locator("#timeline").inner_text()
    assert contract.name in timeline
    from django.utils import timezone

    assert timezone.localtime(move.at).strftime("%d.%m.%Y %H:%M") in timeline


def test_cancelled_modal_puts_card_back(
    page: Any, manager: Any, pipeline: Any, records: Any
) -> None:
    from voronka.deals.models import Deal

    deal = Deal.objects.get(title="Сделка a1")
    contract = pipeline.stages["contract"]
    login(page, manager.username, "e2e-pass-1234")
    page.goto(f"{page.base}/pipelines/{pipeline.sales.pk}/board/")
    card = f'.deal-card[data-deal-id="{deal.pk}"]'
    drag(page, card, f'.column-body[data-stage-id="{contract.pk}"]')
    page.wait_for_selector("#modal[open] [data-move-form]")
    page.click("#modal [data-modal-close]")
    page.wait_for_selector(f'.column-body[data-stage-id="{deal.stage_id}"] {card}')
    deal.refresh_from_db()
    assert deal.stage_id == pipeline.stages["new"].pk


def test_switch_language(page: Any, manager: Any, pipeline: Any, records: Any) -> None:
    login(page, manager.username, "e2e-pass-1234")
    page.goto(f"{page.base}/deals/")
    assert page.locator("h1").inner_text() == "Сделки"
    page.click("button.lang-btn[value=en]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Deals"
    assert re.search(r"\bTasks\b", page.locator(".sidebar").inner_text())
    page.click("button.lang-btn[value=ru]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Сделки"


def test_stale_edit_shows_conflict(page: Any, manager: Any, pipeline: Any, records: Any) -> None:
    from voronka.deals.models import Deal
    from voronka.deals.services import deal_update
    from voronka.kernel.actor import Actor

    deal = Deal.objects.get(title="Сделка a1")
    login(page, manager.username, "e2e-pass-1234")
    page.goto(f"{page.base}/deals/{deal.pk}/?edit=1")
    page.fill("#deal-form input[name=title]", "Моё название")
    # Meanwhile someone else saves the deal.
    deal_update(
        deal=deal, actor=Actor.system(), data={"title": "Чужое название", "version": deal.version}
    )
    page.click("#deal-form button[type=submit]")
    page.wait_for_selector("#form-message")
    assert "другой пользователь" in page.locator("#form-message").inner_text()
    deal.refresh_from_db()
    assert deal.title == "Чужое название"


def test_drag_to_lost_stage_asks_for_the_reason(
    page: Any, manager: Any, pipeline: Any, records: Any
) -> None:
    from voronka.deals.models import Deal

    deal = Deal.objects.get(title="Сделка a1")
    lost = pipeline.stages["lost"]
    login(page, manager.username, "e2e-pass-1234")
    page.goto(f"{page.base}/pipelines/{pipeline.sales.pk}/board/")
    page.set_viewport_size({"width": 1920, "height": 900})  # the lost column is the last one
    card = f'.deal-card[data-deal-id="{deal.pk}"]'
    page.wait_for_selector(card)
    drag(page, card, f'.column-body[data-stage-id="{lost.pk}"]')
    page.wait_for_selector("#modal[open] select[name=loss_reason]")
    page.select_option("#modal select[name=loss_reason]", str(pipeline.loss_reasons[1].pk))
    page.click("#modal button[type=submit]")
    page.wait_for_selector("#modal:not([open])", state="attached")
    page.wait_for_selector(
        f'.column-body[data-stage-id="{lost.pk}"] {card}[data-version="{deal.version + 1}"]'
    )
    deal.refresh_from_db()
    assert deal.status == "lost" and deal.loss_reason_id == pipeline.loss_reasons[1].pk


def test_drag_with_a_stale_version_shows_the_conflict_and_the_fresh_card(
    page: Any, manager: Any, pipeline: Any, records: Any
) -> None:
    from voronka.deals.models import Deal
    from voronka.deals.services import deal_update
    from voronka.kernel.actor import Actor

    deal = Deal.objects.get(title="Сделка a1")
    login(page, manager.username, "e2e-pass-1234")
    page.goto(f"{page.base}/pipelines/{pipeline.sales.pk}/board/")
    card = f'.deal-card[data-deal-id="{deal.pk}"]'
    page.wait_for_selector(card)
    # Someone else renames the deal while the board is open.
    deal_update(
        deal=deal,
        actor=Actor.system(),
        data={"title": "Сделка a1 (изменена)", "version": deal.version},
    )
    drag(page, card, f'.column-body[data-stage-id="{pipeline.stages["talks"].pk}"]')
    toast = page.wait_for_selector(".toast-stack .alert")
    assert "другой пользователь" in toast.inner_text()
    # The card is back in its real column, refreshed (new title, new version).
    fresh = page.wait_for_selector(
        f'.column-body[data-stage-id="{pipeline.stages["new"].pk}"] {card}'
    )
    assert "изменена" in fresh.inner_text()
    deal.refresh_from_db()
    assert fresh.get_attribute("data-version") == str(deal.version)
    assert deal.stage_id == pipeline.stages["new"].pk


def test_stage_bar_on_the_card_uses_the_same_modal(
    page: Any, manager: Any, pipeline: Any, records: Any
) -> None:
    from voronka.deals.models import Deal

    deal = Deal.objects.get(title="Сделка a1")
    contract = pipeline.stages["contract"]
    login(page, manager.username, "e2e-pass-1234")
    page.goto(f"{page.base}/deals/{deal.pk}/")
    page.click(f'#stagebar form:has(input[name=stage][value="{contract.pk}"]) button')
    page.wait_for_selector("#modal[open] input[name=cf_contract_no]")
    page.fill("#modal input[name=cf_contract_no]", "Д-7")
    with page.expect_navigation():
        page.click("#modal button[type=submit]")
    assert contract.name in page.locator("#stagebar .is-current").inner_text()
    assert contract.name in page.locator("#timeline").inner_text()
    deal.refresh_from_db()
    assert deal.stage_id == contract.pk


def test_board_in_english(page: Any, manager: Any, pipeline: Any, records: Any) -> None:
    login(page, manager.username, "e2e-pass-1234")
    page.goto(f"{page.base}/pipelines/{pipeline.sales.pk}/board/")
    page.click("button.lang-btn[value=en]")
    page.wait_for_load_state()
    text = page.locator("body").inner_text()
    for label in ("Kanban", "All responsible", "in progress", "Companies"):
        assert label in text, label
    page.click("button.lang-btn[value=ru]")


def test_board_filter_then_drag_still_works(
    page: Any, manager: Any, pipeline: Any, records: Any
) -> None:
    from voronka.deals.models import Deal

    deal = Deal.objects.get(title="Сделка a1")
    login(page, manager.username, "e2e-pass-1234")
    page.goto(f"{page.base}/pipelines/{pipeline.sales.pk}/board/")
    page.fill("#board-filters input[name=q]", "нет такой сделки")
    page.wait_for_selector(".deal-card", state="detached")
    assert "q=" in page.url  # the filter is in the address (push-url)
    page.fill("#board-filters input[name=q]", "Сделка a1")
    card = f'.deal-card[data-deal-id="{deal.pk}"]'
    page.wait_for_selector(card)
    drag(page, card, f'.column-body[data-stage-id="{pipeline.stages["talks"].pk}"]')
    page.wait_for_selector(
        f'.column-body[data-stage-id="{pipeline.stages["talks"].pk}"] {card}[data-version="{deal.version + 1}"]'
    )
    deal.refresh_from_db()
    assert deal.stage_id == pipeline.stages["talks"].pk
