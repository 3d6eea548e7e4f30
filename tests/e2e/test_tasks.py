"""The issue-3 browser paths: create a task from the deal card and find it listed on the card;
reschedule it with a reason on the task page and see the history row (who, old → new, why);
the navigation's task badge (filled every 5 s by htmx polling /counters/) shows a new number a
few seconds after an overdue task is created in another session."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "e2e-pass-1234"


@pytest.fixture
def manager(personas: Any, pipeline: Any, records: Any) -> Any:
    user = personas["a1"].user
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def test_create_a_task_from_the_deal_card(page: Any, manager: Any, records: Any) -> None:
    from voronka.activities.models import Task

    deal = records["a1"].deal
    login(page, manager.username, PASSWORD)
    page.goto(f"{page.base}/deals/{deal.pk}/")
    assert "Задач нет" in page.locator(".task-list").inner_text()
    page.click('a.btn:has-text("+ Задача")')
    page.wait_for_selector("#task-form")
    assert page.locator("#task-form input[name=deal]").input_value() == str(deal.pk)
    page.select_option("#task-form select[name=type]", "meeting")
    page.fill("#task-form input[name=deadline_date]", "2026-12-15")
    page.fill("#task-form input[name=deadline_time]", "11:30")
    page.fill("#task-form textarea[name=comment]", "Встреча с директором: показать КП")
    page.click("#task-form button[type=submit]")
    page.wait_for_url(f"{page.base}/deals/{deal.pk}/")
    rows = page.locator(".task-list .task-row")
    rows.first.wait_for()
    assert "Встреча с директором: показать КП" in page.locator(".task-list").inner_text()
    assert "15.12 11:30" in rows.first.inner_text()
    task = Task.objects.get(deal=deal)
    assert (task.type, task.responsible_id, task.created_by_id) == (
        "meeting",
        manager.pk,
        manager.pk,
    )


def test_reschedule_with_a_reason_and_see_the_history(
    page: Any, manager: Any, records: Any
) -> None:
    from django.utils import timezone

    from voronka.activities.models import TaskDeadlineChange
    from voronka.kernel import clock

    task = records["a1"].task
    old = timezone.localtime(task.deadline).strftime("%d.%m.%Y %H:%M")
    login(page, manager.username, PASSWORD)
    page.goto(f"{page.base}/tasks/{task.pk}/")
    assert "Срок не переносился" in page.locator("#deadline-history").inner_text()
    form = page.locator("#reschedule-form")
    # Two weeks ahead: a deadline cannot be moved to the past.
    new_day = timezone.localtime(clock.now() + dt.timedelta(days=14))
    form.locator("input[name=deadline_date]").fill(new_day.date().isoformat())
    form.locator("input[name=deadline_time]").fill("16:45")
    # Without a reason the browser itself refuses (required) — nothing is sent.
    form.locator("button").click()
    assert form.locator("input[name=reason]:invalid").count() == 1
    assert not TaskDeadlineChange.objects.filter(task=task).exists()
    form.locator("input[name=reason]").fill("Клиент в командировке до 20-го")
    form.locator("button").click()
    page.wait_for_selector("#deadline-history .timeline-item")
    history = page.locator("#deadline-history").inner_text()
    assert "Клиент в командировке до 20-го" in history
    assert old in history and f"{new_day:%d.%m.%Y} 16:45" in history
    assert manager.display_name in history
    change = TaskDeadlineChange.objects.get(task=task)
    assert (change.by_id, change.reason) == (manager.pk, "Клиент в командировке до 20-го")


def _badge(page: Any, slot: str) -> str:
    return page.locator(f'[data-badge-slot="{slot}"]').inner_text().strip()


def test_task_badge_changes_after_an_overdue_task_appears_elsewhere(
    page: Any, manager: Any, records: Any, api: Any
) -> None:
    from voronka.kernel import clock
    from voronka.kernel.outbox import events_dispatch

    login(page, manager.username, PASSWORD)
    page.goto(f"{page.base}/tasks/")
    # The first poll (on load) fills the slots: a1's only task is due in three days — no
    # overdue badge; the bell shows the one unread "task assigned" notification.
    page.locator('[data-badge-slot="bell"] .badge').wait_for(timeout=15000)
    assert page.locator('[data-badge-slot="tasks"] .badge--red').count() == 0
    bell_before = int(_badge(page, "bell"))
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded

    # Another session (the head of department, through the API) gives a1 an overdue task.
    deadline = clock.now() - dt.timedelta(hours=1)
    response = api("head_a").post_json(
        "/api/v1/tasks",
        {
            "type": "call",
            "responsible": manager.pk,
            "deadline": deadline.isoformat(),
            "comment": "Срочно перезвонить",
            "company": records["a1"].company.pk,
        },
    )
    assert response.status_code == 201, response.content
    events_dispatch()  # what `voronka worker` does: the notifications consumer notifies a1
    created = time.monotonic()

    red = page.locator('[data-badge-slot="tasks"] .badge--red')
    red.wait_for(timeout=15000)  # bounded: the nav polls every 5 s
    seconds = time.monotonic() - created
    assert red.inner_text().strip() == "1"
    expect(page.locator('[data-badge-slot="bell"] .badge')).to_have_text(
        str(bell_before + 1), timeout=15000
    )
    assert seconds < 15
    assert page.evaluate("window.__sameDocument === true")  # updated without a reload
