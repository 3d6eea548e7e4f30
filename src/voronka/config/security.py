"""Web-security plumbing that settings.py points at (docs/decisions/0005-login-throttling.md).

- RejectTraceMiddleware: TRACE/TRACK/CONNECT answer 405 on every path.
- RejectNulMiddleware: a NUL character in the path or query string answers 400 (PostgreSQL cannot
  store or compare text with NUL; without this a filter such as ?type=%00 became a 500 there).
- client_ip: the address login throttling counts. X-Forwarded-For is ignored unless
  VORONKA_TRUSTED_PROXY_COUNT says how many reverse proxies stand in front (then the address the
  nearest untrusted hop was seen from, counted from the right, is used).
- TieredAxesHandler: django-axes with two limits — per username+IP (AXES_FAILURE_LIMIT) and per IP
  (VORONKA_LOGIN_IP_FAILURE_LIMIT, against password spraying) — where axes itself has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit, get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    JsonResponse,
)

FORBIDDEN_METHODS = frozenset({"TRACE", "TRACK", "CONNECT"})
ALLOWED_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]


class RejectTraceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method and request.method.upper() in FORBIDDEN_METHODS:
            return HttpResponseNotAllowed(ALLOWED_METHODS)
        return self.get_response(request)


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"detail": "NUL character in the request", "code": "bad_request"}, status=400
                )
            return HttpResponseBadRequest("NUL character in the request")
        return self.get_response(request)


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    proxies = int(getattr(settings, "VORONKA_TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies <= 0:
        return remote
    # Each trusted proxy appends the address it received the request from, so the right-most
    # `proxies` entries are written by our proxies and everything left of them by the client.
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if len(hops) >= proxies:
        return hops[-proxies]
    return remote


def _is_ip_only(parameter: str | list[str]) -> bool:
    return parameter == "ip_address" or parameter == ["ip_address"]


class TieredAxesHandler(AxesDatabaseHandler):
    """Lock out at AXES_FAILURE_LIMIT failures per username+IP, or at VORONKA_LOGIN_IP_FAILURE_LIMIT
    failures per IP. axes compares one number with one limit, so the per-IP count is scaled onto
    the per-user scale: ip_failures * limit // ip_limit reaches `limit` exactly at `ip_limit`."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        limit = get_failure_limit(request, credentials)
        ip_limit = int(getattr(settings, "VORONKA_LOGIN_IP_FAILURE_LIMIT", limit) or limit)
        parameters = get_lockout_parameters(request, credentials)
        worst = 0
        for parameter, attempts in zip(
            parameters, self.get_user_attempts(request, credentials), strict=True
        ):
            count = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            if _is_ip_only(parameter):
                count = count * limit // max(ip_limit, 1)
            worst = max(worst, count)
        return worst

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        # A successful login clears that user's failures, not the whole IP's: otherwise one valid
        # account would let a sprayer from the same address start over.
        parameters = get_lockout_parameters(request, credentials)
        count = 0
        for parameter, attempts in zip(
            parameters, self.filter_user_attempts(request, credentials), strict=True
        ):
            if not _is_ip_only(parameter):
                count += attempts.delete()[0]
        return count
