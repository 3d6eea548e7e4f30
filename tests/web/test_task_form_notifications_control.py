"""Issue 7 item 14 — the task form says what the task is for (deal / company / contact, with
links) and has Cancel, also when "complete" opens it for the next task; opening the
notifications page marks what it shows read (the badge follows) and each notification names
its deal; the control screen's cards open the lists they count."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from factories import make_deal, make_task, system
from voronka.kernel.outbox import events_dispatch

pytestmark = pytest.mark.django_db


def _ids(html: str, prefix: str) -> set[int]:
    return {int(x) for x in re.findall(rf'href="/{prefix}/(\d+)/"', html)}


# --- the task form ------------------------------------------------------------------------------


def test_task_form_shows_the_deal_it_is_for_and_cancel_goes_back(web: Any, records: Any) -> None:
    deal = records["a1"].deal
    html = web("a1").get("/tasks/new/", {"deal": deal.pk, "next": f"/deals/{deal.pk}/"})
    html = html.content.decode()
    context = html.split('id="task-context"', 1)[1].split("</div>", 1)[0]
    assert f'href="/deals/{deal.pk}/"' in context and deal.title in context
    assert f'href="/companies/{deal.company_id}/"' in context
    cancel = re.search(r'<a class="btn" href="([^"]+)" id="task-cancel"', html)
    assert cancel and cancel.group(1) == f"/deals/{deal.pk}/"
    html = web("a1").get("/tasks/new/", {"contact": records["a1"].contact.pk}).content.decode()
    assert f'href="/contacts/{records["a1"].contact.pk}/"' in html.split('id="task-context"')[1]
    assert 'id="task-cancel"' in html and f'href="/contacts/{records["a1"].contact.pk}/"' in html


def test_task_form_never_shows_a_deal_outside_the_scope(web: Any, records: Any) -> None:
    other = records["b1"].deal
    html = web("a1").get("/tasks/new/", {"deal": other.pk}).content.decode()
    assert other.title not in html
    assert 'id="task-company-input"' in html  # nothing to hang on: pick a company


def test_task_without_a_link_gets_a_company_from_the_picker(web: Any, records: Any) -> None:
    from voronka.activities.models import Task

    client = web("a1")
    html = client.get("/tasks/new/").content.decode()
    assert 'data-combobox="pick"' in html and 'href="/tasks/"' in html  # Cancel → my day
    from voronka.deals.counters import local_day
    from voronka.kernel import clock

    tomorrow = (local_day(clock.now()) + dt.timedelta(days=1)).isoformat()
    resp = client.post(
        "/tasks/new/",
        {
            "type": "call",
            "responsible": records["a1"].user.pk,
            "deadline_date": tomorrow,
            "deadline_time": "11:00",
            "comment": "Без сделки",
            "company": records["a1"].spare_company.pk,
        },
    )
    assert resp.status_code == 302
    assert Task.objects.get(comment="Без сделки").company_id == records["a1"].spare_company.pk


def test_a_refused_task_form_keeps_its_context_and_where_to_go_back(web: Any, records: Any) -> None:
    deal = records["a1"].deal
    resp = web("a1").post(
        "/tasks/new/",
        {"deal": deal.pk, "type": "call", "comment": "", "next": f"/deals/{deal.pk}/"},
    )
    assert resp.status_code == 422
    html = resp.content.decode()
    assert deal.title in html.split('id="task-context"', 1)[1]
    assert f'name="next" value="/deals/{deal.pk}/"' in html
    assert f'href="/deals/{deal.pk}/" id="task-cancel"' in html


def test_after_completing_the_last_task_the_next_task_form_has_context(
    web: Any, records: Any, personas: Any
) -> None:
    deal = records["a1"].deal
    task = make_task(responsible=personas["a1"].user, deal=deal)
    client = web("a1")
    resp = client.post(
        f"/tasks/{task.pk}/complete/", {"result": "Созвонились", "version": task.version}
    )
    assert resp.status_code == 302
    location = resp["Location"]
    query = parse_qs(urlparse(location).query)
    assert query["deal"] == [str(deal.pk)] and query["completed"] == ["1"]
    html = client.get(location).content.decode()
    assert 'id="next-task-hint"' in html
    assert deal.title in html.split('id="task-context"', 1)[1]
    assert f'href="/deals/{deal.pk}/" id="task-cancel"' in html


def test_next_url_must_be_local(web: Any, records: Any) -> None:
    deal = records["a1"].deal
    for evil in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):
        html = web("a1").get("/tasks/new/", {"deal": deal.pk, "next": evil}).content.decode()
        form = html.split('id="task-form"', 1)[1]
        assert "evil.example" not in form, evil
        assert f'href="/deals/{deal.pk}/" id="task-cancel"' in form  # back to the deal


# --- notifications ------------------------------------------------------------------------------


def test_opening_notifications_marks_them_read_and_names_the_deal(
    web: Any, records: Any, personas: Any
) -> None:
    from voronka.activities.models import Notification

    a1 = personas["a1"].user
    deal = records["a1"].deal
    make_task(responsible=a1, deal=deal)  # system → a1: "new task" about the deal
    events_dispatch()  # the worker's notifications consumer
    a2_unread = Notification.objects.filter(user=personas["a2"].user, read_at__isnull=True).count()
    client = web("a1")
    counters = client.get("/counters/", HTTP_ACCEPT="application/json").json()
    assert counters["unread"] == Notification.objects.filter(user=a1).count() >= 2
    html = client.get("/notifications/").content.decode()
    assert f'href="/deals/{deal.pk}/"' in html and f"«{deal.title}»" in html
    assert html.count("notification-new") >= 2  # still marked as new on this visit
    assert not Notification.objects.filter(user=a1, read_at__isnull=True).exists()
    assert client.get("/counters/", HTTP_ACCEPT="application/json").json()["unread"] == 0
    assert "notification-new" not in client.get("/notifications/").content.decode()
    # Nobody else's notifications were touched.
    assert (
        Notification.objects.filter(user=personas["a2"].user, read_at__isnull=True).count()
        == a2_unread
    )


def test_notification_of_a_company_task_names_the_company(web: Any, records: Any) -> None:
    html = web("a1").get("/notifications/").content.decode()
    company = records["a1"].company
    assert f'href="/companies/{company.pk}/"' in html and company.name in html


# --- the control screen -------------------------------------------------------------------------


def _kpis(html: str) -> dict[str, str]:
    box = html.split('id="control-kpis"', 1)[1].split("</div>", 1)[0]
    return {
        key: href.replace("&amp;", "&")
        for href, key in re.findall(r'<a class="kpi[^"]*" href="([^"]+)" data-kpi="([^"]+)"', box)
    }


def test_control_cards_are_links_to_the_lists_they_count(
    web: Any, records: Any, personas: Any, org: Any, pipeline: Any
) -> None:
    from voronka.activities.tasks_services import task_complete
    from voronka.deals.models import Deal

    a1, b1 = personas["a1"].user, personas["b1"].user
    overdue_a1 = make_task(responsible=a1, company=records["a1"].company, days=-2)
    make_task(responsible=b1, company=records["b1"].company, days=-2)
    done_a1 = make_task(responsible=a1, company=records["a1"].company)
    done_b1 = make_task(responsible=b1, company=records["b1"].company)
    task_complete(task=done_a1, actor=system(), result="ok")
    task_complete(task=done_b1, actor=system(), result="ok")
    make_deal(responsible=b1, company=records["b1"].company, title="Сделка b1 без задачи")

    client = web("head_a")
    html = client.get("/control/").content.decode()
    links = _kpis(html)
    assert set(links) == {
        "open_deals",
        "deals_without_task",
        "overdue_tasks",
        "deals_over_sla",
        "tasks_done_today",
    }
    dept_a = org.departments["a"].pk
    for href in links.values():
        assert f"department={dept_a}" in href
        assert client.get(href).status_code == 200, href

    team_a = {"head_a", "a1", "a2", "a11", "deact"}
    expected = {
        d.pk for d in Deal.objects.filter(status="open") if d.responsible.username in team_a
    }
    assert _ids(client.get(links["open_deals"]).content.decode(), "deals") == expected
    without = _ids(client.get(links["deals_without_task"]).content.decode(), "deals")
    assert without and without <= expected
    assert records["b1"].deal.pk not in without

    overdue = _ids(client.get(links["overdue_tasks"]).content.decode(), "tasks")
    assert overdue_a1.pk in overdue and all(
        t.responsible.username in team_a
        for t in overdue_a1.__class__.objects.filter(pk__in=overdue)
    )
    done = _ids(client.get(links["tasks_done_today"]).content.decode(), "tasks")
    assert done == {done_a1.pk}


def test_control_links_follow_the_department_shown(web: Any, records: Any, org: Any) -> None:
    client = web("owner")
    links = _kpis(client.get("/control/").content.decode())
    assert not any("department=" in href for href in links.values())  # the whole company
    dept_b = org.departments["b"].pk
    links = _kpis(client.get("/control/", {"department": dept_b}).content.decode())
    assert all(f"department={dept_b}" in href for href in links.values())
    html = client.get(links["open_deals"]).content.decode()
    assert _ids(html, "deals") == {records["head_b"].deal.pk, records["b1"].deal.pk}
    assert "Отдел продаж B" in html  # the filter is visible (and can be unticked)
