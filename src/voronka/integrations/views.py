"""Settings → Integrations → Webhooks (can_configure): the endpoints (add, pause, delete, send a
test event) and their recent deliveries (a failed one can be sent again). Thin: the selectors
and services check the right again and do the work."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from voronka.identity.permissions import actor_has_flag
from voronka.integrations.models import DeliveryStatus, RequisitesProvider
from voronka.integrations.webhooks import selectors, services
from voronka.kernel.errors import ApplicationError, ErrorCode
from voronka.kernel.fields import to_id_or_none
from voronka.web.http import error_status, ui_actor

RECENT = 50


def _page(
    request: HttpRequest,
    *,
    errors: dict[str, str] | None = None,
    message: str = "",
    status: int = 200,
    created: int | None = None,
) -> HttpResponse:
    actor = ui_actor(request)
    endpoints = list(selectors.endpoint_list(actor=actor))
    shown = to_id_or_none(request.GET.get("endpoint"))
    status_filter = request.GET.get("status", "")
    if status_filter not in DeliveryStatus.values:
        status_filter = ""
    deliveries = selectors.delivery_list(
        actor=actor, endpoint_id=shown, status=status_filter or None, limit=RECENT
    ).items
    return render(
        request,
        "integrations/webhooks.html",
        {
            "endpoints": endpoints,
            "deliveries": deliveries,
            "shown_endpoint": shown,
            "status_filter": status_filter,
            "statuses": DeliveryStatus.choices,
            "errors": errors or {},
            "message": message,
            "post": request.POST if errors else None,
            "created": created,
        },
        status=status,
    )


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "web/error.html", {"code": 403}, status=403)


@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest) -> HttpResponse:
    if not actor_has_flag(ui_actor(request), "can_configure"):
        return _forbidden(request)
    if request.method == "POST":
        try:
            endpoint = services.endpoint_create(
                actor=ui_actor(request),
                data={"name": request.POST.get("name", ""), "url": request.POST.get("url", "")},
            )
        except ApplicationError as exc:
            return _page(request, errors=exc.errors, message=exc.message, status=error_status(exc))
        messages.success(request, _("Вебхук добавлен"))
        return redirect(
            reverse("integrations:webhooks") + f"?created={endpoint.pk}#endpoint-{endpoint.pk}"
        )
    return _page(request, created=to_id_or_none(request.GET.get("created")))


def _act(request: HttpRequest, done: str, call: Callable[[], object]) -> HttpResponse:
    """Run a service call for a button of the screen; its refusal becomes the page's message."""
    try:
        call()
    except ApplicationError as exc:
        if exc.code in (ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND):
            return render(request, "web/error.html", {"code": exc.status}, status=exc.status)
        messages.error(request, exc.message)
        return redirect(reverse("integrations:webhooks"))
    messages.success(request, done)
    anchor = "#deliveries" if request.POST.get("back") == "deliveries" else ""
    return redirect(reverse("integrations:webhooks") + anchor)


@require_POST
def endpoint_toggle(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    enable = request.POST.get("enabled") == "1"
    return _act(
        request,
        _("Вебхук включён") if enable else _("Вебхук отключён"),
        lambda: services.endpoint_set_enabled(
            actor=ui_actor(request), endpoint_id=endpoint_id, enabled=enable
        ),
    )


@require_POST
def endpoint_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    return _act(
        request,
        _("Вебхук удалён"),
        lambda: services.endpoint_delete(actor=ui_actor(request), endpoint_id=endpoint_id),
    )


@require_POST
def endpoint_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    return _act(
        request,
        _("Тестовое событие поставлено в очередь"),
        lambda: services.endpoint_send_test(actor=ui_actor(request), endpoint_id=endpoint_id),
    )


@require_POST
def delivery_retry(request: HttpRequest, delivery_id: int) -> HttpResponse:
    return _act(
        request,
        _("Сообщение будет отправлено снова"),
        lambda: services.delivery_retry(actor=ui_actor(request), delivery_id=delivery_id),
    )


@require_http_methods(["GET", "POST"])
def requisites(request: HttpRequest) -> HttpResponse:
    """Settings → Integrations → Реквизиты: the auto-fill provider, its key, address, time-out."""
    from voronka.integrations.requisites import services as requisites_services

    actor = ui_actor(request)
    if not actor_has_flag(actor, "can_configure"):
        return _forbidden(request)
    errors: dict[str, str] = {}
    message = ""
    status = 200
    if request.method == "POST":
        post = request.POST
        try:
            requisites_services.requisites_settings_update(
                actor=actor,
                data={
                    "provider": post.get("provider", ""),
                    "api_key": post.get("api_key", ""),
                    "clear_key": post.get("clear_key") == "1",
                    "base_url": post.get("base_url", ""),
                    "timeout_seconds": post.get("timeout_seconds", ""),
                },
            )
        except ApplicationError as exc:
            errors, message, status = exc.errors, exc.message, error_status(exc)
        else:
            messages.success(request, _("Настройки реквизитов сохранены"))
            return redirect(reverse("integrations:requisites"))
    config = requisites_services.requisites_settings()
    return render(
        request,
        "integrations/requisites.html",
        {
            "config": config,
            "masked_key": requisites_services.masked_key(config.api_key),
            "providers": RequisitesProvider.choices,
            "errors": errors,
            "message": message,
            "post": request.POST if errors else None,
        },
        status=status,
    )
