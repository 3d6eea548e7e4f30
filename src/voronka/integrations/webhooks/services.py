"""Writes of outgoing webhooks: endpoints (configured by whoever holds can_configure — checked
here, decision 0014), the queue the `webhook` action and the test button put deliveries in, and
the manual retry of a dead delivery. Every configuration change is audited with its actor."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from voronka.identity.permissions import require_actor_flag
from voronka.integrations.inputs import ENDPOINT
from voronka.integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from voronka.integrations.webhooks import signing, ssrf
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound, ValidationError

RIGHT = "can_configure"
TEST_EVENT = "webhook.test"
NAME_MAX = ENDPOINT.max_length("name")  # the declaration (integrations/inputs.py)
URL_MAX = ENDPOINT.max_length("url")


def _endpoint_for_write(*, actor: Actor, endpoint_id: int) -> WebhookEndpoint:
    require_actor_flag(actor, RIGHT)
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(_("Нет такого вебхука"))
    return endpoint


def _clean_url(raw: Any) -> str:
    url = str(raw or "").strip()
    if not url:
        raise ValidationError({"url": _("Укажите адрес")})
    if len(url) > URL_MAX:
        raise ValidationError({"url": _("Адрес длиннее %(n)s символов") % {"n": URL_MAX}})
    try:
        _scheme, host, _port = ssrf.check_url(url)
    except ssrf.UnsafeTarget:
        raise ValidationError(
            {"url": _("Нужен адрес http:// или https:// без логина и пароля")}
        ) from None
    ip = ssrf.literal_ip(host)
    if ip is not None and ssrf.refused([ip]):
        raise ValidationError({"url": _("Адреса внутренней сети запрещены")})
    return url.split("#", 1)[0]


def endpoint_create(*, actor: Actor, data: dict[str, Any]) -> WebhookEndpoint:
    """A new endpoint with its own signing secret (shown to the administrator to set up the
    receiver). A name-based URL is resolved and checked on every delivery (the SSRF guard)."""
    require_actor_flag(actor, RIGHT)
    name = str(data.get("name") or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Укажите название")
    elif len(name) > NAME_MAX:
        errors["name"] = _("Название длиннее %(n)s символов") % {"n": NAME_MAX}
    try:
        url = _clean_url(data.get("url"))
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            name=name, url=url, secret=signing.new_secret(), created_by=actor.user
        )
        audit(
            actor=actor,
            obj=endpoint,
            action="webhook_endpoint.created",
            changes={"name": [None, name], "url": [None, url]},
        )
    return endpoint


def endpoint_set_enabled(*, actor: Actor, endpoint_id: int, enabled: bool) -> WebhookEndpoint:
    """Pause or resume an endpoint. Its pending deliveries wait while it is paused (the worker
    skips them) and go out when it is enabled again."""
    with transaction.atomic():
        endpoint = _endpoint_for_write(actor=actor, endpoint_id=endpoint_id)
        if endpoint.enabled == enabled:
            return endpoint
        before = {"enabled": endpoint.enabled, "disabled_reason": endpoint.disabled_reason}
        endpoint.enabled = enabled
        endpoint.disabled_reason = "" if enabled else _("Отключён вручную")
        endpoint.disabled_at = None if enabled else clock.now()
        endpoint.save(update_fields=["enabled", "disabled_reason", "disabled_at"])
        after = {"enabled": endpoint.enabled, "disabled_reason": endpoint.disabled_reason}
        audit(
            actor=actor,
            obj=endpoint,
            action="webhook_endpoint.enabled" if enabled else "webhook_endpoint.disabled",
            changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
        )
    return endpoint


def endpoint_delete(*, actor: Actor, endpoint_id: int) -> None:
    """Delete the endpoint and its deliveries. A rule that still names it fails its runs with
    «Нет такого вебхука» (visible in the rule's runs)."""
    with transaction.atomic():
        endpoint = _endpoint_for_write(actor=actor, endpoint_id=endpoint_id)
        audit(
            actor=actor,
            obj=endpoint,
            action="webhook_endpoint.deleted",
            changes={"name": [endpoint.name, None], "url": [endpoint.url, None]},
        )
        endpoint.delete()


def delivery_enqueue(
    *,
    endpoint: WebhookEndpoint,
    event_type: str,
    data: dict[str, Any],
    dedup_key: str = "",
    now: dt.datetime | None = None,
) -> WebhookDelivery:
    """Queue one message in the caller's transaction (the worker sends it after commit). With a
    `dedup_key` ("run:<id>") it is queued once per endpoint however often the caller repeats: a
    repeat returns the delivery already queued. The body is Standard Webhooks' envelope."""
    if not endpoint.enabled:
        raise ApplicationError(
            _("Вебхук «%(name)s» отключён") % {"name": endpoint.name}, code=ErrorCode.CONFLICT
        )
    if dedup_key:
        existing = WebhookDelivery.objects.filter(endpoint=endpoint, dedup_key=dedup_key).first()
        if existing is not None:
            return existing
    now = now or clock.now()
    payload = {"type": event_type, "timestamp": now.isoformat(), "data": data}
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin loses on the unique key
            return WebhookDelivery.objects.create(
                endpoint=endpoint,
                webhook_id=signing.new_webhook_id(),
                dedup_key=dedup_key,
                event_type=event_type,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            )
    except IntegrityError:
        if not dedup_key:
            raise
        return WebhookDelivery.objects.get(endpoint=endpoint, dedup_key=dedup_key)


def endpoint_send_test(*, actor: Actor, endpoint_id: int) -> WebhookDelivery:
    """Queue a `webhook.test` message (the worker sends it within seconds)."""
    with transaction.atomic():
        endpoint = _endpoint_for_write(actor=actor, endpoint_id=endpoint_id)
        return delivery_enqueue(
            endpoint=endpoint,
            event_type=TEST_EVENT,
            data={
                "endpoint": {"id": endpoint.pk, "name": endpoint.name},
                "message": "Voronka test event",
            },
        )


def delivery_retry(*, actor: Actor, delivery_id: int) -> WebhookDelivery:
    """Send a failed (dead) or cancelled delivery again, with the same webhook-id and a fresh
    schedule of attempts."""
    require_actor_flag(actor, RIGHT)
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            raise NotFound(_("Нет такой доставки"))
        if delivery.status not in (DeliveryStatus.FAILED, DeliveryStatus.CANCELLED):
            raise ApplicationError(
                _("Повторить можно только недоставленное сообщение"), code=ErrorCode.CONFLICT
            )
        if not delivery.endpoint.enabled:
            raise ApplicationError(
                _("Вебхук «%(name)s» отключён") % {"name": delivery.endpoint.name},
                code=ErrorCode.CONFLICT,
            )
        before = delivery.status
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = clock.now()
        delivery.leased_until = None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "leased_until"])
        audit(
            actor=actor,
            obj=delivery,
            action="webhook_delivery.retried",
            changes={"status": [before, DeliveryStatus.PENDING]},
        )
    return delivery


def endpoint_for_action(endpoint_id: int) -> WebhookEndpoint:
    """The endpoint a rule names, for its action: missing or disabled is the run's error."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise ValidationError({"endpoint": _("Нет такого вебхука")})
    if not endpoint.enabled:
        raise ValidationError(
            {"endpoint": _("Вебхук «%(name)s» отключён") % {"name": endpoint.name}}
        )
    return endpoint
