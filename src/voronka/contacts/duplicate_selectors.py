"""Reads of duplicate control, through the access scope: the check of a record being entered,
the groups the scan found, the scans' progress.

A candidate outside the user's scope is still reported (a manager must learn that the client
is already someone else's, seed 001) but only as "exists, responsible: …": no id, no name, no
fields (decision 0023). A group is listed to a user who sees every record in it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Model
from django.utils.translation import gettext as _

from voronka.contacts.dedup import Candidate, Key, company_keys, contact_keys, find_candidates
from voronka.contacts.models import (
    ClientEntity,
    Company,
    Contact,
    DuplicateGroup,
    DuplicateScan,
)
from voronka.identity.models import User
from voronka.identity.scopes import scope_filter, visible_user_ids
from voronka.kernel.errors import NotFound, ValidationError
from voronka.kernel.normalize import (
    clean_text,
    normalize_birthday,
    normalize_email,
    normalize_inn,
    normalize_phone,
)

MODELS: dict[str, type[Contact] | type[Company]] = {
    ClientEntity.CONTACT: Contact,
    ClientEntity.COMPANY: Company,
}


def check_entity(raw: Any) -> str:
    if raw not in ClientEntity.values:
        raise ValidationError({"entity": _("Ожидается contact или company")})
    return str(raw)


def label_of(obj: Model) -> str:
    return obj.full_name if isinstance(obj, Contact) else str(obj)


@dataclass
class CheckInput:
    """What a person typed so far, normalized; a field that does not parse yet is ignored
    (the form shows its own error), so the check never refuses a half-typed phone."""

    name: str = ""
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    inn: str = ""
    birthday: dt.date | None = None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> CheckInput:
        def many(key: str, normalizer: Any) -> tuple[str, ...]:
            raw = data.get(key)
            values = raw if isinstance(raw, list | tuple) else [raw]
            result = []
            for value in values[:20]:
                if not isinstance(value, str) or not value.strip():
                    continue
                try:
                    result.append(normalizer(value))
                except ValueError:
                    continue
            return tuple(result)

        def text(key: str) -> str:
            value = data.get(key)
            if value is None:
                return ""
            if not isinstance(value, str):
                raise ValidationError({key: _("Ожидается строка")})
            if len(value) > 300:
                raise ValidationError({key: _("Не длиннее %(n)s символов") % {"n": 300}})
            return clean_text(value)

        birthday = None
        if data.get("birthday"):
            try:
                birthday = normalize_birthday(data["birthday"])
            except ValueError:
                birthday = None
        inn = many("inn", normalize_inn)
        return cls(
            name=text("name"),
            last_name=text("last_name"),
            first_name=text("first_name"),
            middle_name=text("middle_name"),
            phones=many("phone", normalize_phone) + many("phones", normalize_phone),
            emails=many("email", normalize_email) + many("emails", normalize_email),
            inn=inn[0] if inn else "",
            birthday=birthday,
        )

    @property
    def is_empty(self) -> bool:
        return (
            not (self.name or self.last_name or self.first_name or self.phones or self.emails)
            and not self.inn
        )

    def keys(self, entity: str) -> list[Key]:
        if entity == ClientEntity.CONTACT:
            return contact_keys(
                last_name=self.last_name or self.name,
                first_name=self.first_name,
                middle_name=self.middle_name,
                birthday=self.birthday,
                phones=self.phones,
                emails=self.emails,
            )
        return company_keys(
            name=self.name,
            inn=self.inn,
            phone=self.phones[0] if self.phones else "",
            email=self.emails[0] if self.emails else "",
        )


def _visible_ids(user: User, entity: str, ids: Sequence[int]) -> set[int]:
    if visible_user_ids(user, entity) is None:  # sees everything: no query
        return set(ids)
    model = MODELS[entity]
    qs = scope_filter(model.objects.filter(pk__in=list(ids)), user, entity)
    return set(qs.values_list("pk", flat=True))


def candidates_out(user: User, entity: str, found: Sequence[Candidate]) -> list[dict[str, Any]]:
    """The candidates as a user may see them: visible ones with their label, link fields and
    responsible; the others masked to "exists, responsible: …"."""
    if not found:
        return []
    model = MODELS[entity]
    rows = {
        obj.pk: obj
        for obj in model.objects.filter(pk__in=[c.id for c in found]).select_related("responsible")
    }
    visible = _visible_ids(user, entity, list(rows))
    result = []
    for candidate in found:
        obj = rows.get(candidate.id)
        if obj is None:
            continue
        responsible = obj.responsible.get_full_name() or obj.responsible.username
        item: dict[str, Any] = {
            "entity": entity,
            "score": round(candidate.score, 3),
            "matched": candidate.matched,
            "exact": candidate.exact,
            "responsible": responsible,
            "visible": candidate.id in visible,
        }
        if candidate.id in visible:
            item.update(id=candidate.id, label=label_of(obj))
        else:
            item.update(id=None, label=_("Клиент другого менеджера"))
        result.append(item)
    return result


def duplicate_check(
    *, user: User, data: dict[str, Any], entity: str | None = None, exclude: int | None = None
) -> list[dict[str, Any]]:
    """Candidates for a record being entered: contacts and/or companies (`entity`), exact ones
    first. Bounded work whatever the size of the base (dedup.lookup)."""
    check = CheckInput.parse(data)
    if check.is_empty:
        return []
    entities = [check_entity(entity)] if entity else list(ClientEntity.values)
    result: list[dict[str, Any]] = []
    for name in entities:
        found = find_candidates(name, check.keys(name), exclude=exclude)
        result += candidates_out(user, name, found)
    result.sort(key=lambda c: (not c["exact"], -c["score"]))
    return result


# --- the groups the scan found -------------------------------------------------------------------


def _group_visible(user: User, entity: str, groups: Sequence[DuplicateGroup]) -> list[bool]:
    if visible_user_ids(user, entity) is None:  # sees everything: no query
        return [True] * len(groups)
    ids = {i for g in groups for i in g.ids}
    visible = _visible_ids(user, entity, list(ids))
    return [all(i in visible for i in g.ids) for g in groups]


def duplicate_groups(
    *,
    user: User,
    entity: str,
    status: str = DuplicateGroup.Status.OPEN,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[DuplicateGroup], int | None]:
    """A page of the groups the user sees whole, best score first; the next offset or None.
    Groups with a record outside the scope are skipped (the page may read further)."""
    entity = check_entity(entity)
    if status not in DuplicateGroup.Status.values:
        raise ValidationError({"status": _("Ожидается open, dismissed или merged")})
    if not 1 <= limit <= 200:
        raise ValidationError({"limit": _("От 1 до 200")})
    if offset < 0:
        raise ValidationError({"offset": _("Не меньше 0")})
    qs = DuplicateGroup.objects.filter(entity=entity, status=status).order_by("-score", "id")
    page: list[DuplicateGroup] = []
    position = offset
    while len(page) < limit:
        chunk = list(qs[position : position + limit * 2])
        if not chunk:
            return page, None
        for group, ok in zip(chunk, _group_visible(user, entity, chunk), strict=True):
            position += 1
            if ok:
                page.append(group)
                if len(page) == limit:
                    break
    return page, position


def group_records(groups: Sequence[DuplicateGroup], entity: str) -> dict[int, Model]:
    """The records of the groups of a page, in one query (deleted ones are missing)."""
    ids = list({i for g in groups for i in g.ids})
    if entity == ClientEntity.CONTACT:
        contacts = Contact.objects.filter(pk__in=ids).select_related("responsible", "company")
        return {c.pk: c for c in contacts.prefetch_related("phones", "emails")}
    companies = Company.objects.filter(pk__in=ids).select_related("responsible")
    return {c.pk: c for c in companies.prefetch_related("addresses")}


def duplicate_group_get(*, user: User, group_id: int) -> DuplicateGroup:
    group = DuplicateGroup.objects.filter(pk=group_id).first()
    if group is None or not _group_visible(user, group.entity, [group])[0]:
        raise NotFound(_("Группа дублей не найдена"))
    return group


def scan_latest(entity: str) -> DuplicateScan | None:
    return DuplicateScan.objects.filter(entity=check_entity(entity)).first()


def scan_get(*, scan_id: int) -> DuplicateScan:
    scan = DuplicateScan.objects.filter(pk=scan_id).first()
    if scan is None:
        raise NotFound(_("Проверка не найдена"))
    return scan
