"""Small helpers services use to clean whitelisted input fields, collecting per-field errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.utils.translation import gettext as _

from voronka.kernel.errors import ValidationError
from voronka.kernel.normalize import clean_input, clean_text

# The largest value of the id columns (64-bit signed); larger numbers name no record.
MAX_ID = 2**63 - 1


def to_int(raw: Any) -> int:
    """A whole number from JSON or a form: a JSON integer or ASCII digits (optionally signed).
    `true`, `1.5`, `1.0`, `"²"`, `"1e3"` are refused (ValueError) — never read as a number."""
    if isinstance(raw, bool):
        raise ValueError(_("Ожидается целое число"))
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and 0 < len(raw) <= 20 and raw.isascii():
        digits = raw[1:] if raw[0] in "+-" else raw
        if digits.isdigit():
            return int(raw)
    raise ValueError(_("Ожидается целое число"))


def to_id(raw: Any) -> int:
    """A record id: `to_int` from 1 to MAX_ID (ValueError otherwise)."""
    try:
        value = to_int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_ID:
        raise ValueError(_("Ожидается номер"))
    return value


def to_id_or_none(raw: Any) -> int | None:
    """An optional id from a query string: None when absent or not an id."""
    try:
        return to_id(raw)
    except ValueError:
        return None


class FieldCleaner:
    """Collects errors across fields so one response names every bad field at once."""

    def __init__(self, data: Mapping[str, Any], allowed: set[str]) -> None:
        if not isinstance(data, Mapping):
            raise ValidationError({"body": _("Ожидается объект")})
        try:  # every string and every key without control characters (NUL, bidi): kernel rule
            data = clean_input(data)
        except ValueError as exc:
            raise ValidationError({"body": str(exc)}) from None
        unknown = sorted(set(data) - allowed)
        self.errors: dict[str, str] = {k: _("Поле нельзя изменить") for k in unknown}
        self.data = data
        self.cleaned: dict[str, Any] = {}

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, *, max_length: int, required: bool = False) -> None:
        if key not in self.data:
            return
        raw = self.data[key]
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            self.errors[key] = _("Ожидается текст")
            return
        try:
            value = clean_text(raw, max_length=max_length)
        except ValueError as exc:
            self.errors[key] = str(exc)
            return
        if required and not value:
            self.errors[key] = _("Обязательное поле")
            return
        self.cleaned[key] = value

    def apply(self, key: str, func: Callable[[Any], Any], *, allow_blank: bool = True) -> None:
        if key not in self.data:
            return
        raw = self.data[key]
        if raw in (None, "") and allow_blank:
            self.cleaned[key] = ""
            return
        try:
            self.cleaned[key] = func(raw)
        except ValueError as exc:
            self.errors[key] = str(exc)
        except (TypeError, AttributeError):
            self.errors[key] = _("Неверное значение")

    def error(self, key: str, message: str) -> None:
        self.errors[key] = message

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)
