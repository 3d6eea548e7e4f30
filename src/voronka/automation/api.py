"""The automation over HTTP: rules (robots, triggers, monitors) and the run log."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from voronka.automation import selectors, services
from voronka.automation.models import Rule, RuleRun
from voronka.automation.schemas import RuleIn, RuleListOut, RuleOut, RulePatch, RunListOut, RunOut
from voronka.kernel.schemas import ERRORS
from voronka.web.http import api_actor

automation_router = Router(tags=["automation"])


def rule_out(rule: Rule) -> dict[str, Any]:
    return {
        **services.rule_input(rule),
        "id": rule.pk,
        "owner": rule.owner_id,
        "version": rule.version,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def run_out(run: RuleRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "rule": run.rule_id,
        "rule_name": run.rule.name,
        "object_type": run.object_type,
        "object_id": run.object_id,
        "key": run.key,
        "status": run.status,
        "due_at": run.due_at,
        "attempts": run.attempts,
        "event_id": run.event_id,
        "depth": run.depth,
        "result": run.result,
        "error": run.error,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


@automation_router.get("/rules", response={200: RuleListOut, **ERRORS}, summary="Rules")
def list_rules(
    request: HttpRequest, kind: str | None = None, stage: int | None = None
) -> dict[str, Any]:
    rules = selectors.rules_list(actor=api_actor(request), kind=kind, stage=stage)
    return {"items": [rule_out(r) for r in rules]}


@automation_router.post("/rules", response={201: RuleOut, **ERRORS}, summary="Create a rule")
def create_rule(request: HttpRequest, payload: RuleIn) -> Status[dict[str, Any]]:
    rule = services.rule_create(actor=api_actor(request), data=payload.model_dump())
    return Status(201, rule_out(rule))


@automation_router.get("/rules/{rule_id}", response={200: RuleOut, **ERRORS})
def get_rule(request: HttpRequest, rule_id: int) -> dict[str, Any]:
    return rule_out(selectors.rule_get(actor=api_actor(request), rule_id=rule_id))


@automation_router.patch("/rules/{rule_id}", response={200: RuleOut, **ERRORS})
def update_rule(request: HttpRequest, rule_id: int, payload: RulePatch) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=True)
    rule = services.rule_update(actor=api_actor(request), rule_id=rule_id, data=data)
    return rule_out(rule)


@automation_router.delete("/rules/{rule_id}", response={204: None, **ERRORS})
def delete_rule(request: HttpRequest, rule_id: int) -> Status[None]:
    services.rule_delete(actor=api_actor(request), rule_id=rule_id)
    return Status(204, None)


@automation_router.get("/runs", response={200: RunListOut, **ERRORS}, summary="The run log")
def list_runs(
    request: HttpRequest,
    status: str | None = None,
    rule: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    page = selectors.runs_page(
        actor=api_actor(request), status=status, rule=rule, limit=limit, cursor=cursor
    )
    return {"items": [run_out(r) for r in page.items], "next_cursor": page.next_cursor}


@automation_router.post("/runs/{run_id}/retry", response={200: RunOut, **ERRORS})
def retry_run(request: HttpRequest, run_id: int) -> dict[str, Any]:
    run = services.rule_run_retry(actor=api_actor(request), run_id=run_id)
    return run_out(run)
