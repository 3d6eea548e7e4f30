from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic import ValidationError as PydanticValidationError

from voronka.kernel.schemas import ErrorOut, Id, MoneyOut, NextCursor, StrictIn, Version  # noqa: F401


class AddressSchema(Schema):
    kind: str = "actual"
    text: str = Field(max_length=500)
    postal_code: str = Field(default="", max_length=10)


class PhoneOut(Schema):
    value: str = Field(description="The number formatted for people: +7 383 212-34-56")
    e164: str = Field(description="E.164: +73832123456")
    region: str = Field(
        description="City or region from the number, in the request's language; '' if unknown"
    )
    timezone: str | None = Field(
        description="IANA time zone of the number when it has exactly one (mobile ranges: null)"
    )


class PhoneIn(StrictIn):
    """A phone as the API returns it: `e164` (or `value`) is what is read; the rest is derived
    from the number and ignored, so a client may send back what it got."""

    value: str | None = Field(default=None, max_length=40)
    e164: str | None = Field(default=None, max_length=40)
    region: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=100)


def _phone_item(value: Any) -> str | dict[str, Any]:
    """A phone in a write: a string in any format, or the object the API answers with (its
    e164 or value is read) — one error naming the item otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        try:
            return PhoneIn.model_validate(value).model_dump(exclude_none=True)
        except PydanticValidationError:
            raise ValueError(_("Объект телефона: {e164} или {value}, строкой")) from None
    raise ValueError(_("Ожидается номер строкой или объект {e164}"))


PhoneItem = Annotated[
    Any,
    PlainValidator(_phone_item),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": 40},
                {
                    "type": "object",
                    "properties": {
                        "value": {"type": "string", "maxLength": 40},
                        "e164": {"type": "string", "maxLength": 40},
                        "region": {"type": "string"},
                        "timezone": {"type": ["string", "null"]},
                    },
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


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
    phone_info: PhoneOut | None = Field(description="The phone's region and time zone")
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
    deals_count: int = Field(description="Deals of the company (any stage)")
    won_count: int = Field(description="Won deals")
    first_purchase_at: dt.datetime | None = Field(description="When the first won deal closed")
    last_purchase_at: dt.datetime | None = Field(description="When the last won deal closed")
    last_interaction_at: dt.datetime | None = Field(
        description="The last call, e-mail, meeting, task done or comment on the client or its deals"
    )
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
    phones: list[PhoneOut] = Field(
        description="Each number with its E.164 form, region and time zone (from the number)"
    )
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
    phones: list[PhoneItem] | None = Field(
        default=None, description="Numbers in any format, or objects {e164 | value}"
    )
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
    phones: list[PhoneItem] | None = Field(
        default=None, description="Numbers in any format, or objects {e164 | value}"
    )
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


# --- merges ------------------------------------------------------------------------------------


class MergeIn(StrictIn):
    """The service checks the values and names the field at fault (422): ids are JSON integers."""

    keep: Any = Field(description="Id of the record that stays")
    merge: Any = Field(description="Ids of the records merged into it (1–10); they are deleted")
    fields: Any = Field(
        default=None,
        description=(
            "{field: the id (keep or one of merge) whose value wins}; by default the kept "
            'record\'s value, an empty one filled from the merged ones; "comment": "concat" '
            'joins every comment; custom fields as "custom.<key>"'
        ),
    )


class MergeOut(Schema):
    id: int
    entity: str = Field(description="contact | company")
    kept: int
    merged: list[int]
    fields: dict[str, Any]
    at: dt.datetime
    by: int | None
    undone_at: dt.datetime | None
    undone_by: int | None


class MergeListOut(Schema):
    items: list[MergeOut]
    next_cursor: NextCursor


class CompanyMergeOut(Schema):
    merge: MergeOut
    company: CompanyOut


class ContactMergeOut(Schema):
    merge: MergeOut
    contact: ContactOut


# --- duplicate control ---------------------------------------------------------------------------


class DuplicateCandidateOut(Schema):
    entity: str
    id: int | None = Field(description="null when the record is outside the caller's scope")
    label: str
    responsible: str
    visible: bool
    score: float
    matched: list[str]
    exact: bool = Field(description="a phone, e-mail or INN is the same: use the existing one")


class DuplicateCheckOut(Schema):
    candidates: list[DuplicateCandidateOut]


class DuplicateRecordOut(Schema):
    id: int
    label: str
    responsible: str


class DuplicateGroupOut(Schema):
    id: int
    entity: str
    ids: list[int]
    score: float
    matched: list[str]
    status: str
    found_at: dt.datetime
    records: list[DuplicateRecordOut]


class DuplicateListOut(Schema):
    items: list[DuplicateGroupOut]
    next_offset: int | None


class DuplicateScanOut(Schema):
    id: int
    entity: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    records: int = Field(description="blocks compared so far")
    total: int
    groups: int
    peak_memory_kb: int
    error: str
