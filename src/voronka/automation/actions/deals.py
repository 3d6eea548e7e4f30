"""Actions on the deal: set a field, give it to someone (round robin / least loaded), move it,
copy it into another pipeline (the tunnel), start a follow-up deal. All through the deal
services, as the rule's actor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from voronka.automation.actions.common import Who, resolve_who
from voronka.automation.context import render_text
from voronka.automation.models import Rule, RuleRun, RunStatus
from voronka.automation.registry import Params, action
from voronka.deals.models import Deal, Stage, StageSemantic
from voronka.deals.selectors import open_deals_by_user
from voronka.deals.services import deal_create, deal_move_to_stage, deal_update
from voronka.identity.models import Department, User
from voronka.kernel.errors import ValidationError
from voronka.kernel.schemas import Id

if TYPE_CHECKING:
    from voronka.automation.context import RunContext

SETTABLE = frozenset(
    {"title", "amount", "source", "comment", "utm_source", "utm_medium", "utm_campaign"}
)


def _deal(ctx: RunContext) -> Deal:
    if ctx.deal is None:
        raise ValidationError({"deal": _("Правило действует на сделку, а у объекта её нет")})
    return ctx.deal


class SetField(Params):
    field: str = Field(min_length=1, max_length=71)
    value: StrictStr | StrictInt | StrictFloat | StrictBool | None

    @model_validator(mode="after")
    def _known(self) -> SetField:
        if self.field not in SETTABLE and not self.field.startswith("custom."):
            raise ValueError(_("Поле: одно из %s или custom.<ключ>") % ", ".join(sorted(SETTABLE)))
        return self


@action("set_field", SetField, label=gettext_lazy("Изменить поле"))
def set_field(ctx: RunContext, p: SetField) -> dict[str, Any]:
    deal = _deal(ctx)
    value = render_text(p.value, ctx.values()) if isinstance(p.value, str) else p.value
    plan = {"deal": deal.pk, "field": p.field, "value": value}
    if ctx.dry:
        return plan
    if p.field.startswith("custom."):
        data: dict[str, Any] = {"custom": {p.field.removeprefix("custom."): value}}
    else:
        data = {p.field: value}
    deal_update(deal=deal, actor=ctx.actor, data=data)
    return plan


class Distribute(Params):
    """round_robin — each next deal to the next member; least_loaded — to the member with the
    fewest open deals. Members: the active users of `department` (with its sub-departments)
    and/or `users`."""

    mode: Literal["round_robin", "least_loaded"] = "round_robin"
    department: Id | None = None
    users: list[Id] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _group(self) -> Distribute:
        if self.department is None and not self.users:
            raise ValueError(_("Укажите отдел или сотрудников, между которыми распределять"))
        return self


def _members(p: Distribute) -> list[User]:
    q = Q(pk__in=p.users)
    if p.department is not None:
        path = Department.objects.filter(pk=p.department).values_list("path", flat=True).first()
        if path:
            q |= Q(department__path__startswith=path)
    return list(User.objects.filter(q, is_active=True).order_by("pk"))


def _next_in_turn(rule: Rule, members: list[User]) -> User:
    """After the member the rule gave its last deal to (its last done run says whom)."""
    Rule.objects.select_for_update().filter(pk=rule.pk).first()  # one turn at a time
    last = (
        RuleRun.objects.filter(rule=rule, status=RunStatus.DONE, result__has_key="responsible")
        .order_by("-finished_at", "-id")
        .values_list("result", flat=True)
        .first()
    )
    last_id = (last or {}).get("responsible")
    ids = [m.pk for m in members]
    if last_id in ids:
        return members[(ids.index(last_id) + 1) % len(members)]
    later = [m for m in members if last_id is None or m.pk > last_id]
    return later[0] if later else members[0]


@action("change_responsible", Distribute, label=gettext_lazy("Сменить ответственного"))
def change_responsible(ctx: RunContext, p: Distribute) -> dict[str, Any]:
    deal = _deal(ctx)
    members = _members(p)
    if not members:
        raise ValidationError({"users": _("В группе нет активных сотрудников")})
    if p.mode == "least_loaded":
        load = open_deals_by_user(m.pk for m in members)
        target = min(members, key=lambda m: (load[m.pk], m.pk))
    else:
        target = members[0] if ctx.dry else _next_in_turn(ctx.rule, members)
    plan = {"deal": deal.pk, "responsible": target.pk}
    if not ctx.dry and deal.responsible_id != target.pk:
        deal_update(deal=deal, actor=ctx.actor, data={"responsible": target.pk})
    return plan


class MoveStage(Params):
    stage: Id


@action("move_stage", MoveStage, label=gettext_lazy("Сменить стадию"))
def move_stage(ctx: RunContext, p: MoveStage) -> dict[str, Any]:
    deal = _deal(ctx)
    plan = {"deal": deal.pk, "from_stage": deal.stage_id, "stage": p.stage}
    if deal.stage_id == p.stage:
        return {**plan, "unchanged": True}
    if not ctx.dry:
        deal_move_to_stage(deal=deal, stage=p.stage, actor=ctx.actor)
    return plan


class CopyDeal(Params):
    """The tunnel: a copy of the deal in another pipeline's stage. `stage` None: the stage its
    loss reason points to (Подогрев by loss reason, seed 002), for a lost deal."""

    stage: Id | None = None
    title: str = Field(default="{deal.title}", min_length=1, max_length=255)
    responsible: Who = Who()


def _target_stage(deal: Deal, stage_id: int | None) -> Stage:
    if stage_id is None:
        reason = deal.loss_reason
        stage = reason.warming_stage if reason is not None else None
        if stage is None:
            raise ValidationError({"stage": _("У причины проигрыша нет стадии подогрева")})
        return stage
    stage = Stage.objects.select_related("pipeline").filter(pk=stage_id).first()
    if stage is None:
        raise ValidationError({"stage": _("Нет такой стадии")})
    return stage


def _copy(ctx: RunContext, p: CopyDeal, *, amount: bool) -> dict[str, Any]:
    deal = _deal(ctx)
    stage = _target_stage(deal, p.stage)
    responsible = resolve_who(ctx, p.responsible)
    title = render_text(p.title, ctx.values())[:255]
    plan = {
        "source_deal": deal.pk,
        "pipeline": stage.pipeline_id,
        "stage": stage.pk,
        "title": title,
        "responsible": responsible.pk,
    }
    if ctx.dry:
        return plan
    data: dict[str, Any] = {
        "title": title,
        "pipeline": stage.pipeline_id,
        "stage": stage.pk,
        "company": deal.company_id,
        "contacts": list(deal.contacts.values_list("pk", flat=True)),
        "responsible": responsible.pk,
        "source": deal.source,
        "comment": _("Создана роботом «%(rule)s» из сделки №%(deal)s")
        % {"rule": ctx.rule.name, "deal": deal.pk},
    }
    if amount:
        data.update(amount=str(deal.amount), currency=deal.currency)
    if stage.semantic == StageSemantic.LOST:
        raise ValidationError({"stage": _("Нельзя создать сделку сразу в проигранной стадии")})
    created = deal_create(actor=ctx.actor, data=data)
    return {**plan, "deal": created.pk}


@action("copy_to_pipeline", CopyDeal, label=gettext_lazy("Копировать в другую воронку"))
def copy_to_pipeline(ctx: RunContext, p: CopyDeal) -> dict[str, Any]:
    return _copy(ctx, p, amount=True)


@action("create_deal", CopyDeal, label=gettext_lazy("Создать следующую сделку"))
def create_deal(ctx: RunContext, p: CopyDeal) -> dict[str, Any]:
    """A follow-up deal for the same client (won → a deal in Обзвон for the next purchase)."""
    return _copy(ctx, p, amount=False)
