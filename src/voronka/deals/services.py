"""Every write to deals, pipelines and stages. One transaction per call; each writes its audit
rows and domain events in that transaction. UI, API, automation and imports all call these."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from voronka.contacts.models import Company, Contact
from voronka.deals.counters import (
    board_key,
    track_board,
    track_deal_state,
    track_ltv,
    track_open_deal,
)
from voronka.deals.models import Deal, LossReason, Pipeline, Stage, StageChange, StageSemantic
from voronka.identity.scopes import resolve_responsible, scope_filter
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff, emit
from voronka.kernel.currencies import clean_amount, clean_currency
from voronka.kernel.customfields import clean_custom, definitions, is_empty
from voronka.kernel.errors import ApplicationError, Conflict, ErrorCode, ValidationError
from voronka.kernel.fields import FieldCleaner, to_id, to_int
from voronka.kernel.files import files_attach
from voronka.kernel.models import CustomField, CustomFieldEntity, CustomFieldType
from voronka.kernel.normalize import clean_input, clean_text

# A switch for the negative control of the lost-update tests. Never set outside tests.
VERSION_CHECK_DISABLED = False

DEAL_FIELDS = {
    "title",
    "pipeline",
    "stage",
    "amount",
    "currency",
    "responsible",
    "company",
    "contacts",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "comment",
    "custom",
    "version",
}
UPDATABLE_DEAL_FIELDS = DEAL_FIELDS - {"pipeline", "stage"}
# Created straight into a lost stage, a deal takes its loss reason like a move there does.
CREATE_DEAL_FIELDS = (DEAL_FIELDS - {"version"}) | {"loss_reason", "loss_comment"}
AUDITED = [
    "title",
    "amount",
    "currency",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "comment",
    "custom",
]
BUILTIN_REQUIRABLE = {
    "amount": _lazy("Сумма"),
    "contacts": _lazy("Контакты"),
    "comment": _lazy("Комментарий"),
}


def _check_version(current: int, given: Any) -> None:
    if given is None or VERSION_CHECK_DISABLED:
        return
    try:
        expected = to_int(given)
    except ValueError:
        raise ValidationError({"version": _("Ожидается целое число")}) from None
    if expected != current:
        raise Conflict(current_version=current)


def _resolve_company(actor: Actor, raw: Any) -> Company:
    try:
        company_id = to_id(raw)
    except (TypeError, ValueError):
        raise ValueError(_("Укажите компанию")) from None
    qs = Company.objects.filter(pk=company_id)
    if actor.user is not None:
        qs = scope_filter(qs, actor.user, "company")
    company = qs.first()
    if company is None:
        raise ValueError(_("Нет такой компании или нет доступа к ней"))
    return company


def _resolve_contacts(actor: Actor, raw: Any) -> list[Contact]:
    if not isinstance(raw, list) or len(raw) > 100:
        raise ValueError(_("Ожидается список контактов"))
    try:
        ids = sorted({to_id(x) for x in raw})
    except (TypeError, ValueError):
        raise ValueError(_("Ожидается список номеров контактов")) from None
    if any(not 0 < pk < 2**63 for pk in ids):  # outside the id column: no such contact, not a 500
        raise ValueError(_("Нет таких контактов или нет доступа к ним"))
    qs = Contact.objects.filter(pk__in=ids)
    if actor.user is not None:
        qs = scope_filter(qs, actor.user, "contact")
    found = list(qs)
    if len(found) != len(ids):
        raise ValueError(_("Нет таких контактов или нет доступа к ним"))
    return found


def _clean_deal(data: Mapping[str, Any], actor: Actor, *, allowed: set[str]) -> FieldCleaner:
    c = FieldCleaner(data, allowed)
    c.text("title", max_length=255, required=True)
    c.apply("amount", clean_amount, allow_blank=False)
    c.apply("currency", clean_currency, allow_blank=False)
    for key in ("source", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"):
        c.text(key, max_length=64 if key == "source" else 128)
    c.text("comment", max_length=10000)
    c.apply("company", lambda v: _resolve_company(actor, v), allow_blank=False)
    c.apply("contacts", lambda v: _resolve_contacts(actor, v), allow_blank=False)
    if "responsible" in data:
        try:
            c.cleaned["responsible"] = resolve_responsible(actor.user, "deal", data["responsible"])
        except ValidationError as exc:
            c.errors.update(exc.errors)
    return c


def _resolve_stage(raw: Any, *, field: str = "stage") -> Stage:
    if isinstance(raw, Stage):
        return raw
    try:
        stage_id = to_id(raw)
    except (TypeError, ValueError):
        raise ValidationError({field: _("Укажите стадию")}) from None
    stage = Stage.objects.select_related("pipeline").filter(pk=stage_id).first()
    if stage is None:
        raise ValidationError({field: _("Нет такой стадии")})
    return stage


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
      `_announce_entry` keeps the won LTV and emits deal.won / deal.lost / deal.reopened.

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
        return clean_text(raw, max_length=1000)
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
    """After the deal's own event (deal.created / deal.stage_changed): a won deal counts in its
    company's LTV and is announced as won, a lost one as lost, a closed one back in work as
    reopened."""
    payload = _event_payload(
        deal, from_stage=from_stage.pk if from_stage else None, to_stage=entry.stage.pk
    )
    if entry.stage.semantic == StageSemantic.WON:
        track_ltv(deal.company_id, deal.currency, deal.amount)
        emit(name="deal.won", obj=deal, actor=actor, payload=payload)
    elif entry.stage.semantic == StageSemantic.LOST:
        payload["loss_reason"] = entry.loss_reason.pk if entry.loss_reason else None
        emit(name="deal.lost", obj=deal, actor=actor, payload=payload)
    elif from_stage is not None and from_stage.is_closed:
        emit(name="deal.reopened", obj=deal, actor=actor, payload=payload)


def _snapshot(deal: Deal) -> dict[str, Any]:
    data = {f: getattr(deal, f) for f in AUDITED}
    data.update(
        responsible=deal.responsible_id,
        company=deal.company_id,
        stage=deal.stage_id,
    )
    return data


@transaction.atomic
def deal_create(*, actor: Actor, data: Mapping[str, Any]) -> Deal:
    c = _clean_deal(data, actor, allowed=CREATE_DEAL_FIELDS)
    if "title" not in data:
        c.error("title", _("Обязательное поле"))
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
    deal = Deal(custom=custom, opened_at=now, created_by=actor.user, **c.cleaned)
    entry = stage_entry(
        stage=stage,
        values=_deal_values(deal, custom, [x.pk for x in contacts]),
        loss_reason=c.data.get("loss_reason"),
        loss_comment=c.data.get("loss_comment"),
    )
    entry.apply(deal, now)
    deal.save()
    files_attach(entity="deal", object_id=deal.pk, actor=actor, before={}, after=custom)
    track_deal_state(deal, +1)
    track_board(None, board_key(deal))
    if contacts:
        deal.contacts.set(contacts)
    _record_entry(deal=deal, entry=entry, from_stage=None, actor=actor, now=now)
    after = _snapshot(deal)
    after["contacts"] = [x.pk for x in contacts]
    changes = diff({}, after)
    changes.update(entry.audit_changes())
    audit(actor=actor, obj=deal, action="created", changes=changes)
    emit(name="deal.created", obj=deal, actor=actor, payload=_event_payload(deal))
    _announce_entry(deal=deal, entry=entry, from_stage=None, actor=actor)
    return deal


def track_open_deal_for(deal: Deal, *, responsible_id: int, sign: int) -> None:
    if deal.status == StageSemantic.OPEN:
        track_open_deal(
            responsible_id=responsible_id,
            stage_id=deal.stage_id,
            entered_at=deal.stage_entered_at,
            open_tasks=deal.open_tasks,
            sign=sign,
        )


def _event_payload(deal: Deal, **extra: Any) -> dict[str, Any]:
    payload = {
        "pipeline": deal.pipeline_id,
        "stage": deal.stage_id,
        "responsible": deal.responsible_id,
        "company": deal.company_id,
        "amount": deal.amount,
        "currency": deal.currency,  # an amount never travels without its currency
    }
    payload.update(extra)
    return payload


@transaction.atomic
def deal_update(*, deal: Deal, actor: Actor, data: Mapping[str, Any]) -> Deal:
    # No select_related here: PostgreSQL re-checks a FOR UPDATE join against the row another
    # transaction just updated, and a changed stage_id then matches nothing (DoesNotExist).
    deal = Deal.objects.select_for_update().get(pk=deal.pk)
    if "stage" in data or "pipeline" in data:
        raise ValidationError(
            {
                k: _("Стадию меняет перемещение сделки (move)")
                for k in ("stage", "pipeline")
                if k in data
            }
        )
    _check_version(deal.version, data.get("version"))
    c = _clean_deal(data, actor, allowed=UPDATABLE_DEAL_FIELDS)
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
    board_before = board_key(deal)
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
    reassigned = deal.responsible_id != before["responsible"]
    if reassigned:
        track_open_deal_for(deal, responsible_id=before["responsible"], sign=-1)
    deal.version = F("version") + 1
    deal.save()
    files_attach(
        entity="deal", object_id=deal.pk, actor=actor, before=before["custom"], after=deal.custom
    )
    deal.refresh_from_db()
    if deal.status == StageSemantic.WON and deal.company_id != before["company"]:
        # A won deal counts in its company's LTV: moving it moves the amount.
        track_ltv(before["company"], deal.currency, -deal.amount)
        track_ltv(deal.company_id, deal.currency, deal.amount)
    if reassigned:
        track_deal_state(deal, +1)
    track_board(board_before, board_key(deal))
    if contacts is not None:
        deal.contacts.set(contacts)
    after = _snapshot(deal)
    before["contacts"], after["contacts"] = before_contacts, new_contacts
    changes = diff(before, after)
    if changes:
        audit(actor=actor, obj=deal, action="updated", changes=changes)
        emit(
            name="deal.updated",
            obj=deal,
            actor=actor,
            payload=_event_payload(deal, changes=changes),
        )
        if "responsible" in changes:
            emit(
                name="deal.responsible_changed", obj=deal, actor=actor, payload=_event_payload(deal)
            )
    return deal


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
    deal = Deal.objects.select_for_update().get(pk=deal.pk)  # no join: see deal_update
    _check_version(deal.version, version)
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
    if old_stage.semantic == StageSemantic.WON and old_stage.pk != target.pk:
        track_ltv(deal.company_id, deal.currency, -deal.amount)
    before = _snapshot(deal)
    before["contacts"] = sorted(deal.contacts.values_list("pk", flat=True))
    now = clock.now()
    entered_before = deal.stage_entered_at
    board_before = board_key(deal)
    deal.amount, deal.comment, deal.custom = amount, comment, custom
    if entry is not None:
        track_deal_state(deal, -1)
        entry.apply(deal, now)
    deal.version = F("version") + 1
    deal.save()
    files_attach(
        entity="deal", object_id=deal.pk, actor=actor, before=before["custom"], after=custom
    )
    deal.refresh_from_db()
    track_board(board_before, board_key(deal))
    if contacts is not None:
        deal.contacts.set(contacts)
    if entry is not None:
        track_deal_state(deal, +1)
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
        emit(name="deal.stage_changed", obj=deal, actor=actor, payload=payload)
        _announce_entry(deal=deal, entry=entry, from_stage=old_stage, actor=actor)
    return deal


@transaction.atomic
def deal_delete(*, deal: Deal, actor: Actor) -> None:
    deal = Deal.objects.select_for_update().get(pk=deal.pk)
    if deal.open_tasks:
        raise ApplicationError(
            _("У сделки есть открытые задачи — завершите их перед удалением"), code=ErrorCode.IN_USE
        )
    track_deal_state(deal, -1)
    track_board(board_key(deal), None)
    if deal.status == StageSemantic.WON:
        track_ltv(deal.company_id, deal.currency, -deal.amount)
    audit(actor=actor, obj=deal, action="deleted", changes=diff(_snapshot(deal), {}))
    emit(name="deal.deleted", obj=deal, actor=actor, payload=_event_payload(deal, title=deal.title))
    deal.delete()


# --- pipelines, stages, custom fields (configuration) ----------------------------------------

STAGE_FIELDS = {"name", "semantic", "color", "sla_days", "required_fields", "sort"}


def _clean_stage(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    c = FieldCleaner(data, STAGE_FIELDS)
    c.text("name", max_length=120, required=True)
    if not partial and "name" not in data:
        c.error("name", _("Обязательное поле"))
    if "semantic" in data:
        if data["semantic"] not in StageSemantic.values:
            c.error("semantic", _("Семантика: open, won или lost"))
        else:
            c.cleaned["semantic"] = data["semantic"]
    if "color" in data:
        color = str(data["color"] or "")
        import re

        if not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
            c.error("color", _("Цвет в формате #RRGGBB"))
        else:
            c.cleaned["color"] = color.lower()
    if "sla_days" in data:
        raw = data["sla_days"]
        if raw in (None, ""):
            c.cleaned["sla_days"] = None
        else:
            try:
                days = to_int(raw)
                if days < 0 or days > 3650:
                    raise ValueError
                c.cleaned["sla_days"] = days
            except (TypeError, ValueError):
                c.error("sla_days", _("Число дней от 0 до 3650"))
    if "required_fields" in data:
        raw = data["required_fields"]
        allowed = set(BUILTIN_REQUIRABLE) | set(definitions(CustomFieldEntity.DEAL))
        if not isinstance(raw, list) or any(k not in allowed for k in raw):
            c.error("required_fields", _("Только существующие поля сделки"))
        else:
            c.cleaned["required_fields"] = list(dict.fromkeys(raw))
    c.raise_if_errors()
    return c.cleaned


@transaction.atomic
def pipeline_create(
    *, actor: Actor, name: str, stages: Sequence[Mapping[str, Any]] = ()
) -> Pipeline:
    from voronka.kernel.normalize import clean_text

    try:
        name = clean_text(str(name), max_length=120)
    except ValueError as exc:
        raise ValidationError({"name": str(exc)}) from None
    if not name:
        raise ValidationError({"name": _("Обязательное поле")})
    sort = (Pipeline.objects.aggregate(m=Max("sort"))["m"] or 0) + 1
    pipeline = Pipeline.objects.create(name=name, sort=sort)
    specs = list(stages) or [
        {"name": _("Новая"), "semantic": "open"},
        {"name": _("В работе"), "semantic": "open"},
        {"name": _("Успешно"), "semantic": "won", "color": "#16a34a"},
        {"name": _("Отказ"), "semantic": "lost", "color": "#dc2626"},
    ]
    for index, spec in enumerate(specs):
        cleaned = _clean_stage(spec, partial=False)
        cleaned.setdefault("sort", index)
        Stage.objects.create(pipeline=pipeline, **cleaned)
    audit(actor=actor, obj=pipeline, action="created", changes={"name": [None, name]})
    emit(name="pipeline.created", obj=pipeline, actor=actor)
    return pipeline


@transaction.atomic
def pipeline_rename(*, pipeline: Pipeline, actor: Actor, name: str) -> Pipeline:
    from voronka.kernel.normalize import clean_text

    try:
        name = clean_text(str(name), max_length=120)
    except ValueError as exc:
        raise ValidationError({"name": str(exc)}) from None
    if not name:
        raise ValidationError({"name": _("Обязательное поле")})
    old = pipeline.name
    if name == old:
        return pipeline
    pipeline.name = name
    pipeline.save(update_fields=["name", "updated_at"])
    audit(actor=actor, obj=pipeline, action="updated", changes={"name": [old, name]})
    return pipeline


@transaction.atomic
def stage_create(*, pipeline: Pipeline, actor: Actor, data: Mapping[str, Any]) -> Stage:
    cleaned = _clean_stage(data, partial=False)
    if "sort" not in cleaned:
        cleaned["sort"] = (pipeline.stages.aggregate(m=Max("sort"))["m"] or 0) + 1
    stage = Stage.objects.create(pipeline=pipeline, **cleaned)
    audit(actor=actor, obj=stage, action="created", changes=diff({}, cleaned))
    return stage


@transaction.atomic
def stage_update(*, stage: Stage, actor: Actor, data: Mapping[str, Any]) -> Stage:
    cleaned = _clean_stage(data, partial=True)
    before = {k: getattr(stage, k) for k in cleaned}
    changes = diff(before, cleaned)
    if not changes:
        return stage  # an unchanged row of the settings form writes nothing
    if "semantic" in cleaned and cleaned["semantic"] != stage.semantic and stage.deals.exists():
        raise ApplicationError(
            _("На стадии есть сделки — семантику менять нельзя"), code=ErrorCode.IN_USE
        )
    for key, value in cleaned.items():
        setattr(stage, key, value)
    stage.save()
    audit(actor=actor, obj=stage, action="updated", changes=changes)
    return stage


@transaction.atomic
def stages_reorder(*, pipeline: Pipeline, actor: Actor, order: Sequence[int]) -> None:
    ids = list(pipeline.stages.values_list("pk", flat=True))
    try:
        order = [to_id(x) for x in order]
    except (TypeError, ValueError):
        raise ValidationError({"order": _("Ожидается список стадий")}) from None
    if sorted(order) != sorted(ids):
        raise ValidationError({"order": _("Порядок должен перечислять все стадии воронки")})
    for index, stage_id in enumerate(order):
        Stage.objects.filter(pk=stage_id).update(sort=index)
    audit(actor=actor, obj=pipeline, action="stages_reordered", changes={"order": [ids, order]})


@transaction.atomic
def stage_delete(*, stage: Stage, actor: Actor) -> None:
    if stage.deals.exists():
        raise ApplicationError(
            _("На стадии есть сделки — сначала перенесите их"), code=ErrorCode.IN_USE
        )
    if stage.pipeline.stages.filter(semantic=StageSemantic.OPEN).exclude(pk=stage.pk).count() == 0:
        raise ApplicationError(
            _("В воронке должна остаться открытая стадия"), code=ErrorCode.IN_USE
        )
    if (
        StageChange.objects.filter(to_stage=stage).exists()
        or StageChange.objects.filter(from_stage=stage).exists()
    ):
        raise ApplicationError(
            _("Стадия есть в истории сделок — удалить нельзя"), code=ErrorCode.IN_USE
        )
    audit(actor=actor, obj=stage, action="deleted", changes={"name": [stage.name, None]})
    stage.delete()


CUSTOM_FIELD_INPUT = {"entity", "key", "name", "type", "choices", "sort", "is_active"}


def _clean_choices(raw: Any) -> list[str]:
    """The variants of a list field: texts (no control characters) up to 120, no repeats."""
    if not isinstance(raw, list) or len(raw) > 500 or any(not isinstance(x, str) for x in raw):
        raise ValueError(_("Ожидается список вариантов"))
    choices = [clean_text(x, max_length=120) for x in raw]
    if not all(choices):
        raise ValueError(_("Ожидается список вариантов"))
    return list(dict.fromkeys(choices))


@transaction.atomic
def custom_field_create(*, actor: Actor, data: Mapping[str, Any]) -> CustomField:
    import re

    c = FieldCleaner(data, CUSTOM_FIELD_INPUT)
    c.text("name", max_length=120, required=True)
    if "name" not in data:
        c.error("name", _("Обязательное поле"))
    entity = data.get("entity", CustomFieldEntity.DEAL)
    if entity not in CustomFieldEntity.values:
        c.error("entity", _("Сущность: deal, company или contact"))
    ftype = data.get("type")
    if ftype not in CustomFieldType.values:
        c.error("type", _("Неизвестный тип поля"))
    key = str(data.get("key") or "")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,49}", key) or key in BUILTIN_REQUIRABLE:
        c.error("key", _("Ключ: латинские строчные буквы, цифры и _, с буквы"))
    elif CustomField.objects.filter(entity=entity, key=key).exists():
        c.error("key", _("Поле с таким ключом уже есть"))
    choices: list[str] = []
    try:
        choices = _clean_choices(c.data.get("choices") or [])
    except ValueError as exc:
        c.error("choices", str(exc))
    if ftype in (CustomFieldType.LIST, CustomFieldType.MULTI) and not choices:
        c.errors.setdefault("choices", _("Для списка нужны варианты"))
    c.raise_if_errors()
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
    c = FieldCleaner(data, {"name", "choices", "sort", "is_active"})
    c.text("name", max_length=120, required=True)
    if "choices" in data:
        c.apply("choices", _clean_choices, allow_blank=False)
    if "is_active" in data:
        c.cleaned["is_active"] = bool(data["is_active"])
    c.raise_if_errors()
    before = {k: getattr(field, k) for k in c.cleaned}
    for key, value in c.cleaned.items():
        setattr(field, key, value)
    field.save()
    audit(actor=actor, obj=field, action="updated", changes=diff(before, c.cleaned))
    return field
