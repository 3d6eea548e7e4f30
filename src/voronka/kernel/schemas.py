from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any

from ninja import Schema
from pydantic import ConfigDict, Field, StrictInt, model_validator

from voronka.kernel.fields import MAX_ID
from voronka.kernel.normalize import clean_input

# Whole numbers in bodies are JSON integers. Pydantic's lax mode reads `true` as 1 and `"1"` or
# `1.0` as 1 — `{"company": true}` created a deal of company 1. Every input schema declares its
# integers with these (tests/api/test_api_strict_ids.py finds any plain `int` left in one).
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Version = Annotated[StrictInt, Field(ge=0, le=MAX_ID, description="Optimistic lock: 409 if stale")]
# Every list's cursor (kernel.pagination): opaque, echoed back as the `cursor` parameter.
NextCursor = Annotated[
    str | None,
    Field(description="Pass as `cursor` for the next page; null at the end. Opaque: do not parse"),
]


class StrictIn(Schema):
    """Input schemas refuse unknown fields (422 naming them) — no mass assignment — and drop
    control characters from every string and key (kernel.normalize.clean_input, the rule the
    services' FieldCleaner applies to forms too)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _clean_strings(cls, data: Any) -> Any:
        return clean_input(data) if isinstance(data, Mapping) else data


class ErrorOut(Schema):
    detail: str
    code: str
    errors: dict[str, str] | None = None
    missing_fields: list[dict[str, str]] | None = None
    current_version: int | None = None


ERRORS: dict[int, Any] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}


class MoneyOut(Schema):
    """One currency's sum. Sums are lists of these, never one figure over mixed currencies."""

    currency: str = Field(description="ISO 4217 code, e.g. RUB")
    amount: str = Field(description="Decimal as a string, e.g. 1250000.00")


def schema_errors(items: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Pydantic's errors of an input schema as {field: message} in the user's language, like
    the services' (the summary then names the field by its label: kernel.labels)."""
    from django.utils.translation import gettext as _

    messages = {
        "missing": _("Обязательное поле"),
        "extra_forbidden": _("Поле нельзя изменить"),
        "int_type": _("Ожидается целое число"),
        "int_parsing": _("Ожидается целое число"),
        "int_from_float": _("Ожидается целое число"),
        "string_type": _("Ожидается текст"),
        "bool_type": _("Ожидается true или false"),
        "bool_parsing": _("Ожидается true или false"),
        "decimal_type": _("Ожидается число"),
        "decimal_parsing": _("Ожидается число"),
        "float_type": _("Ожидается число"),
        "float_parsing": _("Ожидается число"),
        "date_type": _("Ожидается дата ГГГГ-ММ-ДД"),
        "date_parsing": _("Ожидается дата ГГГГ-ММ-ДД"),
        "date_from_datetime_parsing": _("Ожидается дата ГГГГ-ММ-ДД"),
        "date_from_datetime_inexact": _("Ожидается дата ГГГГ-ММ-ДД"),
        "dict_type": _("Ожидается объект"),
        "list_type": _("Ожидается список"),
        "model_type": _("Ожидается объект"),
        "model_attributes_type": _("Ожидается объект"),
    }
    errors: dict[str, str] = {}
    for item in items:
        loc = [str(x) for x in item.get("loc", []) if x not in ("body", "query", "path", "payload")]
        kind, ctx = str(item.get("type", "")), item.get("ctx") or {}
        if kind == "string_too_long":
            message = _("Не длиннее %(n)s символов") % {"n": ctx.get("max_length")}
        elif kind == "string_too_short":
            message = _("Не короче %(n)s символов") % {"n": ctx.get("min_length")}
        elif kind == "greater_than_equal":
            message = _("Не меньше %(n)s") % {"n": _number(ctx.get("ge"))}
        elif kind == "greater_than":
            message = _("Больше %(n)s") % {"n": _number(ctx.get("gt"))}
        elif kind == "less_than_equal":
            message = _("Не больше %(n)s") % {"n": _number(ctx.get("le"))}
        elif kind == "less_than":
            message = _("Меньше %(n)s") % {"n": _number(ctx.get("lt"))}
        elif kind == "value_error" and ctx.get("error") is not None:
            message = str(ctx["error"])
        else:
            message = str(messages.get(kind) or item.get("msg", "invalid"))
        errors.setdefault(".".join(loc) or "body", message)
    return errors


def _number(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)
