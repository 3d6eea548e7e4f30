"""Reads of companies and contacts — always through the access scope."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from voronka.contacts.models import Company, Contact
from voronka.identity.models import User
from voronka.identity.scopes import scope_filter
from voronka.kernel.errors import NotFound, ValidationError

MAX_PAGE = 200


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


def company_list(
    *,
    user: User,
    q: str | None = None,
    type: str | None = None,
    responsible: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[Company]:
    qs = companies_visible(user).select_related("responsible")
    q = _check_q(q)
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        cond = Q(name__icontains=q) | Q(email__icontains=q)
        if len(digits) >= 5:
            cond |= Q(inn__startswith=digits) | Q(phone__contains=digits)
        qs = qs.filter(cond)
    if type:
        qs = qs.filter(type=type)
    if responsible:
        qs = qs.filter(responsible_id=responsible)
    if after:
        qs = qs.filter(pk__lt=after)
    limit = max(1, min(limit, MAX_PAGE))
    return list(qs.order_by("-id")[: limit + 1])


def contact_list(
    *,
    user: User,
    q: str | None = None,
    company: int | None = None,
    responsible: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[Contact]:
    qs = (
        contacts_visible(user)
        .select_related("company", "responsible")
        .prefetch_related("phones", "emails")
    )
    q = _check_q(q)
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        cond = (
            Q(last_name__icontains=q) | Q(first_name__icontains=q) | Q(emails__address__icontains=q)
        )
        if len(digits) >= 5:
            cond |= Q(phones__number__contains=digits)
        qs = qs.filter(cond).distinct()
    if company:
        qs = qs.filter(company_id=company)
    if responsible:
        qs = qs.filter(responsible_id=responsible)
    if after:
        qs = qs.filter(pk__lt=after)
    limit = max(1, min(limit, MAX_PAGE))
    return list(qs.order_by("-id")[: limit + 1])
