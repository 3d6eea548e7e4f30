"""Settings → Integrations → Webhooks and /api/v1/webhooks: only can_configure (owner, admin);
a manager gets 403 and changes nothing; every configuration change is audited."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db

PAGE = "/settings/integrations/webhooks/"
URL = "https://hooks.example.test/voronka"


def audit_actions() -> list[str]:
    from voronka.kernel.models import AuditEntry

    return list(
        AuditEntry.objects.filter(action__startswith="webhook_")
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_api_endpoints_and_deliveries(api: Any, personas: Any) -> None:
    owner = api("owner")
    created = owner.post_json("/api/v1/webhooks/endpoints", {"name": "Учёт", "url": URL})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    listed = owner.get_json("/api/v1/webhooks/endpoints").json()
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    test = owner.get_json("/api/v1/webhooks/deliveries").json()
    assert test == {"items": [], "next_cursor": None}

    from voronka.integrations.webhooks.services import endpoint_send_test
    from voronka.kernel.actor import Actor

    endpoint_send_test(actor=Actor.for_user(personas["owner"].user), endpoint_id=body["id"])
    page = owner.get_json(f"/api/v1/webhooks/deliveries?endpoint={body['id']}&status=pending")
    [item] = page.json()["items"]
    assert item["event_type"] == "webhook.test" and item["webhook_id"].startswith("msg_")
    bad_status = owner.get_json("/api/v1/webhooks/deliveries?status=lost")
    assert bad_status.status_code == 422
    assert owner.delete(f"/api/v1/webhooks/endpoints/{body['id']}").status_code == 204
    assert owner.delete(f"/api/v1/webhooks/endpoints/{body['id']}").status_code == 404
    assert owner.get_json("/api/v1/webhooks/deliveries").json()["items"] == []
    assert audit_actions() == ["webhook_endpoint.created", "webhook_endpoint.deleted"]


@pytest.mark.parametrize(
    "url",
    ["", "ftp://x.test/", "http://user:pw@x.test/", "http://127.0.0.1:8000/", "not a url"],
)
def test_api_refuses_bad_urls(api: Any, personas: Any, url: str) -> None:
    response = api("admin").post_json("/api/v1/webhooks/endpoints", {"name": "X", "url": url})
    assert response.status_code == 422 and "url" in response.json()["errors"]


def test_api_is_for_configurers_only(api: Any, personas: Any) -> None:
    from voronka.integrations.models import WebhookEndpoint

    created = api("admin").post_json("/api/v1/webhooks/endpoints", {"name": "A", "url": URL})
    pk = created.json()["id"]
    for who in ("head_a", "a1", "integration"):
        client = api(who)
        assert client.get_json("/api/v1/webhooks/endpoints").status_code == 403
        assert client.get_json("/api/v1/webhooks/deliveries").status_code == 403
        response = client.post_json("/api/v1/webhooks/endpoints", {"name": "B", "url": URL})
        assert response.status_code == 403
        assert client.delete(f"/api/v1/webhooks/endpoints/{pk}").status_code == 403
    assert api("anonymous").get_json("/api/v1/webhooks/endpoints").status_code == 401
    assert WebhookEndpoint.objects.count() == 1


def test_screen_add_test_disable_retry_delete(web: Any, personas: Any) -> None:
    from voronka.integrations.models import WebhookDelivery, WebhookEndpoint

    client = web("owner")
    page = client.get(PAGE)
    assert page.status_code == 200 and "Вебхуков пока нет" in page.content.decode()
    added = client.post(PAGE, {"name": "Склад", "url": URL})
    assert added.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    page = client.get(added["Location"]).content.decode()
    assert "Склад" in page and URL in page and endpoint.secret in page

    assert client.post(f"{PAGE}{endpoint.pk}/test/").status_code == 302
    delivery = WebhookDelivery.objects.get()
    page = client.get(PAGE).content.decode()
    assert delivery.webhook_id in page and "badge--blue" in page  # В очереди

    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8)
    assert "Повторить" in client.get(PAGE).content.decode()
    assert client.post(f"{PAGE}deliveries/{delivery.pk}/retry/").status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 0
    # Retrying what is not dead is refused with a message, not an error page.
    again = client.post(f"{PAGE}deliveries/{delivery.pk}/retry/", follow=True)
    assert again.status_code == 200 and "только недоставленное" in again.content.decode()

    assert client.post(f"{PAGE}{endpoint.pk}/toggle/", {"enabled": "0"}).status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert client.post(f"{PAGE}{endpoint.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()
    assert audit_actions() == [
        "webhook_endpoint.created",
        "webhook_delivery.retried",
        "webhook_endpoint.disabled",
        "webhook_endpoint.deleted",
    ]


def test_screen_shows_form_errors(web: Any, personas: Any) -> None:
    response = web("admin").post(PAGE, {"name": "", "url": "http://10.0.0.1/"})
    assert response.status_code == 422
    text = response.content.decode()
    assert "Укажите название" in text and "Адреса внутренней сети запрещены" in text


def test_screen_is_for_configurers_only(web: Any, personas: Any) -> None:
    from voronka.integrations.models import WebhookEndpoint
    from voronka.integrations.webhooks.services import endpoint_create
    from voronka.kernel.actor import Actor

    endpoint = endpoint_create(
        actor=Actor.for_user(personas["owner"].user), data={"name": "E", "url": URL}
    )
    for who in ("head_a", "a1"):
        client = web(who)
        assert client.get(PAGE).status_code == 403
        assert client.post(PAGE, {"name": "X", "url": URL}).status_code == 403
        assert client.post(f"{PAGE}{endpoint.pk}/delete/").status_code == 403
        assert client.post(f"{PAGE}{endpoint.pk}/test/").status_code == 403
    assert web("anonymous").get(PAGE).status_code == 302  # to the login page
    assert WebhookEndpoint.objects.count() == 1 and audit_actions() == ["webhook_endpoint.created"]
    nav = web("a1").get("/deals/").content.decode()
    assert PAGE not in nav  # the settings link is only for configurers
    assert PAGE in web("owner").get("/deals/").content.decode()


def test_screen_in_english(web: Any, personas: Any) -> None:
    client = web("admin")
    client.post(PAGE, {"name": "Склад", "url": URL})
    assert client.post("/language/", {"language": "en", "next": PAGE}).status_code == 302
    html = client.get(PAGE).content.decode()
    for english in ("Webhooks", "Receivers", "Signing secret", "Recent deliveries", "Add webhook"):
        assert english in html, english
    for russian in ("Получатели", "Последние доставки", "Добавить вебхук"):
        assert russian not in html, russian
