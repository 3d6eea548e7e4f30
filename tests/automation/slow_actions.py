"""A test-only action for the reliability battery (RELIABILITY rows 12 and 13), registered only
in the processes that import this module: the harness's worker launcher (`reliability_proc.py`)
imports it before it starts `voronka worker`, so production code has no switch for it.

`reliability_effect` sleeps a while (a slow action: 10–200 ms, a share of them 2 s, chosen from
the deal's id so every process agrees) and writes one Comment per execution — the effect the
harness counts: `EFFECT_PREFIX run=<id> pid=<process> token=<token the run had when loaded>`.
A run whose Comment appears twice was carried out twice; a Comment written by another process
than the run's final worker is a zombie write (a stalled worker whose late completion was not
fenced).

`journal` appends a line per execution to a file: an effect outside the database, like a
webhook's call, which the run's fencing cannot take back.

`pause` stalls one execution (a process's `pause_at`-th, the first to create
`<pause_dir>/paused`) so the harness can SIGSTOP the process at a known point: "in_tx" inside the
action, in the run's transaction; "after_commit" after the run's batch committed (outside any
transaction, the rest of the process's claim still leased to it, not started).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from django.db import transaction

from automation.reliability_proc import ACTION, EFFECT_PREFIX
from voronka.automation.registry import ACTIONS, Params, action

if TYPE_CHECKING:
    from voronka.automation.context import RunContext


# Extra milliseconds every execution of this process sleeps: the row 12 harness slows the
# process it is about to kill, so the kill lands while it holds a claimed batch (reliability_proc
# `tick --slow-from`).
EXTRA_MS = 0.0
_executions = 0  # this process's executions of the action (for Effect.pause_at)


class Effect(Params):
    min_ms: int = 0
    max_ms: int = 0
    slow_ms: int = 0
    slow_per_mille: int = 0
    pause: Literal["", "in_tx", "after_commit"] = ""
    pause_dir: str = ""
    pause_seconds: float = 5.0
    # The execution (counted in this process, from 1) that pauses (see _pause_once).
    pause_at: int = 1
    # A side effect outside the database (what a webhook or an e-mail is): one line per
    # execution, appended before the run's transaction commits — fencing cannot roll it back.
    journal: str = ""


def duration_ms(object_id: int, p: Effect) -> float:
    rnd = random.Random(object_id)
    if rnd.randrange(1000) < p.slow_per_mille:
        return float(p.slow_ms)
    return rnd.uniform(p.min_ms, p.max_ms)


def _holds_unstarted_runs() -> bool:
    """After a batch committed: does this process still hold claimed runs (not started yet),
    for at least half a lease more (time for the harness to stop it before the lease passes)?"""
    from django.utils import timezone

    from voronka.automation.executor import lease, worker_name
    from voronka.automation.models import RuleRun, RunStatus

    return RuleRun.objects.filter(
        status=RunStatus.RUNNING,
        worker=worker_name()[:64],
        leased_until__gt=timezone.now() + lease() / 2,
    ).exists()


def _pause_once(p: Effect, run_id: int, execution: int) -> bool:
    """True for the one execution that pauses, the first one anywhere (the file is created
    exclusively): inside the action, this process's `pause_at`-th; after the commit, its first
    from the `pause_at`-th on after whose batch it still holds claimed runs it has not started."""
    if p.pause == "in_tx" and execution != p.pause_at:
        return False
    if p.pause == "after_commit" and (execution < p.pause_at or not _holds_unstarted_runs()):
        return False
    try:
        fd = os.open(Path(p.pause_dir) / "paused", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{run_id} {os.getpid()}\n")
    return True


def effect(ctx: RunContext, p: Effect) -> dict[str, Any]:
    run = ctx.run
    assert run is not None and ctx.deal is not None
    from voronka.activities.models import Comment

    global _executions
    _executions += 1
    execution = _executions
    ms = duration_ms(run.object_id, p) + EXTRA_MS
    if ms:
        time.sleep(ms / 1000)
    if p.journal:
        with open(p.journal, "a", encoding="utf-8") as fh:
            fh.write(f"{run.pk} {os.getpid()}\n")
    Comment.objects.create(
        object_type="deal",
        object_id=ctx.deal.pk,
        text=f"{EFFECT_PREFIX} run={run.pk} pid={os.getpid()} token={run.lease_token}",
        created_at=ctx.now,
    )
    if p.pause == "in_tx" and p.pause_dir and _pause_once(p, run.pk, execution):
        time.sleep(p.pause_seconds)  # the harness stops the process here, in the run's tx
    elif p.pause == "after_commit" and p.pause_dir:
        run_pk: int = run.pk

        def after_commit(run_id: int = run_pk) -> None:
            if _pause_once(p, run_id, execution):
                time.sleep(p.pause_seconds)  # committed; the rest of the batch still leased

        transaction.on_commit(after_commit)
    return {"effect": run.pk, "ms": round(ms)}


if ACTION not in ACTIONS:  # imported once per process; a second import must not re-register
    action(ACTION, Effect, label="reliability effect (tests)")(effect)
