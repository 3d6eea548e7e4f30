from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import Field

from voronka.kernel.schemas import ErrorOut, Id, MoneyOut, NextCursor, StrictIn, Version  # noqa: F401


class AddressSchema(Schema):
    kind: str = "actual"
    text: str = Field(max_length=500)
    postal_code: str = Field(default="", max_length=10)


class CompanyOut(Schema):
    id: int
    name: str
    type: str = Field(description="legal | sole_proprietor | family")
    inn: str
    kpp: str
    ogrn: str
    bank_bik: str
    bank_account: str
    bank_name: str
    phone: str
    email: str
    website: str
    comment: str
    responsible: int
    custom: dict[str, Any]
    addresses: list[AddressSchema]
    ltv: str = Field(description="Won deals in the main currency (RUB); see ltv_by_currency")
    ltv_by_currency: list[MoneyOut] = Field(
        description="Won deals per currency, main currency first (amounts never added across)"
    )
    last_interaction_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CompanyIn(StrictIn):
    name: str = Field(max_length=255)
    type: str = "legal"
    inn: str | None = Field(default=None, max_length=40)
    kpp: str | None = Field(default=None, max_length=40)
    ogrn: str | None = Field(default=None, max_length=40)
    bank_bik: str | None = Field(default=None, max_length=40)
    bank_account: str | None = Field(default=None, max_length=40)
    bank_name: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    website: str | None = Field(default=None, max_length=255)
    comment: str | None = Field(default=None, max_length=10000)
    responsible: Id | None = None
    custom: dict[str, Any] | None = None
    addresses: list[AddressSchema] | None = None


class CompanyPatch(StrictIn):
    version: Version | None = None
    name: str | None = Field(default=None, max_length=255)
    type: str | None = None
    inn: str | None = Field(default=None, max_length=40)
    kpp: str | None = Field(default=None, max_length=40)
    ogrn: str | None = Field(default=None, max_length=40)
    bank_bik: str | None = Field(default=None, max_length=40)
    bank_account: str | None = Field(default=None, max_length=40)
    bank_name: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    website: str | None = Field(default=None, max_length=255)
    comment: str | None = Field(default=None, max_length=10000)
    responsible: Id | None = None
    custom: dict[str, Any] | None = None
    addresses: list[AddressSchema] | None = None


class CompanyListOut(Schema):
    items: list[CompanyOut]
    next_cursor: NextCursor


class ContactOut(Schema):
    id: int
    company: int
    company_name: str
    last_name: str
    first_name: str
    middle_name: str
    position: str
    birthday: dt.date | None
    phones: list[str] = Field(description="E.164")
    emails: list[str]
    messengers: dict[str, str]
    consent_calls: bool
    consent_mailing: bool
    comment: str
    responsible: int
    custom: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ContactIn(StrictIn):
    first_name: str = Field(max_length=80)
    company: Id | None = Field(default=None, description="Omitted: a family company is created")
    last_name: str | None = Field(default=None, max_length=80)
    middle_name: str | None = Field(default=None, max_length=80)
    position: str | None = Field(default=None, max_length=120)
    birthday: dt.date | None = None
    phones: list[str] | None = None
    emails: list[str] | None = None
    messengers: dict[str, str] | None = None
    consent_calls: bool | None = None
    consent_mailing: bool | None = None
    comment: str | None = Field(default=None, max_length=10000)
    responsible: Id | None = None
    custom: dict[str, Any] | None = None


class ContactPatch(StrictIn):
    version: Version | None = None
    first_name: str | None = Field(default=None, max_length=80)
    company: Id | None = None
    last_name: str | None = Field(default=None, max_length=80)
    middle_name: str | None = Field(default=None, max_length=80)
    position: str | None = Field(default=None, max_length=120)
    birthday: dt.date | None = None
    phones: list[str] | None = None
    emails: list[str] | None = None
    messengers: dict[str, str] | None = None
    consent_calls: bool | None = None
    consent_mailing: bool | None = None
    comment: str | None = Field(default=None, max_length=10000)
    responsible: Id | None = None
    custom: dict[str, Any] | None = None


class ContactListOut(Schema):
    items: list[ContactOut]
    next_cursor: NextCursor
