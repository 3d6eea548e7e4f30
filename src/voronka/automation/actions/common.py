"""What several actions share: whom a rule means ("the deal's responsible", "their head", a
named user) and when ("3 working days after the deal entered the stage")."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import Field, StrictInt, model_validator

from voronka.automation.registry import Params
from voronka.identity.models import User
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

    @model_validator(mode="after")
    def _user_named(self) -> Who:
        if (self.kind == "user") != (self.user is not None):
            raise ValueError(_("Сотрудник указывается, только когда выбран «сотрудник»"))
        return self


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
