"""The deal's input fields and how each is cleaned and resolved (company, contacts, stage)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from voronka.contacts.models import Company, Contact
from voronka.deals.inputs import DEAL
from voronka.deals.models import Deal, Stage
from voronka.identity.scopes import resolve_responsible, scope_filter
from voronka.kernel.actor import Actor
from voronka.kernel.currencies import clean_amount, clean_currency
from voronka.kernel.errors import ValidationError
from voronka.kernel.fields import FieldCleaner, to_id

# Derived from the one declaration (deals/inputs.py); kept as names for their importers.
DEAL_FIELDS = set(DEAL.fields)
UPDATABLE_DEAL_FIELDS = DEAL.keys(creating=False)
CREATE_DEAL_FIELDS = DEAL.keys(creating=True)
AUDITED = [
    "title",
    "amount",
    "currency",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "comment",
    "custom",
]


def _resolve_company(actor: Actor, raw: Any) -> Company:
    try:
        company_id = to_id(raw)
    except (TypeError, ValueError):
        raise ValueError(_("Укажите компанию")) from None
    qs = Company.objects.filter(pk=company_id)
    if actor.user is not None:
        qs = scope_filter(qs, actor.user, "company")
    company = qs.first()
    if company is None:
        raise ValueError(_("Нет такой компании или нет доступа к ней"))
    return company


def _resolve_contacts(actor: Actor, raw: Any) -> list[Contact]:
    if not isinstance(raw, list) or len(raw) > 100:
        raise ValueError(_("Ожидается список контактов"))
    try:
        ids = sorted({to_id(x) for x in raw})
    except (TypeError, ValueError):
        raise ValueError(_("Ожидается список номеров контактов")) from None
    if any(not 0 < pk < 2**63 for pk in ids):  # outside the id column: no such contact, not a 500
        raise ValueError(_("Нет таких контактов или нет доступа к ним"))
    qs = Contact.objects.filter(pk__in=ids)
    if actor.user is not None:
        qs = scope_filter(qs, actor.user, "contact")
    found = list(qs)
    if len(found) != len(ids):
        raise ValueError(_("Нет таких контактов или нет доступа к ним"))
    return found


def _clean_deal(data: Mapping[str, Any], actor: Actor, *, creating: bool) -> FieldCleaner:
    """THE cleaning of a deal's fields for create and update alike (only the keys differ)."""
    c = FieldCleaner(data, DEAL.keys(creating=creating))
    DEAL.clean_texts(c, creating=creating)
    c.apply("amount", clean_amount, allow_blank=False)
    c.apply("currency", clean_currency, allow_blank=False)
    c.apply("company", lambda v: _resolve_company(actor, v), allow_blank=False)
    c.apply("contacts", lambda v: _resolve_contacts(actor, v), allow_blank=False)
    if "responsible" in data:
        try:
            c.cleaned["responsible"] = resolve_responsible(actor.user, "deal", data["responsible"])
        except ValidationError as exc:
            c.errors.update(exc.errors)
    return c


def _resolve_stage(raw: Any, *, field: str = "stage") -> Stage:
    if isinstance(raw, Stage):
        return raw
    try:
        stage_id = to_id(raw)
    except (TypeError, ValueError):
        raise ValidationError({field: _("Укажите стадию")}) from None
    stage = Stage.objects.select_related("pipeline").filter(pk=stage_id).first()
    if stage is None:
        raise ValidationError({field: _("Нет такой стадии")})
    return stage


def _snapshot(deal: Deal) -> dict[str, Any]:
    data = {f: getattr(deal, f) for f in AUDITED}
    data.update(
        responsible=deal.responsible_id,
        company=deal.company_id,
        stage=deal.stage_id,
    )
    return data


def _event_payload(deal: Deal, **extra: Any) -> dict[str, Any]:
    payload = {
        "pipeline": deal.pipeline_id,
        "stage": deal.stage_id,
        "responsible": deal.responsible_id,
        "company": deal.company_id,
        "amount": deal.amount,
        "currency": deal.currency,  # an amount never travels without its currency
        "stage_entered_at": deal.stage_entered_at,
    }
    payload.update(extra)
    return payload
