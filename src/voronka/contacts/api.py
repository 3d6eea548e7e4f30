"""Companies and contacts over HTTP: parse → authorize → call → serialize."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from django.db.models import prefetch_related_objects
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Router, Status

from voronka.contacts import duplicate_selectors, merge, selectors, services
from voronka.contacts.models import Company, Contact, DuplicateGroup, DuplicateScan, Merge
from voronka.contacts.schemas import (
    CompanyIn,
    CompanyListOut,
    CompanyMergeOut,
    CompanyOut,
    CompanyPatch,
    ContactIn,
    ContactListOut,
    ContactMergeOut,
    ContactOut,
    ContactPatch,
    DuplicateCheckOut,
    DuplicateGroupOut,
    DuplicateListOut,
    DuplicateScanOut,
    MergeIn,
    MergeListOut,
    MergeOut,
)
from voronka.kernel.errors import ValidationError
from voronka.kernel.phoneinfo import phone_info
from voronka.kernel.schemas import ERRORS
from voronka.web.http import api_actor

OnDuplicate = Literal["refuse", "use", "create"]
CreateOnDuplicate = Literal["refuse", "create"]

companies_router = Router(tags=["companies"])
contacts_router = Router(tags=["contacts"])


def phone_out(number: str) -> dict[str, Any]:
    return phone_info(number, translation.get_language()).as_dict()


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
        "phone_info": phone_out(c.phone) if c.phone else None,
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
        "deals_count": c.deals_count,
        "won_count": c.won_count,
        "first_purchase_at": c.first_purchase_at,
        "last_purchase_at": c.last_purchase_at,
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
        "phones": [phone_out(p.number) for p in c.phones.all()],
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
    if data.get("phones") is not None:  # strings, or the objects the API answers with
        data["phones"] = [dict(p) if isinstance(p, Mapping) else p for p in data["phones"]]
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


@companies_router.get(
    "",
    response={200: CompanyListOut, **ERRORS},
    description=(
        "ordering: -id (default), id, name, -name, ltv, -ltv, deals_count, -deals_count, "
        "won_count, -won_count, last_purchase_at, -last_purchase_at, last_interaction_at, "
        "-last_interaction_at (a company with no purchase / interaction counts as the longest "
        "ago: first ascending, last descending). Filters by the client's numbers: ltv_min / ltv_max (main "
        "currency), deals_min, won_min, last_interaction_before / _after, last_purchase_before / "
        "_after (a date YYYY-MM-DD or a date-time; before = strictly earlier, a company without "
        "one is not before anything)."
    ),
)
def list_companies(
    request: HttpRequest,
    q: str | None = None,
    type: str | None = None,
    responsible: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
    ordering: str | None = None,
    ltv_min: str | None = None,
    ltv_max: str | None = None,
    deals_min: str | None = None,
    won_min: str | None = None,
    last_interaction_before: str | None = None,
    last_interaction_after: str | None = None,
    last_purchase_before: str | None = None,
    last_purchase_after: str | None = None,
) -> dict[str, Any]:
    metrics = selectors.CompanyMetrics.parse(
        {
            "ltv_min": ltv_min,
            "ltv_max": ltv_max,
            "deals_min": deals_min,
            "won_min": won_min,
            "last_interaction_before": last_interaction_before,
            "last_interaction_after": last_interaction_after,
            "last_purchase_before": last_purchase_before,
            "last_purchase_after": last_purchase_after,
        }
    )
    page = selectors.company_list(
        user=request.user,
        q=q,
        type=type,
        responsible=responsible,
        cursor=cursor,
        limit=limit,
        metrics=metrics,
        ordering=ordering,
    )
    prefetch_related_objects(page.items, "addresses")
    return {"items": [company_out(c) for c in page.items], "next_cursor": page.next_cursor}


@companies_router.post("", response={201: CompanyOut, **ERRORS})
def create_company(
    request: HttpRequest, payload: CompanyIn, on_duplicate: CreateOnDuplicate = "refuse"
) -> Status[dict[str, Any]]:
    """A company whose INN, phone or e-mail is already a company's: `refuse` (409 `duplicate`
    with the existing one) or `create` (a second one: a branch with the same INN)."""
    company = services.company_create(
        check_duplicates=on_duplicate == "refuse",
        actor=api_actor(request),
        data=_clean_payload(payload, patch=False),
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


@contacts_router.post("", response={200: ContactOut, 201: ContactOut, **ERRORS})
def create_contact(
    request: HttpRequest, payload: ContactIn, on_duplicate: OnDuplicate = "refuse"
) -> Status[dict[str, Any]]:
    """A contact whose phone or e-mail is already a contact's: `refuse` (409 `duplicate` with
    the existing one), `use` (200 with the existing one), `create` (201, a second one)."""
    actor, data = api_actor(request), _clean_payload(payload, patch=False)
    if on_duplicate == "use":
        contact, created = services.contact_find_or_create(actor=actor, data=data)
    else:
        contact = services.contact_create(
            actor=actor, data=data, check_duplicates=on_duplicate == "refuse"
        )
        created = True
    out = contact_out(selectors.contact_get(user=request.user, contact_id=contact.pk))
    return Status(201 if created else 200, out)


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


# --- merges (contacts.merge) -----------------------------------------------------------------------

# Mounted at /api/v1 before the companies and contacts routers: their /{id} routes would
# otherwise take /companies/merge.
merges_router = Router(tags=["merges"])


def merge_out(m: Merge) -> dict[str, Any]:
    return {
        "id": m.pk,
        "entity": m.entity,
        "kept": m.kept_id,
        "merged": m.merged_ids,
        "fields": m.fields,
        "at": m.at,
        "by": m.by_id,
        "undone_at": m.undone_at,
        "undone_by": m.undone_by_id,
    }


@merges_router.post("/companies/merge", response={200: CompanyMergeOut, **ERRORS})
def merge_companies(request: HttpRequest, payload: MergeIn) -> dict[str, Any]:
    record, kept = merge.company_merge(
        actor=api_actor(request),
        keep_id=payload.keep,
        merge_ids=payload.merge,
        fields=payload.fields,
    )
    company = selectors.company_get(user=request.user, company_id=kept.pk)
    return {"merge": merge_out(record), "company": company_out(company)}


@merges_router.post("/contacts/merge", response={200: ContactMergeOut, **ERRORS})
def merge_contacts(request: HttpRequest, payload: MergeIn) -> dict[str, Any]:
    record, kept = merge.contact_merge(
        actor=api_actor(request),
        keep_id=payload.keep,
        merge_ids=payload.merge,
        fields=payload.fields,
    )
    contact = selectors.contact_get(user=request.user, contact_id=kept.pk)
    return {"merge": merge_out(record), "contact": contact_out(contact)}


@merges_router.get("/merges", response={200: MergeListOut, **ERRORS})
def list_merges(
    request: HttpRequest,
    entity: str,
    kept: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    page = selectors.merge_list(
        user=request.user, entity=entity, kept=kept, cursor=cursor, limit=limit
    )
    return {"items": [merge_out(m) for m in page.items], "next_cursor": page.next_cursor}


@merges_router.post("/merges/{merge_id}/undo", response={200: MergeOut, **ERRORS})
def undo_merge(request: HttpRequest, merge_id: int) -> dict[str, Any]:
    return merge_out(merge.merge_undo(actor=api_actor(request), merge_id=merge_id))


# --- duplicate control ---------------------------------------------------------------------------

duplicates_router = Router(tags=["duplicates"])


def group_out(group: DuplicateGroup, records: dict[int, Any]) -> dict[str, Any]:
    return {
        "id": group.pk,
        "entity": group.entity,
        "ids": group.ids,
        "score": round(group.score, 3),
        "matched": group.matched,
        "status": group.status,
        "found_at": group.found_at,
        "records": [
            {
                "id": i,
                "label": duplicate_selectors.label_of(records[i]),
                "responsible": str(records[i].responsible),
            }
            for i in group.ids
            if i in records
        ],
    }


def scan_out(scan: DuplicateScan) -> dict[str, Any]:
    return {
        "id": scan.pk,
        "entity": scan.entity,
        "status": scan.status,
        "started_at": scan.started_at,
        "finished_at": scan.finished_at,
        "records": scan.records,
        "total": scan.total,
        "groups": scan.groups,
        "peak_memory_kb": scan.peak_memory_kb,
        "error": scan.error,
    }


@duplicates_router.get("", response={200: DuplicateListOut, **ERRORS})
def list_duplicates(
    request: HttpRequest,
    entity: str = "contact",
    status: str = "open",
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    """The duplicate groups the last scan found (best score first), those the caller sees whole."""
    groups, next_offset = duplicate_selectors.duplicate_groups(
        user=request.user, entity=entity, status=status, offset=offset, limit=limit
    )
    records = duplicate_selectors.group_records(groups, entity)
    return {"items": [group_out(g, records) for g in groups], "next_offset": next_offset}


@duplicates_router.get("/check", response={200: DuplicateCheckOut, **ERRORS})
def check_duplicates(
    request: HttpRequest,
    phone: str = "",
    email: str = "",
    inn: str = "",
    name: str = "",
    birthday: dt.date | None = None,
    entity: str | None = None,
) -> dict[str, Any]:
    """Candidates for a new record: exact ones (same phone, e-mail, INN) first, then similar."""
    data = {"phone": phone, "email": email, "inn": inn, "name": name, "birthday": birthday}
    found = duplicate_selectors.duplicate_check(user=request.user, data=data, entity=entity)
    return {"candidates": found}


@duplicates_router.post("/{group_id}/dismiss", response={200: DuplicateGroupOut, **ERRORS})
def dismiss_duplicates(request: HttpRequest, group_id: int) -> dict[str, Any]:
    """ "Not duplicates": the group stays dismissed in later scans (same members)."""
    group = services.duplicate_group_dismiss(actor=api_actor(request), group_id=group_id)
    return group_out(group, duplicate_selectors.group_records([group], group.entity))


@duplicates_router.post("/scan", response={202: DuplicateScanOut, **ERRORS})
def start_scan(request: HttpRequest, entity: str = "contact") -> Status[dict[str, Any]]:
    """Start a full scan in the worker; poll GET /duplicates/scans/{id} for its progress."""
    scan = services.duplicates_scan_request(actor=api_actor(request), entity=entity)
    return Status(202, scan_out(scan))


@duplicates_router.get("/scans/{scan_id}", response={200: DuplicateScanOut, **ERRORS})
def get_scan(request: HttpRequest, scan_id: int) -> dict[str, Any]:
    return scan_out(duplicate_selectors.scan_get(scan_id=scan_id))
