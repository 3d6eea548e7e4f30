"""The helpers every interface shares — HTML views and API functions alike: who acts, whether
htmx asked, which status a refusal answers with, and where a `next` may send the browser.

One definition each (tests/web/test_interface_helpers.py fails on a second copy): two copies
of the redirect guard had drifted — the hand-written one let `/\t/evil.com` through, which a
browser reads as `//evil.com`. Redirect safety is Django's `url_has_allowed_host_and_scheme`,
never a prefix check. This module imports only the kernel and Django (interfaces may import
web; the domain may not)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.errors import ApplicationError


def ui_actor(request: HttpRequest) -> Actor:
    """The signed-in user acting through a screen."""
    return Actor.for_user(request.user, request=request)


def api_actor(request: HttpRequest) -> Actor:
    """The caller of /api/v1/ (token or session): recorded as the API channel."""
    return Actor.for_user(request.user, request=request, kind=ActorKind.API)


def is_htmx(request: HttpRequest) -> bool:
    """htmx (and app.js) send `HX-Request: true`; the answer is then a partial."""
    return request.headers.get("HX-Request") == "true"


def htmx_target(request: HttpRequest) -> str:
    """The id of the element an htmx request will swap ("" for a full page request)."""
    return request.headers.get("HX-Target", "") if is_htmx(request) else ""


def error_status(exc: ApplicationError) -> int:
    """A refused action re-rendered as a page: its 4xx (a non-4xx code never leaks a 5xx)."""
    return exc.status if 400 <= exc.status < 500 else 400


def not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "web/error.html", {"code": 404}, status=404)


def is_safe_url(url: str | None, request: HttpRequest) -> bool:
    """A URL on this site (relative, or absolute to this host with an allowed scheme)."""
    return bool(url) and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def safe_url(url: str | None, request: HttpRequest, default: str) -> str:
    """`url` if it stays on this site, else `default`."""
    return url if url and is_safe_url(url, request) else default


def next_url(request: HttpRequest, default: str) -> str:
    """Where to go after a form: its `next` (the body of a POST, else the query string) if it
    stays on this site, else `default`."""
    source = request.POST if request.method == "POST" else request.GET
    return safe_url(source.get("next"), request, default)
