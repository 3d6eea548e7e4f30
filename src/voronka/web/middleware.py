from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import translation

from voronka.web.http import is_htmx

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
            if is_htmx(request):
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
    """Every channel that authenticates with the session honours the second factor: pages, htmx
    fragments and polls, file downloads, Django admin, the API and its docs. The rule is
    `totp.session_second_factor` (one place, also used by the API's session auth); this
    middleware turns its verdict into the answer of the channel:

    - an account that must enrol reaches nothing but the set-up page (JSON 403 on /api/);
    - a session that has not presented the code of the account's device (the code step not
      finished, or the device changed since) is logged out (JSON 401 on /api/).
    Requests to /api/ carrying an Authorization header are the token channel: the API judges
    the token and never falls back to the session."""

    # Open whatever the session's state: the login and its code step, logout, static files,
    # the health check. An account that must enrol also reaches the set-up page and the
    # language switch (nothing else).
    OPEN = ("/login/", "/logout/", "/static/", "/healthz", "/i18n/", "/favicon.ico")
    SETUP = "/account/2fa/"
    ENROL_OPEN = (SETUP, "/language/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from voronka.identity import totp

        path = request.path
        api = path.startswith("/api/")
        if path.startswith(self.OPEN) or (api and "Authorization" in request.headers):
            return self.get_response(request)
        if not api and not request.user.is_authenticated:
            # No user: LoginRequiredMiddleware has let through only public paths (the login
            # page's language switch during the code step, for one).
            return self.get_response(request)
        state = totp.session_second_factor(request)
        if state in (totp.SessionFactor.OK, totp.SessionFactor.ANONYMOUS):
            return self.get_response(request)
        enrol = state == totp.SessionFactor.ENROL
        if enrol and path.startswith(self.ENROL_OPEN):
            return self.get_response(request)
        if api:
            refusal = totp.SecondFactorRequired(state)
            return JsonResponse(
                refusal.as_dict(), status=refusal.status, json_dumps_params={"ensure_ascii": False}
            )
        htmx = is_htmx(request)
        if enrol:
            if htmx:
                # The set-up page's own polling (badges) gets nothing; elsewhere htmx
                # navigates to the set-up page.
                if self.SETUP in request.headers.get("HX-Current-URL", ""):
                    return HttpResponse(status=204)
                response = HttpResponse(status=401)
                response["HX-Redirect"] = self.SETUP
                return response
            return redirect("web:totp-setup")
        # The session never presented this account's code: it ends here.
        logout(request)
        if htmx:
            response = HttpResponse(status=401)
            response["HX-Redirect"] = settings.LOGIN_URL_PATH
            return response
        return redirect_to_login(request.get_full_path())
