from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation

# Paths that answer without a session: the API authenticates itself (401), static files,
# the login page (and its code step), the language switch of the login page, the health check.
PUBLIC_PREFIXES = (
    "/api/",
    "/static/",
    "/login/",
    "/language/",
    "/healthz",
    "/i18n/",
    "/favicon.ico",
)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming[:64] if incoming.isascii() and incoming else uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


class LoginRequiredMiddleware:
    """Every page requires login unless its path is public (see PUBLIC_PREFIXES)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated and not request.path.startswith(PUBLIC_PREFIXES):
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=401)
                response["HX-Redirect"] = settings.LOGIN_URL_PATH
                return response
            return redirect_to_login(request.get_full_path())
        response = self.get_response(request)
        if request.user.is_authenticated and not request.path.startswith("/static/"):
            # Pages with client data are never cached by browsers or proxies.
            response.setdefault("Cache-Control", "no-store, private")
        return response


class UserLanguageMiddleware:
    """A signed-in user's language setting wins over the browser's Accept-Language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language in dict(settings.LANGUAGES):
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """Owner and admin sessions (totp.must_use_2fa) reach nothing but the set-up page until
    their authenticator is on. Checked once per session (PASSED_KEY), not per request."""

    ALLOWED = ("/account/2fa/", "/logout/", "/language/", "/static/", "/api/", "/healthz")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from voronka.identity import totp
        from voronka.web.views import PASSED_KEY

        user = request.user
        if (
            user.is_authenticated
            and not request.session.get(PASSED_KEY)
            and not request.path.startswith(self.ALLOWED)
        ):
            if totp.must_use_2fa(user) and totp.active_device(user) is None:
                if request.headers.get("HX-Request"):
                    # The set-up page's own polling (badges) gets nothing; elsewhere htmx
                    # navigates to the set-up page.
                    if "/account/2fa/" in request.headers.get("HX-Current-URL", ""):
                        return HttpResponse(status=204)
                    response = HttpResponse(status=401)
                    response["HX-Redirect"] = "/account/2fa/"
                    return response
                return redirect("web:totp-setup")
            request.session[PASSED_KEY] = True
        return self.get_response(request)
