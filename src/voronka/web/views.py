"""Layout-level views: login, home, language, health, error pages."""

from __future__ import annotations

from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from voronka.deals.models import Pipeline
from voronka.deals.selectors import search_everything
from voronka.identity import totp
from voronka.identity.models import User
from voronka.identity.services import user_set_language
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, ValidationError
from voronka.web.http import is_htmx, next_url, not_found, ui_actor

# The session keys of the second factor live with its rule (identity.totp).
PENDING_KEY = totp.PENDING_KEY
PENDING_SECONDS = totp.PENDING_SECONDS


def _adopt_visitor_language(request: HttpRequest, user: User) -> None:
    """A language picked on the login page before logging in is kept after it."""
    user_set_language(
        user,
        request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME),
        actor=Actor.for_user(user, request=request),
    )


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        # An abandoned code step of an earlier attempt must not follow this login.
        self.request.session.pop(PENDING_KEY, None)
        if totp.active_device(user) is None:
            _adopt_visitor_language(self.request, user)
            return super().form_valid(form)
        # The password was right; nobody is logged in until the code is.
        self.request.session.cycle_key()
        self.request.session[PENDING_KEY] = {
            "user": user.pk,
            "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[-1]),
            "at": clock.now().timestamp(),
            "next": self.get_success_url(),
        }
        return redirect("web:login-otp")


@require_http_methods(["GET", "POST"])
def login_otp(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING_KEY)
    if not pending and request.user.is_authenticated:
        return redirect("web:home")
    if not pending or clock.now().timestamp() - pending["at"] > PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        if pending:
            messages.error(request, _("Время на ввод кода истекло — войдите ещё раз"))
        return redirect("web:login")
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    if user is None:
        request.session.pop(PENDING_KEY, None)
        return redirect("web:login")
    error, status = "", 200
    code = request.POST.get("code", "")
    if request.method == "POST":
        try:
            device, recovery = totp.second_factor_verify(
                user=user, code=code, actor=Actor.for_user(user, request=request)
            )
        except ValidationError as exc:
            error, status = exc.errors.get("code", exc.message), 422
        except ApplicationError as exc:
            error, status = exc.message, 429
        else:
            request.session.pop(PENDING_KEY, None)
            auth_login(request, user, backend=pending["backend"])
            totp.mark_session_verified(request, device)
            _adopt_visitor_language(request, user)
            if recovery:
                messages.warning(
                    request,
                    _(
                        "Вы вошли по коду восстановления, осталось кодов: %(left)s. "
                        "Если телефон потерян, выключите защиту этим же способом и подключите "
                        "новое приложение."
                    )
                    % {"left": totp.recovery_codes_remaining(user)},
                )
            return redirect(pending["next"])
    # A refused recovery code keeps its form open.
    recovery_form = bool(error) and not totp.is_totp_code(code)
    return render(
        request,
        "web/login_otp.html",
        {"error": error, "recovery_form": recovery_form},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def totp_setup(request: HttpRequest) -> HttpResponse:
    """Turn the authenticator on (scan, confirm with a code) or off (with a code or a recovery
    code); new recovery codes (with a code). Recovery codes are rendered in the answer to the
    POST that made them — never stored in clear text, not even in the session."""
    user = request.user
    actor = ui_actor(request)
    error, error_action, status = "", "", 200
    new_codes: list[str] = []
    if request.method == "POST":
        action = request.POST.get("action")
        code = request.POST.get("code", "")
        try:
            if action == "disable":
                totp.totp_disable(user=user, code=code, actor=actor)
                request.session.pop(totp.VERIFIED_KEY, None)
                messages.success(request, _("Двухфакторная защита выключена"))
                return redirect("web:totp-setup")
            if action == "regenerate":
                new_codes = totp.recovery_codes_regenerate(user=user, code=code, actor=actor)
                messages.success(
                    request, _("Новые коды восстановления созданы, старые больше не действуют")
                )
            else:
                device, new_codes = totp.totp_confirm(user=user, code=code, actor=actor)
                totp.mark_session_verified(request, device)
                if not new_codes:
                    return redirect("web:totp-setup")
                messages.success(request, _("Двухфакторная защита включена"))
        except ValidationError as exc:
            error, status = exc.errors.get("code", exc.message), 422
            error_action = action or ""
        except ApplicationError as exc:
            error, status = exc.message, 429
            error_action = action or ""
    device = totp.active_device(user) or totp.totp_begin(user=user)
    context: dict[str, Any] = {
        "device": device,
        "required": totp.must_use_2fa(user),
        "error": error,
        "error_action": error_action,
        "recovery_codes": new_codes,
        "recovery_text": "\n".join(new_codes) + "\n",
        "recovery_left": totp.recovery_codes_remaining(user) if device.is_active else 0,
        "recovery_total": totp.RECOVERY_CODE_COUNT,
    }
    if not device.is_active:
        uri = totp.provisioning_uri(device)
        context["qr"] = segno.make(uri, error="m").svg_inline(scale=5, dark="#0f172a")
        context["secret"] = " ".join(
            device.secret[i : i + 4] for i in range(0, len(device.secret), 4)
        )
    return render(request, "web/totp_setup.html", context, status=status)


def home(request: HttpRequest) -> HttpResponse:
    pipeline = Pipeline.objects.filter(is_active=True).order_by("sort", "id").first()
    if pipeline is None:
        return redirect("deals:deal-list")
    return redirect("deals:pipeline-board", pipeline_id=pipeline.pk)


SEARCH_DROPDOWN = 5  # per group in the header's dropdown
SEARCH_PAGE = 20  # per group on the results page


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """The header search: deals, companies and contacts within the user's scope, grouped. The
    search box asks for the dropdown partial (htmx); Enter opens the full results page."""
    q = request.GET.get("q", "")
    dropdown = is_htmx(request)
    results = search_everything(
        user=request.user, q=q, limit=SEARCH_DROPDOWN if dropdown else SEARCH_PAGE
    )
    context = {"results": results, "q": results.q}
    if dropdown:
        return render(request, "web/_search_results.html", context)
    return render(request, "web/search.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    language = request.POST.get("language", "")
    response = redirect(next_url(request, "/"))
    if language in dict(settings.LANGUAGES):
        translation.activate(language)
        if request.user.is_authenticated:
            user_set_language(request.user, language, actor=ui_actor(request))
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=365 * 86400,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
        )
    return response


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return not_found(request)


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/error.html", {"code": 403}, status=403)


def error_500(request: HttpRequest) -> HttpResponse:
    return render(request, "web/error.html", {"code": 500}, status=500)
