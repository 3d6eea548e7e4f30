"""/api/v1/automation: rules and the run log, for those who may configure; the same validation
as every other way in (automation.services)."""

from __future__ import annotations

from typing import Any

import pytest

from voronka.automation.models import Rule, RuleRun, RunStatus

pytestmark = pytest.mark.django_db


def robot_body(at: Any, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "robot",
        "name": "Перезвонить через 3 дня",
        "stage": at.pk,
        "action": "create_task",
        "params": {
            "type": "call",
            "comment": "Перезвонить: {deal.title}",
            "deadline": {"kind": "after", "amount": 3, "unit": "days"},
        },
    }
    body.update(extra)
    return body


def test_a_head_of_sales_configures_a_robot_through_the_api(api: Any, pipeline: Any) -> None:
    owner = api("owner")
    created = owner.post_json("/api/v1/automation/rules", robot_body(pipeline.stages["talks"]))
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["pipeline"] == pipeline.sales.pk and rule["version"] == 1
    assert rule["params"]["responsible"] == {"kind": "deal", "user": None}
    listed = owner.get_json("/api/v1/automation/rules", {"stage": pipeline.stages["talks"].pk})
    assert [r["id"] for r in listed.json()["items"]] == [rule["id"]]
    patched = owner.patch_json(
        f"/api/v1/automation/rules/{rule['id']}", {"enabled": False, "version": 1}
    )
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    stale = owner.patch_json(f"/api/v1/automation/rules/{rule['id']}", {"name": "x", "version": 1})
    assert stale.status_code == 409
    assert owner.delete(f"/api/v1/automation/rules/{rule['id']}").status_code == 204
    assert not Rule.objects.filter(builtin="").exists()


def test_a_manager_may_not_read_or_write_rules(api: Any, pipeline: Any) -> None:
    manager = api("a1")
    assert manager.get_json("/api/v1/automation/rules").status_code == 403
    body = robot_body(pipeline.stages["talks"])
    assert manager.post_json("/api/v1/automation/rules", body).status_code == 403
    assert manager.get_json("/api/v1/automation/runs").status_code == 403
    assert not Rule.objects.filter(builtin="").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stage": True}, "stage"),
        ({"stage": 10**9}, "stage"),
        ({"name": "x" * 201}, "name"),
        ({"delay_seconds": -1}, "delay_seconds"),
        ({"action": "explode"}, "action"),
        ({"event": "deal.exploded"}, "event"),
        ({"params": {"type": "call", "comment": ""}}, "params.comment"),
        (
            {
                "params": {
                    "type": "call",
                    "comment": "x",
                    "responsible": {"kind": "user", "user": True},
                }
            },
            "params.responsible.user",
        ),
        ({"conditions": [{"field": "amount", "op": "gte", "value": "много"}]}, "conditions.0"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    api: Any, pipeline: Any, change: dict[str, Any], field: str
) -> None:
    response = api("owner").post_json(
        "/api/v1/automation/rules", robot_body(pipeline.stages["talks"], **change)
    )
    assert response.status_code in (400, 422), response.content
    body = response.json()
    named = " ".join(body.get("errors", {})) + " " + str(body)
    assert field in named, body
    assert not Rule.objects.filter(builtin="").exists()


def test_failed_runs_are_listed_and_retried(api: Any, pipeline: Any, personas: Any) -> None:
    owner = api("owner")
    rule_id = owner.post_json(
        "/api/v1/automation/rules", robot_body(pipeline.stages["talks"])
    ).json()["id"]
    run = RuleRun.objects.create(
        rule_id=rule_id,
        object_type="deal",
        object_id=1,
        key="e1",
        status=RunStatus.FAILED,
        error="boom",
    )
    failed = owner.get_json("/api/v1/automation/runs", {"status": "failed"}).json()
    assert [(r["id"], r["error"]) for r in failed["items"]] == [(run.pk, "boom")]
    assert owner.get_json("/api/v1/automation/runs", {"status": "nope"}).status_code in (400, 422)
    retried = owner.post_json(f"/api/v1/automation/runs/{run.pk}/retry", {})
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    again = owner.post_json(f"/api/v1/automation/runs/{run.pk}/retry", {})
    assert again.status_code == 422 and "status" in again.json()["errors"]


def test_every_error_of_a_rule_is_named_at_once_in_the_users_language(
    personas: Any, pipeline: Any
) -> None:
    """A bad name and a bad action parameter and a bad condition: all three at once (the rule
    form shows them together), in Russian (not pydantic's English)."""
    from voronka.automation.services import rule_create
    from voronka.kernel.actor import Actor
    from voronka.kernel.errors import ValidationError

    body = robot_body(
        pipeline.stages["talks"],
        name="",
        params={"type": "call", "comment": ""},
        conditions=[{"field": "amount", "op": "gte", "value": "много"}],
    )
    with pytest.raises(ValidationError) as caught:
        rule_create(actor=Actor.for_user(personas["owner"].user), data=body)
    errors = caught.value.errors
    assert {"name", "params.comment"} <= set(errors) and any(
        k.startswith("conditions") for k in errors
    ), errors
    assert errors["name"] == "Не короче 1 символов", errors
    assert "не число" in " ".join(errors.values()), errors


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:00+00:00"])
def test_a_fixed_deadline_outside_the_calendar_is_refused_when_the_rule_is_saved(
    api: Any, pipeline: Any, at: str
) -> None:
    body = robot_body(
        pipeline.stages["talks"],
        params={"type": "call", "comment": "x", "deadline": {"kind": "fixed", "at": at}},
    )
    response = api("owner").post_json("/api/v1/automation/rules", body)
    assert response.status_code == 422, response.content
    assert any(k.startswith("params.deadline") for k in response.json()["errors"])
    assert not Rule.objects.filter(builtin="").exists()
