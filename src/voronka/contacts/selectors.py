"""Reads of companies and contacts — always through the access scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from voronka.contacts.models import (
    ClientEntity,
    Company,
    Contact,
    Merge,
)
from voronka.contacts.search import Found, find_companies, find_contacts
from voronka.identity.models import User
from voronka.identity.scopes import scope_filter
from voronka.kernel import dates
from voronka.kernel.errors import NotFound, ValidationError
from voronka.kernel.pagination import Page, keyset_page
from voronka.kernel.search import SearchTerms


def companies_visible(user: User) -> QuerySet[Company]:
    return scope_filter(Company.objects.all(), user, "company")


def contacts_visible(user: User) -> QuerySet[Contact]:
    return scope_filter(Contact.objects.all(), user, "contact")


def company_get(*, user: User, company_id: int) -> Company:
    company = (
        companies_visible(user)
        .select_related("responsible")
        .prefetch_related("addresses")
        .filter(pk=company_id)
        .first()
    )
    if company is None:
        raise NotFound(_("Компания не найдена"))
    return company


def contact_get(*, user: User, contact_id: int) -> Contact:
    contact = (
        contacts_visible(user)
        .select_related("company", "responsible")
        .prefetch_related("phones", "emails")
        .filter(pk=contact_id)
        .first()
    )
    if contact is None:
        raise NotFound(_("Контакт не найден"))
    return contact


def _check_q(q: str | None) -> str:
    q = (q or "").strip()
    if len(q) > 200:
        raise ValidationError({"q": _("Не длиннее 200 символов")})
    return q


# --- search: one rule for the header search, the lists' search boxes and the pickers ---------------
# (contacts.search: indexed candidates, ranked by kernel.search.match — decision 0019)

LIST_MATCHES = 200  # a list's `q` shows at most this many best matches (then its own order)


def company_search(*, user: User, terms: SearchTerms, limit: int = 5) -> list[Company]:
    """Visible companies matching `terms`, best first; limit + 1 rows (the caller shows "more"
    when it gets them all)."""
    return [f.obj for f in company_found(user=user, terms=terms, limit=limit)]


def company_found(*, user: User, terms: SearchTerms, limit: int = 5) -> list[Found]:
    """company_search with how each matched (the API's search)."""
    return find_companies(companies_visible(user), terms, limit)


def contact_search(*, user: User, terms: SearchTerms, limit: int = 5) -> list[Contact]:
    return [f.obj for f in contact_found(user=user, terms=terms, limit=limit)]


def contact_found(*, user: User, terms: SearchTerms, limit: int = 5) -> list[Found]:
    return find_contacts(contacts_visible(user), terms, limit)


def company_search_q(terms: SearchTerms, *, base: QuerySet[Company]) -> Q:
    """The companies of `base` that the search finds for `terms` (its LIST_MATCHES best)."""
    return Q(pk__in=[f.id for f in find_companies(base, terms, LIST_MATCHES)][:LIST_MATCHES])


def contact_search_q(terms: SearchTerms, *, base: QuerySet[Contact]) -> Q:
    return Q(pk__in=[f.id for f in find_contacts(base, terms, LIST_MATCHES)][:LIST_MATCHES])


def company_list(
    *,
    user: User,
    q: str | None = None,
    type: str | None = None,
    responsible: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
    metrics: CompanyMetrics | None = None,
    ordering: str | None = None,
) -> Page[Company]:
    # ltv_cells: the LTV per currency shown in the list (one query for the page).
    qs = companies_filtered(user=user, q=q, type=type, responsible=responsible, metrics=metrics)
    qs = qs.select_related("responsible").prefetch_related("ltv_cells")
    return keyset_page(qs, order=company_list_order(ordering), cursor=cursor, limit=limit)


# --- the client's numbers in the company list: filter and sort (seed 002) --------------------------

# ?ordering= of the company list and GET /api/v1/companies (each ends with the id: a keyset).
# The dates (last purchase / interaction) may be empty: a company without one counts as the
# longest ago (kernel.pagination places NULL first ascending, last descending).
COMPANY_ORDERINGS: dict[str, tuple[str, ...]] = {
    "-id": ("-id",),
    "id": ("id",),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "ltv": ("ltv", "id"),
    "-ltv": ("-ltv", "-id"),
    "deals_count": ("deals_count", "id"),
    "-deals_count": ("-deals_count", "-id"),
    "won_count": ("won_count", "id"),
    "-won_count": ("-won_count", "-id"),
    "last_purchase_at": ("last_purchase_at", "id"),
    "-last_purchase_at": ("-last_purchase_at", "-id"),
    "last_interaction_at": ("last_interaction_at", "id"),
    "-last_interaction_at": ("-last_interaction_at", "-id"),
}


def company_list_order(ordering: str | None) -> tuple[str, ...]:
    if not ordering:
        return COMPANY_LIST_ORDER
    if ordering not in COMPANY_ORDERINGS:
        raise ValidationError(
            {"ordering": _("Сортировка: %(names)s") % {"names": ", ".join(COMPANY_ORDERINGS)}}
        )
    return COMPANY_ORDERINGS[ordering]


@dataclass(frozen=True)
class CompanyMetrics:
    """Bounds on a company's numbers: LTV (main currency), deals, won deals, and the dates of
    the last purchase / interaction (before = strictly earlier; a company without one is not
    "before" anything)."""

    ltv_min: Decimal | None = None
    ltv_max: Decimal | None = None
    deals_min: int | None = None
    won_min: int | None = None
    last_interaction_before: dt.datetime | None = None
    last_interaction_after: dt.datetime | None = None
    last_purchase_before: dt.datetime | None = None
    last_purchase_after: dt.datetime | None = None

    FIELDS: ClassVar[dict[str, str]] = {
        "ltv_min": "ltv__gte",
        "ltv_max": "ltv__lte",
        "deals_min": "deals_count__gte",
        "won_min": "won_count__gte",
        "last_interaction_before": "last_interaction_at__lt",
        "last_interaction_after": "last_interaction_at__gte",
        "last_purchase_before": "last_purchase_at__lt",
        "last_purchase_after": "last_purchase_at__gte",
    }

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> CompanyMetrics:
        """From query parameters (text, or typed by the API); ValidationError naming each bad
        one. A date alone means its first moment in the current zone."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in cls.FIELDS:
            value = raw.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            try:
                values[name] = _metric(name, value)
            except ValidationError as exc:
                errors.update(exc.errors)
        if errors:
            raise ValidationError(errors)
        return cls(**values)

    def q(self) -> Q:
        return Q(
            **{
                lookup: getattr(self, name)
                for name, lookup in self.FIELDS.items()
                if getattr(self, name) is not None
            }
        )

    def as_params(self) -> dict[str, str]:
        out = {}
        for name in self.FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, dt.datetime) else str(value)
        return out


def _metric(name: str, value: Any) -> Any:
    if name.startswith("ltv"):
        try:
            amount = Decimal(str(value).strip().replace(" ", "").replace(",", "."))
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or abs(amount) >= Decimal(10) ** 14:
            raise ValidationError({name: _("Ожидается сумма, например 150000")})
        return amount
    if name.endswith("_min"):
        if isinstance(value, bool) or not str(value).strip().isdigit() or len(str(value)) > 9:
            raise ValidationError({name: _("Ожидается целое число не меньше 0")})
        return int(str(value).strip())
    if isinstance(value, dt.datetime):
        return dates.clamp_moment(
            value if not timezone.is_naive(value) else timezone.make_aware(value)
        )
    if isinstance(value, dt.date) or (isinstance(value, str) and len(value.strip()) == 10):
        return dates.day_start(dates.parse_day(value, field=name))
    return dates.clamp_moment(dates.parse_moment(value, field=name))


COMPANY_LIST_ORDER = ("-id",)
CONTACT_LIST_ORDER = ("-id",)


def companies_filtered(
    *,
    user: User,
    q: str | None = None,
    type: str | None = None,
    responsible: int | None = None,
    metrics: CompanyMetrics | None = None,
) -> QuerySet[Company]:
    """The visible companies the company list's filters keep (the list and its export)."""
    qs = companies_visible(user)
    if metrics is not None:
        qs = qs.filter(metrics.q())
    q = _check_q(q)
    if q:
        qs = qs.filter(company_search_q(SearchTerms.parse(q), base=companies_visible(user)))
    if type:
        qs = qs.filter(type=type)
    if responsible:
        qs = qs.filter(responsible_id=responsible)
    return qs


def contact_list(
    *,
    user: User,
    q: str | None = None,
    company: int | None = None,
    responsible: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Contact]:
    qs = contacts_filtered(user=user, q=q, company=company, responsible=responsible)
    qs = qs.select_related("company", "responsible").prefetch_related("phones", "emails")
    return keyset_page(qs, order=CONTACT_LIST_ORDER, cursor=cursor, limit=limit)


def contacts_filtered(
    *,
    user: User,
    q: str | None = None,
    company: int | None = None,
    responsible: int | None = None,
) -> QuerySet[Contact]:
    """The visible contacts the contact list's filters keep (the list and its export)."""
    qs = contacts_visible(user)
    q = _check_q(q)
    if q:
        qs = qs.filter(contact_search_q(SearchTerms.parse(q), base=contacts_visible(user)))
    if company:
        qs = qs.filter(company_id=company)
    if responsible:
        qs = qs.filter(responsible_id=responsible)
    return qs


PICKER_OPTIONS = 10


def company_picker_options(
    *, user: User, q: str = "", limit: int = PICKER_OPTIONS
) -> list[Company]:
    """What a company picker offers: the visible companies matching the typed text (the same
    rule as the search), or the newest visible ones before anything is typed."""
    terms = SearchTerms.parse(q)
    if terms.is_empty:
        qs = companies_visible(user).only("id", "name", "type", "inn").order_by("-id")
        return list(qs[:limit])
    return company_search(user=user, terms=terms, limit=limit)[:limit]


def contact_picker_options(
    *, user: User, q: str = "", limit: int = PICKER_OPTIONS
) -> list[Contact]:
    """What a contact picker offers for the typed text (name, phone in any format or its last
    digits, e-mail — the search's rule), best first, with each one's company and phones; nothing
    before anything is typed (a person is looked for, not browsed)."""
    terms = SearchTerms.parse(q)
    if terms.is_empty:
        return []
    ids = [c.pk for c in contact_search(user=user, terms=terms, limit=limit)[:limit]]
    loaded = Contact.objects.filter(pk__in=ids).select_related("company").prefetch_related("phones")
    by_id = {c.pk: c for c in loaded}
    return [by_id[pk] for pk in ids if pk in by_id]


def company_name(*, user: User, company_id: int | None) -> str:
    """The name of a visible company ("" when there is none or the user may not see it)."""
    if not company_id:
        return ""
    qs = companies_visible(user).filter(pk=company_id).values_list("name", flat=True)
    return qs.first() or ""


# --- merges (contacts.merge) ---------------------------------------------------------------------

MERGE_LIST_ORDER = ("-id",)


def merges_visible(user: User, entity: str) -> QuerySet[Merge]:
    """Merges of `entity` whose kept record the user sees (the history and its undo)."""
    if entity not in ClientEntity.values:
        raise ValidationError({"entity": _("Ожидается contact или company")})
    visible = companies_visible(user) if entity == ClientEntity.COMPANY else contacts_visible(user)
    return Merge.objects.filter(entity=entity, kept_id__in=visible.values("pk"))


def merge_list(
    *, user: User, entity: str, kept: int | None = None, cursor: str | None = None, limit: int = 50
) -> Page[Merge]:
    qs = merges_visible(user, entity).select_related("by", "undone_by")
    if kept is not None:
        qs = qs.filter(kept_id=kept)
    return keyset_page(qs, order=MERGE_LIST_ORDER, cursor=cursor, limit=limit)


def merge_get(*, user: User, entity: str, merge_id: int) -> Merge:
    merge = merges_visible(user, entity).filter(pk=merge_id).first()
    if merge is None:
        raise NotFound(_("Объединение не найдено"))
    return merge


def merge_merged_titles(merge: Merge) -> list[tuple[int, str]]:
    """(id, name) of each merged record, from the rows the merge kept for its undo."""
    out = []
    for row in merge.undo.get("merged", []):
        f = row.get("fields", {})
        name = f.get("name") or " ".join(
            p for p in (f.get("last_name"), f.get("first_name"), f.get("middle_name")) if p
        )
        out.append((row.get("pk"), name))
    return out


def merge_summary(entity: str, ids: list[int]) -> list[tuple[str, int]]:
    """What a merge of `ids` would move, per kind of link ("Сделки", 3), for the merge screen
    (only kinds with something to move). The caller has checked the user sees `ids`."""
    from voronka.contacts.relinks import relinkers

    out = []
    for relinker in relinkers(entity):
        if relinker.count is not None:
            n = relinker.count(ids)
            if n:
                out.append((str(relinker.label), n))
    return out
