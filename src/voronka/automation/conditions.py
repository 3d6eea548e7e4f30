"""A rule's conditions: field comparisons that must all hold when the rule runs (not when it was
planned: a delayed robot looks at the deal as it is after the delay).

    [{"field": "amount", "op": "gte", "value": "100000"},
     {"field": "source", "op": "in", "value": ["site", "call"]},
     {"field": "custom.region", "op": "set"}]
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator, model_validator

if TYPE_CHECKING:
    from voronka.automation.context import RunContext

Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in", "set", "not_set"]

# Field → label; "custom.<key>" names a custom field of the deal, "task.<field>" the task an
# event is about (a trigger on task.completed).
FIELDS: dict[str, Any] = {
    "amount": _("Сумма"),
    "currency": _("Валюта"),
    "source": _("Источник"),
    "title": _("Название"),
    "responsible": _("Ответственный"),
    "company": _("Компания"),
    "stage": _("Стадия"),
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "task.type": _("Тип задачи"),
    "task.responsible": _("Ответственный задачи"),
}
NUMERIC = frozenset({"amount"})
ID_FIELDS = frozenset({"responsible", "company", "stage", "task.responsible"})
MAX_CONDITIONS = 20


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: Op
    value: Any = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value in FIELDS or (value.startswith("custom.") and 7 < len(value) <= 71):
            return value
        raise ValueError(_t("Нет такого поля: %s") % value)

    @model_validator(mode="after")
    def _value_fits(self) -> Condition:
        if self.op in ("set", "not_set"):
            return self
        if self.op == "in":
            if not isinstance(self.value, list) or not self.value or len(self.value) > 100:
                raise ValueError(_t("«Одно из» — список от 1 до 100 значений"))
            for item in self.value:
                _scalar(item)
            return self
        _scalar(self.value)
        if self.field in NUMERIC or self.op in ("gt", "gte", "lt", "lte"):
            _number(self.value)
        return self


def _scalar(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(_t("Значение — текст или число"))
    if isinstance(value, str) and (len(value) > 500 or "\x00" in value):
        raise ValueError(_t("Значение не длиннее 500 символов"))


def _number(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(_t("«%s» — не число") % value) from None
    if not number.is_finite():
        raise ValueError(_t("«%s» — не число") % value)
    return number


CONDITIONS = TypeAdapter(list[Condition])


def parse_conditions(raw: Any) -> list[Condition]:
    """Validate a rule's stored or posted conditions (pydantic ValidationError on a bad one)."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or len(raw) > MAX_CONDITIONS:
        raise ValueError(_t("Условий — не больше %d") % MAX_CONDITIONS)
    return CONDITIONS.validate_python(raw)  # errors name the condition's index


def field_value(ctx: RunContext, name: str) -> Any:
    deal = ctx.deal
    if name.startswith("task."):
        if ctx.object_type != "task":
            return None
        attr = name.removeprefix("task.")
        return getattr(ctx.obj, f"{attr}_id" if attr == "responsible" else attr, None)
    if deal is None:
        return None
    if name.startswith("custom."):
        return (deal.custom or {}).get(name.removeprefix("custom."))
    if name in ID_FIELDS:
        return getattr(deal, f"{name}_id")
    return getattr(deal, name, None)


def _same(actual: Any, expected: Any, name: str) -> bool:
    if actual is None:
        return False
    if name in NUMERIC or isinstance(actual, int | Decimal) and not isinstance(actual, bool):
        try:
            return Decimal(str(actual)) == _number(expected)
        except ValueError:
            return False
    return str(actual).casefold() == str(expected).casefold()


def holds(condition: Condition, ctx: RunContext) -> bool:
    actual = field_value(ctx, condition.field)
    op = condition.op
    if op == "set":
        return actual not in (None, "", [], {})
    if op == "not_set":
        return actual in (None, "", [], {})
    if op == "eq":
        return _same(actual, condition.value, condition.field)
    if op == "ne":
        return not _same(actual, condition.value, condition.field)
    if op == "in":
        return any(_same(actual, v, condition.field) for v in condition.value)
    if op == "contains":
        return actual is not None and str(condition.value).casefold() in str(actual).casefold()
    try:
        left, right = _number(actual), _number(condition.value)
    except ValueError:
        return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def all_hold(conditions: list[Condition], ctx: RunContext) -> bool:
    return all(holds(c, ctx) for c in conditions)
