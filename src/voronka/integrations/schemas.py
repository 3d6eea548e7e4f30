from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field

from voronka.kernel.schemas import NextCursor, StrictIn


class EndpointIn(StrictIn):
    name: str = Field(max_length=200)
    url: str = Field(max_length=2000, description="http(s) URL of the receiver")


class EndpointOut(Schema):
    id: int
    name: str
    url: str
    enabled: bool
    disabled_reason: str
    created_at: dt.datetime


class EndpointCreatedOut(EndpointOut):
    secret: str = Field(
        description="Standard Webhooks signing secret (whsec_…): verify webhook-signature with it"
    )


class DeliveryOut(Schema):
    id: int
    endpoint: int
    webhook_id: str = Field(description="The webhook-id header: the same on every attempt")
    event_type: str
    status: str = Field(description="pending | delivered | failed | cancelled")
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class DeliveryListOut(Schema):
    items: list[DeliveryOut]
    next_cursor: NextCursor
