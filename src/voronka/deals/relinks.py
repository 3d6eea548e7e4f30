"""Deals of merged clients move to the kept one (contacts.relinks; decision 0021): a merged
company's deals (Deal.company, each deal's version bumped, the companies' LTV and deal counters
recomputed) and a merged contact's place in deals (Deal.contacts)."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils.translation import gettext_lazy as _lazy

from voronka.contacts.relinks import column_relinker, register
from voronka.deals.counters import company_counters_recompute
from voronka.deals.models import Deal

column_relinker(
    "company",
    "deals",
    model=Deal,
    column="company_id",
    label=_lazy("Сделки"),
    versioned=True,
    after=company_counters_recompute,
    order=20,
)

Through = Deal.contacts.through


def _contact_relink(kept_id: int, merged_ids: list[int]) -> dict[str, Any]:
    """Each (deal, merged contact) link becomes (deal, kept contact) — dropped where the deal
    already has the kept one. Records per link whether the kept one was added."""
    rows = list(
        Through.objects.filter(contact_id__in=merged_ids)
        .order_by("deal_id", "contact_id")
        .values_list("deal_id", "contact_id")
    )
    if not rows:
        return {"links": [], "versions": {}}
    deal_ids = sorted({d for d, _c in rows})
    has_kept = set(
        Through.objects.filter(contact_id=kept_id, deal_id__in=deal_ids).values_list(
            "deal_id", flat=True
        )
    )
    links: list[list[int]] = []  # [deal, merged contact, 1 if the kept contact was added]
    added: set[int] = set()
    for deal_id, contact_id in rows:
        add = deal_id not in has_kept and deal_id not in added
        links.append([deal_id, contact_id, int(add)])
        if add:
            added.add(deal_id)
    Through.objects.filter(contact_id__in=merged_ids).delete()
    Through.objects.bulk_create(Through(deal_id=d, contact_id=kept_id) for d in sorted(added))
    Deal.objects.filter(pk__in=deal_ids).update(version=F("version") + 1)
    versions = dict(Deal.objects.filter(pk__in=deal_ids).values_list("pk", "version"))
    return {"links": links, "versions": {str(k): v for k, v in versions.items()}}


def _contact_changed(kept_id: int, data: dict[str, Any]) -> bool:
    versions = {int(k): v for k, v in data["versions"].items()}
    now = dict(Deal.objects.filter(pk__in=list(versions)).values_list("pk", "version"))
    return now != versions


def _contact_undo(kept_id: int, data: dict[str, Any]) -> None:
    links = data["links"]
    if not links:
        return
    added = [deal_id for deal_id, _c, add in links if add]
    Through.objects.filter(contact_id=kept_id, deal_id__in=added).delete()
    Through.objects.bulk_create(Through(deal_id=d, contact_id=c) for d, c, _a in links)
    Deal.objects.filter(pk__in=[int(k) for k in data["versions"]]).update(version=F("version") - 1)


register(
    "contact",
    "deals",
    label=_lazy("Сделки"),
    relink=_contact_relink,
    undo=_contact_undo,
    changed=_contact_changed,
    count=lambda ids: (
        Through.objects.filter(contact_id__in=ids).values("deal_id").distinct().count()
    ),
    order=20,
)
