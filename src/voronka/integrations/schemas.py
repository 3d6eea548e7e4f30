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


class RequisitesLookupIn(StrictIn):
    inn: str | None = Field(default=None, max_length=40, description="ИНН: 10 or 12 digits")
    query: str | None = Field(default=None, max_length=200, description="A part of the name")
    bik: str | None = Field(default=None, max_length=40, description="A bank's БИК")


class AddressFill(Schema):
    kind: str
    text: str
    postal_code: str


class CompanyFill(Schema):
    """The company fields the party fills (the names POST /api/v1/companies takes)."""

    name: str
    type: str = Field(description="legal | sole_proprietor")
    inn: str
    kpp: str
    ogrn: str
    addresses: list[AddressFill] = []


class PartyOut(Schema):
    inn: str
    kpp: str
    ogrn: str
    type: str = Field(description="legal | sole_proprietor")
    name: str = Field(description="Short name with the legal form")
    full_name: str
    address: str
    postal_code: str
    management_name: str
    management_post: str
    status: str = Field(description="The registry's state: ACTIVE, LIQUIDATING, LIQUIDATED, …")
    company: CompanyFill


class BankOut(Schema):
    bik: str
    name: str
    correspondent_account: str


class RequisitesLookupOut(Schema):
    found: bool
    parties: list[PartyOut]
    banks: list[BankOut]
