"""Task screens: my day, the task list, the calendar, the control screen, task forms
(create / complete / reschedule / reassign), notifications and the live counters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from voronka.activities import task_selectors as selectors
from voronka.activities import tasks_services as services
from voronka.activities.calendar_grid import calendar_grid, row_key
from voronka.activities.forms import task_data
from voronka.activities.models import Task, TaskStatus, TaskType
from voronka.activities.notifications import notification_list, unread_count
from voronka.contacts.models import CompanyType
from voronka.deals.counters import local_day
from voronka.identity.scopes import assignable_users
from voronka.identity.selectors import department_name
from voronka.kernel import clock, dates
from voronka.kernel.errors import ApplicationError, ValidationError
from voronka.kernel.fields import to_id_or_none
from voronka.web.http import error_status, is_htmx, next_url, not_found, ui_actor

PAGE = 50  # rows of the task list


def my_day(request: HttpRequest) -> HttpResponse:
    responsible = None
    wanted = to_id_or_none(request.GET.get("responsible"))
    if wanted is not None:
        responsible = assignable_users(request.user, "task").filter(pk=wanted).first()
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
    cursor = request.GET.get("cursor") or None
    rows: list[Task] = []
    next_cursor = None
    try:
        page = selectors.task_list(user=request.user, filters=filters, limit=PAGE, cursor=cursor)
        rows, next_cursor = page.items, page.next_cursor
    except ValidationError as exc:
        error = exc
    params = request.GET.copy()
    params.pop("cursor", None)
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
            "department_name": department_name(filters.department),
        },
        status=422 if error else 200,
    )


def calendar(request: HttpRequest) -> HttpResponse:
    """The time grid of tasks, a day or a week (hours as rows, days as columns). A task
    dragged to another slot is rescheduled through `task_move` (the reason is asked in a
    modal). On a phone the week shows one day at a time (`date` picks it) with ← → by day."""
    view = request.GET.get("view", "week")
    if view not in ("day", "week"):
        view = "week"
    now = clock.now()
    today = local_day(now)
    picked, error = today, None
    if request.GET.get("date"):
        try:
            # Far dates are shown at the calendar's edge (1900 / 2999): ±1 week stays in range.
            picked = dates.clamp_day(dates.parse_day(request.GET["date"], field="date"))
        except ValidationError as exc:
            error = exc
    start = picked - dt.timedelta(days=picked.weekday()) if view == "week" else picked
    days = 7 if view == "week" else 1
    end = start + dt.timedelta(days=days - 1)
    # The day a phone shows of the week: the one asked for, else today when it is in the week.
    focus = picked if request.GET.get("date") or view == "day" else today
    if not start <= focus <= end:
        focus = start
    responsible = request.GET.get("responsible", "")
    data = selectors.calendar_tasks(
        user=request.user,
        start=start,
        days=days,
        responsible=to_id_or_none(responsible),
    )
    grid = calendar_grid(
        data, now=now, focus=focus, early_label=_("до 8:00"), late_label=_("после 21:00")
    )
    step = dt.timedelta(days=days)
    one = dt.timedelta(days=1)
    return render(
        request,
        "activities/calendar.html",
        {
            "mode": view,  # not "view": base.html names the current URL that
            "grid": grid,
            "start": start,
            "end": end,
            "focus": focus,
            "today": today,
            "prev": (start - step).isoformat(),
            "next": (start + step).isoformat(),
            "focus_prev": (focus - one).isoformat(),
            "focus_next": (focus + one).isoformat(),
            "people": assignable_users(request.user, "task"),
            "responsible": responsible,
            "now": now,
            "error": error,
        },
        status=400 if error else 200,
    )


def control(request: HttpRequest) -> HttpResponse:
    # Who may open the screen is decided once, in selectors.control_department (403 there).
    departments = selectors.control_departments(request.user)
    department_id = to_id_or_none(request.GET.get("department"))
    try:
        rows = selectors.control_table(user=request.user, department_id=department_id)
        shown = selectors.control_department(user=request.user, department_id=department_id)
    except ApplicationError as exc:
        return render(request, "web/error.html", {"code": exc.status}, status=error_status(exc))
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
            "kpi_links": _kpi_links(shown.pk if shown else None),
            "now": clock.now(),
        },
    )


def _kpi_links(department_id: int | None) -> dict[str, str]:
    """Each card of the control screen opens the list it counts, for the department shown."""
    dept = f"&department={department_id}" if department_id else ""
    deals, tasks = reverse("deals:deal-list"), reverse("activities:task-list")
    today = local_day(clock.now()).isoformat()
    return {
        "open_deals": f"{deals}?status=open{dept}",
        "deals_without_task": f"{deals}?status=open&no_task=1{dept}",
        "overdue_tasks": f"{tasks}?status=open&overdue=true{dept}",
        "deals_over_sla": f"{deals}?status=open&over_sla=1{dept}",
        "tasks_done_today": f"{tasks}?status=done&completed_on={today}{dept}",
    }


def _task_form_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    """The form with what the task is for (deal / company / contact, with links), where Cancel
    and a successful save go back to, and — after "complete" left a deal without tasks — why
    the form opened."""
    initial = extra.get("initial") or {}
    links = selectors.task_links(
        user=request.user,
        deal=to_id_or_none(initial.get("deal")),
        company=to_id_or_none(initial.get("company")),
        contact=to_id_or_none(initial.get("contact")),
    )
    source = request.POST if request.method == "POST" else request.GET
    back_to = next_url(request, "")
    if links.deal is not None:
        back = reverse("deals:deal-detail", args=[links.deal.pk])
    elif links.contact is not None:
        back = reverse("contacts:contact-detail", args=[links.contact.pk])
    elif links.company is not None:
        back = reverse("contacts:company-detail", args=[links.company.pk])
    else:
        back = reverse("activities:my-day")
    context = {
        "types": TaskType.choices,
        "people": assignable_users(request.user, "task"),
        "default_date": (local_day(clock.now()) + dt.timedelta(days=1)).isoformat(),
        "links": links,
        "company_types": CompanyType.choices,
        "next_url": back_to,
        "cancel_url": back_to or back,
        "after_complete": source.get("completed") == "1",
    }
    context.update(extra)
    return context


@require_http_methods(["GET", "POST"])
def task_create(request: HttpRequest) -> HttpResponse:
    initial = {k: request.GET.get(k, "") for k in ("deal", "contact", "company")}
    if request.method == "POST":
        data = task_data(request.POST)
        try:
            task = services.task_create(actor=ui_actor(request), data=data)
        except ApplicationError as exc:
            context = _task_form_context(
                request, errors=exc.errors, message=exc.message, form=request.POST, initial=data
            )
            return render(request, "activities/task_form.html", context, status=error_status(exc))
        messages.success(request, _("Задача поставлена"))
        target = next_url(
            request, f"/deals/{task.deal_id}/" if task.deal_id else reverse("activities:my-day")
        )
        if is_htmx(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)
    context = _task_form_context(request, form={}, initial=initial, errors={})
    return render(request, "activities/task_form.html", context)


def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task = selectors.task_get(user=request.user, task_id=task_id)
    except ApplicationError:
        return not_found(request)
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
            actor=ui_actor(request),
            result=request.POST.get("result", ""),
            version=request.POST.get("version") or None,
            next_task=next_task,
        )
    except ApplicationError as exc:
        if exc.status == 404:
            return not_found(request)
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
            status=error_status(exc),
        )
    deal = done.deal
    if deal is not None:
        deal.refresh_from_db(fields=["open_tasks", "status"])
        if deal.needs_next_task():
            # The last open task of an open deal: ask for the next one right away (decision 0004).
            messages.warning(request, _("У сделки не осталось задач — поставьте следующую"))
            return redirect(
                f"{reverse('activities:task-create')}?deal={deal.pk}&next=/deals/{deal.pk}/"
                "&completed=1"
            )
    messages.success(request, _("Задача выполнена"))
    return redirect(next_url(request, reverse("activities:my-day")))


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
            actor=ui_actor(request),
            deadline=data.get("deadline"),
            reason=request.POST.get("reason", ""),
            version=request.POST.get("version") or None,
        )
    except ApplicationError as exc:
        if exc.status == 404:
            return not_found(request)
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
            status=error_status(exc),
        )
    messages.success(request, _("Срок перенесён"))
    return redirect(next_url(request, reverse("activities:task-detail", args=[task_id])))


@require_http_methods(["GET", "POST"])
def task_move(request: HttpRequest, task_id: int) -> HttpResponse:
    """A task dragged to another slot of the calendar: GET ?deadline=… answers the reschedule
    form for the modal (the new date and time, editable; the reason, required), POST
    reschedules through tasks_services.task_reschedule (reason, history row, version).

    For the calendar's script (HX-Request): 200 + the task's fresh block, 422 + the form with
    its errors, or 404/409 + a message (the block goes back). Without script: a page with
    the form; success returns to the calendar on the new day."""
    partial = is_htmx(request)
    try:
        task = selectors.task_get(user=request.user, task_id=task_id)
    except ApplicationError as exc:
        return _move_refused(request, exc, partial)
    if request.method == "GET":
        try:
            target = dates.parse_moment(request.GET.get("deadline"), field="deadline")
        except ValidationError:
            target = task.deadline
        return _move_form(request, task, target=target, partial=partial)
    data = task_data(request.POST)
    try:
        moved = services.task_reschedule(
            task=task,
            actor=ui_actor(request),
            deadline=data.get("deadline"),
            reason=request.POST.get("reason", ""),
            version=request.POST.get("version") or None,
        )
    except ApplicationError as exc:
        if exc.status in (404, 409):
            return _move_refused(request, exc, partial)
        return _move_form(
            request,
            task,
            target=None,
            partial=partial,
            errors=exc.errors,
            message=exc.message,
            status=error_status(exc),
        )
    if partial:
        fresh = selectors.task_get(user=request.user, task_id=moved.pk)
        return render(
            request,
            "activities/_calendar_event.html",
            {"task": fresh, "now": clock.now(), "slot_key": row_key(fresh.deadline)},
        )
    messages.success(request, _("Срок перенесён"))
    day = local_day(moved.deadline).isoformat()
    return redirect(f"{reverse('activities:calendar')}?date={day}")


def _move_form(
    request: HttpRequest,
    task: Any,
    *,
    target: dt.datetime | None,
    partial: bool,
    errors: dict[str, str] | None = None,
    message: str = "",
    status: int = 200,
) -> HttpResponse:
    if target is not None:
        local = timezone.localtime(target)
        form = {"deadline_date": f"{local:%Y-%m-%d}", "deadline_time": f"{local:%H:%M}"}
    else:
        form = {k: request.POST.get(k, "") for k in ("deadline_date", "deadline_time", "reason")}
    context = {
        "task": task,
        "form": form,
        "errors": errors or {},
        "message": message,
        "version": request.POST.get("version") or task.version,
        "now": clock.now(),
    }
    template = "activities/_task_move_form.html" if partial else "activities/task_move.html"
    return render(request, template, context, status=status)


def _move_refused(request: HttpRequest, exc: ApplicationError, partial: bool) -> HttpResponse:
    status = 404 if exc.status == 404 else 409
    if not partial:
        if status == 404:
            return not_found(request)
        messages.error(request, exc.message)
        return redirect(reverse("activities:calendar"))
    return render(request, "activities/_move_refused.html", {"message": exc.message}, status=status)


@require_POST
def task_reassign(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task = selectors.task_get(user=request.user, task_id=task_id)
        services.task_update(
            task=task,
            actor=ui_actor(request),
            data={
                "responsible": request.POST.get("responsible", ""),
                "version": request.POST.get("version") or None,
            },
        )
    except ApplicationError as exc:
        if exc.status == 404:
            return not_found(request)
        messages.error(request, exc.message)
        return redirect(reverse("activities:task-detail", args=[task_id]))
    messages.success(request, _("Задача передана"))
    return redirect(next_url(request, reverse("activities:task-detail", args=[task_id])))


def counters(request: HttpRequest) -> HttpResponse:
    """Polled by the navigation every few seconds (htmx) — badges without a page reload."""
    data = selectors.counters_for(user=request.user)
    data["unread"] = unread_count(user=request.user)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(data)
    return render(request, "activities/_counters.html", {"c": data})


def notifications(request: HttpRequest) -> HttpResponse:
    """Opening the page reads what it shows: those are marked read (the badge follows on its next
    poll); on this page they still stand out as new."""
    items = notification_list(user=request.user)
    unread = [n.pk for n in items if n.read_at is None]
    if unread:
        services.notifications_mark_read(user=request.user, ids=unread)
    return render(
        request,
        "activities/notifications.html",
        # Older unread ones than the page shows can still be marked read all at once.
        {"items": items, "older_unread": unread_count(user=request.user)},
    )


@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    raw = request.POST.getlist("id")
    ids = [pk for pk in map(to_id_or_none, raw) if pk is not None] or None
    services.notifications_mark_read(user=request.user, ids=ids)
    return redirect(next_url(request, reverse("activities:notifications")))
