"""The calendar's time grid in the browser (issue 7, item 16), at 1440 px and at 390 px: the week
shows tasks in the slots of their deadlines; a task dragged to another slot asks for the reason
in a modal and, once submitted, has the new deadline and a history row; Cancel leaves the task
as it was and puts the block back. On a phone the week shows one day (picked by ?date= and the
day strip) and the drag works inside that day's column.

Screenshots of every state are written to $VORONKA_SCREENSHOTS (if set) for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from django.utils import timezone

from e2e.conftest import login
from e2e.pointer import drag

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "e2e-pass-1234"
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


def shot(page: Any, name: str) -> None:
    out = os.environ.get("VORONKA_SCREENSHOTS")
    if out:
        os.makedirs(out, exist_ok=True)
        page.screenshot(path=os.path.join(out, f"calendar_{name}.png"), full_page=True)


def coming_wednesday() -> dt.date:
    """A day in the future (so any target slot that day is in the future too), Mon–Fri."""
    today = timezone.localdate()
    return today + dt.timedelta(days=(2 - today.weekday()) % 7 or 7)


@pytest.fixture
def setup(personas: Any, records: Any) -> dict[str, Any]:
    from voronka.activities.tasks_services import task_create
    from voronka.kernel.actor import Actor

    user = personas["a1"].user
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    day = coming_wednesday()

    def add(hour: int, minute: int, comment: str, ttype: str) -> Any:
        deadline = timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))
        return task_create(
            actor=Actor.for_user(user),
            data={
                "type": ttype,
                "responsible": user.pk,
                "deadline": deadline.isoformat(),
                "comment": comment,
                "deal": records["a1"].deal.pk,
            },
        )

    return {
        "user": user,
        "day": day,
        "call": add(10, 30, "Позвонить: согласовать доставку", "call"),
        "meeting": add(15, 0, "Встреча у клиента", "meeting"),
    }


def open_calendar(page: Any, setup: dict[str, Any], size: str) -> list[str]:
    """Log in and open the week of the setup's day; returns the page's script errors (CSP
    refusals included), collected from then on."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
    login(page, setup["user"].username, PASSWORD)
    page.goto(f"{page.base}/tasks/calendar/?date={setup['day'].isoformat()}")
    page.wait_for_selector(".cal-grid")
    page.wait_for_function("() => !!window.Sortable")
    return errors


def block(page: Any, task: Any) -> Any:
    return page.locator(f'.cal-event[data-task-id="{task.pk}"]')


def slot(page: Any, day: dt.date, key: str) -> Any:
    return page.locator(f'.cal-slot[data-day="{day.isoformat()}"][data-slot="{key}"]')


def local(moment: dt.datetime) -> tuple[dt.date, str]:
    value = timezone.localtime(moment)
    return value.date(), value.strftime("%H:%M")


@pytest.mark.parametrize("size", list(SIZES))
def test_week_grid_shows_tasks_in_their_slots(page: Any, setup: dict, size: str) -> None:
    errors = open_calendar(page, setup, size)
    day = setup["day"].isoformat()
    for task, key in ((setup["call"], "10"), (setup["meeting"], "15")):
        where = block(page, task).evaluate(
            "e => [e.closest('.cal-slot').dataset.day, e.closest('.cal-slot').dataset.slot]"
        )
        assert where == [day, key]
    assert block(page, setup["call"]).is_visible() and block(page, setup["meeting"]).is_visible()
    assert "cal-event--meeting" in (block(page, setup["meeting"]).get_attribute("class") or "")
    # No horizontal page scroll on either width.
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size][0]
    if size == "phone":  # one day of the week: the day asked for
        assert page.locator(".cal-dayhead:visible").count() == 1
        assert page.locator(".cal-strip-day.is-focus").is_visible()
    else:
        assert page.locator(".cal-dayhead:visible").count() == 7
    assert errors == []
    shot(page, f"week_{size}")


@pytest.mark.parametrize("size", list(SIZES))
def test_drag_to_another_slot_asks_the_reason_and_reschedules(
    page: Any, setup: dict, size: str
) -> None:
    from voronka.activities.models import Task, TaskDeadlineChange

    errors = open_calendar(page, setup, size)
    task, day = setup["call"], setup["day"]
    # Desktop: to the next day at 16:00; phone: the same day's column, 14:00.
    target_day = day + dt.timedelta(days=1) if size == "desktop" else day
    target_key = "16" if size == "desktop" else "14"
    drag(page, block(page, task), slot(page, target_day, target_key), grip=14)
    modal = page.locator("#cal-modal")
    modal.locator("textarea[name=reason]").wait_for()
    assert modal.locator("input[name=deadline_date]").input_value() == target_day.isoformat()
    assert modal.locator("input[name=deadline_time]").input_value() == f"{target_key}:30"
    shot(page, f"modal_{size}")
    # The reason is required: the browser refuses to send the form without it.
    modal.locator("button[type=submit]").click()
    assert modal.locator("textarea[name=reason]:invalid").count() == 1
    assert not TaskDeadlineChange.objects.filter(task=task).exists()
    modal.locator("textarea[name=reason]").fill("Клиент попросил перенести на после обеда")
    modal.locator("button[type=submit]").click()
    page.wait_for_selector("#cal-modal", state="hidden")
    moved = slot(page, target_day, target_key).locator(f'.cal-event[data-task-id="{task.pk}"]')
    moved.wait_for()
    assert moved.get_attribute("data-version") == "2"
    fresh = Task.objects.get(pk=task.pk)
    assert local(fresh.deadline) == (target_day, f"{target_key}:30")
    change = TaskDeadlineChange.objects.get(task=task)
    assert change.reason == "Клиент попросил перенести на после обеда"
    assert change.by_id == setup["user"].pk
    assert local(change.old_deadline) == (day, "10:30")
    assert errors == []
    shot(page, f"moved_{size}")
    # The new place survives a reload (it is the server's, not the page's).
    page.reload()
    page.wait_for_selector(".cal-grid")
    assert block(page, task).evaluate("e => e.closest('.cal-slot').dataset.slot") == target_key


@pytest.mark.parametrize("size", list(SIZES))
def test_cancel_leaves_the_task_unchanged(page: Any, setup: dict, size: str) -> None:
    from voronka.activities.models import Task, TaskDeadlineChange

    open_calendar(page, setup, size)
    task, day = setup["call"], setup["day"]
    drag(page, block(page, task), slot(page, day, "17"))
    modal = page.locator("#cal-modal")
    modal.locator("textarea[name=reason]").wait_for()
    modal.locator("textarea[name=reason]").fill("передумал")
    modal.locator("[data-cal-cancel]").click()
    page.wait_for_selector("#cal-modal", state="hidden")
    # Back in its slot, unchanged in the database.
    assert block(page, task).evaluate("e => e.closest('.cal-slot').dataset.slot") == "10"
    assert block(page, task).count() == 1
    fresh = Task.objects.get(pk=task.pk)
    assert (fresh.deadline, fresh.version) == (task.deadline, task.version)
    assert not TaskDeadlineChange.objects.filter(task=task).exists()
    # Esc does the same.
    drag(page, block(page, task), slot(page, day, "12"))
    modal.locator("textarea[name=reason]").wait_for()
    page.keyboard.press("Escape")
    page.wait_for_selector("#cal-modal", state="hidden")
    assert block(page, task).evaluate("e => e.closest('.cal-slot').dataset.slot") == "10"
    assert not TaskDeadlineChange.objects.filter(task=task).exists()
    shot(page, f"cancelled_{size}")
