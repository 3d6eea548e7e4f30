"""The new-deal form asks for what the chosen stage needs (issue 7 item 6): choosing a lost
stage brings up the loss reason, a stage with required fields names them; at 1440 and 390 px."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def manager(personas: Any, pipeline: Any, records: Any) -> Any:
    user = personas["a1"].user
    user.set_password("e2e-pass-1234")
    user.save(update_fields=["password"])
    return user


@pytest.mark.parametrize("width", [1440, 390])
def test_choosing_a_lost_stage_asks_for_the_reason(
    page: Any, manager: Any, pipeline: Any, records: Any, width: int
) -> None:
    from voronka.deals.models import Deal

    page.set_viewport_size({"width": width, "height": 900})
    login(page, manager.username, "e2e-pass-1234")
    company = records["a1"].company
    page.goto(f"{page.base}/deals/new/?pipeline={pipeline.sales.pk}&company={company.pk}")
    assert page.locator("select[name=loss_reason]").count() == 0
    page.fill("input[name=title]", f"Сразу в отказ {width}")
    page.select_option("select[name=stage]", str(pipeline.stages["contract"].pk))
    page.wait_for_selector("#deal-stage-required")
    assert "Номер договора" in page.locator("#deal-stage-required").inner_text()
    page.select_option("select[name=stage]", str(pipeline.stages["lost"].pk))
    page.wait_for_selector("select[name=loss_reason]")
    no_scroll = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_scroll, "the form scrolls sideways"
    page.screenshot(path=f"/tmp/deal-create-lost-{width}.png", full_page=True)
    page.select_option("select[name=loss_reason]", str(pipeline.loss_reasons[1].pk))
    page.fill("input[name=loss_comment]", "Дорого")
    page.click("#deal-create-form button[type=submit]")
    page.wait_for_url("**/deals/*/")
    deal = Deal.objects.get(title=f"Сразу в отказ {width}")
    assert (deal.status, deal.loss_reason_id, deal.loss_comment) == (
        "lost",
        pipeline.loss_reasons[1].pk,
        "Дорого",
    )
