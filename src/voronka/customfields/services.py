"""Custom field definitions: creating and editing the extra fields of deals, companies and
contacts (the values are cleaned by `kernel.customfields`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from voronka.customfields.inputs import CHOICE_MAX_LENGTH, CUSTOM_FIELD, MAX_CHOICES
from voronka.identity.permissions import require_actor_flag
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff
from voronka.kernel.customfields import BUILTIN_REQUIRABLE
from voronka.kernel.fields import FieldCleaner
from voronka.kernel.models import CustomField, CustomFieldEntity, CustomFieldType
from voronka.kernel.normalize import clean_text

CUSTOM_FIELD_INPUT = CUSTOM_FIELD.create_keys  # kept for callers; the declaration rules


def _clean_choices(raw: Any) -> list[str]:
    """The variants of a list field: texts (no control characters) up to 120, no repeats."""
    if raw is None:
        return []
    if (
        not isinstance(raw, list)
        or len(raw) > MAX_CHOICES
        or any(not isinstance(x, str) for x in raw)
    ):
        raise ValueError(_("Ожидается список вариантов"))
    choices = [clean_text(x, max_length=CHOICE_MAX_LENGTH) for x in raw]
    if not all(choices):
        raise ValueError(_("Ожидается список вариантов"))
    return list(dict.fromkeys(choices))


_KEY = re.compile(r"[a-z][a-z0-9_]*")


def _clean_custom_field(data: Mapping[str, Any], *, field: CustomField | None) -> FieldCleaner:
    """THE cleaning of a field definition, for create (`field` None) and update alike: the same
    rule per key whichever writes it — the update once stored variants the create refused."""
    creating = field is None
    c = FieldCleaner(data, CUSTOM_FIELD.keys(creating=creating))
    CUSTOM_FIELD.clean_texts(c, creating=creating)
    if field is None:
        entity = c.data.get("entity", CustomFieldEntity.DEAL)
        if entity not in CustomFieldEntity.values:
            c.error("entity", _("Сущность: deal, company или contact"))
        c.cleaned["entity"] = entity
        ftype = c.data.get("type")
        if ftype not in CustomFieldType.values:
            c.error("type", _("Неизвестный тип поля"))
        c.cleaned["type"] = ftype
        key = c.data.get("key")
        if (
            not isinstance(key, str)
            or not _KEY.fullmatch(key)
            or len(key) > (CUSTOM_FIELD.max_length("key") or 0)
            or key in BUILTIN_REQUIRABLE
        ):
            c.error("key", _("Ключ: латинские строчные буквы, цифры и _, с буквы"))
        elif CustomField.objects.filter(entity=entity, key=key).exists():
            c.error("key", _("Поле с таким ключом уже есть"))
        c.cleaned["key"] = key
    else:
        ftype = field.type
    if creating or c.has("choices"):
        try:
            c.cleaned["choices"] = _clean_choices(c.data.get("choices"))
        except ValueError as exc:
            c.error("choices", str(exc))
        if ftype in (CustomFieldType.LIST, CustomFieldType.MULTI) and not c.cleaned.get(
            "choices", True
        ):
            c.errors.setdefault("choices", _("Для списка нужны варианты"))
    if c.has("is_active") and not creating:  # on create refused as unknown above
        if isinstance(c.data["is_active"], bool):  # `"false"` is not False: refused, not True
            c.cleaned["is_active"] = c.data["is_active"]
        else:
            c.error("is_active", _("Ожидается true или false"))
    return c


def custom_field_get_for_write(*, actor: Actor, field_id: int) -> CustomField:
    """Lock a field definition for a change: the actor may configure (403), it exists (404)."""
    from voronka.kernel.errors import NotFound

    require_actor_flag(actor, "can_configure")
    field = CustomField.objects.select_for_update().filter(pk=field_id).first()
    if field is None:
        raise NotFound(_("Поле не найдено"))
    return field


@transaction.atomic
def custom_field_create(*, actor: Actor, data: Mapping[str, Any]) -> CustomField:
    require_actor_flag(actor, "can_configure")
    c = _clean_custom_field(data, field=None)
    c.raise_if_errors()
    entity, key, ftype = c.cleaned["entity"], c.cleaned["key"], c.cleaned["type"]
    choices = c.cleaned["choices"]
    sort = (CustomField.objects.filter(entity=entity).aggregate(m=Max("sort"))["m"] or 0) + 1
    field = CustomField.objects.create(
        entity=entity,
        key=key,
        name=c.cleaned["name"],
        type=ftype,
        choices=choices,
        sort=sort,
    )
    audit(
        actor=actor,
        obj=field,
        action="created",
        changes={"key": [None, key], "type": [None, ftype]},
    )
    return field


@transaction.atomic
def custom_field_update(
    *, field: CustomField, actor: Actor, data: Mapping[str, Any]
) -> CustomField:
    field = custom_field_get_for_write(actor=actor, field_id=field.pk)
    c = _clean_custom_field(data, field=field)
    c.raise_if_errors()
    before = {k: getattr(field, k) for k in c.cleaned}
    for key, value in c.cleaned.items():
        setattr(field, key, value)
    field.save()
    audit(actor=actor, obj=field, action="updated", changes=diff(before, c.cleaned))
    return field
