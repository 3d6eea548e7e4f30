"""Tasks through the services, the API and the task screens (issue 3, "Contract" and "Bad input").

* All four parameters (type, responsible, deadline, comment) are required: each one missing,
  empty, whitespace-only or wrong is refused with a 4xx naming that field, and nothing is written.
* A responsible, deal, contact or company outside the caller's scope is refused.
* Complete needs a result; the last open task of an open deal answers next_task_required, and
  complete + next_task is one transaction (an invalid next task undoes the completion too).
* Reschedule needs a reason (422 without, whitespace refused); the history lists old → new, who,
  when and why; PATCH refuses a deadline.
* Someone else's task without the right: 404 and nothing written. A head may reschedule and
  reassign a manager's task; the manager is notified.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tasks.conftest import task_payload
from voronka.activities.models import (
    Notification,
    NotificationKind,
    Task,
    TaskDeadlineChange,
    TaskStatus,
)
from voronka.activities.task_selectors import counters_for
from voronka.activities.tasks_services import task_reschedule, task_update
from voronka.deals.models import Deal
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ValidationError
from voronka.kernel.outbox import events_dispatch

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks"


def later(hours: int = 48) -> dt.datetime:
    return clock.now() + dt.timedelta(hours=hours)


def future_day(days: int = 14) -> str:
    """A local day in the future for the task forms (a deadline cannot be moved to the past)."""
    return timezone.localtime(later(24 * days)).date().isoformat()


def assert_refused(response: Any, field: str, status: int = 422) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert field in (body.get("errors") or {}), body


# --- create: the four mandatory parameters ------------------------------------------------------

BAD_VALUES: list[tuple[str, Any]] = [
    # (field, value) — the sentinel MISSING drops the field from the body
    ("type", "MISSING"),
    ("type", ""),
    ("type", "   "),
    ("type", "fax"),
    ("type", 5),
    ("type", None),
    ("responsible", "MISSING"),
    ("responsible", ""),
    ("responsible", "  "),
    ("responsible", "abc"),
    ("responsible", 10**12),
    ("responsible", None),
    ("responsible", "INACTIVE"),
    ("deadline", "MISSING"),
    ("deadline", ""),
    ("deadline", "   "),
    ("deadline", "31.12.2026 10:00"),
    ("deadline", "завтра"),
    ("deadline", "2026-02-30T10:00"),
    ("deadline", "1999-12-31T10:00"),
    ("deadline", "2026-13-01"),
    ("deadline", None),
    ("deadline", 1767225600),
    ("comment", "MISSING"),
    ("comment", ""),
    ("comment", "   "),
    ("comment", "\n\t \u00a0"),
    ("comment", 123),
    ("comment", None),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=[f"{f}={v!r}" for f, v in BAD_VALUES])
def test_create_refuses_each_missing_or_wrong_parameter(
    api: Any, records: Any, personas: Any, nothing_written: Any, field: str, value: Any
) -> None:
    a1 = records["a1"]
    body = task_payload(a1.user, later(), deal=a1.deal)
    if value == "MISSING":
        del body[field]
    elif value == "INACTIVE":
        body[field] = personas["deact"].pk
    else:
        body[field] = value
    with nothing_written():
        response = api("a1").post_json(TASKS, body)
    assert_refused(response, field)


def test_create_with_all_four_parameters(api: Any, records: Any) -> None:
    a1 = records["a1"]
    deadline = later(30).replace(microsecond=0)
    response = api("a1").post_json(
        TASKS, {**task_payload(a1.user, deadline, deal=a1.deal), "type": "meeting"}
    )
    assert response.status_code == 201, response.content
    out = response.json()
    assert (out["type"], out["responsible"], out["deal"], out["status"]) == (
        "meeting",
        a1.user.pk,
        a1.deal.pk,
        "open",
    )
    assert dt.datetime.fromisoformat(out["deadline"]) == deadline
    assert out["company"] == a1.deal.company_id  # a deal task also hangs on the deal's company
    a1.deal.refresh_from_db()
    assert a1.deal.open_tasks == 1 and a1.deal.next_task_deadline == deadline


@pytest.mark.parametrize("field", ["type", "responsible", "deadline", "comment"])
def test_task_form_names_the_missing_field(
    web: Any, records: Any, nothing_written: Any, field: str
) -> None:
    a1 = records["a1"]
    form = {
        "type": "call",
        "responsible": str(a1.user.pk),
        "deadline_date": "2026-12-01",
        "deadline_time": "10:00",
        "comment": "Позвонить",
        "deal": str(a1.deal.pk),
    }
    form["deadline_date" if field == "deadline" else field] = "" if field != "comment" else "   "
    with nothing_written():
        response = web("a1").post("/tasks/new/", form)
    assert response.status_code == 422
    assert field in response.context["errors"], response.context["errors"]


# --- scope of the responsible and of the linked records -----------------------------------------


@pytest.mark.parametrize(
    ("who", "target", "allowed"),
    [
        ("a1", "a2", False),
        ("a1", "b1", False),
        ("a1", "head_a", False),
        ("head_a", "b1", False),
        ("head_b", "a1", False),
        ("a11", "a1", False),
        ("head_a", "a11", True),
        ("head_a", "a2", True),
        ("head_root", "b1", True),
        ("owner", "a11", True),
        ("a1", "a1", True),
    ],
)
def test_responsible_must_be_in_the_callers_scope(
    api: Any,
    records: Any,
    personas: Any,
    nothing_written: Any,
    who: str,
    target: str,
    allowed: bool,
) -> None:
    company = records[target].company  # visible to every caller that may assign to `target`
    body = task_payload(personas[target].user, later(), company=company)
    if allowed:
        response = api(who).post_json(TASKS, body)
        assert response.status_code == 201, response.content
        assert response.json()["responsible"] == personas[target].pk
    else:
        body["company"] = records[
            who
        ].company.pk  # the caller's own company: only the responsible is wrong
        with nothing_written():
            response = api(who).post_json(TASKS, body)
        assert_refused(response, "responsible")


@pytest.mark.parametrize(
    ("link", "owner"),
    [
        ("deal", "a2"),
        ("deal", "b1"),
        ("contact", "a2"),
        ("contact", "b1"),
        ("company", "head_a"),
        ("company", "b1"),
        ("deal", "missing"),
        ("company", "missing"),
    ],
)
def test_linked_record_outside_scope_is_refused(
    api: Any, records: Any, nothing_written: Any, link: str, owner: str
) -> None:
    target = 10**9 if owner == "missing" else getattr(records[owner], link).pk
    body = task_payload(records["a1"].user, later(), **{link: target})
    with nothing_written():
        response = api("a1").post_json(TASKS, body)
    assert_refused(response, link)


def test_task_must_hang_on_something(api: Any, records: Any, nothing_written: Any) -> None:
    with nothing_written():
        response = api("a1").post_json(TASKS, task_payload(records["a1"].user, later()))
    assert_refused(response, "deal")


def test_head_links_a_task_to_a_sub_department_deal(api: Any, records: Any) -> None:
    body = task_payload(records["a11"].user, later(), deal=records["a11"].deal)
    response = api("head_a").post_json(TASKS, body)
    assert response.status_code == 201, response.content


# --- complete -------------------------------------------------------------------------------------


@pytest.mark.parametrize("result", ["MISSING", "", "   ", "\n\t", None, 42])
def test_complete_requires_a_result(
    api: Any, records: Any, nothing_written: Any, result: Any
) -> None:
    task = records["a1"].task
    body = {} if result == "MISSING" else {"result": result}
    with nothing_written():
        response = api("a1").post_json(f"{TASKS}/{task.pk}/complete", body)
    assert_refused(response, "result")
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and task.version == 1


def test_last_open_task_of_an_open_deal_asks_for_the_next(api: Any, records: Any) -> None:
    a1 = records["a1"]
    client = api("a1")
    first = client.post_json(TASKS, task_payload(a1.user, later(24), deal=a1.deal)).json()
    second = client.post_json(TASKS, task_payload(a1.user, later(48), deal=a1.deal)).json()
    without_before = counters_for(user=a1.user)["deals_without_task"]

    out = client.post_json(f"{TASKS}/{first['id']}/complete", {"result": "Позвонил"}).json()
    assert (
        out["next_task_required"] is False and out["task"]["status"] == "done"
    )  # one task is left

    out = client.post_json(f"{TASKS}/{second['id']}/complete", {"result": "Договорились"}).json()
    assert out["next_task_required"] is True and out["next_task"] is None
    assert counters_for(user=a1.user)["deals_without_task"] == without_before + 1
    a1.deal.refresh_from_db()
    assert a1.deal.open_tasks == 0 and a1.deal.next_task_deadline is None

    # A task on a company (no deal) never asks.
    out = client.post_json(f"{TASKS}/{a1.task.pk}/complete", {"result": "Ок"}).json()
    assert out["next_task_required"] is False


def test_last_task_of_a_closed_deal_does_not_ask(api: Any, records: Any, pipeline: Any) -> None:
    from voronka.deals.services import deal_move_to_stage

    a1 = records["a1"]
    task = api("a1").post_json(TASKS, task_payload(a1.user, later(), deal=a1.deal)).json()
    deal_move_to_stage(deal=a1.deal, stage=pipeline.stages["won"], actor=Actor.system())
    out = api("a1").post_json(f"{TASKS}/{task['id']}/complete", {"result": "Оплатили"}).json()
    assert out["next_task_required"] is False


def test_complete_with_next_task_is_one_transaction(
    api: Any, records: Any, nothing_written: Any
) -> None:
    a1 = records["a1"]
    client = api("a1")
    task = client.post_json(TASKS, task_payload(a1.user, later(24), deal=a1.deal)).json()
    nxt = {
        "type": "meeting",
        "responsible": a1.user.pk,
        "deadline": later(72).isoformat(),
        "comment": "Встреча",
    }

    # An invalid next task undoes the completion as well.
    with nothing_written():
        response = client.post_json(
            f"{TASKS}/{task['id']}/complete",
            {"result": "Позвонил", "next_task": {**nxt, "comment": "   "}},
        )
    assert_refused(response, "next_task.comment")
    assert Task.objects.get(pk=task["id"]).status == TaskStatus.OPEN

    out = client.post_json(
        f"{TASKS}/{task['id']}/complete", {"result": "Позвонил", "next_task": nxt}
    ).json()
    assert out["task"]["status"] == "done" and out["next_task_required"] is False
    created = Task.objects.get(pk=out["next_task"]["id"])
    assert (created.deal_id, created.type, created.status) == (a1.deal.pk, "meeting", "open")
    a1.deal.refresh_from_db()
    assert a1.deal.open_tasks == 1 and a1.deal.next_task_deadline == created.deadline


def test_completed_task_cannot_be_completed_or_rescheduled_again(
    api: Any, records: Any, nothing_written: Any
) -> None:
    task = records["a1"].task
    client = api("a1")
    assert client.post_json(f"{TASKS}/{task.pk}/complete", {"result": "Готово"}).status_code == 200
    with nothing_written():
        assert (
            client.post_json(f"{TASKS}/{task.pk}/complete", {"result": "Ещё раз"}).status_code
            == 409
        )
        response = client.post_json(
            f"{TASKS}/{task.pk}/reschedule", {"deadline": later(99).isoformat(), "reason": "Поздно"}
        )
        assert response.status_code == 409
        assert client.patch_json(f"{TASKS}/{task.pk}", {"comment": "Новый"}).status_code == 409


def test_ui_completing_the_last_deal_task_opens_the_next_task_form(web: Any, records: Any) -> None:
    a1 = records["a1"]
    client = web("a1")
    response = client.post(
        "/tasks/new/",
        {
            "type": "call",
            "responsible": a1.user.pk,
            "deadline_date": "2026-12-01",
            "deadline_time": "11:00",
            "comment": "Позвонить",
            "deal": a1.deal.pk,
            "next": f"/deals/{a1.deal.pk}/",
        },
    )
    assert response.status_code == 302 and response["Location"] == f"/deals/{a1.deal.pk}/"
    created = Task.objects.get(deal=a1.deal)
    response = client.post(
        f"/tasks/{created.pk}/complete/", {"result": "Позвонил", "version": created.version}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(f"/tasks/new/?deal={a1.deal.pk}")
    # Without a result the screen answers 422 and the task stays open.
    response = client.post(f"/tasks/{a1.task.pk}/complete/", {"result": "  "})
    assert response.status_code == 422 and "result" in response.context["errors"]


# --- reschedule and its history -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"deadline": "LATER"}, "reason"),
        ({"deadline": "LATER", "reason": ""}, "reason"),
        ({"deadline": "LATER", "reason": "    "}, "reason"),
        ({"deadline": "LATER", "reason": "\u00a0\t\n"}, "reason"),
        ({"deadline": "LATER", "reason": None}, "reason"),
        ({"deadline": "послезавтра", "reason": "Клиент просил"}, "deadline"),
        ({"deadline": "", "reason": "Клиент просил"}, "deadline"),
        ({"reason": "Клиент просил"}, "deadline"),
        ({"deadline": "SAME", "reason": "Клиент просил"}, "deadline"),
    ],
)
def test_reschedule_requires_a_reason_and_a_valid_deadline(
    api: Any, records: Any, nothing_written: Any, body: dict[str, Any], field: str
) -> None:
    task = records["a1"].task
    data = dict(body)
    if data.get("deadline") == "LATER":
        data["deadline"] = later(100).isoformat()
    elif data.get("deadline") == "SAME":
        data["deadline"] = task.deadline.isoformat()
    with nothing_written():
        response = api("a1").post_json(f"{TASKS}/{task.pk}/reschedule", data)
    assert_refused(response, field)
    assert not TaskDeadlineChange.objects.filter(task=task).exists()


def test_history_lists_every_move_with_who_when_and_why(
    api: Any, web: Any, records: Any, personas: Any
) -> None:
    task = records["a1"].task
    original = task.deadline
    first_at = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    second_at = dt.datetime(2026, 3, 3, 16, 45, tzinfo=dt.UTC)
    new1 = dt.datetime(2026, 12, 5, 7, 0, tzinfo=dt.UTC)
    new2 = dt.datetime(2026, 12, 9, 11, 15, tzinfo=dt.UTC)
    with clock.frozen(first_at):
        response = api("a1").post_json(
            f"{TASKS}/{task.pk}/reschedule",
            {"deadline": new1.isoformat(), "reason": "Клиент в отпуске"},
        )
        assert response.status_code == 200, response.content
        assert dt.datetime.fromisoformat(response.json()["deadline"]) == new1
    with clock.frozen(second_at):
        response = api("head_a").post_json(
            f"{TASKS}/{task.pk}/reschedule",
            {"deadline": new2.isoformat(), "reason": "  Решение руководителя  ", "version": 2},
        )
        assert response.status_code == 200, response.content
    rows = api("a1").get_json(f"{TASKS}/{task.pk}/history").json()
    got = [
        (
            dt.datetime.fromisoformat(r["old_deadline"]),
            dt.datetime.fromisoformat(r["new_deadline"]),
            r["by"],
            dt.datetime.fromisoformat(r["at"]),
            r["reason"],
        )
        for r in rows
    ]
    assert got == [
        (original, new1, personas["a1"].pk, first_at, "Клиент в отпуске"),
        (new1, new2, personas["head_a"].pk, second_at, "Решение руководителя"),
    ]
    assert rows[1]["by_name"] == personas["head_a"].user.display_name
    # The head sees the same history; the task page shows it too.
    assert api("head_a").get_json(f"{TASKS}/{task.pk}/history").json() == rows
    html = web("a1").get(f"/tasks/{task.pk}/").content.decode()
    assert "Клиент в отпуске" in html and "Решение руководителя" in html
    from voronka.kernel.models import AuditEntry

    assert AuditEntry.objects.filter(object_id=task.pk, action="rescheduled").count() == 2


def test_deal_task_reschedule_lands_on_the_deal_timeline(api: Any, records: Any) -> None:
    from voronka.kernel.models import AuditEntry

    a1 = records["a1"]
    task = api("a1").post_json(TASKS, task_payload(a1.user, later(), deal=a1.deal)).json()
    api("a1").post_json(
        f"{TASKS}/{task['id']}/reschedule",
        {"deadline": later(200).isoformat(), "reason": "Праздники"},
    )
    entry = AuditEntry.objects.filter(object_id=a1.deal.pk, action="task_rescheduled").get()
    assert entry.changes["reason"][1] == "Праздники"


def test_ui_reschedule_without_reason_is_refused(
    web: Any, records: Any, nothing_written: Any
) -> None:
    task = records["a1"].task
    with nothing_written():
        response = web("a1").post(
            f"/tasks/{task.pk}/reschedule/",
            {"deadline_date": future_day(), "deadline_time": "10:00", "reason": "   "},
        )
    assert response.status_code == 422 and "reason" in response.context["errors"]
    response = web("a1").post(
        f"/tasks/{task.pk}/reschedule/",
        {"deadline_date": future_day(), "deadline_time": "10:00", "reason": "Болеет"},
    )
    assert response.status_code == 302
    assert TaskDeadlineChange.objects.get(task=task).reason == "Болеет"


# --- PATCH ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"deadline": "2026-12-24T10:00:00+03:00"},
        {"deadline": "2026-12-24T10:00:00+03:00", "comment": "С новым сроком"},
    ],
)
def test_patch_with_a_deadline_is_refused(
    api: Any, records: Any, nothing_written: Any, body: dict[str, Any]
) -> None:
    task = records["a1"].task
    with nothing_written():
        response = api("a1").patch_json(f"{TASKS}/{task.pk}", body)
    assert_refused(response, "deadline")
    task.refresh_from_db()
    assert task.version == 1
    # The service refuses it as well (for callers other than the API).
    with pytest.raises(ValidationError) as exc:
        task_update(
            task=task, actor=Actor.for_user(records["a1"].user), data={"deadline": body["deadline"]}
        )
    assert "deadline" in exc.value.errors


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"comment": "   "}, "comment", 422),
        ({"comment": None}, "comment", 422),
        ({"type": "fax"}, "type", 422),
        ({"responsible": "BOSS"}, "responsible", 422),
        ({"status": "done"}, "status", 422),
        ({"comment": "x", "version": 7}, None, 409),
    ],
)
def test_patch_refusals_write_nothing(
    api: Any,
    records: Any,
    personas: Any,
    nothing_written: Any,
    body: dict[str, Any],
    field: str | None,
    status: int,
) -> None:
    task = records["a1"].task
    if body.get("responsible") == "BOSS":
        body = {"responsible": personas["head_a"].pk}
    with nothing_written():
        response = api("a1").patch_json(f"{TASKS}/{task.pk}", body)
    assert response.status_code == status, response.content
    if field:
        assert field in response.json()["errors"]


def test_patch_type_and_comment(api: Any, records: Any) -> None:
    task = records["a1"].task
    out = api("a1").patch_json(
        f"{TASKS}/{task.pk}", {"type": "email", "comment": " Написать письмо ", "version": 1}
    )
    assert out.status_code == 200, out.content
    assert (out.json()["type"], out.json()["comment"], out.json()["version"]) == (
        "email",
        "Написать письмо",
        2,
    )


# --- someone else's task ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "owner"),
    [
        ("a1", "a2"),
        ("b1", "a1"),
        ("head_b", "a11"),
        ("a11", "head_a"),
        ("head_a", "b1"),
        ("a2", "admin"),
    ],
)
def test_someone_elses_task_is_not_found_and_nothing_is_written(
    api: Any, records: Any, personas: Any, nothing_written: Any, who: str, owner: str
) -> None:
    task = records[owner].task
    client = api(who)
    url = f"{TASKS}/{task.pk}"
    with nothing_written():
        calls = [
            client.get_json(url),
            client.get_json(f"{url}/history"),
            client.patch_json(url, {"comment": "Чужая"}),
            client.patch_json(url, {"responsible": personas[who].pk}),
            client.post_json(f"{url}/complete", {"result": "Чужая"}),
            client.post_json(
                f"{url}/reschedule", {"deadline": later().isoformat(), "reason": "Чужая"}
            ),
        ]
    assert [c.status_code for c in calls] == [404] * 6
    assert task.pk not in {t["id"] for t in client.get_json(TASKS, {"limit": 200}).json()["items"]}
    fresh = Task.objects.get(pk=task.pk)
    assert (fresh.version, fresh.status, fresh.deadline, fresh.responsible_id) == (
        task.version,
        task.status,
        task.deadline,
        task.responsible_id,
    )


# --- the head of sales acts on a manager's task ----------------------------------------------------


def test_head_reschedules_a_managers_task_and_the_manager_is_notified(
    api: Any, records: Any, personas: Any
) -> None:
    task = records["a1"].task
    response = api("head_a").post_json(
        f"{TASKS}/{task.pk}/reschedule",
        {"deadline": later(120).isoformat(), "reason": "Клиент перенёс встречу"},
    )
    assert response.status_code == 200, response.content
    events_dispatch()  # what the worker does (the notifications consumer)
    mine = api("a1").get_json("/api/v1/me/notifications").json()
    moved = [n for n in mine if n["kind"] == NotificationKind.DEADLINE_MOVED]
    assert (
        len(moved) == 1
        and moved[0]["task"] == task.pk
        and "Клиент перенёс встречу" in moved[0]["text"]
    )
    assert not Notification.objects.filter(
        user=personas["head_a"].user, kind=NotificationKind.DEADLINE_MOVED
    ).exists()

    # The manager moving their own deadline notifies nobody.
    api("a1").post_json(
        f"{TASKS}/{task.pk}/reschedule", {"deadline": later(130).isoformat(), "reason": "Сам"}
    )
    events_dispatch()
    assert Notification.objects.filter(kind=NotificationKind.DEADLINE_MOVED).count() == 1


def test_head_reassigns_a_managers_task(api: Any, records: Any, personas: Any) -> None:
    task = records["a1"].task
    a1, a2 = personas["a1"].user, personas["a2"].user
    response = api("head_a").patch_json(f"{TASKS}/{task.pk}", {"responsible": a2.pk, "version": 1})
    assert response.status_code == 200, response.content
    assert response.json()["responsible"] == a2.pk
    events_dispatch()
    assigned = Notification.objects.filter(user=a2, kind=NotificationKind.TASK_ASSIGNED, task=task)
    assert assigned.count() == 1
    # The task left a1's scope: a1 no longer sees it, a2 does.
    assert api("a1").get_json(f"{TASKS}/{task.pk}").status_code == 404
    assert api("a2").get_json(f"{TASKS}/{task.pk}").status_code == 200
    # A manager cannot hand a task to a colleague.
    refused = api("a2").patch_json(f"{TASKS}/{task.pk}", {"responsible": a1.pk})
    assert_refused(refused, "responsible")


def test_head_acts_through_the_task_screens(web: Any, records: Any, personas: Any) -> None:
    task = records["a11"].task  # sub-department: within head_a's scope
    head = web("head_a")
    v0 = task.version
    assert head.get(f"/tasks/{task.pk}/").status_code == 200
    response = head.post(
        f"/tasks/{task.pk}/reschedule/",
        {
            "deadline_date": future_day(),
            "deadline_time": "12:30",
            "reason": "Ждём счёт",
            "version": task.version,
        },
    )
    assert response.status_code == 302
    response = head.post(
        f"/tasks/{task.pk}/reassign/",
        {"responsible": personas["a1"].pk, "version": task.version + 1},
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.responsible_id == personas["a1"].pk and task.version == v0 + 2
    events_dispatch()
    kinds = set(Notification.objects.filter(task=task).values_list("user__username", "kind"))
    assert ("a11", NotificationKind.DEADLINE_MOVED) in kinds and (
        "a1",
        NotificationKind.TASK_ASSIGNED,
    ) in kinds


def test_service_reschedule_by_someone_outside_the_scope_is_not_found(
    records: Any, personas: Any
) -> None:
    from voronka.kernel.errors import NotFound

    task = records["a1"].task
    with pytest.raises(NotFound):
        task_reschedule(
            task=task,
            actor=Actor.for_user(personas["head_b"].user),
            deadline=later().isoformat(),
            reason="Чужой отдел",
        )
    assert not TaskDeadlineChange.objects.exists()


def test_list_filters(api: Any, records: Any) -> None:
    a1 = records["a1"]
    client = api("a1")
    on_deal = client.post_json(TASKS, task_payload(a1.user, later(5), deal=a1.deal)).json()
    overdue = client.post_json(
        TASKS, task_payload(a1.user, clock.now() - dt.timedelta(hours=2), contact=a1.contact)
    ).json()
    client.post_json(f"{TASKS}/{a1.task.pk}/complete", {"result": "Готово"})

    def ids(**params: Any) -> set[int]:
        response = client.get_json(TASKS, params)
        assert response.status_code == 200, response.content
        return {t["id"] for t in response.json()["items"]}

    assert ids(deal=a1.deal.pk) == {on_deal["id"]}
    assert ids(contact=a1.contact.pk) == {overdue["id"]}
    assert ids(overdue="true") == {overdue["id"]}
    assert ids(status="done") == {a1.task.pk}
    assert ids(status="open") == {on_deal["id"], overdue["id"]}
    assert ids(responsible=a1.user.pk) == {on_deal["id"], overdue["id"], a1.task.pk}
    assert client.get_json(TASKS, {"status": "closed"}).status_code == 422
    assert client.get_json(TASKS, {"overdue": "maybe"}).status_code == 422
    assert Deal.objects.get(pk=a1.deal.pk).open_tasks == 1
