"""The notify action to a ROLE (issue 9: "notify a user or role"): every active member of the role
who may see the object the rule acts on — through the real path (events → planner → runs →
executor), on SQLite and PostgreSQL. A member outside the deal's scope is not told (negative
control: with the scope check off, they are), nor an inactive one; a run done again writes
nothing twice (control: without the run's key, it does); nobody to tell is a skipped run, not an
error; the dry run names the recipients and writes nothing. Only notify takes a role: the
actions that need ONE person refuse it with a field error. The API, the YAML file and the rule
form carry it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from tests.factories import make_company, make_deal, make_task
from tests.negative_controls import no_scope_filter

from voronka.activities.models import Notification
from voronka.automation.actions import notify as notify_action
from voronka.automation.dryrun import rule_dry_run
from voronka.automation.models import Rule, RuleRun, RunStatus
from voronka.automation.rules_io import RulesFileError, rules_export, rules_import
from voronka.automation.services import rule_create, rule_input, rule_run_retry
from voronka.deals.models import Deal
from voronka.deals.services import deal_move_to_stage
from voronka.identity.models import Role
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ValidationError

from .test_engine import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(personas: dict[str, Any]) -> Actor:
    return Actor.for_user(personas["owner"].user)


@pytest.fixture
def deal(personas: dict[str, Any], pipeline: Any) -> Deal:
    """A deal of manager a1 (Отдел продаж A)."""
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Роль")
    created = make_deal(
        responsible=a1, company=company, title="Станки", stage=pipeline.stages["new"]
    )
    drain()
    return created


@pytest.fixture
def heads(org: Any, personas: dict[str, Any]) -> Role:
    """The role "head": head_root (sees the whole tree), head_a (department A), head_b
    (department B: not a1's deal) — and the deactivated manager of department A, given the role
    too (would see the deal, but is inactive)."""
    role = org.roles["head"]
    personas["deact"].user.roles.add(role)
    return role


def role_robot(owner: Actor, stage: Any, role: Role, **params: Any) -> Rule:
    return rule_create(
        actor=owner,
        data={
            "kind": "robot",
            "name": "Выиграна → руководителям",
            "stage": stage.pk,
            "action": "notify",
            "params": {
                "to": {"kind": "role", "role": role.pk},
                "text": "Сделка «{deal.title}» выиграна",
                **params,
            },
        },
    )


def told(deal: Deal) -> list[str]:
    return sorted(
        Notification.objects.filter(kind="automation", deal=deal).values_list(
            "user__username", flat=True
        )
    )


def win(deal: Deal, pipeline: Any, personas: dict[str, Any]) -> None:
    deal_move_to_stage(
        deal=deal, stage=pipeline.stages["won"], actor=Actor.for_user(personas["a1"].user)
    )
    drain()


def test_a_role_is_told_by_its_active_members_who_see_the_deal(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any], heads: Role
) -> None:
    rule = role_robot(owner, pipeline.stages["won"], heads)
    win(deal, pipeline, personas)
    # head_b (department B) may not see a1's deal; deact is inactive.
    assert told(deal) == ["head_a", "head_root"]
    note = Notification.objects.get(user=personas["head_a"].user, kind="automation")
    assert note.params["values"]["text"] == "Сделка «Станки» выиграна"
    assert note.task_id is None and note.emailed_at is None
    run = RuleRun.objects.get(rule=rule)
    assert run.status == RunStatus.DONE
    assert sorted(run.result["users"]) == sorted(
        [personas["head_a"].user.pk, personas["head_root"].user.pk]
    )
    assert run.result["role"] == heads.pk and run.result["notified"] == 2


def test_control_without_the_scope_check_the_outsider_is_told(
    owner: Actor,
    deal: Deal,
    pipeline: Any,
    personas: dict[str, Any],
    heads: Role,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scope test's negative control: with every scope open, head_b (outside the deal's
    scope) gets the notification — the test above would go red."""
    no_scope_filter(monkeypatch)
    role_robot(owner, pipeline.stages["won"], heads)
    win(deal, pipeline, personas)
    assert "head_b" in told(deal)
    assert "deact" not in told(deal)  # inactive: not by the scope, by is_active


def test_a_deals_task_tells_only_who_sees_both_the_task_and_the_deal(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any], heads: Role
) -> None:
    """A monitor acting on a task: the role's members who see the task AND its deal (the
    notification links the deal). The task of department B's manager on a1's deal: head_b sees
    the task, not the deal; head_a the deal, not the task; head_root both."""
    task = make_task(responsible=personas["b1"].user, deal=deal)
    rule_create(
        actor=owner,
        data={
            "kind": "monitor",
            "name": "Просрочка → руководителям",
            "monitor": "overdue_task",
            "action": "notify",
            "params": {"to": {"kind": "role", "role": heads.pk}, "text": "Просрочена задача"},
        },
    )
    from voronka.automation.sweeps import monitors_sweep

    later = task.deadline + dt.timedelta(minutes=5)
    with clock.frozen(later):
        monitors_sweep(now=later)
        drain(now=later)
    assert sorted(
        Notification.objects.filter(kind="automation", task=task).values_list(
            "user__username", flat=True
        )
    ) == ["head_root"]


def test_nobody_to_tell_is_a_skipped_run_not_an_error(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any]
) -> None:
    empty = Role.objects.create(code="observer", name="Наблюдатель")
    rule = role_robot(owner, pipeline.stages["won"], empty)
    win(deal, pipeline, personas)
    run = RuleRun.objects.get(rule=rule)
    assert run.status == RunStatus.SKIPPED and run.error == ""
    assert run.result["skipped"] == "no_recipients" and run.result["users"] == []
    assert told(deal) == []


def _run_again(run: RuleRun, owner: Actor) -> None:
    """The run done once more: its done mark lost (as if the commit had been repeated by a
    redelivery), retried from the run log."""
    RuleRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="lost")
    rule_run_retry(actor=owner, run_id=run.pk)
    drain()


def test_a_run_done_again_tells_nobody_twice(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any], heads: Role
) -> None:
    rule = role_robot(owner, pipeline.stages["won"], heads)
    # By e-mail too (each recipient through notify(), not the batch): still once each.
    mail = role_robot(owner, pipeline.stages["won"], heads, channel="email", text="По почте")
    win(deal, pipeline, personas)
    runs = {r.rule_id: r for r in RuleRun.objects.filter(rule__in=[rule, mail])}
    assert told(deal) == ["head_a", "head_a", "head_root", "head_root"]
    for run in runs.values():
        _run_again(run, owner)
        run.refresh_from_db()
        assert run.status == RunStatus.DONE and run.result["notified"] == 0
    assert told(deal) == ["head_a", "head_a", "head_root", "head_root"]
    by_mail = Notification.objects.filter(dedup_key=f"run:{runs[mail.pk].pk}")
    assert sorted(by_mail.values_list("user__username", flat=True)) == ["head_a", "head_root"]


def test_control_without_the_runs_key_a_run_done_again_tells_twice(
    owner: Actor,
    deal: Deal,
    pipeline: Any,
    personas: dict[str, Any],
    heads: Role,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify_action, "run_key", lambda ctx: "")
    rule = role_robot(owner, pipeline.stages["won"], heads)
    win(deal, pipeline, personas)
    _run_again(RuleRun.objects.get(rule=rule), owner)
    assert told(deal) == ["head_a", "head_a", "head_root", "head_root"]


def test_the_dry_run_names_the_recipients_and_writes_nothing(
    owner: Actor, deal: Deal, pipeline: Any, personas: dict[str, Any], heads: Role
) -> None:
    since = clock.now() - dt.timedelta(hours=1)
    rule = role_robot(owner, pipeline.stages["won"], heads)
    Rule.objects.filter(pk=rule.pk).update(enabled=False)  # the history is replayed, not run
    win(deal, pipeline, personas)
    assert told(deal) == []
    report = rule_dry_run(Rule.objects.get(pk=rule.pk), since, actor=owner).as_dict()
    [item] = report["rules"][0]["items"]
    assert item["outcome"] == "done"
    assert sorted(item["plan"]["users"]) == sorted(
        [personas["head_a"].user.pk, personas["head_root"].user.pk]
    )
    assert report["totals"]["effects"] == {"notifications": 1}
    assert told(deal) == [] and not Notification.objects.filter(kind="automation").exists()


@pytest.mark.parametrize(
    ("action", "params", "field"),
    [
        ("create_task", {"comment": "Позвонить", "responsible": {"kind": "role"}}, "responsible"),
        (
            "copy_to_pipeline",
            {"stage": None, "responsible": {"kind": "role", "role": 1}},
            "responsible",
        ),
        ("create_deal", {"responsible": {"kind": "role"}}, "responsible"),
    ],
)
def test_actions_for_one_person_refuse_a_role_with_a_field_error(
    owner: Actor, pipeline: Any, action: str, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        rule_create(
            actor=owner,
            data={
                "kind": "robot",
                "name": "Роль здесь нельзя",
                "stage": pipeline.stages["talks"].pk,
                "action": action,
                "params": params,
            },
        )
    errors = caught.value.errors
    assert f"params.{field}.kind" in errors, errors
    assert "только для уведомления" in errors[f"params.{field}.kind"]


def test_a_role_is_named_when_and_only_when_chosen(owner: Actor, pipeline: Any) -> None:
    def refused(to: dict[str, Any]) -> dict[str, str]:
        with pytest.raises(ValidationError) as caught:
            role_robot_data = {
                "kind": "robot",
                "name": "x",
                "stage": pipeline.stages["talks"].pk,
                "action": "notify",
                "params": {"to": to, "text": "t"},
            }
            rule_create(actor=owner, data=role_robot_data)
        return caught.value.errors

    assert "params.to" in refused({"kind": "role"})
    assert "params.to" in refused({"kind": "deal", "role": 1})
    assert refused({"kind": "role", "role": 999_999}) == {"params.to.role": "Нет такой роли"}
    assert "params.to.role" in refused({"kind": "role", "role": True})


def test_the_api_takes_a_role_and_names_a_missing_one(api: Any, pipeline: Any, org: Any) -> None:
    client = api("owner")
    body: dict[str, Any] = {
        "kind": "robot",
        "name": "Руководителям",
        "stage": pipeline.stages["won"].pk,
        "action": "notify",
        "params": {"to": {"kind": "role", "role": org.roles["head"].pk}, "text": "Выиграна"},
    }
    created = client.post_json("/api/v1/automation/rules", body)
    assert created.status_code == 201, created.content
    assert created.json()["params"]["to"] == {
        "kind": "role",
        "user": None,
        "role": org.roles["head"].pk,
    }
    body["params"]["to"]["role"] = 999_999
    refused = client.post_json("/api/v1/automation/rules", body)
    assert refused.status_code == 422, refused.content
    assert "params.to.role" in refused.json()["errors"], refused.json()
    body["params"] = {"comment": "Позвонить", "responsible": {"kind": "role", "role": 1}}
    body["action"] = "create_task"
    one_person = client.post_json("/api/v1/automation/rules", body)
    assert one_person.status_code == 422
    assert "params.responsible.kind" in one_person.json()["errors"]
    assert Rule.objects.filter(builtin="").count() == 1


def test_the_yaml_names_the_role_by_its_code_and_round_trips(
    owner: Actor, pipeline: Any, heads: Role
) -> None:
    Rule.objects.exclude(builtin="").delete()
    rule = role_robot(owner, pipeline.stages["won"], heads)
    before = rule_input(rule)
    text = rules_export()
    [entry] = yaml.safe_load(text)["rules"]
    assert entry["params"]["to"] == {"kind": "role", "role": "head"}
    result = rules_import(actor=owner, text=text, replace=True)
    [again] = result.created
    assert rule_input(again) == before
    assert rules_export() == text
    bad = text.replace("role: head", "role: nobody")
    with pytest.raises(RulesFileError) as caught:
        rules_import(actor=owner, text=bad, replace=True)
    [line] = caught.value.lines()
    assert "params.to.role" in line and "nobody" in line
    assert Rule.objects.get(builtin="", kind="robot").pk == again.pk  # rejected whole


def test_the_robot_form_offers_a_role_for_notify_only(web: Any, pipeline: Any, org: Any) -> None:
    talks = pipeline.stages["talks"]
    url = f"/settings/pipelines/{pipeline.sales.pk}/automation/new/"
    html = web("owner").get(f"{url}?kind=robot&stage={talks.pk}").content.decode()
    notify_kind = html[html.index('name="p-notify-to.kind"') :]
    notify_kind = notify_kind[: notify_kind.index("</select>")]
    assert '<option value="role">Роль…</option>' in notify_kind
    task_kind = html[html.index('name="p-create_task-responsible.kind"') :]
    task_kind = task_kind[: task_kind.index("</select>")]
    assert 'value="role"' not in task_kind
    picker = html[html.index('name="p-notify-to.role"') :]
    picker = picker[: picker.index("</select>")]
    head = org.roles["head"]
    assert f'<option value="{head.pk}">{head.name}</option>' in picker
    assert 'data-shown-if="p-notify-to.kind" data-shown-values="role"' in html
    posted = web("owner").post(
        url,
        {
            "kind": "robot",
            "name": "Руководителям",
            "stage": str(talks.pk),
            "enabled": "on",
            "action": "notify",
            "p-notify-to.kind": "role",
            "p-notify-to.user": "",
            "p-notify-to.role": str(head.pk),
            "p-notify-text": "Сделка {deal.title}",
            "p-notify-channel": "in_app",
            "delay_amount": "0",
            "delay_unit": "minutes",
        },
    )
    assert posted.status_code == 302, posted.content.decode()[:3000]
    rule = Rule.objects.get(name="Руководителям")
    assert rule.params["to"] == {"kind": "role", "user": None, "role": head.pk}
    # Without a role chosen: the error next to the picker's group.
    again = web("owner").post(
        url,
        {
            "kind": "robot",
            "name": "Без роли",
            "stage": str(talks.pk),
            "action": "notify",
            "p-notify-to.kind": "role",
            "p-notify-to.role": "",
            "p-notify-text": "x",
            "delay_amount": "0",
            "delay_unit": "minutes",
        },
    )
    assert again.status_code == 422
    assert "Роль указывается, только когда выбрано «роль»" in again.content.decode()
    assert not Rule.objects.filter(name="Без роли").exists()


def test_the_robot_form_speaks_english(web: Any, pipeline: Any) -> None:
    client = web("owner")
    client.post("/language/", {"language": "en", "next": "/"})
    talks = pipeline.stages["talks"]
    html = client.get(
        f"/settings/pipelines/{pipeline.sales.pk}/automation/new/?kind=robot&stage={talks.pk}"
    ).content.decode()
    assert '<option value="role">Role…</option>' in html
    assert "Every active user with this role who can see the deal" in html
    assert "Task overdue" in html  # the event a robot may wait for
