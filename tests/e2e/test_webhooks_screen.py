"""Settings → Integrations → Webhooks in Chromium at 1440 px and at 390 px: add an endpoint (its
secret shown), send a test event and see it queued, delivered by the worker to a receiver on
127.0.0.1, a dead one retried; the page never scrolls sideways on a phone and its buttons stay in
reach; no JavaScript error."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.conftest import OWNER_PASSWORD, login
from integrations.conftest import Receiver, Reply

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGE = "/settings/integrations/webhooks/"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
WIDE_JS = """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def receiver(settings: Any) -> Any:
    settings.VORONKA_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440", "390"])
def test_webhooks_screen(page: Any, owner: Any, receiver: Receiver, size: dict[str, int]) -> None:
    from voronka.integrations.models import WebhookDelivery, WebhookEndpoint
    from voronka.integrations.webhooks.delivery import webhooks_deliver

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda dialog: dialog.accept())
    page.set_viewport_size(size)
    login(page, owner.username, OWNER_PASSWORD)
    page.goto(page.base + PAGE)
    assert page.locator("h1").inner_text() == "Настройки"
    assert "Вебхуков пока нет" in page.locator("#endpoints-table").inner_text()

    url = receiver.url + "/hooks/voronka-with-a-rather-long-path-that-must-wrap-on-a-phone"
    page.fill("#endpoint-create input[name=name]", "Учётная система")
    page.fill("#endpoint-create input[name=url]", url)
    page.click("#endpoint-create button")
    page.wait_for_selector("#endpoints-table tr[data-endpoint]")
    endpoint = WebhookEndpoint.objects.get()
    row = page.locator(f"#endpoint-{endpoint.pk}")
    assert "Учётная система" in row.inner_text() and "включён" in row.inner_text()
    assert row.locator("code.secret").inner_text() == endpoint.secret  # shown once added

    row.get_by_role("button", name="Тестовое событие").click()
    page.wait_for_selector("#deliveries-table tr[data-status=pending]")
    assert "В очереди" in page.locator("#deliveries-table").inner_text()
    wide = page.evaluate(WIDE_JS)
    assert page.evaluate(OVERFLOW_JS) <= 0, f"the page scrolls sideways: {wide}"

    report = webhooks_deliver(10)  # what the worker does
    assert report.delivered == 1 and len(receiver.posts()) == 1
    page.reload()
    delivered = page.locator("#deliveries-table tr[data-status=delivered]")
    assert "Доставлено" in delivered.inner_text() and "HTTP 200" in delivered.inner_text()

    receiver.default = Reply(500, body=b"down")
    row = page.locator(f"#endpoint-{endpoint.pk}")
    row.get_by_role("button", name="Тестовое событие").click()
    page.wait_for_selector("#deliveries-table tr[data-status=pending]")
    WebhookDelivery.objects.filter(status="pending").update(status="failed", attempts=8)
    page.reload()
    dead = page.locator("#deliveries-table tr[data-status=failed]")
    assert "Не доставлено" in dead.inner_text()
    retry = dead.get_by_role("button", name="Повторить")
    assert retry.is_visible() and in_view(page, "#deliveries-table tr[data-status=failed] button")
    retry.click()
    page.wait_for_selector(".alert--success")
    assert WebhookDelivery.objects.filter(status="pending").count() == 1
    assert page.evaluate(OVERFLOW_JS) <= 0, "the page scrolls sideways"
    for name in ("Тестовое событие", "Отключить", "Удалить"):
        button = page.locator(f"#endpoint-{endpoint.pk}").get_by_role("button", name=name)
        assert button.is_visible(), name
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= size["width"] + 1, name

    page.locator(f"#endpoint-{endpoint.pk}").get_by_role("button", name="Отключить").click()
    page.wait_for_selector(f"#endpoint-{endpoint.pk} >> text=отключён")
    page.locator(f"#endpoint-{endpoint.pk}").get_by_role("button", name="Удалить").click()
    page.wait_for_selector("#endpoints-table >> text=Вебхуков пока нет")
    assert not WebhookEndpoint.objects.exists()
    assert errors == []
