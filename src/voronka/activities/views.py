"""Task screens: my day, the task list, the calendar, the control screen, task forms
(create / complete / reschedule / reassign), notifications and the live counters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from voronka.activities import task_selectors as selectors
from voronka.activities import tasks_services as services
from voronka.activities.forms import task_data
from voronka.activities.models import Notification, TaskStatus, TaskType
from voronka.deals.counters import local_day
from voronka.deals.models import StageSemantic
from voronka.identity.models import User
from voronka.identity.scopes import assignable_users
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, ValidationError


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user, request=request)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _error_status(exc: ApplicationError) -> int:
    return exc.status if 400 <= exc.status < 500 else 400


def my_day(request: HttpRequest) -> HttpResponse:
    responsible = None
    raw = request.GET.get("responsible", "")
    if raw.isdigit():
        responsible = assignable_users(request.user, "task").filter(pk=int(raw)).first()
    day = selectors.my_day(user=request.user, responsible=responsible)
    return render(
        request,
        "activities/my_day.html",
        {
            "day": day,
            "responsible": responsible or request.user,
            "people": assignable_users(request.user, "task"),
            "now": clock.now(),
        },
    )


def task_list(request: HttpRequest) -> HttpResponse:
    try:
        filters = selectors.TaskFilter.from_params(request.GET)
        error = None
    except ValidationError as exc:
        filters, error = selectors.TaskFilter(), exc
    after = None
    cursor = request.GET.get("after", "")
    if cursor and "|" in cursor:
        deadline, _sep, pk = cursor.partition("|")
        try:
            dt.datetime.fromisoformat(deadline)
            after = (deadline, int(pk))
        except ValueError:
            after = None
    rows = selectors.task_list(user=request.user, filters=filters, limit=50, after=after)
    next_cursor = None
    if len(rows) > 50:
        rows = rows[:50]
        next_cursor = f"{rows[-1].deadline.isoformat()}|{rows[-1].pk}"
    params = request.GET.copy()
    params.pop("after", None)
    return render(
        request,
        "activities/task_list.html",
        {
            "tasks": rows,
            "filters": filters,
            "error": error,
            "next_cursor": next_cursor,
            "query": params.urlencode(),
            "people": assignable_users(request.user, "task"),
            "types": TaskType.choices,
            "now": clock.now(),
        },
        status=422 if error else 200,
    )


def calendar(request: HttpRequest) -> HttpResponse:
    view = request.GET.get("view", "week")
    if view not in ("day", "week"):
        view = "week"
    today = local_day(clock.now())
    try:
        start = (
            dt.date.fromisoformat(request.GET.get("date", "")) if request.GET.get("date") else today
        )
    except ValueError:
        start = today
    if view == "week":
        start = start - dt.timedelta(days=start.weekday())
    days = 7 if view == "week" else 1
    responsible = request.GET.get("responsible", "")
    data = selectors.calendar_tasks(
        user=request.user,
        start=start,
        days=days,
        responsible=int(responsible) if responsible.isdigit() else None,
    )
    step = dt.timedelta(days=days)
    return render(
        request,
        "activities/calendar.html",
        {
            "view": view,
            "days": list(data.items()),
            "start": start,
            "today": today,
            "prev": (start - step).isoformat(),
            "next": (start + step).isoformat(),
            "people": assignable_users(request.user, "task"),
            "responsible": responsible,
            "hours": list(range(8, 21)),
            "now": clock.now(),
        },
    )


def control(request: HttpRequest) -> HttpResponse:
    departments = selectors.control_departments(request.user)
    if not departments:
        return render(request, "web/error.html", {"code": 403}, status=403)
    raw = request.GET.get("department", "")
    department_id = int(raw) if raw.isdigit() else None
    try:
        rows = selectors.control_table(user=request.user, department_id=department_id)
    except ApplicationError as exc:
        return render(request, "web/error.html", {"code": exc.status}, status=_error_status(exc))
    totals = {
        key: sum(getattr(r, key) for r in rows)
        for key in (
            "open_deals",
            "deals_without_task",
            "overdue_tasks",
            "deals_over_sla",
            "tasks_today",
            "tasks_done_today",
        )
    }
    return render(
        request,
        "activities/control.html",
        {
            "rows": rows,
            "departments": departments,
            "department_id": department_id,
            "totals": totals,
            "now": clock.now(),
        },
    )


def _task_form_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    context = {
        "types": TaskType.choices,
        "people": assignable_users(request.user, "task"),
        "default_date": (local_day(clock.now()) + dt.timedelta(days=1)).isoformat(),
    }
    context.update(extra)
    return context


@require_http_methods(["GET", "POST"])
def task_create(request: HttpRequest) -> HttpResponse:
    initial = {k: request.GET.get(k, "") for k in ("deal", "contact", "company")}
    if request.method == "POST":
        data = task_data(request.POST)
        try:
            task = services.task_create(actor=_actor(request), data=data)
        except ApplicationError as exc:
            context = _task_form_context(
                request, errors=exc.errors, message=exc.message, form=request.POST, initial=data
            )
            return render(request, "activities/task_form.html", context, status=_error_status(exc))
        messages.success(request, _("Задача поставлена"))
        target = request.POST.get("next") or (
            f"/deals/{task.deal_id}/" if task.deal_id else reverse("activities:my-day")
        )
        if _is_htmx(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = _safe(target)
            return response
        return redirect(_safe(target))
    context = _task_form_context(request, form={}, initial=initial, errors={})
    return render(request, "activities/task_form.html", context)


def _safe(url: str) -> str:
    return url if url.startswith("/") and not url.startswith("//") else "/"


def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task = selectors.task_get(user=request.user, task_id=task_id)
    except ApplicationError:
        return render(request, "web/error.html", {"code": 404}, status=404)
    return render(
        request,
        "activities/task_detail.html",
        {
            "task": task,
            "history": selectors.task_history(task=task),
            "now": clock.now(),
            "people": assignable_users(request.user, "task"),
            "types": TaskType.choices,
            "is_overdue": task.status == TaskStatus.OPEN and task.deadline < clock.now(),
        },
    )


@require_POST
def task_complete(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task = selectors.task_get(user=request.user, task_id=task_id)
        next_task = None
        if request.POST.get("next_comment") or request.POST.get("next_deadline_date"):
            next_task = task_data(_prefixed(request.POST, "next_"))
        done, created = services.task_complete(
            task=task,
            actor=_actor(request),
            result=request.POST.get("result", ""),
            version=request.POST.get("version") or None,
            next_task=next_task,
        )
    except ApplicationError as exc:
        if exc.status == 404:
            return render(request, "web/error.html", {"code": 404}, status=404)
        task = selectors.task_get(user=request.user, task_id=task_id)
        return render(
            request,
            "activities/task_detail.html",
            {
                "task": task,
                "history": selectors.task_history(task=task),
                "now": clock.now(),
                "people": assignable_users(request.user, "task"),
                "types": TaskType.choices,
                "errors": exc.errors,
                "message": exc.message,
                "form": request.POST,
                "show_next": bool(request.POST.get("next_comment")),
            },
            status=_error_status(exc),
        )
    deal = done.deal
    if deal is not None:
        deal.refresh_from_db(fields=["open_tasks", "status"])
        if deal.status == StageSemantic.OPEN and deal.open_tasks == 0:
            # The last open task of an open deal: ask for the next one right away (decision 0004).
            messages.warning(request, _("У сделки не осталось задач — поставьте следующую"))
            return redirect(
                f"{reverse('activities:task-create')}?deal={deal.pk}&next=/deals/{deal.pk}/"
            )
    messages.success(request, _("Задача выполнена"))
    return redirect(_safe(request.POST.get("next") or reverse("activities:my-day")))


def _prefixed(post: Any, prefix: str) -> Any:
    from django.http import QueryDict

    result = QueryDict(mutable=True)
    for key in post:
        if key.startswith(prefix):
            result[key[len(prefix) :]] = post[key]
    return result


@require_POST
def task_reschedule(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task = selectors.task_get(user=request.user, task_id=task_id)
        data = task_data(request.POST)
        services.task_reschedule(
            task=task,
            actor=_actor(request),
            deadline=data.get("deadline"),
            reason=request.POST.get("reason", ""),
            version=request.POST.get("version") or None,
        )
    except ApplicationError as exc:
        if exc.status == 404:
            return render(request, "web/error.html", {"code": 404}, status=404)
        task = selectors.task_get(user=request.user, task_id=task_id)
        return render(
            request,
            "activities/task_detail.html",
            {
                "task": task,
                "history": selectors.task_history(task=task),
                "now": clock.now(),
                "people": assignable_users(request.user, "task"),
                "types": TaskType.choices,
                "errors": exc.errors,
                "message": exc.message,
                "form": request.POST,
                "show_reschedule": True,
            },
            status=_error_status(exc),
        )
    messages.success(request, _("Срок перенесён"))
    return redirect(
        _safe(request.POST.get("next") or reverse("activities:task-detail", args=[task_id]))
    )


@require_POST
def task_reassign(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task = selectors.task_get(user=request.user, task_id=task_id)
        services.task_update(
            task=task,
            actor=_actor(request),
            data={
                "responsible": request.POST.get("responsible", ""),
                "version": request.POST.get("version") or None,
            },
        )
    except ApplicationError as exc:
        if exc.status == 404:
            return render(request, "web/error.html", {"code": 404}, status=404)
        messages.error(request, exc.message)
        return redirect(reverse("activities:task-detail", args=[task_id]))
    messages.success(request, _("Задача передана"))
    return redirect(
        _safe(request.POST.get("next") or reverse("activities:task-detail", args=[task_id]))
    )


def counters(request: HttpRequest) -> HttpResponse:
    """Polled by the navigation every few seconds (htmx) — badges without a page reload."""
    data = selectors.counters_for(user=request.user)
    data["unread"] = Notification.objects.filter(user=request.user, read_at__isnull=True).count()
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(data)
    return render(request, "activities/_counters.html", {"c": data})


def notifications(request: HttpRequest) -> HttpResponse:
    items = list(Notification.objects.filter(user=request.user).select_related("deal", "task")[:30])
    return render(request, "activities/notifications.html", {"items": items})


@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    raw = request.POST.getlist("id")
    ids = [int(x) for x in raw if x.isdigit()] or None
    services.notifications_mark_read(user=request.user, ids=ids)
    return redirect(_safe(request.POST.get("next") or reverse("activities:notifications")))


assert User  # for type checkers
