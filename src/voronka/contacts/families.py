"""Families (seed 002): private persons living at one address become one client — a company of
type family. Suggested from the companies' normalized addresses (ClientKey kind "address",
contacts.keys.address_key), confirmed by a person, never automatic.

`family_suggestions` reads the groups the user may see; `family_merge` moves the chosen contacts
into one family company (an existing one of the group, or a new one with the address as its
home address) through `contact_update` — each move audited, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from voronka.contacts.keys import address_key
from voronka.contacts.models import (
    ClientEntity,
    ClientKey,
    Company,
    CompanyAddress,
    CompanyType,
    Contact,
    KeyKind,
)
from voronka.contacts.services import company_create, contact_update
from voronka.identity.models import User
from voronka.identity.permissions import acting_user
from voronka.identity.scopes import scope_filter
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit
from voronka.kernel.errors import NotFound, ValidationError
from voronka.kernel.fields import to_id_or_none

GROUPS_SHOWN = 50
GROUP_MAX_COMPANIES = 20  # a larger "family" is an apartment block or a typo in the address


@dataclass
class FamilyGroup:
    key: str  # the normalized address (ClientKey.key)
    address: str  # as one of the companies wrote it
    companies: list[Company] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)

    @property
    def contact_ids(self) -> list[int]:
        return [c.pk for c in self.contacts]

    @property
    def suggested_target(self) -> Company | None:
        """The family company the others join: the one with the most contacts."""
        counts = {c.pk: 0 for c in self.companies}
        for contact in self.contacts:
            counts[contact.company_id] = counts.get(contact.company_id, 0) + 1
        best = max(self.companies, key=lambda c: (counts.get(c.pk, 0), -c.pk), default=None)
        return best


def _family_companies(user: User) -> QuerySet[Company]:
    return scope_filter(Company.objects.filter(type=CompanyType.FAMILY), user, "company")


def family_suggestions(*, user: User, limit: int = GROUPS_SHOWN) -> list[FamilyGroup]:
    """Addresses shared by two or more family companies the user sees, whose contacts are not
    yet in one company: each a suggested family (largest first)."""
    visible = _family_companies(user).values("id")
    shared = (
        ClientKey.objects.filter(
            entity=ClientEntity.COMPANY, kind=KeyKind.ADDRESS, object_id__in=visible
        )
        .values("key")
        .annotate(n=Count("object_id", distinct=True))
        .filter(n__gte=2, n__lte=GROUP_MAX_COMPANIES)
        .order_by("-n", "key")[: limit * 2]
    )
    keys = [row["key"] for row in shared]
    if not keys:
        return []
    rows = ClientKey.objects.filter(
        entity=ClientEntity.COMPANY, kind=KeyKind.ADDRESS, key__in=keys, object_id__in=visible
    ).values_list("key", "object_id")
    ids_by_key: dict[str, list[int]] = {}
    for key, object_id in rows:
        ids_by_key.setdefault(key, []).append(object_id)
    all_ids = {i for ids in ids_by_key.values() for i in ids}
    companies = {
        c.pk: c for c in Company.objects.filter(pk__in=all_ids).prefetch_related("addresses")
    }
    contacts_by_company: dict[int, list[Contact]] = {}
    contacts = scope_filter(Contact.objects.filter(company_id__in=all_ids), user, "contact")
    for contact in contacts.prefetch_related("phones").order_by("last_name", "first_name", "id"):
        contacts_by_company.setdefault(contact.company_id, []).append(contact)
    groups: list[FamilyGroup] = []
    for key in keys:
        members = [companies[i] for i in sorted(ids_by_key.get(key, [])) if i in companies]
        with_contacts = [c for c in members if contacts_by_company.get(c.pk)]
        if len(with_contacts) < 2:  # already one family (or nobody to move)
            continue
        text = next(
            (a.text for c in members for a in c.addresses.all() if address_key(a.text) == key),
            key,
        )
        groups.append(
            FamilyGroup(
                key=key,
                address=text,
                companies=with_contacts,
                contacts=[p for c in with_contacts for p in contacts_by_company[c.pk]],
            )
        )
        if len(groups) >= limit:
            break
    return groups


@transaction.atomic
def family_merge(
    *,
    actor: Actor,
    contact_ids: Sequence[object],
    target: object = None,
    name: str = "",
    address: str = "",
) -> Company:
    """Move the contacts into one family company: `target` (the id of a family company the actor
    may change) or, when it is empty, a new family named `name` (default «Семья <фамилия>») with
    `address` as its home address. Each contact moves through contact_update (scope, version,
    audit, event); the family company gets an audit row listing who joined."""
    user = acting_user(actor)  # 403 for an actor who may not act; None: the system
    ids = [to_id_or_none(i) for i in contact_ids]
    if not ids or any(i is None for i in ids) or len(set(ids)) != len(ids):
        raise ValidationError({"contacts": _("Выберите контакты семьи")})
    if len(ids) > 100:
        raise ValidationError({"contacts": _("Не больше 100 контактов за раз")})
    contacts = list(Contact.objects.filter(pk__in=ids).order_by("last_name", "first_name", "id"))
    if user is not None:
        visible = set(
            scope_filter(Contact.objects.filter(pk__in=ids), user, "contact").values_list(
                "pk", flat=True
            )
        )
        contacts = [c for c in contacts if c.pk in visible]
    if len(contacts) != len(ids):  # outside the scope a contact does not exist
        raise NotFound(_("Контакт не найден"))
    family: Company | None = None
    target_id = to_id_or_none(target) if target not in (None, "", "new") else None
    if target not in (None, "", "new") and target_id is None:
        raise ValidationError({"company": _("Укажите компанию-семью")})
    if target_id is not None:
        qs = Company.objects.filter(pk=target_id, type=CompanyType.FAMILY)
        if user is not None:
            qs = scope_filter(qs, user, "company")
        family = qs.first()
        if family is None:
            raise ValidationError({"company": _("Нет такой семьи или нет доступа к ней")})
    else:
        surname = next((c.last_name for c in contacts if c.last_name), contacts[0].first_name)
        data: dict[str, object] = {
            "name": (name or "").strip() or _("Семья %(name)s") % {"name": surname},
            "type": CompanyType.FAMILY,
        }
        lead = contacts[0]
        if lead.responsible.is_active or user is None:  # else the actor's (a deactivated one
            data["responsible"] = lead.responsible_id  # cannot be given a new client)
        if address.strip():
            data["addresses"] = [{"kind": CompanyAddress.Kind.HOME, "text": address.strip()}]
        family = company_create(actor=actor, data=data)
    moved = []
    for contact in contacts:
        if contact.company_id != family.pk:
            contact_update(contact=contact, actor=actor, data={"company": family.pk})
            moved.append(contact.pk)
    if moved:
        audit(
            actor=actor,
            obj=family,
            action="family_merged",
            changes={"contacts": [None, moved]},
        )
    return family
