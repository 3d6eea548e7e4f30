"""A rule's conditions: field comparisons that must all hold when the rule runs (not when it was
planned: a delayed robot looks at the deal as it is after the delay).

    [{"field": "amount", "op": "gte", "value": "100000"},
     {"field": "source", "op": "in", "value": ["site", "call"]},
     {"field": "custom.region", "op": "set"}]
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator, model_validator

from voronka.activities.models import TaskType
from voronka.contacts.models import Company
from voronka.deals.models import LossReason, Stage
from voronka.identity.models import User
from voronka.kernel.models import CustomField, CustomFieldEntity

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
    "loss_reason": _("Причина проигрыша"),
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "task.type": _("Тип задачи"),
    "task.responsible": _("Ответственный задачи"),
}
NUMERIC = frozenset({"amount"})
ID_FIELDS = frozenset({"responsible", "company", "stage", "loss_reason", "task.responsible"})
MAX_CONDITIONS = 20

# What a field's value is — the picker the form shows for it and the comparisons that fit it.
# A field not named here is text; a custom field's kind follows its type (`field_kind`).
FIELD_KINDS: dict[str, str] = {
    "amount": "number",
    "responsible": "user",
    "task.responsible": "user",
    "company": "company",
    "stage": "stage",
    "loss_reason": "loss_reason",
    "task.type": "task_type",
}
_PICKED: tuple[Op, ...] = ("eq", "ne", "in", "set", "not_set")
OPS_BY_KIND: dict[str, tuple[Op, ...]] = {
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "in", "set", "not_set"),
    "text": ("eq", "ne", "contains", "in", "set", "not_set"),
    "user": _PICKED,
    "stage": _PICKED,
    "loss_reason": _PICKED,
    "task_type": _PICKED,
    "choice": _PICKED,
    "company": ("eq", "ne", "set", "not_set"),  # one company: the picker picks one
}
# Kinds whose value is a row's id (checked against its table when the rule is saved).
REF_KINDS = frozenset({"user", "company", "stage", "loss_reason"})
OP_SIGNS: dict[str, str] = {
    "eq": "=",
    "ne": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "contains": "∋",
    "in": "∈",
}


def field_kind(name: str, custom_types: Mapping[str, str] | None = None) -> str:
    """The kind of a condition field's value; `custom_types`: a deal custom field's key → type."""
    if name in FIELD_KINDS:
        return FIELD_KINDS[name]
    if name.startswith("custom.") and custom_types:
        ftype = custom_types.get(name.removeprefix("custom."))
        if ftype in ("number", "money"):
            return "number"
        if ftype in ("list", "multi"):
            return "choice"
    return "text"


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
        if not self.field.startswith("custom."):  # a custom field's kind: check_references
            kind = field_kind(self.field)
            if self.op not in OPS_BY_KIND[kind]:
                raise ValueError(
                    _t("Сравнение «%(op)s» не подходит для поля «%(field)s»")
                    % {"op": OP_SIGNS.get(self.op, self.op), "field": FIELDS[self.field]}
                )
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
    if isinstance(actual, list) and op in ("eq", "ne", "in"):  # a multi-choice field: any item
        expected = condition.value if op == "in" else [condition.value]
        hit = any(_same(a, v, condition.field) for a in actual for v in expected)
        return not hit if op == "ne" else hit
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


# --- references: checked when a rule is saved -----------------------------------------------------


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value.strip()) or None
    return None


def custom_field_types() -> dict[str, str]:
    """The deal's custom fields: key → type (a condition on `custom.<key>` fits its type)."""
    return dict(
        CustomField.objects.filter(entity=CustomFieldEntity.DEAL).values_list("key", "type")
    )


def check_references(
    conditions: list[Condition], *, pipeline: int | None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The conditions as stored (an id as a number) and the problems of those whose comparison
    does not fit the field's kind or whose value names nothing here: a user, a company, a loss
    reason that does not exist, a stage outside the rule's pipeline, a task type or a list
    field's option that is not one. Errors are keyed `conditions.<index>.op|value` and say
    which condition ("Условие 2: …")."""
    errors: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    customs = {
        f.key: f
        for f in CustomField.objects.filter(entity=CustomFieldEntity.DEAL)
        if any(c.field == f"custom.{f.key}" for c in conditions)
    }
    types = {key: f.type for key, f in customs.items()}
    wanted: dict[str, dict[int, list[int]]] = {kind: {} for kind in REF_KINDS}

    def fail(index: int, part: str, message: str) -> None:
        errors.setdefault(
            f"conditions.{index}.{part}",
            _t("Условие %(n)s: %(message)s") % {"n": index + 1, "message": message},
        )

    for index, condition in enumerate(conditions):
        row = condition.model_dump(mode="json")
        out.append(row)
        kind = field_kind(condition.field, types)
        if condition.op not in OPS_BY_KIND[kind]:
            label = FIELDS.get(condition.field) or (
                customs[condition.field[7:]].name
                if condition.field[7:] in customs
                else condition.field
            )
            fail(
                index,
                "op",
                _t("сравнение «%(op)s» не подходит для поля «%(field)s»")
                % {"op": OP_SIGNS.get(condition.op, condition.op), "field": label},
            )
            continue
        if condition.op in ("set", "not_set"):
            continue
        values = condition.value if isinstance(condition.value, list) else [condition.value]
        if kind in REF_KINDS:
            ids = [_as_id(v) for v in values]
            if None in ids:
                bad = values[ids.index(None)]
                fail(index, "value", _t("«%s» — не номер записи: выберите из списка") % bad)
                continue
            for pk in ids:
                wanted[kind].setdefault(pk or 0, []).append(index)
            row["value"] = ids if isinstance(condition.value, list) else ids[0]
        elif kind == "task_type":
            unknown = [v for v in values if str(v) not in TaskType.values]
            if unknown:
                fail(index, "value", _t("Нет такого типа задачи: %s") % unknown[0])
        elif kind == "choice":
            options = customs[condition.field[7:]].choices or []
            unknown = [v for v in values if str(v) not in options]
            if unknown:
                fail(index, "value", _t("В списке поля нет значения «%s»") % unknown[0])

    def missing(kind: str, found: set[int], message: str) -> None:
        for pk, indexes in wanted[kind].items():
            if pk not in found:
                for index in indexes:
                    fail(index, "value", message % pk)

    if wanted["user"]:
        users = set(User.objects.filter(pk__in=wanted["user"]).values_list("pk", flat=True))
        missing("user", users, _t("нет сотрудника с номером %s"))
    if wanted["company"]:
        companies = set(
            Company.objects.filter(pk__in=wanted["company"]).values_list("pk", flat=True)
        )
        missing("company", companies, _t("нет компании с номером %s"))
    if wanted["loss_reason"]:
        reasons = set(
            LossReason.objects.filter(pk__in=wanted["loss_reason"]).values_list("pk", flat=True)
        )
        missing("loss_reason", reasons, _t("нет причины проигрыша с номером %s"))
    if wanted["stage"]:
        stages = dict(Stage.objects.filter(pk__in=wanted["stage"]).values_list("pk", "pipeline_id"))
        missing("stage", set(stages), _t("нет стадии с номером %s"))
        for pk, indexes in wanted["stage"].items():
            if pk in stages and pipeline is not None and stages[pk] != pipeline:
                for index in indexes:
                    fail(index, "value", _t("стадия из другой воронки"))
    return out, errors
