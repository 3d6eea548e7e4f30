"""Outgoing webhooks over HTTP (can_configure): endpoints and their deliveries."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from voronka.integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from voronka.integrations.requisites.services import requisites_lookup
from voronka.integrations.schemas import (
    DeliveryListOut,
    EndpointCreatedOut,
    EndpointIn,
    EndpointOut,
    RequisitesLookupIn,
    RequisitesLookupOut,
)
from voronka.integrations.webhooks import selectors, services
from voronka.kernel.schemas import ERRORS, ErrorOut
from voronka.web.http import api_actor

webhooks_router = Router(tags=["webhooks"])
requisites_router = Router(tags=["requisites"])


def endpoint_out(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.pk,
        "name": endpoint.name,
        "url": endpoint.url,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at,
    }


def delivery_out(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "endpoint": delivery.endpoint_id,
        "webhook_id": delivery.webhook_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": (
            delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else None
        ),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "delivered_at": delivery.delivered_at,
    }


@webhooks_router.get(
    "/endpoints", response={200: list[EndpointOut], **ERRORS}, summary="Webhook endpoints"
)
def list_endpoints(request: HttpRequest) -> list[dict[str, Any]]:
    return [endpoint_out(e) for e in selectors.endpoint_list(actor=api_actor(request))]


@webhooks_router.post(
    "/endpoints",
    response={201: EndpointCreatedOut, **ERRORS},
    summary="Add an endpoint (the answer carries its signing secret)",
)
def create_endpoint(request: HttpRequest, payload: EndpointIn) -> Status[dict[str, Any]]:
    endpoint = services.endpoint_create(actor=api_actor(request), data=payload.dict())
    return Status(201, {**endpoint_out(endpoint), "secret": endpoint.secret})


@webhooks_router.delete("/endpoints/{endpoint_id}", response={204: None, **ERRORS})
def delete_endpoint(request: HttpRequest, endpoint_id: int) -> Status[None]:
    services.endpoint_delete(actor=api_actor(request), endpoint_id=endpoint_id)
    return Status(204, None)


@webhooks_router.get(
    "/deliveries",
    response={200: DeliveryListOut, **ERRORS},
    summary="Deliveries, newest first (filter by endpoint and status)",
)
def list_deliveries(
    request: HttpRequest,
    endpoint: int | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    page = selectors.delivery_list(
        actor=api_actor(request), endpoint_id=endpoint, status=status, limit=limit, cursor=cursor
    )
    return {"items": [delivery_out(d) for d in page.items], "next_cursor": page.next_cursor}


@requisites_router.post(
    "/lookup",
    response={200: RequisitesLookupOut, **ERRORS, 424: ErrorOut},
    summary="Requisites by INN or name, a bank by BIK (the configured provider)",
    description=(
        "Exactly one of inn, query, bik. Nothing is written: the answer fills a form. 409 "
        "provider_not_configured when no key was entered (Settings → Integrations), 424 "
        "provider_error when the provider refused the key, timed out or answered garbage "
        "(`provider_error`: unauthorized | timeout | unavailable | malformed)."
    ),
)
def lookup_requisites(request: HttpRequest, payload: RequisitesLookupIn) -> dict[str, Any]:
    result = requisites_lookup(
        actor=api_actor(request), inn=payload.inn, query=payload.query, bik=payload.bik
    )
    return {
        "found": result.found,
        "parties": [{**p.as_dict(), "company": p.company_fields()} for p in result.parties],
        "banks": [b.as_dict() for b in result.banks],
    }
