"""Reads of the webhook screens and API. Their whole purpose needs the can_configure right, so
they check it here, in one place (decision 0014)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from voronka.identity.models import User
from voronka.identity.permissions import require_actor_flag
from voronka.integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ValidationError
from voronka.kernel.pagination import Page, keyset_page

RIGHT = "can_configure"


def endpoint_list(*, actor: Actor) -> QuerySet[WebhookEndpoint]:
    require_actor_flag(actor, RIGHT)
    return WebhookEndpoint.objects.order_by("name", "id")


def delivery_list(
    *,
    actor: Actor,
    endpoint_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[WebhookDelivery]:
    """The newest deliveries first (all endpoints, or one), optionally of one status."""
    require_actor_flag(actor, RIGHT)
    qs = WebhookDelivery.objects.select_related("endpoint")
    if endpoint_id is not None:
        qs = qs.filter(endpoint_id=endpoint_id)
    if status:
        if status not in DeliveryStatus.values:
            raise ValidationError({"status": ", ".join(DeliveryStatus.values)})
        qs = qs.filter(status=status)
    return keyset_page(qs, order=("-id",), cursor=cursor, limit=limit)


def configurers() -> QuerySet[User]:
    """Active users who may configure (the administrators told about a dead delivery)."""
    return (
        User.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(roles__can_configure=True))
        .distinct()
        .order_by("pk")
    )
