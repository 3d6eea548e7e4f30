"""What several actions share: whom a rule means ("the deal's responsible", "their head", a
named user; for a notification also everyone of a role who may see the object) and when
("3 working days after the deal entered the stage")."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import Field, StrictInt, field_validator, model_validator

from voronka.automation.registry import Params
from voronka.identity.models import Role, User
from voronka.identity.scopes import users_who_see
from voronka.identity.selectors import head_of
from voronka.kernel.dates import FIRST_DEADLINE, LAST_DEADLINE
from voronka.kernel.errors import ValidationError
from voronka.kernel.schemas import Id
from voronka.kernel.workdays import add_working_days

if TYPE_CHECKING:
    from voronka.automation.context import RunContext


class Who(Params):
    """deal — the deal's responsible; responsible — the responsible of the object the rule acts
    on (a task's own, a company's, else the deal's); head — that person's head; user — a named
    user."""

    kind: Literal["deal", "responsible", "head", "user"] = "deal"
    user: Id | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _one_person(cls, value: object) -> object:
        if value == "role":  # Recipients' kind: a task or a deal goes to ONE person
            raise ValueError(
                _("Роль можно выбрать только для уведомления: здесь нужен один сотрудник")
            )
        return value

    @model_validator(mode="after")
    def _user_named(self) -> Who:
        if (self.kind == "user") != (self.user is not None):
            raise ValueError(_("Сотрудник указывается, только когда выбран «сотрудник»"))
        return self


class Recipients(Params):
    """Whom a notification goes to: one person as `Who` says, or (role) every active user with
    the role `role` who may see the object the rule acts on (and its deal)."""

    kind: Literal["deal", "responsible", "head", "user", "role"] = "deal"
    user: Id | None = None
    role: Id | None = None

    @model_validator(mode="after")
    def _named(self) -> Recipients:
        if (self.kind == "user") != (self.user is not None):
            raise ValueError(_("Сотрудник указывается, только когда выбран «сотрудник»"))
        if (self.kind == "role") != (self.role is not None):
            raise ValueError(_("Роль указывается, только когда выбрано «роль»"))
        return self

    def person(self) -> Who:
        """One person's recipients as `Who` (kind is not role)."""
        return Who(kind=self.kind, user=self.user)  # type: ignore[arg-type]


def missing_references(params: Params) -> dict[str, str]:
    """Ids in an action's parameters that name nothing here, {dotted path: message}: checked
    when the rule is saved (a role; a user is checked when the rule runs: it may be deactivated
    meanwhile)."""
    errors: dict[str, str] = {}
    for name in type(params).model_fields:
        value = getattr(params, name)
        if isinstance(value, Recipients) and value.role is not None:
            if not Role.objects.filter(pk=value.role).exists():
                errors[f"{name}.role"] = _("Нет такой роли")
        elif isinstance(value, Params):
            errors.update({f"{name}.{k}": v for k, v in missing_references(value).items()})
    return errors


def deal_responsible(ctx: RunContext) -> User | None:
    """The deal's responsible, else (no deal) the object's."""
    if ctx.deal is not None:
        return ctx.deal.responsible
    return getattr(ctx.obj, "responsible", None)


def responsible_of(ctx: RunContext) -> User | None:
    """The responsible of the object the rule acts on (a task's own), else the deal's."""
    own = getattr(ctx.obj, "responsible", None)
    return own if own is not None else deal_responsible(ctx)


def resolve_who(ctx: RunContext, who: Who) -> User:
    if who.kind == "user":
        user = User.objects.filter(pk=who.user or 0, is_active=True).first()
        if user is None:
            raise ValidationError({"user": _("Нет такого активного пользователя")})
        return user
    base = deal_responsible(ctx) if who.kind == "deal" else responsible_of(ctx)
    if base is None:
        raise ValidationError({"responsible": _("У объекта нет ответственного")})
    if who.kind == "head":
        head = head_of(base)
        if head is None:
            raise ValidationError({"responsible": _("У ответственного нет руководителя")})
        return head
    return base


SCOPED_OBJECTS = ("deal", "task", "company", "contact")


def _responsible_id(obj: object) -> int | None:
    value = getattr(obj, "responsible_id", None)
    return value if isinstance(value, int) else None


def resolve_recipients(ctx: RunContext, to: Recipients) -> list[User]:
    """The people a notification goes to, by id. A role: its active members who may see the
    object the rule acts on and, for a deal's task, the deal (identity.scopes: a notification
    carries the deal's link and the rule's text about it) — possibly nobody."""
    if to.kind != "role":
        return [resolve_who(ctx, to.person())]
    members = list(
        User.objects.filter(roles=to.role, is_active=True).prefetch_related("roles").order_by("pk")
    )
    if ctx.object_type not in SCOPED_OBJECTS:
        return []  # an object no scope covers: nobody is known to see it
    seen: list[tuple[str, int | None]] = [(ctx.object_type, _responsible_id(ctx.obj))]
    if ctx.deal is not None and ctx.object_type != "deal":
        seen.append(("deal", ctx.deal.responsible_id))
    for entity, responsible_id in seen:
        members = users_who_see(members, entity, responsible_id)
    return members


class When(Params):
    """after — `amount` units after the moment (a robot: the deal's stage entry; a monitor: now);
    before_field — `amount` days before the date in a deal's custom field `field`;
    fixed — at `at`. `time` ("HH:MM", local) sets the time of day for day-based deadlines."""

    kind: Literal["after", "before_field", "fixed"] = "after"
    amount: StrictInt = Field(default=1, ge=0, le=3650)
    unit: Literal["minutes", "hours", "days", "working_days"] = "days"
    field: str = Field(default="", max_length=64)
    at: dt.datetime | None = None
    time: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @model_validator(mode="after")
    def _complete(self) -> When:
        if self.kind == "before_field" and not self.field:
            raise ValueError(_("Укажите поле сделки с датой, от которой отсчитывать"))
        if self.kind == "fixed" and self.at is None:
            raise ValueError(_("Укажите дату и время"))
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError(_("Дата и время — с часовым поясом"))
        if self.at is not None and not FIRST_DEADLINE <= self.at <= LAST_DEADLINE:
            # Refused when the rule is saved, not at every run (task_create's own range).
            raise ValueError(_("Дата вне допустимого диапазона"))
        return self


def _at_time(moment: dt.datetime, time: str | None) -> dt.datetime:
    if time is None:
        return moment
    hours, minutes = (int(x) for x in time.split(":"))
    local = timezone.localtime(moment)
    return local.replace(hour=hours, minute=minutes, second=0, microsecond=0)


def resolve_when(ctx: RunContext, when: When) -> dt.datetime:
    if when.kind == "fixed":
        assert when.at is not None
        return when.at
    if when.kind == "before_field":
        raw = (ctx.deal.custom or {}).get(when.field) if ctx.deal is not None else None
        try:
            day = dt.date.fromisoformat(str(raw)[:10])
        except ValueError:
            raise ValidationError(
                {"field": _("В сделке не заполнена дата «%s»") % when.field}
            ) from None
        start = timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0)))
        return _at_time(start - dt.timedelta(days=when.amount), when.time)
    moment = ctx.moment
    try:
        if when.unit == "working_days":
            local = timezone.localtime(moment)
            day = add_working_days(local.date(), when.amount)
            return _at_time(local.replace(year=day.year, month=day.month, day=day.day), when.time)
        delta = {
            "minutes": dt.timedelta(minutes=when.amount),
            "hours": dt.timedelta(hours=when.amount),
            "days": dt.timedelta(days=when.amount),
        }[when.unit]
        result = moment + delta
    except (OverflowError, ValueError):
        raise ValidationError({"deadline": _("Дата вне допустимого диапазона")}) from None
    return _at_time(result, when.time) if when.unit == "days" else result
