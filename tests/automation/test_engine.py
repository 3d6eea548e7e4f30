"""The engine in one process: events → planner → runs → executor → effects through the services
(the real worker process runs the same functions: test_engine_worker.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.factories import make_company, make_deal, make_task

from voronka.activities.models import Notification, Task
from voronka.automation.executor import claim, execute, run_until_idle
from voronka.automation.models import Rule, RuleRun, RunStatus
from voronka.automation.services import rule_create, rule_run_retry, rule_update
from voronka.deals.models import Deal
from voronka.deals.services import deal_move_to_stage
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError, ValidationError
from voronka.kernel.events import MAX_DEPTH
from voronka.kernel.outbox import events_dispatch

pytestmark = pytest.mark.django_db


def drain(now: dt.datetime | None = None) -> None:
    """Deliver every event to the planner and run what is due, until quiet (bounded)."""
    for _ in range(30):
        handled = events_dispatch("automation", respect_backoff=False).total
        ran = run_until_idle(now=now).claimed
        if not handled and not ran:
            return
    raise AssertionError("automation did not settle")


@pytest.fixture
def owner(personas: dict[str, Any]) -> Actor:
    return Actor.for_user(personas["owner"].user)


@pytest.fixture
def deal(personas: dict[str, Any], pipeline: Any) -> Deal:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Робот")
    created = make_deal(
        responsible=a1, company=company, title="Станки", stage=pipeline.stages["new"]
    )
    drain()  # the creation's own events
    return created


def robot(owner: Actor, stage: Any, **extra: Any) -> Rule:
    data: dict[str, Any] = {
        "kind": "robot",
        "name": "Подтвердить получение КП",
        "stage": stage.pk,
        "action": "create_task",
        "params": {
            "type": "call",
            "comment": "Позвонить: получено ли КП по «{deal.title}»",
            "deadline": {"kind": "after", "amount": 1, "unit": "working_days"},
        },
    }
    data.update(extra)
    return rule_create(actor=owner, data=data)


def move(deal: Deal, stage: Any, who: Any) -> Deal:
    return deal_move_to_stage(deal=deal, stage=stage, actor=Actor.for_user(who))


def test_a_robot_creates_its_task_when_a_deal_enters_the_stage(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    rule = robot(owner, pipeline.stages["talks"])
    assert not Task.objects.filter(deal=deal).exists()
    move(deal, pipeline.stages["talks"], personas["a1"].user)
    assert not Task.objects.filter(deal=deal).exists()  # the web request does no automation
    drain()
    task = Task.objects.get(deal=deal)
    assert task.responsible == personas["a1"].user
    assert task.comment == "Позвонить: получено ли КП по «Станки»"
    assert task.type == "call"
    assert task.deadline > clock.now()
    run = RuleRun.objects.get(rule=rule)
    assert run.status == RunStatus.DONE and run.result["task"] == task.pk
    assert RuleRun.objects.filter(rule=rule).count() == 1


def test_conditions_are_checked_when_the_robot_runs(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    big = robot(
        owner,
        pipeline.stages["talks"],
        name="Крупная сделка",
        conditions=[{"field": "amount", "op": "gte", "value": "100000"}],
    )
    move(deal, pipeline.stages["talks"], personas["a1"].user)
    drain()
    run = RuleRun.objects.get(rule=big)
    assert run.status == RunStatus.SKIPPED and run.result == {"skipped": "conditions"}
    assert not Task.objects.filter(deal=deal).exists()


def test_a_delayed_robot_waits_and_does_not_act_once_the_deal_left_the_stage(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    rule = robot(owner, pipeline.stages["talks"], delay_seconds=3600)
    move(deal, pipeline.stages["talks"], personas["a1"].user)
    drain()
    run = RuleRun.objects.get(rule=rule)
    assert run.status == RunStatus.PENDING and not Task.objects.filter(deal=deal).exists()
    later = clock.now() + dt.timedelta(hours=2)
    move(Deal.objects.get(pk=deal.pk), pipeline.stages["new"], personas["a1"].user)
    drain(now=later)
    run.refresh_from_db()
    assert run.status == RunStatus.SKIPPED and run.result == {"skipped": "left_stage"}
    assert not Task.objects.filter(deal=deal).exists()


def test_a_trigger_moves_the_deal_when_its_event_happens(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    from voronka.activities.tasks_services import task_complete

    rule_create(
        actor=owner,
        data={
            "kind": "trigger",
            "name": "Встреча проведена → Переговоры",
            "event": "task.completed",
            "stage": pipeline.stages["talks"].pk,
            "conditions": [{"field": "task.type", "op": "eq", "value": "meeting"}],
        },
    )
    a1 = personas["a1"].user
    call = make_task(responsible=a1, deal=deal)
    meeting = make_task(responsible=a1, deal=deal)
    Task.objects.filter(pk=meeting.pk).update(type="meeting")
    task_complete(task=call, actor=Actor.for_user(a1), result="Не дозвонился")
    drain()
    assert Deal.objects.get(pk=deal.pk).stage == pipeline.stages["new"]
    task_complete(task=meeting, actor=Actor.for_user(a1), result="Провели")
    drain()
    assert Deal.objects.get(pk=deal.pk).stage == pipeline.stages["talks"]


def test_a_robot_loop_stops_at_the_cascade_bound_with_a_logged_error(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    new, talks = pipeline.stages["new"], pipeline.stages["talks"]
    for here, there in ((talks, new), (new, talks)):
        rule_create(
            actor=owner,
            data={
                "kind": "robot",
                "name": f"{here.name} → {there.name}",
                "stage": here.pk,
                "action": "move_stage",
                "params": {"stage": there.pk},
            },
        )
    move(deal, talks, personas["a1"].user)
    drain()
    failed = RuleRun.objects.filter(status=RunStatus.FAILED)
    assert failed.count() == 1, list(RuleRun.objects.values("status", "depth", "error"))
    assert "cascade depth" in failed.get().error
    done = RuleRun.objects.filter(status=RunStatus.DONE).count()
    assert done == MAX_DEPTH  # depths 0 … MAX_DEPTH-1 moved; the next is refused


def test_a_rule_acts_with_its_owners_rights(
    deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    """A rule saved by someone who cannot see the deal's responsible fails, visibly."""
    head_b = personas["head_b"].user
    admin = Actor.for_user(personas["admin"].user)
    rule = robot(
        admin,
        pipeline.stages["talks"],
        params={
            "type": "call",
            "comment": "Позвонить",
            "responsible": {"kind": "user", "user": head_b.pk},
        },
    )
    # The head of B may not configure: services refuse (the same rule as the UI).
    with pytest.raises(ApplicationError):
        rule_update(actor=Actor.for_user(head_b), rule_id=rule.pk, data={"name": "x"})
    move(deal, pipeline.stages["talks"], personas["a1"].user)
    drain()
    assert RuleRun.objects.get(rule=rule).status == RunStatus.DONE  # the admin sees everyone


def test_failed_runs_are_kept_with_their_error_and_can_be_retried(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    a2 = personas["a2"].user
    rule = robot(
        owner,
        pipeline.stages["talks"],
        params={
            "type": "call",
            "comment": "Позвонить",
            "responsible": {"kind": "user", "user": a2.pk},
        },
    )
    a2.is_active = False
    a2.save(update_fields=["is_active"])
    move(deal, pipeline.stages["talks"], personas["a1"].user)
    drain()
    run = RuleRun.objects.get(rule=rule)
    assert run.status == RunStatus.FAILED and "активного" in run.error
    a2.is_active = True
    a2.save(update_fields=["is_active"])
    rule_run_retry(actor=owner, run_id=run.pk)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert Task.objects.get(deal=deal).responsible == a2


def test_a_worker_that_lost_its_lease_commits_nothing(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    """Fencing: a stalled worker's run is taken over after the lease; when the stalled one
    resumes, its effect rolls back and the run is done once."""
    robot(owner, pipeline.stages["talks"])
    move(deal, pipeline.stages["talks"], personas["a1"].user)
    events_dispatch("automation", respect_backoff=False)
    now = clock.now()
    [(run_id, stale)] = claim(worker="stalled", now=now)
    [(same, fresh)] = claim(worker="second", now=now + dt.timedelta(minutes=5))
    assert same == run_id and fresh == stale + 1
    assert execute(run_id, stale, now=now) == "fenced"
    assert not Task.objects.filter(deal=deal).exists()
    assert execute(run_id, fresh) == "done"
    assert Task.objects.filter(deal=deal).count() == 1


def test_a_rule_is_validated_whole(owner: Actor, pipeline: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        rule_create(
            actor=owner,
            data={
                "kind": "robot",
                "name": "",
                "action": "create_task",
                "params": {"type": "sms", "comment": ""},
                "conditions": [{"field": "nope", "op": "eq", "value": 1}],
                "delay_seconds": -1,
            },
        )
    errors = caught.value.errors
    assert "name" in errors and "delay_seconds" in errors, errors
    assert not Rule.objects.filter(builtin="").exists()
    with pytest.raises(ValidationError) as caught:
        rule_create(
            actor=owner,
            data={
                "kind": "robot",
                "name": "x",
                "stage": pipeline.stages["new"].pk,
                "action": "create_task",
                "params": {"type": "sms", "comment": ""},
                "conditions": [{"field": "nope", "op": "eq", "value": 1}],
            },
        )
    errors = caught.value.errors
    assert "params.type" in errors and "params.comment" in errors, errors
    assert any(k.startswith("conditions") for k in errors), errors
    with pytest.raises(ApplicationError):
        rule_create(actor=system_manager(), data={"kind": "robot"})


def system_manager() -> Actor:
    from voronka.identity.models import User

    return Actor.for_user(User.objects.get(username="a1"))


def test_notify_action_writes_an_in_app_notification(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    robot(
        owner,
        pipeline.stages["won"],
        name="Выиграна",
        action="notify",
        params={"to": {"kind": "head"}, "text": "Сделка «{deal.title}» выиграна"},
    )
    move(deal, pipeline.stages["won"], personas["a1"].user)
    drain()
    note = Notification.objects.get(user=personas["head_a"].user, kind="automation")
    assert note.params["values"]["text"] == "Сделка «Станки» выиграна"
    assert note.deal_id == deal.pk
