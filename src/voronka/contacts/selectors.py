"""Reads of companies and contacts — always through the access scope."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from voronka.contacts.models import Company, Contact, ContactEmail, ContactPhone
from voronka.identity.models import User
from voronka.identity.scopes import scope_filter
from voronka.kernel.errors import NotFound, ValidationError
from voronka.kernel.pagination import Page, keyset_page
from voronka.kernel.search import SearchTerms, phone_part_q, words_q


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


# --- search: one rule for the header search and the lists' search boxes ----------------------------


def company_search_q(terms: SearchTerms) -> Q:
    """A company by its name (every word), its INN (whole: exact, indexed; 5+ digits: prefix), its
    phone (a whole number normalized to E.164: exact, indexed; fewer digits: part) or e-mail."""
    if terms.is_empty:
        return Q()
    cond = words_q(["name"], terms.words)
    if terms.inn:
        cond |= Q(inn=terms.inn)
    elif terms.digits:
        cond |= Q(inn__startswith=terms.digits)
    if terms.phone:
        cond |= Q(phone=terms.phone)
    elif terms.digits:
        cond |= phone_part_q("phone", terms)
    if terms.email:
        cond |= Q(email=terms.email)
    elif len(terms.words) == 1 and len(terms.text) >= 3:
        cond |= Q(email__icontains=terms.text)
    return cond


def contact_search_q(terms: SearchTerms) -> Q:
    """A contact by name (every word in the last, first or middle name), phone (a whole number
    in any format → E.164: exact, indexed; 5+ digits: part) or e-mail (whole: exact, indexed)."""
    if terms.is_empty:
        return Q()
    cond = words_q(["last_name", "first_name", "middle_name"], terms.words)
    if terms.phone:
        cond |= Q(pk__in=ContactPhone.objects.filter(number=terms.phone).values("contact_id"))
    elif terms.digits:
        cond |= Q(
            pk__in=ContactPhone.objects.filter(phone_part_q("number", terms)).values("contact_id")
        )
    if terms.email:
        cond |= Q(pk__in=ContactEmail.objects.filter(address=terms.email).values("contact_id"))
    elif len(terms.words) == 1 and len(terms.text) >= 3:
        cond |= Q(
            pk__in=ContactEmail.objects.filter(address__icontains=terms.text).values("contact_id")
        )
    return cond


def company_search(*, user: User, terms: SearchTerms, limit: int = 5) -> list[Company]:
    """Visible companies matching `terms`, names in order; limit + 1 rows (the caller shows
    "more" when it gets them all)."""
    if terms.is_empty:
        return []
    qs = companies_visible(user).filter(company_search_q(terms))
    return list(qs.only("id", "name", "type", "inn", "phone").order_by("name", "id")[: limit + 1])


def contact_search(*, user: User, terms: SearchTerms, limit: int = 5) -> list[Contact]:
    if terms.is_empty:
        return []
    qs = (
        contacts_visible(user)
        .filter(contact_search_q(terms))
        .select_related("company")
        .prefetch_related("phones", "emails")
    )
    return list(qs.order_by("last_name", "first_name", "id")[: limit + 1])


def company_list(
    *,
    user: User,
    q: str | None = None,
    type: str | None = None,
    responsible: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Company]:
    # ltv_cells: the LTV per currency shown in the list (one query for the page).
    qs = companies_visible(user).select_related("responsible").prefetch_related("ltv_cells")
    q = _check_q(q)
    if q:
        qs = qs.filter(company_search_q(SearchTerms.parse(q)))
    if type:
        qs = qs.filter(type=type)
    if responsible:
        qs = qs.filter(responsible_id=responsible)
    return keyset_page(qs, order=("-id",), cursor=cursor, limit=limit)


def contact_list(
    *,
    user: User,
    q: str | None = None,
    company: int | None = None,
    responsible: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Contact]:
    qs = (
        contacts_visible(user)
        .select_related("company", "responsible")
        .prefetch_related("phones", "emails")
    )
    q = _check_q(q)
    if q:
        qs = qs.filter(contact_search_q(SearchTerms.parse(q)))
    if company:
        qs = qs.filter(company_id=company)
    if responsible:
        qs = qs.filter(responsible_id=responsible)
    return keyset_page(qs, order=("-id",), cursor=cursor, limit=limit)


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


def company_name(*, user: User, company_id: int | None) -> str:
    """The name of a visible company ("" when there is none or the user may not see it)."""
    if not company_id:
        return ""
    qs = companies_visible(user).filter(pk=company_id).values_list("name", flat=True)
    return qs.first() or ""
