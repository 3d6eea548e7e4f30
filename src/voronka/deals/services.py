"""Every write to deals, pipelines and stages. One transaction per call; each writes its audit
rows and domain events in that transaction. UI, API, automation and imports all call these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from voronka.contacts.models import Company, Contact
from voronka.deals.counters import board_key, track_board, track_deal_state, track_open_deal
from voronka.deals.models import Deal, LossReason, Pipeline, Stage, StageChange, StageSemantic
from voronka.identity.scopes import resolve_responsible, scope_filter
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit, diff, emit
from voronka.kernel.customfields import clean_custom, definitions, is_empty
from voronka.kernel.errors import ApplicationError, Conflict, ErrorCode, ValidationError
from voronka.kernel.fields import FieldCleaner
from voronka.kernel.models import CustomField, CustomFieldEntity, CustomFieldType

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
MAX_AMOUNT = Decimal("1e13")


def _check_version(current: int, given: Any) -> None:
    if given is None or VERSION_CHECK_DISABLED:
        return
    if isinstance(given, bool):
        raise ValidationError({"version": _("Ожидается целое число")})
    try:
        expected = int(given)
    except (TypeError, ValueError):
        raise ValidationError({"version": _("Ожидается целое число")}) from None
    if expected != current:
        raise Conflict(current_version=current)


def _clean_amount(raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise ValueError(_("Ожидается сумма"))
    try:
        text = str(raw).strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
        value = Decimal(text or "0").quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValueError(_("Ожидается сумма, например 15000.50")) from None
    if not value.is_finite() or value < 0 or value >= MAX_AMOUNT:
        raise ValueError(_("Сумма от 0 до 10 триллионов"))
    return value


def _clean_currency(raw: Any) -> str:
    if not isinstance(raw, str) or len(raw) != 3 or not raw.isalpha() or not raw.isascii():
        raise ValueError(_("Валюта — три латинские буквы, например RUB"))
    return raw.upper()


def _resolve_company(actor: Actor, raw: Any) -> Company:
    try:
        company_id = int(raw)
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
        ids = sorted({int(x) for x in raw if not isinstance(x, bool)})
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
    c.apply("amount", _clean_amount, allow_blank=False)
    c.apply("currency", _clean_currency, allow_blank=False)
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
        stage_id = int(raw)
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


def _required_error(stage: Stage, missing: list[str]) -> ApplicationError:
    labels = required_field_labels(missing)
    return ApplicationError(
        _("Для стадии «%(stage)s» заполните: %(fields)s")
        % {"stage": stage.name, "fields": ", ".join(labels.values())},
        code=ErrorCode.REQUIRED_FIELDS_MISSING,
        errors={
            k: _("Обязательно для стадии «%(stage)s»") % {"stage": stage.name} for k in missing
        },
        extra={"missing_fields": [{"key": k, "name": labels[k]} for k in missing]},
    )


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
    c = _clean_deal(data, actor, allowed=DEAL_FIELDS - {"version"})
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
            pipeline = Pipeline.objects.filter(pk=int(data["pipeline"]), is_active=True).first()
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
    deal = Deal(
        pipeline_id=stage.pipeline_id,
        stage=stage,
        status=stage.semantic,
        custom=custom,
        opened_at=now,
        stage_entered_at=now,
        closed_at=now if stage.is_closed else None,
        created_by=actor.user,
        **c.cleaned,
    )
    missing = stage_missing_fields(
        stage, deal_values=_deal_values(deal, custom, [x.pk for x in contacts])
    )
    if missing:
        raise _required_error(stage, missing)
    deal.save()
    track_deal_state(deal, +1)
    track_board(None, board_key(deal))
    if contacts:
        deal.contacts.set(contacts)
    StageChange.objects.create(
        deal=deal,
        from_stage=None,
        to_stage=stage,
        at=now,
        by=actor.user,
        actor_kind=str(actor.kind),
    )
    after = _snapshot(deal)
    after["contacts"] = [x.pk for x in contacts]
    audit(actor=actor, obj=deal, action="created", changes=diff({}, after))
    emit(name="deal.created", obj=deal, actor=actor, payload=_event_payload(deal))
    if deal.status == StageSemantic.WON:
        _ltv_add(deal.company_id, deal.amount)
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
    }
    payload.update(extra)
    return payload


def _ltv_add(company_id: int, amount: Decimal) -> None:
    if amount:
        Company.objects.filter(pk=company_id).update(ltv=F("ltv") + amount)


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
    deal.refresh_from_db()
    if deal.status == StageSemantic.WON and deal.company_id != before["company"]:
        # A won deal counts in its company's LTV: moving it moves the amount.
        _ltv_add(before["company"], -deal.amount)
        _ltv_add(deal.company_id, deal.amount)
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
        reason_id = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({"loss_reason": _("Укажите причину отказа")}) from None
    reason = LossReason.objects.filter(pk=reason_id, is_active=True).first()
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
    fields = dict(fields or {})
    amount = deal.amount
    if "amount" in fields:
        try:
            amount = _clean_amount(fields.pop("amount"))
        except ValueError as exc:
            raise ValidationError({"amount": str(exc)}) from None
    if deal.stage.is_closed and target.is_closed and amount != deal.amount:
        raise ValidationError(
            {"amount": _("Сумму закрытой сделки изменить нельзя — сначала верните её в работу")}
        )
    comment = deal.comment
    if "comment" in fields:
        comment_raw = fields.pop("comment")
        if not isinstance(comment_raw, str) or len(comment_raw) > 10000:
            raise ValidationError({"comment": _("Ожидается текст")})
        comment = comment_raw.strip()
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
    missing = stage_missing_fields(target, deal_values=values)
    if missing:
        raise _required_error(target, missing)
    reason = None
    if target.semantic == StageSemantic.LOST:
        if loss_reason in (None, ""):
            if LossReason.objects.filter(is_active=True).exists():
                raise ApplicationError(
                    _("Укажите причину отказа"),
                    code=ErrorCode.LOSS_REASON_REQUIRED,
                    errors={"loss_reason": _("Обязательно для проигранной сделки")},
                )
        else:
            reason = _resolve_loss_reason(loss_reason)
    if old_stage.semantic == StageSemantic.WON and old_stage.pk != target.pk:
        _ltv_add(deal.company_id, -deal.amount)
    before = _snapshot(deal)
    before["contacts"] = sorted(deal.contacts.values_list("pk", flat=True))
    now = clock.now()
    entered_before = deal.stage_entered_at
    board_before = board_key(deal)
    changed_stage = target.pk != old_stage.pk
    deal.amount, deal.comment, deal.custom = amount, comment, custom
    if changed_stage:
        track_deal_state(deal, -1)
        deal.stage = target
        deal.status = target.semantic
        deal.stage_entered_at = now
        deal.closed_at = now if target.is_closed else None
        deal.loss_reason = reason if target.semantic == StageSemantic.LOST else None
        deal.loss_comment = (
            loss_comment.strip()[:1000] if target.semantic == StageSemantic.LOST else ""
        )
    deal.version = F("version") + 1
    deal.save()
    deal.refresh_from_db()
    track_board(board_before, board_key(deal))
    if contacts is not None:
        deal.contacts.set(contacts)
    if changed_stage:
        track_deal_state(deal, +1)
        StageChange.objects.create(
            deal=deal,
            from_stage=old_stage,
            to_stage=target,
            at=now,
            by=actor.user,
            actor_kind=str(actor.kind),
            seconds_in_from=int((now - entered_before).total_seconds()),
        )
    after = _snapshot(deal)
    after["contacts"] = contact_ids if contact_ids is not None else before["contacts"]
    changes = diff(before, after)
    if reason is not None:
        changes["loss_reason"] = [None, reason.name]
    audit(
        actor=actor,
        obj=deal,
        action="stage_changed" if changed_stage else "updated",
        changes=changes,
    )
    if changed_stage:
        payload = _event_payload(deal, from_stage=old_stage.pk, to_stage=target.pk)
        emit(name="deal.stage_changed", obj=deal, actor=actor, payload=payload)
        if target.semantic == StageSemantic.WON:
            _ltv_add(deal.company_id, deal.amount)
            emit(name="deal.won", obj=deal, actor=actor, payload=payload)
        elif target.semantic == StageSemantic.LOST:
            payload["loss_reason"] = reason.pk if reason else None
            emit(name="deal.lost", obj=deal, actor=actor, payload=payload)
        elif old_stage.is_closed:
            emit(name="deal.reopened", obj=deal, actor=actor, payload=payload)
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
        _ltv_add(deal.company_id, -deal.amount)
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
                days = int(raw)
                if isinstance(raw, bool) or days < 0 or days > 3650:
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
    if "semantic" in cleaned and cleaned["semantic"] != stage.semantic and stage.deals.exists():
        raise ApplicationError(
            _("На стадии есть сделки — семантику менять нельзя"), code=ErrorCode.IN_USE
        )
    for key, value in cleaned.items():
        setattr(stage, key, value)
    stage.save()
    changes = diff(before, cleaned)
    if changes:
        audit(actor=actor, obj=stage, action="updated", changes=changes)
    return stage


@transaction.atomic
def stages_reorder(*, pipeline: Pipeline, actor: Actor, order: Sequence[int]) -> None:
    ids = list(pipeline.stages.values_list("pk", flat=True))
    try:
        order = [int(x) for x in order]
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
    choices = data.get("choices") or []
    if not isinstance(choices, list) or any(
        not isinstance(x, str) or not x.strip() or len(x) > 120 for x in choices
    ):
        c.error("choices", _("Ожидается список вариантов"))
    elif ftype in (CustomFieldType.LIST, CustomFieldType.MULTI) and not choices:
        c.error("choices", _("Для списка нужны варианты"))
    c.raise_if_errors()
    sort = (CustomField.objects.filter(entity=entity).aggregate(m=Max("sort"))["m"] or 0) + 1
    field = CustomField.objects.create(
        entity=entity,
        key=key,
        name=c.cleaned["name"],
        type=ftype,
        choices=[x.strip() for x in choices],
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
        choices = data["choices"]
        if not isinstance(choices, list) or any(
            not isinstance(x, str) or not x.strip() for x in choices
        ):
            c.error("choices", _("Ожидается список вариантов"))
        else:
            c.cleaned["choices"] = [x.strip() for x in choices]
    if "is_active" in data:
        c.cleaned["is_active"] = bool(data["is_active"])
    c.raise_if_errors()
    before = {k: getattr(field, k) for k in c.cleaned}
    for key, value in c.cleaned.items():
        setattr(field, key, value)
    field.save()
    audit(actor=actor, obj=field, action="updated", changes=diff(before, c.cleaned))
    return field
