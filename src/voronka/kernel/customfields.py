"""Validation of typed custom-field values. One function, used by every service that stores
`custom` JSON (deals, companies, contacts) and by the stage-requirement check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from voronka.kernel.errors import ValidationError
from voronka.kernel.models import CustomField, CustomFieldType
from voronka.kernel.normalize import clean_text

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
    if kind == CustomFieldType.MONEY:
        amount = value.get("amount") if isinstance(value, Mapping) else value
        currency = value.get("currency", "RUB") if isinstance(value, Mapping) else "RUB"
        try:
            number = _decimal(amount).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError) as exc:
            raise ValueError(_("Ожидается сумма")) from exc
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            raise ValueError(_("Валюта — три буквы, например RUB"))
        return {"amount": str(number), "currency": currency.upper()}
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
            return value.isoformat()
        try:
            parsed = parse_date(str(value))
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError(_("Ожидается дата ГГГГ-ММ-ДД"))
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
        try:
            return parsed_dt.astimezone(dt.UTC).isoformat()
        except OverflowError as exc:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
            raise ValueError(_("Ожидается дата и время")) from exc
    if kind == CustomFieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(_("Ожидается да или нет"))
    if kind == CustomFieldType.LINK:
        text = clean_text(str(value), max_length=MAX_STRING)
        parsed_url = urlparse(text)
        if parsed_url.scheme not in ("http", "https") or not parsed_url.netloc:
            raise ValueError(_("Ожидается ссылка http(s)://…"))
        return text
    if kind == CustomFieldType.FILE:
        if isinstance(value, bool):
            raise ValueError(_("Ожидается файл"))
        try:
            file_id = int(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(_("Ожидается файл")) from exc
        from voronka.kernel.models import StoredFile

        if not StoredFile.objects.filter(pk=file_id, entity=field.entity).exists():
            raise ValueError(_("Файл не найден"))
        return file_id
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
            errors[f"custom.{key}"] = f"{field.name}: {exc}"
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
