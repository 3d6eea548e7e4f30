"""The tables of the integrations (decision 0016).

WebhookEndpoint — a receiver configured by an administrator: its URL and its own signing secret
(Standard Webhooks, `whsec_…`). An endpoint that answers 410 Gone is disabled with the reason.
WebhookDelivery — one message to one endpoint: its `webhook_id` (`msg_…`) is the same on every
attempt, so the receiver can deduplicate. A delivery is claimed by one worker under a lease
(`lease_token` fences a late result); it ends delivered, failed (dead: the attempts ran out, or
the address was refused) or cancelled (the endpoint is gone).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from voronka.kernel import clock


class WebhookEndpoint(models.Model):
    name = models.CharField(max_length=200)
    url = models.CharField(max_length=2000)
    # whsec_<base64 of 32 random bytes>; the HMAC-SHA256 key of every signature.
    secret = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Who set it up: told (with the administrators) when a delivery to it dies.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("В очереди")
    DELIVERED = "delivered", _("Доставлено")
    FAILED = "failed", _("Не доставлено")
    CANCELLED = "cancelled", _("Отменено")


class WebhookDeliveryQuerySet(models.QuerySet["WebhookDelivery"]):
    def due(self, now: object) -> WebhookDeliveryQuerySet:
        """Pending deliveries whose attempt is due, to an enabled endpoint, not leased now (a
        lease that ran out — its worker died — makes the delivery due again)."""
        return self.filter(
            models.Q(leased_until__isnull=True) | models.Q(leased_until__lt=now),
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now,
            endpoint__enabled=True,
        )

    def pending(self) -> WebhookDeliveryQuerySet:
        return self.filter(status=DeliveryStatus.PENDING)


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    webhook_id = models.CharField(max_length=40, unique=True)
    # What made it ("run:<rule run id>"): one delivery per endpoint and cause, however often the
    # cause is replayed. "" for deliveries made by hand (a test event).
    dedup_key = models.CharField(max_length=96, blank=True, default="")
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=clock.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    # The lease: a claim increments the token; a result is recorded only with its token.
    lease_token = models.PositiveIntegerField(default=0)
    leased_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "dedup_key"],
                condition=~models.Q(dedup_key=""),
                name="webhookdelivery_once",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "delivered", "failed", "cancelled"]),
                name="webhookdelivery_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdelivery_due_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["endpoint", "-id"], name="webhookdelivery_endpoint_idx"),
            models.Index(fields=["status", "-id"], name="webhookdelivery_status_idx"),
        ]

    def __str__(self) -> str:
        return self.webhook_id


class RequisitesProvider(models.TextChoices):
    DADATA = "dadata", "DaData"


class RequisitesSettings(models.Model):
    """The requisites auto-fill provider (Settings → Integrations → Реквизиты): one row. The key is
    entered by an administrator and kept like the webhooks' signing secrets; `base_url` points
    the client at the provider (tests at a local stand-in)."""

    provider = models.CharField(
        max_length=20, choices=RequisitesProvider.choices, default=RequisitesProvider.DADATA
    )
    api_key = models.CharField(max_length=200, blank=True, default="")
    base_url = models.CharField(max_length=500, default="https://suggestions.dadata.ru")
    timeout_seconds = models.FloatField(default=5.0)
    updated_at = models.DateTimeField(default=clock.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "requisites settings"

    @property
    def is_configured(self) -> bool:
        return bool(self.api_key)
