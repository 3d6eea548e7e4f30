"""Creating, editing and deleting a deal. One transaction per call, with its audit and events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from voronka.deals.counters import DealState, deal_state_changed
from voronka.deals.events import (
    DEAL_CREATED,
    DEAL_DELETED,
    DEAL_RESPONSIBLE_CHANGED,
    DEAL_UPDATED,
)
from voronka.deals.models import Deal, Pipeline, Stage, StageSemantic
from voronka.deals.services.fields import (
    _clean_deal,
    _event_payload,
    _resolve_stage,
    _snapshot,
)
from voronka.deals.services.stage_entry import (
    _announce_entry,
    _deal_values,
    _record_entry,
    _required_error,
    stage_entry,
    stage_missing_fields,
)
from voronka.identity.permissions import get_for_write, require_active, require_actor_flag
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff, emit
from voronka.kernel.customfields import clean_custom
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError
from voronka.kernel.fields import to_id
from voronka.kernel.files import files_attach
from voronka.kernel.models import CustomFieldEntity
from voronka.kernel.versions import check_version


def deal_get_for_write(*, actor: Actor, deal_id: int) -> Deal:
    """Lock a deal the actor may act on, or NotFound (outside the scope it does not exist). No
    select_related: PostgreSQL re-checks a FOR UPDATE join against the row another transaction
    just updated, and a changed stage_id then matches nothing."""
    return get_for_write(
        Deal.objects.all(), actor=actor, entity="deal", pk=deal_id, message=_("Сделка не найдена")
    )


@transaction.atomic
def deal_create(*, actor: Actor, data: Mapping[str, Any]) -> Deal:
    require_active(actor)
    c = _clean_deal(data, actor, creating=True)  # a missing title is named there
    if "company" not in data:
        c.error("company", _("Сделка всегда принадлежит компании"))
    stage: Stage | None = None
    if data.get("stage") not in (None, ""):
        try:
            stage = _resolve_stage(data["stage"])
        except ValidationError as exc:
            c.errors.update(exc.errors)
    pipeline = None
    if data.get("pipeline") not in (None, ""):
        try:
            pipeline = Pipeline.objects.filter(pk=to_id(data["pipeline"]), is_active=True).first()
        except (TypeError, ValueError):
            pipeline = None
        if pipeline is None:
            c.error("pipeline", _("Нет такой воронки"))
    if stage is not None and pipeline is not None and stage.pipeline_id != pipeline.pk:
        c.error("stage", _("Стадия из другой воронки"))
    if stage is None and pipeline is None and not c.errors:
        pipeline = Pipeline.objects.filter(is_active=True).first()
        if pipeline is None:
            c.error("pipeline", _("Сначала создайте воронку"))
    if "responsible" not in data:
        if actor.user is None:
            c.error("responsible", _("Укажите ответственного"))
        else:
            c.cleaned["responsible"] = actor.user
    custom: dict[str, Any] = {}
    try:
        custom = clean_custom(CustomFieldEntity.DEAL, data.get("custom"))
    except ValidationError as exc:
        c.errors.update(exc.errors)
    c.raise_if_errors()
    if stage is None:
        assert pipeline is not None
        stage = pipeline.stages.filter(semantic=StageSemantic.OPEN).order_by("sort", "id").first()
        if stage is None:
            raise ValidationError({"pipeline": _("В воронке нет открытых стадий")})
    now = clock.now()
    contacts = c.cleaned.pop("contacts", [])
    loss_comment = c.cleaned.pop("loss_comment", "")  # a Deal field only in a lost stage
    deal = Deal(custom=custom, opened_at=now, created_by=actor.user, **c.cleaned)
    entry = stage_entry(
        stage=stage,
        values=_deal_values(deal, custom, [x.pk for x in contacts]),
        loss_reason=c.data.get("loss_reason"),
        loss_comment=loss_comment,
    )
    entry.apply(deal, now)
    deal.save()
    files_attach(entity="deal", object_id=deal.pk, actor=actor, before={}, after=custom)
    deal_state_changed(None, DealState.of(deal))
    if contacts:
        deal.contacts.set(contacts)
    _record_entry(deal=deal, entry=entry, from_stage=None, actor=actor, now=now)
    after = _snapshot(deal)
    after["contacts"] = [x.pk for x in contacts]
    changes = diff({}, after)
    changes.update(entry.audit_changes())
    audit(actor=actor, obj=deal, action="created", changes=changes)
    emit(DEAL_CREATED, obj=deal, actor=actor, payload=_event_payload(deal))
    _announce_entry(deal=deal, entry=entry, from_stage=None, actor=actor)
    return deal


@transaction.atomic
def deal_update(*, deal: Deal, actor: Actor, data: Mapping[str, Any]) -> Deal:
    deal = deal_get_for_write(actor=actor, deal_id=deal.pk)  # no join: see there
    if "stage" in data or "pipeline" in data:
        raise ValidationError(
            {
                k: _("Стадию меняет перемещение сделки (move)")
                for k in ("stage", "pipeline")
                if k in data
            }
        )
    check_version(deal.version, data.get("version"))
    c = _clean_deal(data, actor, creating=False)
    if "custom" in data:
        try:
            c.cleaned["custom"] = clean_custom(
                CustomFieldEntity.DEAL, data["custom"], current=deal.custom
            )
        except ValidationError as exc:
            c.errors.update(exc.errors)
    if deal.stage.is_closed and "amount" in c.cleaned and c.cleaned["amount"] != deal.amount:
        c.error("amount", _("Сумму закрытой сделки изменить нельзя — сначала верните её в работу"))
    if deal.stage.is_closed and c.cleaned.get("currency", deal.currency) != deal.currency:
        c.error(
            "currency", _("Валюту закрытой сделки изменить нельзя — сначала верните её в работу")
        )
    c.raise_if_errors()
    before = _snapshot(deal)
    state_before = DealState.of(deal)
    before_contacts = sorted(deal.contacts.values_list("pk", flat=True))
    contacts = c.cleaned.pop("contacts", None)
    for key, value in c.cleaned.items():
        setattr(deal, key, value)
    # Required fields of the current stage stay filled.
    new_contacts = sorted(x.pk for x in contacts) if contacts is not None else before_contacts
    missing = stage_missing_fields(
        deal.stage, deal_values=_deal_values(deal, deal.custom, new_contacts)
    )
    if missing:
        raise _required_error(deal.stage, missing)
    deal.version = F("version") + 1
    deal.save()
    files_attach(
        entity="deal", object_id=deal.pk, actor=actor, before=before["custom"], after=deal.custom
    )
    deal.refresh_from_db()
    deal_state_changed(state_before, DealState.of(deal))
    if contacts is not None:
        deal.contacts.set(contacts)
    after = _snapshot(deal)
    before["contacts"], after["contacts"] = before_contacts, new_contacts
    changes = diff(before, after)
    if changes:
        audit(actor=actor, obj=deal, action="updated", changes=changes)
        emit(
            DEAL_UPDATED,
            obj=deal,
            actor=actor,
            payload=_event_payload(deal, changes=changes),
        )
        if "responsible" in changes:
            emit(DEAL_RESPONSIBLE_CHANGED, obj=deal, actor=actor, payload=_event_payload(deal))
    return deal


@transaction.atomic
def deal_delete(*, deal: Deal, actor: Actor) -> None:
    deal = deal_get_for_write(actor=actor, deal_id=deal.pk)  # invisible: 404 before the flag's 403
    require_actor_flag(actor, "can_delete")
    if deal.open_tasks:
        raise ApplicationError(
            _("У сделки есть открытые задачи — завершите их перед удалением"), code=ErrorCode.IN_USE
        )
    state = DealState.of(deal)
    audit(actor=actor, obj=deal, action="deleted", changes=diff(_snapshot(deal), {}))
    emit(DEAL_DELETED, obj=deal, actor=actor, payload=_event_payload(deal, title=deal.title))
    deal.delete()
    deal_state_changed(state, None)  # after: the company's purchases are read from its deals
