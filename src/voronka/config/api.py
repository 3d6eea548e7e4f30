"""The REST API: /api/v1/, Bearer tokens (or the browser session with CSRF), one router per app."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import BaseRenderer
from ninja.security import HttpBearer, SessionAuth
from pydantic import BaseModel

from voronka.identity import totp
from voronka.identity.services import api_token_authenticate
from voronka.kernel.errors import ApplicationError, ErrorCode


class ORJSONRenderer(BaseRenderer):
    """UTF-8 JSON (Cyrillic stays readable) and faster than the stdlib encoder."""

    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> bytes:
        return orjson.dumps(data, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class BearerAuth(HttpBearer):
    """The token channel (integrations). A request carrying an Authorization header is judged
    by it alone: a wrong, revoked or non-Bearer credential is a JSON 401 — never a fall-back
    to the session, whose CSRF check would answer first."""

    def __call__(self, request: HttpRequest) -> Any:
        if "Authorization" not in request.headers:
            return None
        user = super().__call__(request)
        if not user:
            raise ApplicationError(
                _("Неверный или отозванный API-токен"), code=ErrorCode.UNAUTHORIZED
            )
        return user

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(token)
        if user is not None:
            request.user = user
        return user


class SecondFactorSessionAuth(SessionAuth):
    """The browser session: authentication first — the session must honour the second factor
    (identity.totp.session_second_factor, the rule of every session channel) — then CSRF."""

    def __call__(self, request: HttpRequest) -> Any:
        if "Authorization" in request.headers:
            return None  # the token channel; BearerAuth has decided
        state = totp.session_second_factor(request)
        if state == totp.SessionFactor.ANONYMOUS:
            return None
        if state != totp.SessionFactor.OK:
            raise totp.SecondFactorRequired(state)
        return super().__call__(request)


def _docs_decorator(view: Any) -> Any:
    if settings.VORONKA_API_DOCS_PUBLIC:
        return view

    @functools.wraps(view)
    def docs(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not totp.session_satisfies_second_factor(request):
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return docs


api = NinjaAPI(
    title="Voronka API",
    version="1",
    description="Sales-automation CRM. Authenticate with `Authorization: Bearer <token>` "
    "(`voronka token USERNAME`).",
    urls_namespace="api",
    auth=[BearerAuth(), SecondFactorSessionAuth()],
    docs_decorator=_docs_decorator,
    renderer=ORJSONRenderer(),
)


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    # The same body as a service's refusal: messages in the user's language, the summary naming
    # the field by its label (never «Invalid value: loss_reason»).
    from voronka.kernel.errors import ValidationError
    from voronka.kernel.schemas import schema_errors

    refusal = ValidationError(schema_errors(exc.errors) or {"body": "invalid"})
    return api.create_response(request, refusal.as_dict(), status=422)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request, {"detail": "Authentication required", "code": "unauthorized"}, status=401
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(
        request, {"detail": str(exc), "code": "http_error"}, status=exc.status_code
    )


def _register_routers() -> None:
    from voronka.activities.api import control_router, me_router, tasks_router
    from voronka.automation.api import automation_router
    from voronka.contacts.api import (
        companies_router,
        contacts_router,
        duplicates_router,
        merges_router,
    )
    from voronka.deals.api import deals_router, pipelines_router, search_router
    from voronka.integrations.api import requisites_router, webhooks_router
    from voronka.transfer.export_api import export_router

    api.add_router("/pipelines", pipelines_router)
    api.add_router("", export_router)  # /deals/export, … (before /deals/{deal_id})
    api.add_router("/deals", deals_router)
    api.add_router("", merges_router)  # /companies/merge, /contacts/merge, /merges
    api.add_router("/companies", companies_router)
    api.add_router("/contacts", contacts_router)
    api.add_router("/duplicates", duplicates_router)
    api.add_router("/tasks", tasks_router)
    api.add_router("/me", me_router)
    api.add_router("/automation", automation_router)
    api.add_router("/control", control_router)
    api.add_router("/webhooks", webhooks_router)
    api.add_router("/requisites", requisites_router)
    api.add_router("/search", search_router)


_register_routers()
