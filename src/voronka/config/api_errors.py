"""Every answer under /api/ is JSON — with DEBUG on or off, whatever layer produced the error.

`ApiErrorMiddleware` is the outermost middleware. For a path under API_PREFIX it

1. reads the request before anything else does (the query string, then the body or the form), so
   Django's request limits — DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FIELDS,
   DATA_UPLOAD_MAX_NUMBER_FILES — answer **413** naming the limit. Left to Django they became an
   HTML 400 in production and a 500 with a traceback under DEBUG (ninja reads the body inside
   the view, where its DEBUG handler turns any exception into a text traceback);
2. replaces any error response that is not JSON — Django's 404 for an unknown path (the technical
   404 page under DEBUG), ninja's text "Method not allowed", the traceback ninja returns under
   DEBUG, the HTML of handler500 — by a JSON body with the same status and headers (`Allow`
   stays). A 5xx body never says more than "Internal server error" and the request id; the
   exception itself is logged as before (django.request, or ninja's logger under DEBUG).

HTML pages are not touched: they keep the product's own error pages (web/views.py).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

API_PREFIX = "/api/"
# Error codes of the bodies written here (the API's own errors carry kernel.errors codes).
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}
# The JSON twin has a body of its own: not the original's length or (gzip) encoding.
_SKIP_HEADERS = {"content-type", "content-length", "content-encoding"}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(
    request: HttpRequest, status: int, detail: str | None = None, **extra: Any
) -> JsonResponse:
    if status >= 500:
        code, detail = "server_error", "Internal server error"
        request_id = getattr(request, "request_id", None)
        if request_id:
            extra = {"request_id": request_id}
    else:
        code = CODES.get(status, "error")
        detail = detail or _phrase(status)
    return JsonResponse(
        {"detail": detail, "code": code, **extra},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _too_large(request: HttpRequest, exc: Exception) -> JsonResponse | None:
    """The 413 (or 400) for a request Django refuses to read, None if it reads fine."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(
            request,
            413,
            f"Request body too large: the limit is {limit} bytes",
            limit=limit,
            limit_name="DATA_UPLOAD_MAX_MEMORY_SIZE",
        )
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return error_response(
            request,
            413,
            f"Too many files: the limit is {limit}",
            limit=limit,
            limit_name="DATA_UPLOAD_MAX_NUMBER_FILES",
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return error_response(
            request,
            413,
            f"Too many fields or query parameters: the limit is {limit}",
            limit=limit,
            limit_name="DATA_UPLOAD_MAX_NUMBER_FIELDS",
        )
    return error_response(request, 400, "Malformed request")


def read_request(request: HttpRequest) -> JsonResponse | None:
    """Read the query string and the body now, under Django's limits; None when they hold."""
    try:
        request.GET  # noqa: B018  (parsing counts the fields)
        if request.content_type == "multipart/form-data":
            request.POST  # noqa: B018  (streams files to disk; counts fields and files)
            request.FILES  # noqa: B018
        else:
            request.body  # noqa: B018
            request.POST  # noqa: B018  (form-encoded: counts the fields)
    except (SuspiciousOperation, BadRequest, MultiPartParserError, OSError) as exc:
        return _too_large(request, exc)
    return None


def as_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """`response` unchanged if it is a success or already a JSON 4xx; else its JSON twin."""
    status = response.status_code
    if status < 400:
        return response
    if status < 500 and response.get("Content-Type", "").startswith("application/json"):
        return response
    replacement = error_response(request, status)
    for name, value in response.items():
        if name.lower() not in _SKIP_HEADERS:
            replacement[name] = value
    replacement.cookies = response.cookies
    return replacement


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request):
            return self.get_response(request)
        refused = read_request(request)
        if refused is not None:
            return refused
        response = as_json(request, self.get_response(request))
        if response.status_code == 401 and not response.has_header("WWW-Authenticate"):
            # RFC 6750 §3: a 401 names the scheme the client should use.
            response["WWW-Authenticate"] = 'Bearer realm="voronka"'
        return response
