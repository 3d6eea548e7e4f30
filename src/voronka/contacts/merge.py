"""Merge of contacts and of companies into the kept one, and its undo (decision 0021).

One transaction: the records are locked (in id order: two merges over the same records wait
for each other instead of deadlocking), the kept record takes the chosen value of each field,
phones and e-mails (a company's addresses) are united, every link is moved onto the kept record
by the relinkers each app registered (contacts.relinks), the merged records are deleted, and a
`Merge` row keeps what the undo needs: the rows as they were and what each relinker moved.

The undo puts everything back — the merged records with their ids and values, exactly the links
that moved, the kept record's previous values — while no later edit depends on the merge: the
kept record still has the version the merge left, and no moved row was changed since.

Rights: the actor must be able to edit every record (its write scope), and, because the merged
records disappear, hold the delete right (`can_delete`) — merging must not be a way round it.
The undo asks the same of the kept record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core import serializers
from django.db import models, transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from voronka.contacts.dedup import company_keys_sync, contact_keys_sync, keys_drop
from voronka.contacts.events import (
    COMPANY_MERGE_UNDONE,
    COMPANY_MERGED,
    CONTACT_MERGE_UNDONE,
    CONTACT_MERGED,
)
from voronka.contacts.models import (
    ClientEntity,
    Company,
    CompanyAddress,
    Contact,
    ContactEmail,
    ContactPhone,
    DuplicateGroup,
    Merge,
)
from voronka.contacts.relinks import relinkers
from voronka.contacts.services import COMPANY_SCALARS, CONTACT_SCALARS, company_values_check
from voronka.identity.permissions import require_active, require_actor_flag, scope_for_write
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff, emit, jsonable
from voronka.kernel.errors import ApplicationError, Conflict, ErrorCode, NotFound, ValidationError
from voronka.kernel.events import EventType
from voronka.kernel.fields import to_id
from voronka.kernel.models import CustomField

MAX_MERGED = 10  # records merged into one at once
CONCAT = "concat"  # fields["comment"]: every record's comment, joined


@dataclass(frozen=True)
class Spec:
    entity: str
    model: type[Contact] | type[Company]
    fields: tuple[str, ...]  # what a person chooses between (foreign keys by their name)
    scalars: list[str]  # the audit snapshot's fields
    not_found: Any


SPECS: dict[str, Spec] = {
    ClientEntity.CONTACT: Spec(
        ClientEntity.CONTACT,
        Contact,
        (
            "last_name",
            "first_name",
            "middle_name",
            "position",
            "birthday",
            "company",
            "responsible",
            "messengers",
            "consent_calls",
            "consent_mailing",
            "comment",
        ),
        CONTACT_SCALARS,
        _lazy("Нет такого контакта или нет доступа к нему"),
    ),
    ClientEntity.COMPANY: Spec(
        ClientEntity.COMPANY,
        Company,
        (
            "name",
            "type",
            "inn",
            "kpp",
            "ogrn",
            "bank_bik",
            "bank_account",
            "bank_name",
            "phone",
            "email",
            "website",
            "responsible",
            "comment",
        ),
        COMPANY_SCALARS,
        _lazy("Нет такой компании или нет доступа к ней"),
    ),
}
MERGED: dict[str, EventType] = {
    ClientEntity.CONTACT: CONTACT_MERGED,
    ClientEntity.COMPANY: COMPANY_MERGED,
}
MERGE_UNDONE: dict[str, EventType] = {
    ClientEntity.CONTACT: CONTACT_MERGE_UNDONE,
    ClientEntity.COMPANY: COMPANY_MERGE_UNDONE,
}
FOREIGN_KEYS = {"company", "responsible"}
NEVER_EMPTY = {"consent_calls", "consent_mailing"}  # booleans: False is a value


def merge_fields(entity: str) -> list[str]:
    """The fields a person may choose the value of, custom ones as `custom.<key>`."""
    spec = SPECS[entity]
    custom = CustomField.objects.filter(entity=entity).order_by("sort", "id")
    return [*spec.fields, *(f"custom.{key}" for key in custom.values_list("key", flat=True))]


def _lock_rows(qs: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """THE lock of a merge (RELIABILITY row 11): every record, in id order, before it is read.
    On SQLite the write transaction is already exclusive (BEGIN IMMEDIATE)."""
    return qs.select_for_update()


def _value(obj: Any, field: str) -> Any:
    if field in FOREIGN_KEYS:
        return getattr(obj, f"{field}_id")
    if field.startswith("custom."):
        return obj.custom.get(field[7:])
    return getattr(obj, field)


def _empty(field: str, value: Any) -> bool:
    return field not in NEVER_EMPTY and value in (None, "", [], {})


def _parse(
    spec: Spec, keep: Any, merge: Any, fields: Any
) -> tuple[int, list[int], dict[str, int | str]]:
    errors: dict[str, str] = {}
    keep_id = 0
    try:
        keep_id = to_id(keep)
    except ValueError:
        errors["keep"] = _("Ожидается номер записи")
    merge_ids: list[int] = []
    if not isinstance(merge, list | tuple) or not merge:
        errors["merge"] = _("Ожидается список номеров записей")
    elif len(merge) > MAX_MERGED:
        errors["merge"] = _("Не больше %(n)s записей за раз") % {"n": MAX_MERGED}
    else:
        try:
            merge_ids = [to_id(m) for m in merge]
        except ValueError:
            errors["merge"] = _("Ожидается список номеров записей")
        else:
            if len(set(merge_ids)) != len(merge_ids):
                errors["merge"] = _("Номера записей повторяются")
            elif keep_id in merge_ids:
                errors["merge"] = _("Оставляемая запись не может быть среди объединяемых")
    chosen: dict[str, int | str] = {}
    if fields is None:
        fields = {}
    if not isinstance(fields, Mapping):
        errors["fields"] = _("Ожидается объект {поле: номер записи}")
    elif "fields" not in errors:
        known = set(merge_fields(spec.entity))
        sources = {keep_id, *merge_ids}
        for name, source in fields.items():
            if name not in known:
                errors["fields"] = _("Неизвестное поле: %(name)s") % {"name": name}
                break
            if name == "comment" and source == CONCAT:
                chosen[name] = CONCAT
                continue
            try:
                source_id = to_id(source)
            except ValueError:
                source_id = 0
            if source_id not in sources:
                errors["fields"] = _("%(name)s: ожидается номер одной из объединяемых записей") % {
                    "name": name
                }
                break
            chosen[name] = source_id
    if errors:
        if set(errors) == {"fields"}:  # the message names the field ("fields" is a stage's too)
            raise ValidationError(
                errors,
                message=_("Проверьте, чьи значения оставить: %(e)s") % {"e": errors["fields"]},
            )
        raise ValidationError(errors)
    return keep_id, merge_ids, chosen


def merged_into(entity: str, ids: set[int]) -> dict[int, int]:
    """{id: the record it was merged into} for those of `ids` gone in a merge not undone. Read
    only when a merge finds a record missing (a concurrent merge took it)."""
    found: dict[int, int] = {}
    rows = Merge.objects.filter(entity=entity, undone_at=None).values_list("kept_id", "merged_ids")
    for kept_id, merged_ids in rows.iterator(chunk_size=2000):
        for merged_id in merged_ids:
            if merged_id in ids:
                found[merged_id] = kept_id
    return found


def _lock(spec: Spec, actor: Actor, keep_id: int, merge_ids: list[int]) -> dict[int, Any]:
    ids = sorted({keep_id, *merge_ids})
    qs = _lock_rows(spec.model.objects.filter(pk__in=ids).order_by("pk"))
    rows = {obj.pk: obj for obj in scope_for_write(qs, actor=actor, entity=spec.entity)}
    missing = set(ids) - set(rows)
    if missing:
        gone = merged_into(spec.entity, missing)
        if gone:
            merged_id, kept_id = min(gone.items())
            raise Conflict(
                _("Запись №%(id)s уже объединена с №%(kept)s. Обновите страницу.")
                % {"id": merged_id, "kept": kept_id}
            )
        # Outside the actor's scope a record does not exist for them: 404, as for a path id,
        # naming the field (the same answer for an id that never existed).
        key = "keep" if keep_id in missing else "merge"
        message = str(spec.not_found)
        raise ApplicationError(message, code=ErrorCode.NOT_FOUND, errors={key: message})
    return rows


def _dump(objs: list[Any]) -> list[dict[str, Any]]:
    """Rows as JSON for the undo (every column, times to the microsecond)."""
    return [jsonable(row) for row in serializers.serialize("python", objs)]


def _load(rows: list[dict[str, Any]]) -> None:
    """Write rows dumped by `_dump` back with their ids and values (insert or overwrite)."""
    for item in serializers.deserialize("python", rows):
        item.save()


def _audit_state(spec: Spec, obj: Any) -> dict[str, Any]:
    """What the audit rows show of a record (the fields the services audit)."""
    state = {f: getattr(obj, f) for f in spec.scalars}
    state["responsible"] = obj.responsible_id
    if spec.entity == ClientEntity.CONTACT:
        state.update(
            company=obj.company_id,
            phones=list(obj.phones.values_list("number", flat=True)),
            emails=list(obj.emails.values_list("address", flat=True)),
        )
    else:
        state["addresses"] = list(obj.addresses.values_list("text", flat=True))
    return state


def _children(spec: Spec, ids: list[int]) -> list[Any]:
    """The rows that live and die with a record: phones and e-mails, a company's addresses."""
    if spec.entity == ClientEntity.CONTACT:
        return [
            *ContactPhone.objects.filter(contact_id__in=ids).order_by("pk"),
            *ContactEmail.objects.filter(contact_id__in=ids).order_by("pk"),
        ]
    return list(CompanyAddress.objects.filter(company_id__in=ids).order_by("pk"))


def _choose(
    spec: Spec, kept: Any, merged: list[Any], chosen: Mapping[str, int | str], names: list[str]
) -> dict[str, Any]:
    """Each field's value: the chosen record's; by default the kept one's, an empty one filled
    from the first merged record that has it."""
    by_id = {kept.pk: kept, **{m.pk: m for m in merged}}
    values: dict[str, Any] = {}
    for name in names:
        source = chosen.get(name)
        if source == CONCAT:
            parts = [_value(o, name) for o in (kept, *merged)]
            values[name] = "\n\n".join(dict.fromkeys(p.strip() for p in parts if p and p.strip()))
        elif isinstance(source, int):
            values[name] = _value(by_id[source], name)
        else:
            values[name] = _value(default_source(name, kept, merged), name)
    return values


def default_source(name: str, kept: Any, merged: list[Any]) -> Any:
    """The record whose value of `name` a merge keeps when nobody chose: the kept one, unless
    its value is empty and a merged one has it (the first such)."""
    if not _empty(name, _value(kept, name)):
        return kept
    return next((m for m in merged if not _empty(name, _value(m, name))), kept)


def field_value(obj: Any, name: str) -> Any:
    """A record's value of a merge field (`company` → its id, `custom.<key>` → the value)."""
    return _value(obj, name)


def _unite_channels(kept: Contact, merged: list[Contact]) -> dict[str, list[int]]:
    """The merged contacts' phones and e-mails the kept one lacks, added to it (their ids)."""
    added: dict[str, list[int]] = {"phones": [], "emails": []}
    numbers = set(kept.phones.values_list("number", flat=True))
    addresses = set(kept.emails.values_list("address", flat=True))
    for contact in merged:
        for phone in contact.phones.order_by("pk"):
            if phone.number not in numbers:
                numbers.add(phone.number)
                row = ContactPhone.objects.create(
                    contact=kept, number=phone.number, kind=phone.kind
                )
                added["phones"].append(row.pk)
        for email in contact.emails.order_by("pk"):
            if email.address not in addresses:
                addresses.add(email.address)
                added_email = ContactEmail.objects.create(
                    contact=kept, address=email.address, kind=email.kind
                )
                added["emails"].append(added_email.pk)
    return added


def _unite_addresses(kept: Company, merged: list[Company]) -> dict[str, list[int]]:
    """The merged companies' addresses the kept one lacks move to it (their ids)."""
    texts = {t.casefold() for t in kept.addresses.values_list("text", flat=True)}
    moved: list[int] = []
    for company in merged:
        for address in company.addresses.order_by("pk"):
            if address.text.casefold() not in texts:
                texts.add(address.text.casefold())
                moved.append(address.pk)
    CompanyAddress.objects.filter(pk__in=moved).update(company=kept)
    return {"addresses": moved}


def _groups_touched(entity: str, kept_id: int, merge_ids: list[int]) -> list[DuplicateGroup]:
    """Open duplicate groups holding the kept record and a merged one: decided by the merge."""
    wanted = set(merge_ids)
    qs = DuplicateGroup.objects.filter(
        entity=entity, status=DuplicateGroup.Status.OPEN, ids__icontains=str(kept_id)
    )
    return [g for g in qs if kept_id in g.ids and wanted & set(g.ids)]


def _keys_sync(entity: str, obj: Any) -> None:
    if entity == ClientEntity.CONTACT:
        contact_keys_sync(obj)
    else:
        company_keys_sync(obj)


def _merge(
    entity: str, *, actor: Actor, keep_id: Any, merge_ids: Any, fields: Any
) -> tuple[Merge, Any]:
    require_active(actor)
    spec = SPECS[entity]
    keep, merge_list, chosen = _parse(spec, keep_id, merge_ids, fields)
    rows = _lock(spec, actor, keep, merge_list)
    require_actor_flag(actor, "can_delete")
    kept = rows[keep]
    merged = [rows[m] for m in merge_list]
    names = merge_fields(entity)
    values = _choose(spec, kept, merged, chosen, names)
    if entity == ClientEntity.COMPANY:
        # Values from different records must still agree (a legal entity's INN is 10 digits).
        company_values_check(company=kept, data={"type": values["type"], "inn": values["inn"]})
    elif values["company"] != kept.company_id:  # another contact's company: one the actor sees
        companies = Company.objects.filter(pk=values["company"])
        if not scope_for_write(companies, actor=actor, entity=ClientEntity.COMPANY).exists():
            raise ValidationError({"company": _("Нет такой компании или нет доступа к ней")})

    undo: dict[str, Any] = {
        "kept": _dump([kept]),
        "merged": _dump(merged),
        "children": _dump(_children(spec, merge_list)),
    }
    before = _audit_state(spec, kept)
    merged_states = {m.pk: _audit_state(spec, m) for m in merged}

    custom = dict(kept.custom)
    for name in names:
        if name.startswith("custom."):
            key = name[7:]
            if values[name] is None and key not in kept.custom:
                continue
            custom[key] = values[name]
        elif name in FOREIGN_KEYS:
            setattr(kept, f"{name}_id", values[name])
        else:
            setattr(kept, name, values[name])
    kept.custom = custom
    if entity == ClientEntity.COMPANY:
        times = [c.last_interaction_at for c in (kept, *merged) if c.last_interaction_at]
        kept.last_interaction_at = max(times, default=None)
    kept.version = F("version") + 1
    kept.save()
    kept.refresh_from_db()
    if entity == ClientEntity.CONTACT:
        undo["added"] = _unite_channels(kept, merged)
    else:
        undo["added"] = _unite_addresses(kept, merged)

    undo["links"] = {r.name: r.relink(keep, merge_list) for r in relinkers(entity)}
    groups = _groups_touched(entity, keep, merge_list)
    undo["groups"] = _dump(groups)
    now = clock.now()
    for group in groups:
        group.status = DuplicateGroup.Status.MERGED
        group.decided_by = actor.user
        group.decided_at = now
        group.save(update_fields=["status", "decided_by", "decided_at"])

    for m in merged:
        changes = diff(merged_states[m.pk], {})
        changes["merged_into"] = [None, keep]
        audit(actor=actor, obj=m, action="merged", changes=changes)
    keys_drop(entity, merge_list)
    spec.model.objects.filter(pk__in=merge_list).delete()
    kept.refresh_from_db()  # the counters a relinker recounted
    _keys_sync(entity, kept)

    record = Merge.objects.create(
        entity=entity,
        kept_id=keep,
        merged_ids=merge_list,
        fields=chosen,
        undo=undo,
        kept_version=kept.version,
        at=now,
        by=actor.user,
    )
    changes = diff(before, _audit_state(spec, kept))
    changes["merged"] = [[], merge_list]
    audit(actor=actor, obj=kept, action="merge", changes=changes)
    emit(
        MERGED[entity],
        obj=kept,
        actor=actor,
        payload={"kept": keep, "merged": merge_list, "merge": record.pk},
    )
    return record, kept


@transaction.atomic
def contact_merge(
    *, actor: Actor, keep_id: Any, merge_ids: Any, fields: Any = None
) -> tuple[Merge, Contact]:
    """Merge contacts `merge_ids` into `keep_id`; `fields`: {field: the id whose value wins}
    ("comment": "concat" joins every comment). Returns the Merge row and the kept contact."""
    return _merge(
        ClientEntity.CONTACT, actor=actor, keep_id=keep_id, merge_ids=merge_ids, fields=fields
    )


@transaction.atomic
def company_merge(
    *, actor: Actor, keep_id: Any, merge_ids: Any, fields: Any = None
) -> tuple[Merge, Company]:
    """Merge companies `merge_ids` into `keep_id` (their contacts, deals, tasks, comments,
    files and addresses move to it; its LTV and deal counters are recounted)."""
    return _merge(
        ClientEntity.COMPANY, actor=actor, keep_id=keep_id, merge_ids=merge_ids, fields=fields
    )


@transaction.atomic
def merge_undo(*, actor: Actor, merge_id: int) -> Merge:
    """Put a merge back, or Conflict (409) when a later edit depends on it."""
    require_active(actor)
    record = Merge.objects.select_for_update().filter(pk=merge_id).first()
    if record is None:
        raise NotFound(_("Объединение не найдено"))
    spec = SPECS[record.entity]
    qs = _lock_rows(spec.model.objects.filter(pk=record.kept_id))
    kept = scope_for_write(qs, actor=actor, entity=spec.entity).first()
    if kept is None:
        if spec.model.objects.filter(pk=record.kept_id).exists():
            raise NotFound(_("Объединение не найдено"))  # outside the actor's scope
        raise Conflict(_("Оставленной записи больше нет — отменить объединение нельзя"))
    require_actor_flag(actor, "can_delete")
    if record.undone_at is not None:
        raise Conflict(_("Это объединение уже отменено"))
    if kept.version != record.kept_version:
        raise Conflict(
            _("Запись изменили после объединения — отменить его нельзя"),
            current_version=kept.version,
        )
    undo = record.undo
    registered = {r.name: r for r in relinkers(record.entity)}
    for name, moved in undo["links"].items():
        relinker = registered.get(name)
        if relinker is None or relinker.changed(record.kept_id, moved):
            label = relinker.label if relinker else name
            raise Conflict(
                _("После объединения изменились связанные записи (%(what)s) — отменить нельзя")
                % {"what": str(label).lower()}
            )

    if record.entity == ClientEntity.CONTACT:  # the merged contacts' companies must still exist
        wanted = {row["fields"]["company"] for row in undo["merged"]}
        if Company.objects.filter(pk__in=wanted).count() != len(wanted):
            raise Conflict(_("Компании объединённых контактов больше нет — отменить нельзя"))
    _load(undo["merged"])  # the merged records, with their ids, before anything points at them
    if record.entity == ClientEntity.CONTACT:
        ContactPhone.objects.filter(pk__in=undo["added"]["phones"]).delete()
        ContactEmail.objects.filter(pk__in=undo["added"]["emails"]).delete()
    _load(undo["children"])  # moved addresses go back, the others come back
    for relinker in reversed(relinkers(record.entity)):
        if relinker.name in undo["links"]:
            relinker.undo(record.kept_id, undo["links"][relinker.name])
    _load(undo["groups"])
    # Last, every record's own row as it was (counters recounted by a relinker included).
    _load(undo["merged"] + undo["kept"])

    kept.refresh_from_db()
    _keys_sync(record.entity, kept)
    restored = list(spec.model.objects.filter(pk__in=record.merged_ids).order_by("pk"))
    for obj in restored:
        _keys_sync(record.entity, obj)
        changes = diff({}, _audit_state(spec, obj))
        changes["merged_into"] = [record.kept_id, None]
        audit(actor=actor, obj=obj, action="merge_undone", changes=changes)
    record.undone_at = clock.now()
    record.undone_by = actor.user
    record.save(update_fields=["undone_at", "undone_by"])
    audit(
        actor=actor,
        obj=kept,
        action="merge_undone",
        changes={"merged": [record.merged_ids, []]},
    )
    emit(
        MERGE_UNDONE[record.entity],
        obj=kept,
        actor=actor,
        payload={"kept": record.kept_id, "merged": record.merged_ids, "merge": record.pk},
    )
    return record
