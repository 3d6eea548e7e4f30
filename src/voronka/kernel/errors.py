"""One error type for every rule a service enforces; interfaces map it to 4xx."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"  # the client exists already (contacts duplicate control)
    REQUIRED_FIELDS_MISSING = "required_fields_missing"
    STAGE_NOT_IN_PIPELINE = "stage_not_in_pipeline"
    LOSS_REASON_REQUIRED = "loss_reason_required"
    IN_USE = "in_use"
    THROTTLED = "throttled"
    UNAUTHORIZED = "unauthorized"
    SECOND_FACTOR_REQUIRED = "second_factor_required"
    PROVIDER_NOT_CONFIGURED = "provider_not_configured"  # an integration without its key
    PROVIDER_ERROR = "provider_error"  # an outside service refused, timed out or answered garbage


_STATUS = {
    ErrorCode.VALIDATION: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CONFLICT: 409,
    ErrorCode.DUPLICATE: 409,
    ErrorCode.REQUIRED_FIELDS_MISSING: 422,
    ErrorCode.STAGE_NOT_IN_PIPELINE: 422,
    ErrorCode.LOSS_REASON_REQUIRED: 422,
    ErrorCode.IN_USE: 409,
    ErrorCode.THROTTLED: 429,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.SECOND_FACTOR_REQUIRED: 403,
    ErrorCode.PROVIDER_NOT_CONFIGURED: 409,
    ErrorCode.PROVIDER_ERROR: 424,  # a 5xx body is masked by the API (config/api_errors.py)
}


class ApplicationError(Exception):
    """A refused business action. `errors` maps field names to messages (already translated)."""

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode = ErrorCode.VALIDATION,
        errors: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = str(message)
        self.code = code
        self.errors = {k: str(v) for k, v in (errors or {}).items()}
        self.extra = extra or {}

    @property
    def status(self) -> int:
        return _STATUS.get(self.code, 400)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.message, "code": str(self.code)}
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class ValidationError(ApplicationError):
    def __init__(self, errors: dict[str, str], message: str | None = None) -> None:
        super().__init__(message or _summary(errors), code=ErrorCode.VALIDATION, errors=errors)


def _summary(errors: dict[str, str]) -> str:
    """«Проверьте поле «Причина переноса»: …» — the field by its label, never by its key."""
    from django.utils.translation import gettext as _

    from voronka.kernel.labels import field_label

    key, error = next(iter(errors.items()), ("", ""))
    label = field_label(key)
    if label is None:
        return _("Проверьте введённые данные: %(error)s") % {"error": error}
    return _("Проверьте поле «%(field)s»: %(error)s") % {"field": label, "error": error}


class NotFound(ApplicationError):
    def __init__(self, message: str | None = None) -> None:
        from django.utils.translation import gettext as _

        super().__init__(message or _("Не найдено"), code=ErrorCode.NOT_FOUND)


class Conflict(ApplicationError):
    def __init__(self, message: str | None = None, **extra: Any) -> None:
        from django.utils.translation import gettext as _

        super().__init__(
            message or _("Запись изменил другой пользователь. Обновите страницу и повторите."),
            code=ErrorCode.CONFLICT,
            extra=extra,
        )
