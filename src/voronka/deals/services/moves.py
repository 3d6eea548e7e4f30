"""Moving a deal to another stage (and so winning, losing or reopening it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from voronka.deals.counters import DealState, deal_state_changed
from voronka.deals.events import DEAL_STAGE_CHANGED
from voronka.deals.models import Deal, LossReason, Stage
from voronka.deals.services.deal import deal_get_for_write
from voronka.deals.services.fields import (
    _event_payload,
    _resolve_contacts,
    _resolve_stage,
    _snapshot,
)
from voronka.deals.services.stage_entry import (
    StageEntry,
    _announce_entry,
    _check_required,
    _deal_values,
    _record_entry,
    stage_entry,
)
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff, emit
from voronka.kernel.currencies import clean_amount
from voronka.kernel.customfields import clean_custom
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError
from voronka.kernel.files import files_attach
from voronka.kernel.models import CustomFieldEntity
from voronka.kernel.normalize import clean_input, clean_text
from voronka.kernel.versions import check_version


@transaction.atomic
def deal_move_to_stage(
    *,
    deal: Deal,
    stage: Stage | int,
    actor: Actor,
    version: int | None = None,
    fields: Mapping[str, Any] | None = None,
    loss_reason: LossReason | int | None = None,
    loss_comment: str = "",
) -> Deal:
    """Move a deal to a stage of its pipeline, filling the stage's required fields."""
    deal = deal_get_for_write(actor=actor, deal_id=deal.pk)
    check_version(deal.version, version)
    target = _resolve_stage(stage)
    if target.pipeline_id != deal.pipeline_id:
        raise ApplicationError(
            _("Стадия «%(stage)s» из другой воронки") % {"stage": target.name},
            code=ErrorCode.STAGE_NOT_IN_PIPELINE,
            errors={"stage": _("Стадия из другой воронки")},
        )
    if fields is not None and not isinstance(fields, Mapping):
        raise ValidationError({"fields": _("Ожидается объект {поле: значение}")})
    try:  # the kernel's cleaning of every input string (FieldCleaner does it for the others)
        fields = dict(clean_input(fields or {}))
    except ValueError as exc:
        raise ValidationError({"fields": str(exc)}) from None
    amount = deal.amount
    if "amount" in fields:
        try:
            amount = clean_amount(fields.pop("amount"))
        except ValueError as exc:
            raise ValidationError({"amount": str(exc)}) from None
    if deal.stage.is_closed and target.is_closed and amount != deal.amount:
        raise ValidationError(
            {"amount": _("Сумму закрытой сделки изменить нельзя — сначала верните её в работу")}
        )
    comment = deal.comment
    if "comment" in fields:
        comment_raw = fields.pop("comment")
        if not isinstance(comment_raw, str):
            raise ValidationError({"comment": _("Ожидается текст")})
        try:
            comment = clean_text(comment_raw, max_length=10000)
        except ValueError as exc:
            raise ValidationError({"comment": str(exc)}) from None
    contacts = None
    if "contacts" in fields:
        try:
            contacts = _resolve_contacts(actor, fields.pop("contacts"))
        except ValueError as exc:
            raise ValidationError({"contacts": str(exc)}) from None
    custom = clean_custom(CustomFieldEntity.DEAL, fields, current=deal.custom)
    contact_ids = [x.pk for x in contacts] if contacts is not None else None
    old_stage = deal.stage
    probe = Deal(amount=amount, comment=comment)
    probe.pk = deal.pk
    values = _deal_values(probe, custom, contact_ids)
    changed_stage = target.pk != old_stage.pk
    entry: StageEntry | None = None
    if changed_stage:
        entry = stage_entry(
            stage=target, values=values, loss_reason=loss_reason, loss_comment=loss_comment
        )
    else:  # the same stage: only its required fields are being filled
        _check_required(target, values)
    before = _snapshot(deal)
    before["contacts"] = sorted(deal.contacts.values_list("pk", flat=True))
    now = clock.now()
    entered_before = deal.stage_entered_at
    state_before = DealState.of(deal)
    deal.amount, deal.comment, deal.custom = amount, comment, custom
    if entry is not None:
        entry.apply(deal, now)
    deal.version = F("version") + 1
    deal.save()
    files_attach(
        entity="deal", object_id=deal.pk, actor=actor, before=before["custom"], after=custom
    )
    deal.refresh_from_db()
    deal_state_changed(state_before, DealState.of(deal))
    if contacts is not None:
        deal.contacts.set(contacts)
    if entry is not None:
        _record_entry(
            deal=deal,
            entry=entry,
            from_stage=old_stage,
            actor=actor,
            now=now,
            seconds_in_from=int((now - entered_before).total_seconds()),
        )
    after = _snapshot(deal)
    after["contacts"] = contact_ids if contact_ids is not None else before["contacts"]
    changes = diff(before, after)
    if entry is not None:
        changes.update(entry.audit_changes())
    audit(
        actor=actor,
        obj=deal,
        action="stage_changed" if changed_stage else "updated",
        changes=changes,
    )
    if entry is not None:
        payload = _event_payload(deal, from_stage=old_stage.pk, to_stage=target.pk)
        emit(DEAL_STAGE_CHANGED, obj=deal, actor=actor, payload=payload)
        _announce_entry(deal=deal, entry=entry, from_stage=old_stage, actor=actor)
    return deal
