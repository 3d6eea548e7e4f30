"""Due rule runs → effects, by any number of worker processes (decision 0015).

* **Claim**: a worker takes up to `limit` due runs — pending ones whose time has come, and
  running ones whose lease expired (their worker died or stalled) — with `FOR UPDATE SKIP
  LOCKED` on PostgreSQL (two workers never take the same run; SQLite's IMMEDIATE transaction
  serialises the claim), marks them running until `now + lease()`, and increments each run's lease
  token.
* **Run**: the action goes through the services as the rule's actor; its effects and the run's
  `done` commit in one transaction, and `done` is written only while the run still carries the
  worker's token (fencing): a worker that lost its lease — killed, or stopped past the lease and
  resumed — commits nothing. At-least-once delivery, exactly-once effect.
* **Failures**: a refused action (validation, permissions, a cascade past its depth) fails at
  once; anything else (the database, the network) is retried with a growing pause, then fails.
  Failed runs are listed with their error and can be retried (services.rule_run_retry).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from pydantic import ValidationError as PydanticValidationError

from voronka.activities.models import Task
from voronka.automation.conditions import all_hold, parse_conditions
from voronka.automation.context import RunContext, rule_actor
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus
from voronka.automation.registry import ACTIONS
from voronka.contacts.models import Company, Contact
from voronka.deals.models import Deal, StageSemantic
from voronka.kernel import clock
from voronka.kernel.errors import ApplicationError
from voronka.kernel.events import EventError, caused_by

logger = logging.getLogger(__name__)


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=max(1, settings.VORONKA_AUTOMATION_LEASE_SECONDS))


MAX_ATTEMPTS = 5
# Runs executed per transaction. A batch holds the row locks of its deals until it commits: kept
# small so a person editing one of them waits a fraction of a second at most.
BATCH = 20
# Errors that another attempt would meet again: the run fails at once, with the message.
PERMANENT = (ApplicationError, EventError, PydanticValidationError, LookupError)


class Fenced(Exception):
    """The run's lease passed to another worker: this worker's effects roll back."""


@dataclass
class ExecReport:
    claimed: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    fenced: int = 0
    ids: list[int] = field(default_factory=list)


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


# --- claim --------------------------------------------------------------------------------------


def claim(*, worker: str, limit: int = 50, now: dt.datetime | None = None) -> list[tuple[int, int]]:
    """Take up to `limit` due runs for this worker: [(run id, lease token)]."""
    now = now or clock.now()
    due = Q(status=RunStatus.PENDING, due_at__lte=now) | Q(
        status=RunStatus.RUNNING, leased_until__lt=now
    )
    with transaction.atomic():
        qs = RuleRun.objects.filter(due).order_by("due_at", "id")
        if connection.vendor == "postgresql":
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        ids = list(qs.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        RuleRun.objects.filter(id__in=ids).update(
            status=RunStatus.RUNNING,
            lease_token=F("lease_token") + 1,
            leased_until=now + lease(),
            worker=worker[:64],
            attempts=F("attempts") + 1,
        )
        return list(
            RuleRun.objects.filter(id__in=ids)
            .order_by("due_at", "id")
            .values_list("id", "lease_token")
        )


# --- run ----------------------------------------------------------------------------------------


def _load(run: RuleRun) -> Any:
    model: Any = {"deal": Deal, "task": Task, "company": Company, "contact": Contact}[
        run.object_type
    ]
    qs = model.objects.filter(pk=run.object_id)
    if model is Deal:
        qs = qs.select_related("stage", "pipeline", "responsible", "company", "loss_reason")
    elif model is Task:
        qs = qs.select_related("responsible", "deal")
    return qs.first()


def build_context(run: RuleRun, *, now: dt.datetime, dry: bool = False) -> RunContext | None:
    """What the run's action sees, or None when its object is gone."""
    obj = _load(run)
    if obj is None:
        return None
    rule = run.rule
    deal: Deal | None = None
    if run.object_type == "deal":
        deal = obj
    elif run.object_type == "task" and obj.deal_id is not None:
        deal = (
            Deal.objects.select_related("stage", "pipeline", "responsible", "company")
            .filter(pk=obj.deal_id)
            .first()
        )
    entered = run.context.get("entered_at")
    return RunContext(
        rule=rule,
        actor=rule_actor(rule, run_id=run.pk),
        now=now,
        object_type=run.object_type,
        obj=obj,
        deal=deal,
        company=obj if run.object_type == "company" else None,
        run=run,
        entered_at=dt.datetime.fromisoformat(entered) if entered else None,
        dry=dry,
    )


def skip_reason(run: RuleRun, ctx: RunContext) -> str | None:
    """Why the rule should not act now, or None. A robot acts only while the deal is in the
    stage entry that planned it; a trigger moves an open deal forward in its pipeline only."""
    rule = run.rule
    deal = ctx.deal
    if rule.kind == RuleKind.ROBOT:
        if deal is None or deal.stage_id != run.context.get("stage"):
            return "left_stage"
        if ctx.entered_at is not None and abs(
            deal.stage_entered_at - ctx.entered_at
        ) > dt.timedelta(seconds=1):
            return "left_stage"
    if rule.kind == RuleKind.TRIGGER:
        target = rule.stage
        if deal is None or target is None:
            return "no_deal"
        if deal.pipeline_id != target.pipeline_id:
            return "other_pipeline"
        if deal.stage.semantic != StageSemantic.OPEN:
            return "deal_closed"
        if deal.stage_id == target.pk or deal.stage.sort > target.sort:
            return "already_there"
    if not all_hold(parse_conditions(rule.conditions), ctx):
        return "conditions"
    return None


def perform(run: RuleRun, ctx: RunContext) -> dict[str, Any]:
    """The run's outcome: {"skipped": reason} or the action's result (nothing written when
    ctx.dry)."""
    reason = skip_reason(run, ctx)
    if reason is not None:
        return {"skipped": reason}
    action = ACTIONS.get(run.rule.action)
    if action is None:
        raise LookupError(f"unknown action {run.rule.action!r}")
    # A trigger fired by a deal's task acts on the deal (ctx.deal).
    acts_on_deal = ctx.deal is not None and "deal" in action.objects
    if run.object_type not in action.objects and not acts_on_deal:
        raise LookupError(f"action {action.name} does not act on a {run.object_type}")
    params = action.params.model_validate(run.rule.params)
    return action.run(ctx, params)


def execute(run_id: int, token: int, *, now: dt.datetime | None = None) -> str:
    """Run one claimed run; returns its new status ("done", "skipped", "failed", "pending" for a
    retry, "fenced")."""
    now = now or clock.now()
    run = (
        RuleRun.objects.select_related("rule", "rule__owner", "rule__stage")
        .filter(pk=run_id)
        .first()
    )
    if run is None:  # its rule was deleted meanwhile
        return "gone"
    try:
        with transaction.atomic():
            return _run(run, token, now=now)
    except Fenced:
        logger.warning("run %s: lease lost, its effects rolled back", run_id)
        return "fenced"
    except PERMANENT as exc:
        return _fail(run, token, exc, retry=False, now=now)
    except Exception as exc:
        logger.exception("run %s failed (attempt %s)", run_id, run.attempts)
        return _fail(run, token, exc, retry=run.attempts < MAX_ATTEMPTS, now=now)


def _run(run: RuleRun, token: int, *, now: dt.datetime) -> str:
    """The run's effects and its `done`, in the caller's transaction."""
    with caused_by(f"rule:{run.rule_id}:run:{run.pk}", depth=run.depth + 1):
        ctx = build_context(run, now=now)
        outcome = {"skipped": "object_gone"} if ctx is None else perform(run, ctx)
    status = RunStatus.SKIPPED if "skipped" in outcome else RunStatus.DONE
    _finish(run, token, status=status, result=outcome, error="", now=now)
    return str(status)


def renew(claimed: list[tuple[int, int]], *, now: dt.datetime) -> list[tuple[int, int]]:
    """Extend the leases of runs about to be executed, committed before any action runs; the runs
    whose lease has passed to another worker meanwhile are dropped — so this worker never starts
    the action of a run it no longer holds (a webhook or an e-mail queued twice), not only never
    commits it (fencing)."""
    if not claimed:
        return []
    ours = Q(pk__in=[])
    for run_id, token in claimed:
        ours |= Q(pk=run_id, lease_token=token)
    until = now + lease()
    with transaction.atomic():
        RuleRun.objects.filter(ours, status=RunStatus.RUNNING).update(leased_until=until)
        kept = set(
            RuleRun.objects.filter(ours, status=RunStatus.RUNNING, leased_until=until).values_list(
                "pk", flat=True
            )
        )
    return [(run_id, token) for run_id, token in claimed if run_id in kept]


def execute_batch(claimed: list[tuple[int, int]], *, now: dt.datetime) -> list[str] | None:
    """Every claimed run in ONE transaction (one commit for the batch: the throughput). None when
    any of them raised — the whole batch rolled back, and the caller runs them one by one, so a
    failure is recorded against its own run and the others still happen once."""
    runs = RuleRun.objects.select_related("rule", "rule__owner", "rule__stage").in_bulk(
        [run_id for run_id, _token in claimed]
    )
    try:
        with transaction.atomic():
            return [
                _run(runs[run_id], token, now=now) if run_id in runs else "gone"
                for run_id, token in claimed
            ]
    except Exception:
        return None


def _finish(
    run: RuleRun, token: int, *, status: str, result: dict[str, Any], error: str, now: dt.datetime
) -> None:
    updated = RuleRun.objects.filter(pk=run.pk, lease_token=token, status=RunStatus.RUNNING).update(
        status=status,
        result=result,
        error=error,
        finished_at=now,
        leased_until=None,
    )
    if updated != 1:
        raise Fenced()


def _message(exc: BaseException) -> str:
    if isinstance(exc, ApplicationError):
        details = "; ".join(f"{k}: {v}" for k, v in (exc.errors or {}).items())
        return f"{exc.message}" + (f" ({details})" if details else "")
    return "".join(traceback.format_exception_only(exc)).strip()


def _fail(run: RuleRun, token: int, exc: BaseException, *, retry: bool, now: dt.datetime) -> str:
    message = _message(exc)[:4000]
    if not isinstance(exc, ApplicationError):
        logger.warning("rule %s run %s: %s", run.rule_id, run.pk, message)
    fields: dict[str, Any] = {"error": message, "leased_until": None}
    if retry:
        pause = dt.timedelta(seconds=10 * 2 ** max(0, run.attempts - 1))
        fields.update(status=RunStatus.PENDING, due_at=now + pause)
    else:
        fields.update(status=RunStatus.FAILED, finished_at=now)
    updated = RuleRun.objects.filter(pk=run.pk, lease_token=token, status=RunStatus.RUNNING).update(
        **fields
    )
    if updated != 1:
        return "fenced"
    return str(RunStatus.PENDING if retry else RunStatus.FAILED)


def execute_due(
    *, worker: str | None = None, limit: int = 50, now: dt.datetime | None = None
) -> ExecReport:
    """One round: claim up to `limit` due runs and run them."""
    report = ExecReport()
    fixed = now is not None  # a test's or the dry run's moment; else the clock, read as we go
    now = now or clock.now()
    claimed = claim(worker=worker or worker_name(), limit=limit, now=now)
    report.claimed = len(claimed)
    statuses: dict[int, str] = {}
    at = (lambda: now) if fixed else clock.now

    def one_by_one(runs: list[tuple[int, int]]) -> None:
        for run_id, token in runs:
            held = renew([(run_id, token)], now=at())
            statuses[run_id] = execute(run_id, token, now=now) if held else "fenced"

    # The first run alone measures how long an action takes; then batches as large as fit in a
    # quarter of the lease (quick actions: 20 per commit; slow ones — a big document, a slow
    # service — one at a time, each lease renewed right before its action).
    size, start = 1, 0
    while start < len(claimed):
        chunk = claimed[start : start + size]
        start += len(chunk)
        began = time.monotonic()
        held = renew(chunk, now=at())
        statuses.update({run_id: "fenced" for run_id, _t in chunk if (run_id, _t) not in held})
        batch = execute_batch(held, now=now) if len(held) > 1 else None
        if batch is not None:
            statuses.update(dict(zip([run_id for run_id, _t in held], batch, strict=True)))
        elif len(held) == 1:
            statuses[held[0][0]] = execute(held[0][0], held[0][1], now=now)
        else:  # the batch failed and rolled back: each run again, its lease renewed first
            one_by_one(held)
        per_run = (time.monotonic() - began) / max(1, len(chunk))
        fits = int(lease().total_seconds() / 4 / per_run) if per_run > 0 else BATCH
        size = max(1, min(BATCH, fits))
    for run_id, _token in claimed:
        status = statuses[run_id]
        report.ids.append(run_id)
        if status == RunStatus.DONE:
            report.done += 1
        elif status == RunStatus.SKIPPED:
            report.skipped += 1
        elif status == RunStatus.FAILED:
            report.failed += 1
        elif status == RunStatus.PENDING:
            report.retried += 1
        else:
            report.fenced += 1
    return report


def run_until_idle(
    *, limit: int = 200, rounds: int = 100, now: dt.datetime | None = None
) -> ExecReport:
    """Tests and the CLI: execute until nothing is due (bounded)."""
    total = ExecReport()
    for _ in range(rounds):
        report = execute_due(limit=limit, now=now)
        if not report.claimed:
            break
        for name in ("claimed", "done", "skipped", "failed", "retried", "fenced"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.ids.extend(report.ids)
    return total


def rules_enabled_exist() -> bool:
    return Rule.objects.enabled().exists()
