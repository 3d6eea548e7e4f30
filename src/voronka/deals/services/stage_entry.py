"""Entering a stage — by creation or by a move: required fields, the loss reason, the events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from voronka.deals.events import DEAL_LOST, DEAL_REOPENED, DEAL_WON
from voronka.deals.inputs import DEAL
from voronka.deals.models import Deal, LossReason, Stage, StageChange, StageSemantic
from voronka.deals.services.fields import _event_payload
from voronka.kernel.actor import Actor
from voronka.kernel.audit import emit
from voronka.kernel.customfields import BUILTIN_REQUIRABLE, definitions, is_empty
from voronka.kernel.errors import ApplicationError, ErrorCode, ValidationError
from voronka.kernel.fields import to_id
from voronka.kernel.models import CustomFieldEntity
from voronka.kernel.normalize import clean_text


def stage_missing_fields(stage: Stage, *, deal_values: Mapping[str, Any]) -> list[str]:
    """Keys required by `stage` that are empty in `deal_values` (custom + built-ins)."""
    missing = []
    for key in stage.required_fields or []:
        value = deal_values.get(key)
        if key == "amount":
            if value in (None, "") or Decimal(str(value)) == 0:
                missing.append(key)
        elif is_empty(value):
            missing.append(key)
    return missing


def required_field_labels(keys: Sequence[str]) -> dict[str, str]:
    defs = definitions(CustomFieldEntity.DEAL)
    return {k: str(BUILTIN_REQUIRABLE.get(k) or (defs[k].name if k in defs else k)) for k in keys}


def _deal_values(
    deal: Deal, custom: Mapping[str, Any], contacts: list[int] | None = None
) -> dict[str, Any]:
    values: dict[str, Any] = dict(custom)
    values["amount"] = deal.amount
    values["comment"] = deal.comment
    values["contacts"] = (
        contacts
        if contacts is not None
        else (list(deal.contacts.values_list("pk", flat=True)) if deal.pk else [])
    )
    return values


def _required_error(
    stage: Stage, missing: list[str], *, loss_reason_missing: bool = False
) -> ApplicationError:
    labels = required_field_labels(missing)
    errors = {k: _("Обязательно для стадии «%(stage)s»") % {"stage": stage.name} for k in missing}
    if loss_reason_missing:
        errors["loss_reason"] = _("Обязательно для проигранной сделки")
    return ApplicationError(
        _("Для стадии «%(stage)s» заполните: %(fields)s")
        % {"stage": stage.name, "fields": ", ".join(labels.values())},
        code=ErrorCode.REQUIRED_FIELDS_MISSING,
        errors=errors,
        extra={"missing_fields": [{"key": k, "name": labels[k]} for k in missing]},
    )


def _check_required(stage: Stage, values: Mapping[str, Any]) -> None:
    missing = stage_missing_fields(stage, deal_values=values)
    if missing:
        raise _required_error(stage, missing)


# --- entering a stage: one rule for a deal created in a stage and for a move into it ---------


@dataclass(frozen=True)
class StageEntry:
    """A checked entry of a deal into `stage` (see `stage_entry`)."""

    stage: Stage
    loss_reason: LossReason | None = None
    loss_comment: str = ""

    def apply(self, deal: Deal, now: dt.datetime) -> None:
        """Status and closing follow the stage's semantic; only a lost deal keeps a loss."""
        deal.pipeline_id = self.stage.pipeline_id
        deal.stage = self.stage
        deal.status = self.stage.semantic
        deal.stage_entered_at = now
        deal.closed_at = now if self.stage.is_closed else None
        deal.loss_reason = self.loss_reason
        deal.loss_comment = self.loss_comment

    def audit_changes(self) -> dict[str, list[Any]]:
        changes: dict[str, list[Any]] = {}
        if self.loss_reason is not None:
            changes["loss_reason"] = [None, self.loss_reason.name]
        if self.loss_comment:
            changes["loss_comment"] = [None, self.loss_comment]
        return changes


def stage_entry(
    *,
    stage: Stage,
    values: Mapping[str, Any],
    loss_reason: LossReason | int | str | None = None,
    loss_comment: Any = "",
) -> StageEntry:
    """THE rule for a deal entering `stage`, whether it is created there (`deal_create`) or
    moved there (`deal_move_to_stage`) — from a form, the API, automation or an import:

    * every field the stage requires is filled in `values` (built-in and custom fields);
    * a lost stage takes an active loss reason (required while any is configured) and an
      optional comment; entering any other stage clears them (and refuses them if given);
    * `StageEntry.apply` sets status, stage_entered_at and closed_at from the semantic, and
      `_announce_entry` emits deal.won / deal.lost / deal.reopened.

    A refusal names every missing field at once, the loss reason among them."""
    reason: LossReason | None = None
    reason_missing = False
    comment = ""
    if stage.semantic == StageSemantic.LOST:
        if loss_reason in (None, ""):
            reason_missing = LossReason.objects.active().exists()
        else:
            reason = _resolve_loss_reason(loss_reason)
        comment = _clean_loss_comment(loss_comment)
    elif loss_reason not in (None, "") or _clean_loss_comment(loss_comment):
        # A loss belongs to a lost deal: given for another stage it is refused, not dropped.
        key = "loss_reason" if loss_reason not in (None, "") else "loss_comment"
        raise ValidationError({key: _("Только для стадии отказа")})
    missing = stage_missing_fields(stage, deal_values=values)
    if missing:
        raise _required_error(stage, missing, loss_reason_missing=reason_missing)
    if reason_missing:
        raise ApplicationError(
            _("Укажите причину отказа"),
            code=ErrorCode.LOSS_REASON_REQUIRED,
            errors={"loss_reason": _("Обязательно для проигранной сделки")},
        )
    return StageEntry(stage=stage, loss_reason=reason, loss_comment=comment)


def _clean_loss_comment(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValidationError({"loss_comment": _("Ожидается текст")})
    try:
        return clean_text(raw, max_length=DEAL.max_length("loss_comment"))
    except ValueError as exc:
        raise ValidationError({"loss_comment": str(exc)}) from None


def _record_entry(
    *,
    deal: Deal,
    entry: StageEntry,
    from_stage: Stage | None,
    actor: Actor,
    now: dt.datetime,
    seconds_in_from: int | None = None,
) -> None:
    """The stage history row of an entry (the deal is saved)."""
    StageChange.objects.create(
        deal=deal,
        from_stage=from_stage,
        to_stage=entry.stage,
        at=now,
        by=actor.user,
        actor_kind=str(actor.kind),
        seconds_in_from=seconds_in_from,
    )


def _announce_entry(
    *, deal: Deal, entry: StageEntry, from_stage: Stage | None, actor: Actor
) -> None:
    """After the deal's own event (deal.created / deal.stage_changed): a won deal is announced
    as won, a lost one as lost, a closed one back in work as reopened. (Its LTV, like every
    counter, is the caller's `deal_state_changed`.)"""
    payload = _event_payload(
        deal, from_stage=from_stage.pk if from_stage else None, to_stage=entry.stage.pk
    )
    if entry.stage.semantic == StageSemantic.WON:
        emit(DEAL_WON, obj=deal, actor=actor, payload=payload)
    elif entry.stage.semantic == StageSemantic.LOST:
        payload["loss_reason"] = entry.loss_reason.pk if entry.loss_reason else None
        emit(DEAL_LOST, obj=deal, actor=actor, payload=payload)
    elif from_stage is not None and from_stage.is_closed:
        emit(DEAL_REOPENED, obj=deal, actor=actor, payload=payload)


def _resolve_loss_reason(raw: Any) -> LossReason:
    if isinstance(raw, LossReason):
        return raw
    try:
        reason_id = to_id(raw)
    except (TypeError, ValueError):
        raise ValidationError({"loss_reason": _("Укажите причину отказа")}) from None
    reason = LossReason.objects.active().filter(pk=reason_id).first()
    if reason is None:
        raise ValidationError({"loss_reason": _("Нет такой причины отказа")})
    return reason
