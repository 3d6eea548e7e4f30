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
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, ForeignKey, Min, Model, Q
from pydantic import ValidationError as PydanticValidationError

from voronka.activities.models import Task
from voronka.automation.conditions import all_hold, parse_conditions
from voronka.automation.context import RunContext, rule_actor
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus
from voronka.automation.registry import ACTIONS, ActionType, Params
from voronka.contacts.models import Company, Contact
from voronka.deals.models import Deal, StageSemantic
from voronka.kernel import clock
from voronka.kernel.bulk import update_rows
from voronka.kernel.errors import ApplicationError
from voronka.kernel.events import EventError, caused_by

logger = logging.getLogger(__name__)


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=max(1, settings.VORONKA_AUTOMATION_LEASE_SECONDS))


MAX_ATTEMPTS = 5
# Runs executed per transaction at most. A batch holds the row locks of its deals until it
# commits: a batch of quick actions (a task each: ~1 ms) commits within a fraction of a second.
BATCH = 100
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


def claim(
    *, worker: str, limit: int = 50, now: dt.datetime | None = None, expired_only: bool = False
) -> list[tuple[int, int]]:
    """Take up to `limit` due runs for this worker: [(run id, lease token)]; `expired_only`: only
    runs whose worker's lease has expired (the worker's reaper thread)."""
    now = now or clock.now()
    expired = Q(status=RunStatus.RUNNING, leased_until__lt=now)
    due = expired if expired_only else Q(status=RunStatus.PENDING, due_at__lte=now) | expired
    if connection.vendor == "postgresql":
        return _claim_in_one_statement(due, worker=worker, limit=limit, now=now)
    if not RuleRun.objects.filter(due).exists():
        # Nothing due: no write transaction (SQLite's IMMEDIATE one would take the file's write
        # lock every poll of every worker thread).
        return []
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


def _skip_locked(due: Q, limit: int) -> tuple[str, tuple[Any, ...]]:
    """The ids of up to `limit` runs matching `due`, oldest first, skipping those another
    transaction has locked: the subquery of a one-statement claim. Written out, because Django
    compiles `select_for_update` only inside an atomic block, and there the statement would pay
    two more round trips (BEGIN, COMMIT) — one statement is its own transaction, its row locks
    held until it ends."""
    picked = RuleRun.objects.filter(due).order_by("due_at", "id").values("id")[:limit]
    sql, params = picked.query.sql_with_params()
    return f"{sql} FOR UPDATE SKIP LOCKED", params


def _claim_in_one_statement(
    due: Q, *, worker: str, limit: int, now: dt.datetime
) -> list[tuple[int, int]]:
    """PostgreSQL: the claim as ONE statement (`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
    LOCKED) RETURNING`): a reaper taking over a dead worker's runs makes one round trip, not four
    — under load each one is a wait for the GIL and the database, and row 13's bar is the lease
    plus one poll."""
    table = connection.ops.quote_name(RuleRun._meta.db_table)
    select_sql, select_params = _skip_locked(due, limit)
    with connection.cursor() as cursor:
        sql = (
            f"UPDATE {table} SET status = %s, lease_token = lease_token + 1, leased_until = %s, "
            f"worker = %s, attempts = attempts + 1 WHERE id IN ({select_sql}) "
            "RETURNING id, lease_token, due_at"
        )
        params = [RunStatus.RUNNING.value, now + lease(), worker[:64], *select_params]
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [(run_id, token) for run_id, token, _due in sorted(rows, key=lambda r: (r[2], r[0]))]


def release(claimed: list[tuple[int, int]]) -> int:
    """Give runs this worker claimed back to the queue (pending, due as before), those it still
    holds under these tokens; each token bumped, so the claim's holder — this worker — can no
    longer renew and act on them. The reaper takes every expired run at once (the claim is what
    takes them from a dead worker: RELIABILITY row 13 bars the lease plus one poll, however many
    the dead worker held) and gives back what its takeover threads cannot carry out within the
    lease, for whichever executor of any worker is free."""
    if not claimed:
        return 0
    held = Q()
    for run_id, token in claimed:
        held |= Q(pk=run_id, lease_token=token)
    return RuleRun.objects.filter(held, status=RunStatus.RUNNING).update(
        status=RunStatus.PENDING,
        lease_token=F("lease_token") + 1,
        leased_until=None,
        worker="",
    )


# --- run ----------------------------------------------------------------------------------------


MODELS: dict[str, Any] = {"deal": Deal, "task": Task, "company": Company, "contact": Contact}
# What conditions, texts and actions read of a deal (the loss reason loads on use: rare).
DEAL_RELATED = ("stage", "pipeline", "responsible", "company")


def _objects(runs: list[RuleRun]) -> dict[tuple[str, int], Any]:
    """The objects of a batch of runs, a query per kind (and the deals of tasks in one more)."""
    wanted: dict[str, set[int]] = {}
    for run in runs:
        wanted.setdefault(run.object_type, set()).add(run.object_id)
    found: dict[tuple[str, int], Any] = {}
    for kind, ids in wanted.items():
        qs = MODELS[kind].objects.all()
        if kind == "task":
            qs = qs.select_related("responsible")
        objs = qs.in_bulk(ids)
        if kind == "deal":
            _with_related(list(objs.values()))
        found.update(((kind, pk), obj) for pk, obj in objs.items())
    task_deals = {
        obj.deal_id
        for (kind, _pk), obj in found.items()
        if kind == "task" and obj.deal_id is not None and ("deal", obj.deal_id) not in found
    }
    if task_deals:
        deals = Deal.objects.in_bulk(task_deals)
        _with_related(list(deals.values()))
        found.update((("deal", pk), deal) for pk, deal in deals.items())
    return found


def _with_related(deals: list[Deal]) -> None:
    """DEAL_RELATED set on each deal from one read per model: the deals of a batch share their
    stage, pipeline and responsible, which a join would build again for every deal."""
    for name in DEAL_RELATED:
        field = cast(ForeignKey, Deal._meta.get_field(name))
        ids = {getattr(deal, field.attname) for deal in deals} - {None}
        model = cast(type[Model], field.related_model)
        related = model._default_manager.in_bulk(ids) if ids else {}
        for deal in deals:
            obj = related.get(getattr(deal, field.attname))
            if obj is not None:
                setattr(deal, name, obj)


def build_contexts(
    runs: list[RuleRun], *, now: dt.datetime, dry: bool = False
) -> dict[int, RunContext]:
    """What each run's action sees (run id → context); a run whose object is gone has none."""
    objects = _objects(runs)
    contexts = {}
    for run in runs:
        obj = objects.get((run.object_type, run.object_id))
        if obj is None:
            continue
        deal: Deal | None = None
        if run.object_type == "deal":
            deal = obj
        elif run.object_type == "task" and obj.deal_id is not None:
            deal = objects.get(("deal", obj.deal_id))
        entered = run.context.get("entered_at")
        contexts[run.pk] = RunContext(
            rule=run.rule,
            actor=rule_actor(run.rule, run_id=run.pk),
            now=now,
            object_type=run.object_type,
            obj=obj,
            deal=deal,
            company=obj if run.object_type == "company" else None,
            run=run,
            entered_at=dt.datetime.fromisoformat(entered) if entered else None,
            dry=dry,
        )
    return contexts


def build_context(run: RuleRun, *, now: dt.datetime, dry: bool = False) -> RunContext | None:
    """What the run's action sees, or None when its object is gone."""
    return build_contexts([run], now=now, dry=dry).get(run.pk)


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
    action, params = _action_of(run, ctx)
    return action.run(ctx, params)


def _action_of(run: RuleRun, ctx: RunContext) -> tuple[ActionType, Params]:
    action = ACTIONS.get(run.rule.action)
    if action is None:
        raise LookupError(f"unknown action {run.rule.action!r}")
    # A trigger fired by a deal's task acts on the deal (ctx.deal).
    acts_on_deal = ctx.deal is not None and "deal" in action.objects
    if run.object_type not in action.objects and not acts_on_deal:
        raise LookupError(f"action {action.name} does not act on a {run.object_type}")
    return action, action.params.model_validate(run.rule.params)


def _runs(ids: list[int]) -> dict[int, RuleRun]:
    """The runs with their rules; the runs of one rule share one Rule, and rules of one owner one
    User — the owner's scopes are cached on that object, read once per batch, not once per run."""
    runs = RuleRun.objects.in_bulk(ids)
    # The rules apart, each once (not joined into every run's row: a batch is mostly one rule's
    # runs, and a joined row is a Rule, a User and a Stage built again per run).
    rules = Rule.objects.select_related("owner", "stage").in_bulk(
        {run.rule_id for run in runs.values()}
    )
    owners: dict[int, Any] = {}
    for rule in rules.values():
        if rule.owner_id is not None:
            rule.owner = owners.setdefault(rule.owner_id, rule.owner)
    for run in runs.values():
        if run.rule_id in rules:
            run.rule = rules[run.rule_id]
    # A rule deleted between the two reads takes its runs with it (cascade): they are gone.
    return {pk: run for pk, run in runs.items() if run.rule_id in rules}


def execute(run_id: int, token: int, *, now: dt.datetime | None = None) -> str:
    """Run one claimed run; returns its new status ("done", "skipped", "failed", "pending" for a
    retry, "fenced")."""
    now = now or clock.now()
    run = _runs([run_id]).get(run_id)
    if run is None:  # its rule was deleted meanwhile
        return "gone"
    try:
        with transaction.atomic():
            return _run_all({run_id: run}, [(run_id, token)], now=now)[0]
    except Fenced:
        logger.warning("run %s: lease lost, its effects rolled back", run_id)
        return "fenced"
    except PERMANENT as exc:
        return _fail(run, token, exc, retry=False, now=now)
    except Exception as exc:
        logger.exception("run %s failed (attempt %s)", run_id, run.attempts)
        return _fail(run, token, exc, retry=run.attempts < MAX_ATTEMPTS, now=now)


def execute_batch(
    claimed: list[tuple[int, int]], *, now: dt.datetime, budget: float | None = None
) -> list[str] | None:
    """The claimed runs in ONE transaction (one commit for the batch: the throughput). None when
    any of them raised — the whole batch rolled back, and the caller runs them one by one, so a
    failure is recorded against its own run and the others still happen once. `budget`: seconds
    after which the runs not yet started are left for the next transaction ("deferred")."""
    runs = _runs([run_id for run_id, _token in claimed])
    try:
        with transaction.atomic():
            return _run_all(runs, claimed, now=now, budget=budget)
    except Exception:
        return None


DEFERRED = "deferred"


def _run_all(
    runs: dict[int, RuleRun],
    claimed: list[tuple[int, int]],
    *,
    now: dt.datetime,
    budget: float | None = None,
) -> list[str]:
    """The runs' effects and their outcomes, in the caller's transaction. Actions with a batch
    form (ActionType.many: create_task) act once for all their runs of the batch, the others one
    run at a time; each run's effects name the run as their cause. Past `budget` seconds no
    further one-at-a-time action starts: those runs come back "deferred", still leased, for the
    caller's next transaction — a transaction lasts at most the budget plus one action (SQLite's
    one writer: another worker's reaper waits no longer than that for the write lock)."""
    began = time.monotonic()
    lost = _lost(claimed)
    asked, claimed = claimed, [(run_id, token) for run_id, token in claimed if run_id not in lost]
    present = [runs[run_id] for run_id, _token in claimed if run_id in runs]
    contexts = build_contexts(present, now=now)
    outcomes: dict[int, dict[str, Any]] = {}
    grouped: dict[str, list[tuple[RunContext, Params]]] = {}
    # Objects an action of this batch has acted on: a later run on them reads them again (a
    # robot that moved the deal on makes the next robot of the old stage skip, as one by one).
    touched: set[tuple[str, int]] = set()
    deferred: set[int] = set()
    for run in present:
        if budget is not None and outcomes and time.monotonic() - began > budget:
            deferred = {r.pk for r in present if r.pk not in outcomes} - {
                c.run.pk for items in grouped.values() for c, _p in items if c.run is not None
            }
            break
        ctx = contexts.get(run.pk)
        if ctx is not None and touched & _objects_of(ctx):
            ctx = build_context(run, now=now)
        if ctx is None:
            outcomes[run.pk] = {"skipped": "object_gone"}
            continue
        with caused_by(ctx.cause.causation_id, depth=ctx.cause.depth):
            reason = skip_reason(run, ctx)
            if reason is not None:
                outcomes[run.pk] = {"skipped": reason}
                continue
            action, params = _action_of(run, ctx)
            if action.many is not None:
                grouped.setdefault(action.name, []).append((ctx, params))
            else:
                outcomes[run.pk] = action.run(ctx, params)
                touched |= _objects_of(ctx)
    for name, items in grouped.items():
        many = ACTIONS[name].many
        assert many is not None
        results = many(items)
        for (ctx, _params), result in zip(items, results, strict=True):
            assert ctx.run is not None
            outcomes[ctx.run.pk] = result
    finished = [
        (runs[run_id], token, outcomes[run_id])
        for run_id, token in claimed
        if run_id in runs and run_id not in deferred
    ]
    _finish_many(finished, now=now)
    return [
        "fenced"
        if run_id in lost
        else "gone"
        if run_id not in runs
        else DEFERRED
        if run_id in deferred
        else _run_status(outcomes[run_id])
        for run_id, _t in asked
    ]


def _objects_of(ctx: RunContext) -> set[tuple[str, int]]:
    found = {(ctx.object_type, int(ctx.obj.pk))}
    if ctx.deal is not None:
        found.add(("deal", int(ctx.deal.pk)))
    return found


def _lost(claimed: list[tuple[int, int]]) -> set[int]:
    """Checked again inside the batch's transaction, before any action: the runs taken over by
    another worker since the renewal (this transaction waited for SQLite's write lock, or the
    worker was stopped) are not started. Fencing at the end still guards the commit."""
    current = dict(
        RuleRun.objects.filter(
            pk__in=[run_id for run_id, _t in claimed], status=RunStatus.RUNNING
        ).values_list("pk", "lease_token")
    )
    return {run_id for run_id, token in claimed if current.get(run_id) != token}


def _run_status(outcome: dict[str, Any]) -> str:
    return str(RunStatus.SKIPPED if "skipped" in outcome else RunStatus.DONE)


def renew(claimed: list[tuple[int, int]], *, now: dt.datetime) -> list[tuple[int, int]]:
    """Extend the leases of runs about to be executed, committed before any action runs; the runs
    whose lease has passed to another worker meanwhile are dropped — so this worker never starts
    the action of a run it no longer holds (a webhook or an e-mail queued twice), not only never
    commits it (fencing)."""
    if not claimed:
        return []
    with transaction.atomic():
        held = _held(claimed)
        if held:
            RuleRun.objects.filter(pk__in=[run_id for run_id, _t in held]).update(
                leased_until=now + lease()
            )
    return held


def _held(claimed: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The claimed runs still running under this worker's token, locked until the transaction
    ends (no other worker can take them meanwhile)."""
    current = dict(
        RuleRun.objects.select_for_update()
        .filter(pk__in=[run_id for run_id, _t in claimed], status=RunStatus.RUNNING)
        .order_by("pk")
        .values_list("pk", "lease_token")
    )
    return [(run_id, token) for run_id, token in claimed if current.get(run_id) == token]


def _finish_many(finished: list[tuple[RuleRun, int, dict[str, Any]]], *, now: dt.datetime) -> None:
    """Write the outcomes — only while every run still carries this worker's token (fencing): a
    run whose lease passed to another worker raises Fenced, and the batch's effects roll back."""
    if not finished:
        return
    if len(_held([(run.pk, token) for run, token, _r in finished])) != len(finished):
        raise Fenced()
    for run, _token, outcome in finished:
        run.status = _run_status(outcome)
        run.result = outcome
        run.error = ""
        run.finished_at = now
        run.leased_until = None
    update_rows(
        [run for run, _t, _r in finished],
        ["status", "result", "error", "finished_at", "leased_until"],
    )


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


# Seconds a run takes in this process (a moving average; None until measured): batches and
# claims are sized by it so a batch fits in a quarter of the lease and a claim in about half of
# it — a worker comes back for runs whose lease expired (a killed worker's) within that time.
_pace: float | None = None


def _paced(most: int, share: float) -> int:
    if _pace is None:
        return 1  # the first run alone measures
    fits = int(lease().total_seconds() * share / max(_pace, 1e-6))
    return max(1, min(most, fits))


def _measured(seconds: float, runs: int) -> None:
    global _pace
    per_run = seconds / max(1, runs)
    _pace = per_run if _pace is None else 0.7 * _pace + 0.3 * per_run


def next_expiry(now: dt.datetime) -> float | None:
    """Seconds from `now` until the earliest lease of a running run expires (None: nothing is
    running): the reaper sleeps until then rather than a whole poll (the partial index on the
    running runs' leases answers it)."""
    first = RuleRun.objects.filter(status=RunStatus.RUNNING).aggregate(at=Min("leased_until"))
    return None if first["at"] is None else (first["at"] - now).total_seconds()


def paced_claim(most: int) -> int:
    """How many runs one claim takes: what fits in half the lease, `most` at most."""
    return _paced(most, 0.5)


def batch_budget() -> float | None:
    """Seconds a batch's transaction may run before it stops starting actions: a quarter of the
    lease (None: no limit — a negative control)."""
    return lease().total_seconds() * 0.25


def execute_due(
    *,
    worker: str | None = None,
    limit: int = 500,
    now: dt.datetime | None = None,
    expired_only: bool = False,
) -> ExecReport:
    """One round: claim up to `limit` due runs (fewer when runs are slow) and run them;
    `expired_only`: only the runs of a worker whose lease expired (a killed or stalled one)."""
    fixed = now is not None  # a test's or the dry run's moment; else the database's clock
    now = now or clock.db_now()
    claimed = claim(
        worker=worker or worker_name(),
        limit=paced_claim(limit),
        now=now,
        **({"expired_only": True} if expired_only else {}),
    )
    return execute_claimed(claimed, now=now, fixed=fixed, worker=worker or worker_name())


def execute_claimed(
    claimed: list[tuple[int, int]],
    *,
    now: dt.datetime,
    fixed: bool = False,
    worker: str | None = None,
) -> ExecReport:
    """Run runs this worker has claimed, in batches (execute_due's second half; the worker's
    reaper claims expired runs and hands them to a thread of their own through it). `fixed`: `now`
    is a test's or the dry run's moment, else leases are renewed on the database's clock.
    `worker` (SQLite): between its batches this worker first takes over runs whose lease has
    expired — with one writer, a reaper elsewhere would wait for the write lock that these
    batches keep taking (decision 0017)."""
    report = ExecReport()
    claimed = list(claimed)
    statuses: dict[int, str] = {}
    at = (lambda: now) if fixed else clock.db_now
    take_over = worker is not None and not fixed and connection.vendor == "sqlite"

    def one_by_one(runs: list[tuple[int, int]]) -> None:
        for run_id, token in runs:
            held = renew([(run_id, token)], now=at())
            statuses[run_id] = execute(run_id, token, now=now) if held else "fenced"

    # Batches as large as fit in a quarter of the lease (quick actions: BATCH per commit; slow
    # ones — a big document, a slow service — one at a time), each batch's leases renewed right
    # before its actions; a batch that runs past that quarter commits what it did and leaves the
    # rest to the next one (the pace is an average: one slow action among quick ones).
    budget = batch_budget()
    queue = list(claimed)
    # The claim has just leased the runs: until a quarter of the lease has passed no other
    # worker can have taken them, and a batch needs no renewal first (the check under the
    # batch's transaction and the fencing at its commit still hold).
    fresh_until = time.monotonic() + lease().total_seconds() / 4
    while queue:
        if take_over and statuses:  # after the first batch (the claim took expired ones too)
            assert worker is not None
            # All of them (a dead worker's whole claim): one writer, no one else to share with.
            taken = claim(worker=worker, limit=500, now=at(), expired_only=True)
            if taken:  # its own queued runs among them: their old tokens go
                ids = {run_id for run_id, _t in taken}
                queue = taken + [(i, t) for i, t in queue if i not in ids]
                claimed = [(i, t) for i, t in claimed if i not in ids] + taken
        size = _paced(BATCH, 0.25)
        chunk, queue = queue[:size], queue[size:]
        began = time.monotonic()
        if began < fresh_until:
            held = chunk
        else:
            held = renew(chunk, now=at())
            fresh_until = time.monotonic() + lease().total_seconds() / 4
        statuses.update({run_id: "fenced" for run_id, _t in chunk if (run_id, _t) not in held})
        batch = execute_batch(held, now=now, budget=budget) if len(held) > 1 else None
        if batch is not None:
            done = dict(zip([run_id for run_id, _t in held], batch, strict=True))
            # The runs the batch had no time for go first into the next one (lease renewed).
            queue = [(i, t) for i, t in held if done[i] == DEFERRED] + queue
            statuses.update({i: status for i, status in done.items() if status != DEFERRED})
            chunk = [(i, t) for i, t in chunk if done.get(i) != DEFERRED]
        elif len(held) == 1:
            statuses[held[0][0]] = execute(held[0][0], held[0][1], now=now)
        else:  # the batch failed and rolled back: each run again, its lease renewed first
            one_by_one(held)
        _measured(time.monotonic() - began, len(chunk))
    report.claimed = len(claimed)
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
