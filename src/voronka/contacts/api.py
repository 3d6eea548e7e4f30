"""Companies and contacts over HTTP: parse → authorize → call → serialize."""

from __future__ import annotations

from typing import Any

from django.db.models import prefetch_related_objects
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from voronka.contacts import selectors, services
from voronka.contacts.models import Company, Contact
from voronka.contacts.schemas import (
    CompanyIn,
    CompanyListOut,
    CompanyOut,
    CompanyPatch,
    ContactIn,
    ContactListOut,
    ContactOut,
    ContactPatch,
)
from voronka.kernel.errors import ValidationError
from voronka.kernel.schemas import ERRORS
from voronka.web.http import api_actor

companies_router = Router(tags=["companies"])
contacts_router = Router(tags=["contacts"])


def company_out(c: Company) -> dict[str, Any]:
    return {
        "id": c.pk,
        "name": c.name,
        "type": c.type,
        "inn": c.inn,
        "kpp": c.kpp,
        "ogrn": c.ogrn,
        "bank_bik": c.bank_bik,
        "bank_account": c.bank_account,
        "bank_name": c.bank_name,
        "phone": c.phone,
        "email": c.email,
        "website": c.website,
        "comment": c.comment,
        "responsible": c.responsible_id,
        "custom": c.custom,
        "addresses": [
            {"kind": a.kind, "text": a.text, "postal_code": a.postal_code}
            for a in c.addresses.all()
        ],
        "ltv": str(c.ltv),
        "ltv_by_currency": c.ltv_sums.as_list(),
        "last_interaction_at": c.last_interaction_at,
        "version": c.version,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def contact_out(c: Contact) -> dict[str, Any]:
    return {
        "id": c.pk,
        "company": c.company_id,
        "company_name": c.company.name,
        "last_name": c.last_name,
        "first_name": c.first_name,
        "middle_name": c.middle_name,
        "position": c.position,
        "birthday": c.birthday,
        "phones": [p.number for p in c.phones.all()],
        "emails": [e.address for e in c.emails.all()],
        "messengers": c.messengers,
        "consent_calls": c.consent_calls,
        "consent_mailing": c.consent_mailing,
        "comment": c.comment,
        "responsible": c.responsible_id,
        "custom": c.custom,
        "version": c.version,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _clean_payload(payload: Any, *, patch: bool) -> dict[str, Any]:
    data = payload.dict(exclude_unset=True)
    if "addresses" in data and data["addresses"] is not None:
        data["addresses"] = [dict(a) for a in data["addresses"]]
    for key, value in list(data.items()):
        if value is None:
            if patch and key in (
                "name",
                "first_name",
                "type",
                "responsible",
                "company",
                "addresses",
                "phones",
                "emails",
            ):
                raise ValidationError({key: _("Не может быть пустым")})
            data.pop(key)
    return data


@companies_router.get("", response={200: CompanyListOut, **ERRORS})
def list_companies(
    request: HttpRequest,
    q: str | None = None,
    type: str | None = None,
    responsible: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    page = selectors.company_list(
        user=request.user, q=q, type=type, responsible=responsible, cursor=cursor, limit=limit
    )
    prefetch_related_objects(page.items, "addresses")
    return {"items": [company_out(c) for c in page.items], "next_cursor": page.next_cursor}


@companies_router.post("", response={201: CompanyOut, **ERRORS})
def create_company(request: HttpRequest, payload: CompanyIn) -> Status[dict[str, Any]]:
    company = services.company_create(
        actor=api_actor(request), data=_clean_payload(payload, patch=False)
    )
    return Status(201, company_out(selectors.company_get(user=request.user, company_id=company.pk)))


@companies_router.get("/{company_id}", response={200: CompanyOut, **ERRORS})
def get_company(request: HttpRequest, company_id: int) -> dict[str, Any]:
    return company_out(selectors.company_get(user=request.user, company_id=company_id))


@companies_router.patch("/{company_id}", response={200: CompanyOut, **ERRORS})
def update_company(request: HttpRequest, company_id: int, payload: CompanyPatch) -> dict[str, Any]:
    company = selectors.company_get(user=request.user, company_id=company_id)
    services.company_update(
        company=company, actor=api_actor(request), data=_clean_payload(payload, patch=True)
    )
    return company_out(selectors.company_get(user=request.user, company_id=company_id))


@companies_router.delete("/{company_id}", response={204: None, **ERRORS})
def delete_company(request: HttpRequest, company_id: int) -> Status[None]:
    company = selectors.company_get(user=request.user, company_id=company_id)
    services.company_delete(company=company, actor=api_actor(request))
    return Status(204, None)


@contacts_router.get("", response={200: ContactListOut, **ERRORS})
def list_contacts(
    request: HttpRequest,
    q: str | None = None,
    company: int | None = None,
    responsible: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    page = selectors.contact_list(
        user=request.user,
        q=q,
        company=company,
        responsible=responsible,
        cursor=cursor,
        limit=limit,
    )
    return {"items": [contact_out(c) for c in page.items], "next_cursor": page.next_cursor}


@contacts_router.post("", response={201: ContactOut, **ERRORS})
def create_contact(request: HttpRequest, payload: ContactIn) -> Status[dict[str, Any]]:
    contact = services.contact_create(
        actor=api_actor(request), data=_clean_payload(payload, patch=False)
    )
    return Status(201, contact_out(selectors.contact_get(user=request.user, contact_id=contact.pk)))


@contacts_router.get("/{contact_id}", response={200: ContactOut, **ERRORS})
def get_contact(request: HttpRequest, contact_id: int) -> dict[str, Any]:
    return contact_out(selectors.contact_get(user=request.user, contact_id=contact_id))


@contacts_router.patch("/{contact_id}", response={200: ContactOut, **ERRORS})
def update_contact(request: HttpRequest, contact_id: int, payload: ContactPatch) -> dict[str, Any]:
    contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    services.contact_update(
        contact=contact, actor=api_actor(request), data=_clean_payload(payload, patch=True)
    )
    return contact_out(selectors.contact_get(user=request.user, contact_id=contact_id))


@contacts_router.delete("/{contact_id}", response={204: None, **ERRORS})
def delete_contact(request: HttpRequest, contact_id: int) -> Status[None]:
    contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    services.contact_delete(contact=contact, actor=api_actor(request))
    return Status(204, None)
