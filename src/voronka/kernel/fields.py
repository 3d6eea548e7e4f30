"""Small helpers services use to clean whitelisted input fields, collecting per-field errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.utils.translation import gettext as _

from voronka.kernel.errors import ValidationError
from voronka.kernel.normalize import clean_text


class FieldCleaner:
    """Collects errors across fields so one response names every bad field at once."""

    def __init__(self, data: Mapping[str, Any], allowed: set[str]) -> None:
        if not isinstance(data, Mapping):
            raise ValidationError({"body": _("Ожидается объект")})
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
