"""The task calendar as a time grid (issue 7, item 16): days as columns, hours 8–20 as rows with
"earlier" and "later" rows, tasks in the slot of their deadline, today and the "now" line, type
colours and overdue red; a task dragged to another slot is rescheduled through
`tasks/<id>/move/` → tasks_services.task_reschedule (reason required, history row, version).

The browser side (drag, the reason modal, cancel) is tests/e2e/test_calendar.py."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from negative_controls import no_version_check
from voronka.activities.models import Task, TaskDeadlineChange, TaskStatus
from voronka.activities.tasks_services import task_complete, task_create
from voronka.kernel import clock
from voronka.kernel.actor import Actor

pytestmark = pytest.mark.django_db

MSK = timezone.get_default_timezone()
# A Wednesday, 12:40 Moscow time; the week is 7–13 December 2026.
NOW = dt.datetime(2026, 12, 9, 12, 40, tzinfo=MSK)
HX = {"HTTP_HX_REQUEST": "true"}


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=MSK)


def add_task(user: Any, company: Any, deadline: dt.datetime, comment: str, **kw: Any) -> Task:
    with clock.frozen(min(NOW, deadline) - dt.timedelta(days=1)):
        return task_create(
            actor=Actor.for_user(user),
            data={
                "type": kw.get("type", "call"),
                "responsible": user.pk,
                "deadline": deadline.isoformat(),
                "comment": comment,
                "company": company.pk,
            },
        )


def slot_of(html: str, task_id: int) -> tuple[str, str]:
    """(day, row) of the slot holding the task's block."""
    for chunk in html.split('<div class="cal-slot')[1:]:
        if f'data-task-id="{task_id}"' in chunk.split('<div class="cal-slot')[0]:
            day = re.search(r'data-day="([\d-]+)"', chunk)
            row = re.search(r'data-slot="(\w+)"', chunk)
            assert day and row
            return day.group(1), row.group(1)
    raise AssertionError(f"task {task_id} is not on the page")


def block_of(html: str, task_id: int) -> str:
    match = re.search(rf'<article class="([^"]*)" data-task-id="{task_id}"', html)
    assert match, f"no block for task {task_id}"
    return match.group(1)


@pytest.fixture
def a1(personas: Any, records: Any) -> Any:
    return personas["a1"].user


@pytest.fixture
def week(a1: Any, records: Any) -> dict[str, Task]:
    company = records["a1"].company
    tasks = {
        "tue": add_task(a1, company, at(8, 10, 30), "Созвон по КП", type="meeting"),
        "early": add_task(a1, company, at(10, 7, 15), "Ранний звонок"),
        "late": add_task(a1, company, at(11, 22, 0), "Вечернее письмо", type="email"),
        "overdue": add_task(a1, company, at(9, 9, 0), "Просроченный звонок"),
        "later": add_task(a1, company, at(9, 16, 45), "Звонок после обеда"),
        "done": add_task(a1, company, at(9, 11, 0), "Уже сделано"),
    }
    with clock.frozen(at(9, 11, 5)):
        task_complete(task=tasks["done"], actor=Actor.for_user(a1), result="Готово")
    return tasks


def get_calendar(client: Any, **params: str) -> Any:
    with clock.frozen(NOW):
        return client.get("/tasks/calendar/", params)


def test_week_grid_puts_tasks_in_the_slots_of_their_deadlines(web: Any, week: dict) -> None:
    resp = get_calendar(web("a1"), date="2026-12-09")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert html.count('class="cal-dayhead') == 7
    assert slot_of(html, week["tue"].pk) == ("2026-12-08", "10")
    assert slot_of(html, week["early"].pk) == ("2026-12-10", "early")
    assert slot_of(html, week["late"].pk) == ("2026-12-11", "late")
    assert slot_of(html, week["later"].pk) == ("2026-12-09", "16")
    # Hours 8 … 20 are rows of their own, with the bands before and after.
    for hour in range(8, 21):
        assert f'data-day="2026-12-07" data-slot="{hour:02d}" data-hour="{hour}"' in html
    assert 'data-slot="early" data-hour="7"' in html and 'data-slot="late" data-hour="21"' in html


def test_types_overdue_done_today_and_the_now_line(web: Any, week: dict) -> None:
    html = get_calendar(web("a1"), date="2026-12-09").content.decode()
    assert "cal-event--meeting" in block_of(html, week["tue"].pk)
    assert "cal-event--email" in block_of(html, week["late"].pk)
    overdue = block_of(html, week["overdue"].pk)
    assert "is-overdue" in overdue and "is-movable" in overdue
    done = block_of(html, week["done"].pk)
    assert "is-done" in done and "is-movable" not in done and "is-overdue" not in done
    assert "is-overdue" not in block_of(html, week["later"].pk)
    # Today's header and column; the "now" line in today's 12:00 slot, 40 minutes down.
    assert re.search(r'class="cal-dayhead is-today[^"]*" data-day="2026-12-09"', html)
    now_slot = html.split('data-day="2026-12-09" data-slot="12"')[1].split("cal-slot")[0]
    assert 'class="cal-now" style="top: 66.7%"' in now_slot
    assert html.count('class="cal-now"') == 1


def test_day_view_and_the_phone_focus_of_the_week(web: Any, week: dict) -> None:
    html = get_calendar(web("a1"), view="day", date="2026-12-08").content.decode()
    assert html.count('class="cal-dayhead') == 1
    assert slot_of(html, week["tue"].pk) == ("2026-12-08", "10")
    # The week view marks the day a phone shows: the one asked for, else today.
    html = get_calendar(web("a1"), date="2026-12-11").content.decode()
    assert re.search(r'class="cal-dayhead[^"]*is-focus[^"]*" data-day="2026-12-11"', html)
    assert "?view=week&amp;date=2026-12-10" in html and "?view=week&amp;date=2026-12-12" in html
    html = get_calendar(web("a1")).content.decode()
    assert re.search(r'class="cal-dayhead[^"]*is-focus[^"]*" data-day="2026-12-09"', html)


@pytest.mark.parametrize("raw", ["0001-01-01", "9999-12-31", "1900-01-01", "2999-12-31"])
def test_dates_at_the_edge_of_the_calendar_do_not_break_it(web: Any, raw: str) -> None:
    for view in ("week", "day"):
        resp = get_calendar(web("a1"), view=view, date=raw)
        assert resp.status_code == 200, (view, raw)
        assert 'class="cal-grid"' in resp.content.decode()


def test_a_date_that_is_not_a_date_is_said_so(web: Any) -> None:
    resp = get_calendar(web("a1"), date="2026-02-30")
    assert resp.status_code == 400
    assert 'class="cal-grid"' in resp.content.decode()


def test_the_grid_costs_the_same_queries_for_few_and_many_tasks(
    web: Any, a1: Any, records: Any
) -> None:
    client = web("a1")
    company = records["a1"].company
    add_task(a1, company, at(8, 10), "Задача 0")
    get_calendar(client, date="2026-12-09")
    with CaptureQueriesContext(connection) as few:
        get_calendar(client, date="2026-12-09")
    for i in range(12):
        add_task(a1, company, at(8 + i % 5, 9 + i % 9, 15), f"Задача {i + 1}")
    with CaptureQueriesContext(connection) as many:
        get_calendar(client, date="2026-12-09")
    assert len(many) == len(few), [q["sql"][:120] for q in many]


# --- moving a task ------------------------------------------------------------------------------


def move(client: Any, task: Task, when: str, reason: str, version: Any = None, **extra: Any) -> Any:
    date, time = when.split("T")
    body = {"deadline_date": date, "deadline_time": time, "reason": reason}
    body["version"] = str(task.version if version is None else version)
    with clock.frozen(NOW):
        return client.post(f"/tasks/{task.pk}/move/", body, **extra)


def test_the_drop_asks_for_the_reason_with_the_new_time_filled_in(web: Any, week: dict) -> None:
    task = week["later"]
    with clock.frozen(NOW):
        resp = web("a1").get(f"/tasks/{task.pk}/move/", {"deadline": "2026-12-10T14:45"}, **HX)
    html = resp.content.decode()
    assert resp.status_code == 200 and "data-cal-move-form" in html
    assert 'name="deadline_date" required value="2026-12-10"' in html
    assert 'name="deadline_time" required value="14:45"' in html
    assert re.search(r'<textarea name="reason" required', html)
    assert f'name="version" value="{task.version}"' in html
    assert "<html" not in html  # the modal's content, not a page


def test_a_move_with_a_reason_reschedules_and_writes_history(web: Any, week: dict, a1: Any) -> None:
    task = week["later"]
    resp = move(web("a1"), task, "2026-12-10T14:45", "Клиент просил позже", **HX)
    assert resp.status_code == 200
    html = resp.content.decode()
    task.refresh_from_db()
    assert timezone.localtime(task.deadline, MSK) == at(10, 14, 45)
    assert task.version == 2
    change = TaskDeadlineChange.objects.get(task=task)
    assert (change.reason, change.by_id) == ("Клиент просил позже", a1.pk)
    assert timezone.localtime(change.old_deadline, MSK) == at(9, 16, 45)
    # The fresh block for the slot it now belongs to, with the new version.
    assert f'data-task-id="{task.pk}" data-version="2" data-day="2026-12-10" data-slot="14"' in html


def test_a_move_without_a_reason_is_refused_and_changes_nothing(web: Any, week: dict) -> None:
    task = week["later"]
    resp = move(web("a1"), task, "2026-12-10T14:45", "   ", **HX)
    assert resp.status_code == 422
    html = resp.content.decode()
    assert "data-cal-move-form" in html and "field-error" in html
    assert 'value="2026-12-10"' in html  # what the user chose stays in the form
    task.refresh_from_db()
    assert timezone.localtime(task.deadline, MSK) == at(9, 16, 45) and task.version == 1
    assert not TaskDeadlineChange.objects.filter(task=task).exists()


def test_a_stale_move_is_a_conflict(web: Any, week: dict, monkeypatch: Any) -> None:
    task = week["later"]
    assert move(web("a1"), task, "2026-12-10T10:00", "первый перенос", **HX).status_code == 200
    resp = move(web("a1"), task, "2026-12-11T10:00", "устаревшая форма", version=1, **HX)
    assert resp.status_code == 409 and "data-message" in resp.content.decode()
    task.refresh_from_db()
    assert timezone.localtime(task.deadline, MSK) == at(10, 10, 0)
    assert TaskDeadlineChange.objects.filter(task=task).count() == 1
    # Negative control: with the version check off the stale form wins — the test would see it.
    no_version_check(monkeypatch)
    resp = move(web("a1"), task, "2026-12-11T10:00", "устаревшая форма", version=1, **HX)
    assert resp.status_code == 200
    assert TaskDeadlineChange.objects.filter(task=task).count() == 2


def test_done_tasks_and_other_peoples_tasks_do_not_move(web: Any, week: dict, records: Any) -> None:
    done = week["done"]
    resp = move(web("a1"), done, "2026-12-10T10:00", "поздно", **HX)
    assert resp.status_code == 409
    assert Task.objects.get(pk=done.pk).status == TaskStatus.DONE
    assert not TaskDeadlineChange.objects.filter(task=done).exists()
    foreign = records["b1"].task  # another department's task: outside a1's scope
    before = foreign.deadline
    for method in ("get", "post"):
        with clock.frozen(NOW):
            resp = getattr(web("a1"), method)(f"/tasks/{foreign.pk}/move/", **HX)
        assert resp.status_code == 404
    resp = move(web("a1"), foreign, "2026-12-10T10:00", "чужая", **HX)
    assert resp.status_code == 404
    foreign.refresh_from_db()
    assert foreign.deadline == before and not TaskDeadlineChange.objects.filter(task=foreign)


def test_without_script_the_move_is_a_page_and_returns_to_the_calendar(
    web: Any, week: dict
) -> None:
    task = week["tue"]
    with clock.frozen(NOW):
        page = web("a1").get(f"/tasks/{task.pk}/move/", {"deadline": "2026-12-12T11:00"})
    assert page.status_code == 200 and "<html" in page.content.decode()
    resp = move(web("a1"), task, "2026-12-12T11:00", "перенесли на субботу")
    assert resp.status_code == 302 and resp["Location"] == "/tasks/calendar/?date=2026-12-12"
    assert TaskDeadlineChange.objects.filter(task=task).count() == 1
