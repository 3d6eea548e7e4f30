"""Validation of typed custom-field values. One function, used by every service that stores
`custom` JSON (deals, companies, contacts) and by the stage-requirement check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from voronka.kernel import dates
from voronka.kernel.currencies import DEFAULT_CURRENCY, clean_amount, clean_currency
from voronka.kernel.errors import ValidationError
from voronka.kernel.models import CustomField, CustomFieldType
from voronka.kernel.normalize import clean_input, clean_text, normalize_url

MAX_STRING = 1000
_TRUE = {"1", "true", "yes", "on", "да"}
_FALSE = {"0", "false", "no", "off", "нет", ""}


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError
    text = str(value).strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    number = Decimal(text)
    if not number.is_finite() or abs(number) >= Decimal("1e15"):
        raise ValueError
    return number


def clean_value(field: CustomField, value: Any) -> Any:  # noqa: C901 - a switch over types
    """Return the canonical JSON value, None for empty, or raise ValueError(message)."""
    if is_empty(value):
        return None
    kind = field.type
    if kind in (CustomFieldType.STRING, CustomFieldType.ADDRESS):
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(_("Ожидается текст"))
        return clean_text(str(value), max_length=MAX_STRING) or None
    if kind == CustomFieldType.NUMBER:
        try:
            number = _decimal(value)
        except (InvalidOperation, ValueError) as exc:
            raise ValueError(_("Ожидается число")) from exc
        return str(number.normalize()) if number != number.to_integral() else str(int(number))
    if kind == CustomFieldType.MONEY:  # the rule of every sum of money: kernel.currencies
        if isinstance(value, Mapping):
            if set(value) - {"amount", "currency"}:
                raise ValueError(_("Ожидается {amount, currency}"))
            amount, currency = value.get("amount"), value.get("currency", DEFAULT_CURRENCY)
        else:
            amount, currency = value, DEFAULT_CURRENCY
        if is_empty(amount):
            return None
        number = clean_amount(amount)
        return {"amount": str(number), "currency": clean_currency(currency)}
    if kind == CustomFieldType.LIST:
        if not isinstance(value, str) or value not in field.choices:
            raise ValueError(_("Выберите значение из списка"))
        return value
    if kind == CustomFieldType.MULTI:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or any(
            not isinstance(v, str) or v not in field.choices for v in items
        ):
            raise ValueError(_("Выберите значения из списка"))
        return [c for c in field.choices if c in items] or None
    if kind == CustomFieldType.DATE:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            parsed: dt.date | None = value
        else:
            try:
                parsed = parse_date(str(value))
            except ValueError:
                parsed = None
        if parsed is None:
            raise ValueError(_("Ожидается дата ГГГГ-ММ-ДД"))
        if not dates.in_calendar(parsed):
            raise ValueError(str(dates.OUT_OF_CALENDAR))
        return parsed.isoformat()
    if kind == CustomFieldType.DATETIME:
        if isinstance(value, dt.datetime):
            parsed_dt: dt.datetime | None = value
        else:
            try:
                parsed_dt = parse_datetime(str(value))
            except ValueError:
                parsed_dt = None
        if parsed_dt is None:
            raise ValueError(_("Ожидается дата и время"))
        if timezone.is_naive(parsed_dt):
            parsed_dt = timezone.make_aware(parsed_dt)
        # Compared before converting: 0001-01-01T00:00+05:00 is before year 1 in UTC.
        if not dates.FIRST_MOMENT <= parsed_dt <= dates.LAST_MOMENT:
            raise ValueError(str(dates.OUT_OF_CALENDAR))
        utc = parsed_dt.astimezone(dt.UTC)
        if not dates.in_calendar(utc):
            raise ValueError(str(dates.OUT_OF_CALENDAR))
        return utc.isoformat()
    if kind == CustomFieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(_("Ожидается да или нет"))
    if kind == CustomFieldType.LINK:  # http(s) only, as a company's website
        if not isinstance(value, str):
            raise ValueError(_("Ожидается ссылка http(s)://…"))
        return normalize_url(value, max_length=MAX_STRING) or None
    if kind == CustomFieldType.FILE:
        # A file is named by its random token (never its sequential id). Whether this caller may
        # put it in this record's field is decided when the record is saved: files.files_attach.
        from voronka.kernel.files import is_file_token
        from voronka.kernel.models import StoredFile

        if not is_file_token(value):
            raise ValueError(_("Ожидается файл"))
        if not StoredFile.objects.filter(token=value, entity=field.entity).exists():
            raise ValueError(_("Файл не найден"))
        return value
    raise ValueError(_("Неизвестный тип поля"))


def definitions(entity: str) -> dict[str, CustomField]:
    return {f.key: f for f in CustomField.objects.filter(entity=entity, is_active=True)}


def clean_custom(
    entity: str, values: Mapping[str, Any] | None, *, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Merge `values` into `current`, validating each; unknown keys are refused."""
    if values is None:
        return dict(current or {})
    if not isinstance(values, Mapping):
        raise ValidationError({"custom": _("Ожидается объект {поле: значение}")})
    try:  # keys and strings without control characters, as every input (kernel.normalize)
        values = clean_input(values)
    except ValueError as exc:
        raise ValidationError({"custom": str(exc)}) from None
    fields = definitions(entity)
    result = dict(current or {})
    errors: dict[str, str] = {}
    for key, raw in values.items():
        field = fields.get(key)
        if field is None:
            errors[f"custom.{key}"] = _("Нет такого поля")
            continue
        try:
            cleaned = clean_value(field, raw)
        except ValueError as exc:
            errors[f"custom.{key}"] = str(exc)  # the summary names the field by its name
            continue
        if cleaned is None:
            result.pop(key, None)
        else:
            result[key] = cleaned
    if errors:
        raise ValidationError(errors)
    return result


def missing_fields(values: Mapping[str, Any], required: Iterable[str]) -> list[str]:
    return [key for key in required if is_empty(values.get(key))]


# The deal's built-in fields a stage may require besides custom ones; custom keys avoid them.
BUILTIN_REQUIRABLE = {
    "amount": _lazy("Сумма"),
    "contacts": _lazy("Контакты"),
    "comment": _lazy("Комментарий"),
}
