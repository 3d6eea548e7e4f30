"""The issue's browser path: log in, open the board, drag a card to a stage with a required
field, fill the small form, see the card moved and the move (with date and time) in the
deal's timeline; switch the language; a stale edit gets the conflict message."""

from __future__ import annotations

import re
from typing import Any

import pytest

from e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def drag(page: Any, source: str, target: str) -> None:
    """SortableJS listens to pointer events: move the mouse in steps, as a person does."""
    src = page.locator(source).bounding_box()
    dst = page.locator(target).bounding_box()
    page.mouse.move(src["x"] + src["width"] / 2, src["y"] + 20)
    page.mouse.down()
    for i in range(1, 16):
        page.mouse.move(
            src["x"] + src["width"] / 2 + (dst["x"] + dst["width"] / 2 - src["x"] - src["width"] / 2) * i / 15,
            src["y"] + 20 + (dst["y"] + 40 - src["y"] - 20) * i / 15,
        )
        page.wait_for_timeout(30)
    page.mouse.up()


@pytest.fixture
def manager(personas: Any, pipeline: Any, records: Any) -> Any:
    user = personas["a1"].user
    user.set_password("e2e-pass-1234")
    user.save(update_fields=["password"])
    return user


def test_drag_card_to_stage_with_required_field(page: Any, manager: Any, pipeline: Any, records: Any) -> None:
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
    page.wait_for_selector(f'.column-body[data-stage-id="{contract.pk}"] {card}')
    page.wait_for_selector("#modal:not([open])", state="attached")
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


def test_cancelled_modal_puts_card_back(page: Any, manager: Any, pipeline: Any, records: Any) -> None:
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
    deal_update(deal=deal, actor=Actor.system(), data={"title": "Чужое название", "version": deal.version})
    page.click("#deal-form button[type=submit]")
    page.wait_for_selector("#form-message")
    assert "другой пользователь" in page.locator("#form-message").inner_text()
    deal.refresh_from_db()
    assert deal.title == "Чужое название"
