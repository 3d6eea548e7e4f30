"""The REST API: /api/v1/, Bearer tokens (or the browser session with CSRF), one router per app."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import BaseRenderer
from ninja.security import HttpBearer, SessionAuth
from pydantic import BaseModel

from voronka.identity.services import api_token_authenticate
from voronka.kernel.errors import ApplicationError


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
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(token)
        if user is not None:
            request.user = user
        return user


def _docs_decorator(view: Any) -> Any:
    if settings.VORONKA_API_DOCS_PUBLIC:
        return view
    return login_required(view)


api = NinjaAPI(
    title="Voronka API",
    version="1",
    description="Sales-automation CRM. Authenticate with `Authorization: Bearer <token>` "
    "(`voronka token USERNAME`).",
    urls_namespace="api",
    auth=[BearerAuth(), SessionAuth()],
    docs_decorator=_docs_decorator,
    renderer=ORJSONRenderer(),
)


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors: dict[str, str] = {}
    for item in exc.errors:
        loc = [str(x) for x in item.get("loc", []) if x not in ("body", "query", "path", "payload")]
        errors[".".join(loc) or "body"] = str(item.get("msg", "invalid"))
    field = next(iter(errors), "body")
    return api.create_response(
        request,
        {
            "detail": f"Invalid value: {field}: {errors.get(field, '')}",
            "code": "validation",
            "errors": errors,
        },
        status=422,
    )


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
    from voronka.contacts.api import companies_router, contacts_router
    from voronka.deals.api import deals_router, pipelines_router

    api.add_router("/pipelines", pipelines_router)
    api.add_router("/deals", deals_router)
    api.add_router("/companies", companies_router)
    api.add_router("/contacts", contacts_router)
    api.add_router("/tasks", tasks_router)
    api.add_router("/me", me_router)
    api.add_router("/control", control_router)


_register_routers()
