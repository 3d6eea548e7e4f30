"""RELIABILITY rows 13 (WORKER-CRASH) and 12 (AUTOMATION-EXACTLY-ONCE) with real processes.

Row 13, tier A (CI, SQLite and PostgreSQL) and tier B (`-m battery`, longer):
* crash storm — two real `voronka worker` processes (tests/automation/reliability_proc.py, with
  the slow test action of slow_actions.py registered in them only) carry out one run per deal,
  each 10–200 ms, 5 % 2 s; a killer SIGKILLs a random one of them every 1–3 s and a supervisor
  starts it again. Figures: lost runs, runs still running after the lease plus one sweep,
  duplicate effects, zombie writes, worst recovery latency (a killed worker's runs done again).
* a stalled lease holder — SIGSTOP a worker holding leased runs past the lease, let another
  worker take and finish them, SIGCONT it. Stopped between its claim and the runs' actions: it
  must never start them (the lease renewed right before each action). Stopped inside a run's
  action: its commit must be fenced (its effect absent, the run done once, by the other worker).
  Negative controls: the renewal check and the fencing switched off in the stalled worker
  (RELIABILITY_NO_RENEW / RELIABILITY_UNFENCED, monkeypatches in the test launcher) show the
  zombie write and the duplicate effect.
* outbox atomicity — a process killed inside a deal move's transaction leaves neither the move
  nor its event; a process moving deals in a loop, killed at random moments, leaves every move
  with exactly its event and every event with its move.

Row 12 (tier B, `-m battery`): 10,000 (rule, deal) pairs come due over a simulated week — nine
robots with delays up to 128 h (their runs written in bulk, as the planner writes them) and one
monitor (deal over the stage's SLA) — and three processes of our own tick `execute_due(now=…)` /
`monitors_sweep(now=…)` on their own clocks (skewed by ±10 min, one jumping +1 h then −1 h), one
of them SIGKILLed mid-batch and started again. Figures: duplicate effects, missed effects,
effects late by more than one tick.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from authz.harness import record_figures
from automation.reliability_proc import ACTION, EFFECT_PREFIX
from factories import make_company, make_deal
from voronka.activities.models import Comment
from voronka.automation import executor
from voronka.automation.models import Rule, RuleKind, RuleRun, RunStatus, ScheduledRun
from voronka.automation.sweeps import monitor_job, monitors_sweep
from voronka.deals.models import Deal, Stage, StageChange
from voronka.deals.services import deal_move_to_stage
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.models import DomainEvent
from voronka.kernel.outbox import events_dispatch
from workers import ROOT, kill, logs_of, stop, worker_env

# `alone`: the recovery bar is a fraction of a second over the lease and the stopped-worker
# scenes stop a worker at a chosen moment; beside other tests on two cores a process is
# scheduled late by more than that. scripts/test.sh runs them after the parallel phase.
pytestmark = [pytest.mark.django_db(transaction=True, reset_sequences=True), pytest.mark.alone]

PROC = Path(__file__).resolve().parent / "reliability_proc.py"
PYTHON = ROOT / ".venv" / "bin" / "python"
EFFECT_RE = re.compile(rf"^{EFFECT_PREFIX} run=(\d+) pid=(\d+) token=(\d+)$")
FINISHED = (RunStatus.DONE, RunStatus.SKIPPED)
SEED = 20261207


# --- processes --------------------------------------------------------------------------------


def start_proc(name: str, env: dict[str, str], logs: Path, *args: str) -> Any:
    out = (logs / f"{name}.log").open("ab")
    return subprocess.Popen(
        [str(PYTHON), str(PROC), *args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_worker(name: str, env: dict[str, str], logs: Path) -> Any:
    return start_proc(
        name,
        env,
        logs,
        "worker",
        "--interval",
        "0.3",
        "--no-startup-delay",
        "--worker-id",
        name,
        "--no-schedule",
    )


def signal_group(process: Any, sig: int) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)


def wait_until(check: Any, bound: float, step: float = 0.1) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound and not check():
        time.sleep(step)
    return time.monotonic() - started


# --- the scene --------------------------------------------------------------------------------


def effect_rule(stage: Stage, **params: Any) -> Rule:
    """A robot of the stage running the test action, the only rule (the built-in monitors are
    deleted: with reset_sequences their ids would collide with the new rule's on PostgreSQL)."""
    Rule.objects.all().delete()
    rule = Rule.objects.create(
        kind=RuleKind.ROBOT,
        name=f"reliability {stage.name}",
        pipeline_id=stage.pipeline_id,
        stage=stage,
        action=ACTION,
        params=params,
    )
    return rule


def deals_entering(stage: Stage, start: Stage, count: int, personas: Any) -> list[int]:
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Надёжность")
    actor = Actor.for_user(a1)
    ids = []
    for i in range(count):
        deal = make_deal(responsible=a1, company=company, title=f"Сделка {i}", stage=start)
        deal_move_to_stage(deal=deal, stage=stage, actor=actor)
        ids.append(deal.pk)
    return ids


def plan_all() -> None:
    """Hand the outbox to its consumers here (the planner writes the runs)."""
    for _ in range(100):
        if not sum(events_dispatch(limit=2000).handled.values()):
            return


def effects(rule: Rule | None = None) -> list[tuple[int, int]]:
    """(run id, writer pid) of every effect row."""
    rows = Comment.objects.filter(text__startswith=EFFECT_PREFIX).values_list("text", flat=True)
    out = []
    for text in rows:
        match = EFFECT_RE.match(text)
        assert match, text
        out.append((int(match[1]), int(match[2])))
    if rule is not None:
        ids = set(RuleRun.objects.filter(rule=rule).values_list("id", flat=True))
        out = [e for e in out if e[0] in ids]
    return out


def pid_of(worker: str) -> int | None:
    tail = worker.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


@dataclass
class Ledger:
    """Exactly-once figures of a set of runs, from the effect rows (an oracle of its own: the
    Comments the action wrote, not the engine's statuses)."""

    runs: int
    finished: int
    failed: int
    effects: int
    duplicate_effects: int
    runs_without_effect: int
    zombie_writes: int
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, rule_ids: list[int]) -> Ledger:
        runs = {
            pk: (status, worker)
            for pk, status, worker in RuleRun.objects.filter(rule_id__in=rule_ids).values_list(
                "id", "status", "worker"
            )
        }
        rows = [e for e in effects() if e[0] in runs]
        per_run = Counter(run_id for run_id, _ in rows)
        done = {pk for pk, (status, _) in runs.items() if status == RunStatus.DONE}
        zombies = [
            (run_id, pid)
            for run_id, pid in rows
            if runs[run_id][0] != RunStatus.DONE or pid_of(runs[run_id][1]) != pid
        ]
        return cls(
            runs=len(runs),
            finished=sum(1 for status, _ in runs.values() if status in FINISHED),
            failed=sum(1 for status, _ in runs.values() if status == RunStatus.FAILED),
            effects=len(rows),
            duplicate_effects=sum(n - 1 for n in per_run.values() if n > 1),
            runs_without_effect=len(done - set(per_run)),
            zombie_writes=len(zombies),
            details={
                "doubled": sorted(k for k, n in per_run.items() if n > 1)[:10],
                "zombies": zombies[:10],
            },
        )

    def figures(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "finished": self.finished,
            "failed": self.failed,
            "effects": self.effects,
            "duplicate_effects": self.duplicate_effects,
            "done_without_effect": self.runs_without_effect,
            "zombie_writes": self.zombie_writes,
        }


def fenced_in_logs(logs: Path) -> int:
    return logs_of(logs, tail=10**8).count("lease lost, its effects rolled back")


# --- row 13: the crash storm ------------------------------------------------------------------


SLOW_MS = 2000  # row 13: 5 % of the jobs take 2 s


@dataclass
class Kill:
    at: float
    pid: int
    held: set[int]
    recovered_after: float | None = None


def holders(rule: Rule) -> Counter[int]:
    """pid → runs it holds (running under its lease)."""
    workers = RuleRun.objects.filter(rule=rule, status=RunStatus.RUNNING).values_list(
        "worker", flat=True
    )
    return Counter(pid for pid in map(pid_of, workers) if pid is not None)


def crash_storm(
    personas: Any,
    pipeline: Any,
    tmp_path: Path,
    *,
    runs: int,
    lease: int,
    kill_seconds: float,
    bound: float,
) -> dict[str, Any]:
    sweep = 0.3  # the worker's claim poll (voronka_worker: DISPATCH_SECONDS)
    talks = pipeline.stages["talks"]
    rule = effect_rule(talks, min_ms=10, max_ms=200, slow_ms=SLOW_MS, slow_per_mille=50)
    ids = deals_entering(talks, pipeline.stages["new"], runs, personas)
    env = worker_env(tmp_path / "data", VORONKA_AUTOMATION_LEASE_SECONDS=str(lease))
    rnd = random.Random(SEED)
    slots = {0: start_worker("w0-0", env, tmp_path), 1: start_worker("w1-0", env, tmp_path)}
    restarts = Counter[int]()
    kills: list[Kill] = []
    crashed = 0
    finished = RuleRun.objects.filter(rule=rule, status__in=FINISHED)
    started = time.monotonic()
    next_kill = started + rnd.uniform(1, 3)

    def recoveries(now: float) -> None:
        """A kill is recovered when none of the runs it held is still leased to the dead pid
        (each was claimed again — or finished)."""
        waiting = [k for k in kills if k.recovered_after is None]
        if not waiting:
            return
        # One query for every kill still waiting (the loop polls every 20 ms meanwhile: the
        # figure is the takeover's latency, not the harness's).
        leased = set(
            RuleRun.objects.filter(
                pk__in=set().union(*(k.held for k in waiting)), status=RunStatus.RUNNING
            ).values_list("pk", "worker")
        )
        for k in waiting:
            if not any(pk in k.held and pid_of(w) == k.pid for pk, w in leased):
                k.recovered_after = now - k.at

    try:
        while time.monotonic() - started < bound:
            now = time.monotonic()
            recoveries(now)
            all_done = finished.count() >= runs
            if all_done and all(k.recovered_after is not None for k in kills):
                break
            for slot, process in slots.items():  # the supervisor: a worker that died is restarted
                if process.poll() is not None:
                    crashed += 1
                    restarts[slot] += 1
                    slots[slot] = start_worker(f"w{slot}-{restarts[slot]}", env, tmp_path)
            if now - started < kill_seconds and now >= next_kill and not all_done:
                # A random worker among those holding runs (a worker still importing Django
                # holds nothing: killing it tests nothing); none holds any — try again shortly.
                held_by = holders(rule)
                candidates = [s for s, p in slots.items() if held_by.get(p.pid)]
                if candidates:
                    slot = rnd.choice(candidates)
                    victim = slots[slot]
                    kill(victim)  # SIGKILL the process group (the worker and nothing else)
                    at = time.monotonic()
                    held = set(
                        RuleRun.objects.filter(
                            rule=rule, status=RunStatus.RUNNING, worker__endswith=f":{victim.pid}"
                        ).values_list("id", flat=True)
                    )
                    kills.append(Kill(at=at, pid=victim.pid, held=held))
                    restarts[slot] += 1
                    slots[slot] = start_worker(f"w{slot}-{restarts[slot]}", env, tmp_path)
                    next_kill = at + rnd.uniform(1, 3)
            time.sleep(0.02 if any(k.recovered_after is None for k in kills) else 0.1)
    finally:
        for process in slots.values():
            stop(process)
    elapsed = time.monotonic() - started
    end = clock.now()
    ledger = Ledger.of([rule.pk])
    stuck = RuleRun.objects.filter(
        rule=rule,
        status=RunStatus.RUNNING,
        leased_until__lt=end - dt.timedelta(seconds=sweep),
    ).count()
    by_status = dict(
        RuleRun.objects.filter(rule=rule).values_list("status").annotate(n=Count("id"))
    )
    latencies = [k.recovered_after for k in kills if k.recovered_after is not None and k.held]
    figures = {
        "engine": connection.vendor,
        "deals": len(ids),
        "planned_runs": ledger.runs,
        "lost_runs": runs - ledger.finished,
        "stuck_running_after_lease_plus_sweep": stuck,
        "duplicate_effects": ledger.duplicate_effects,
        "zombie_writes": ledger.zombie_writes,
        "done_without_effect": ledger.runs_without_effect,
        "failed_runs": ledger.failed,
        "kills": len(kills),
        "kills_holding_runs": sum(1 for k in kills if k.held),
        "runs_held_by_killed_workers": sum(len(k.held) for k in kills),
        "unrecovered_kills": sum(1 for k in kills if k.held and k.recovered_after is None),
        "worst_recovery_s": round(max(latencies), 2) if latencies else None,
        "median_recovery_s": round(statistics.median(latencies), 2) if latencies else None,
        "recoveries_s": [(round(k.recovered_after or -1, 2), len(k.held)) for k in kills],
        "recovery_bar_s": recovery_bar(lease, sweep, SLOW_MS / 1000),
        "lease_s": lease,
        "fenced_executions": fenced_in_logs(tmp_path),
        "unexpected_worker_exits": crashed,
        "statuses": by_status,
        "seconds": round(elapsed, 1),
        "seed": SEED,
    }
    figures["_details"] = ledger.details
    figures["_logs"] = logs_of(tmp_path)
    return figures


def _assert_storm(figures: dict[str, Any]) -> None:
    logs = figures.pop("_logs")
    details = figures.pop("_details")
    assert figures["kills_holding_runs"] >= 3, figures  # the storm really hit running work
    bad = {
        k: figures[k]
        for k in (
            "lost_runs",
            "stuck_running_after_lease_plus_sweep",
            "duplicate_effects",
            "zombie_writes",
            "done_without_effect",
            "failed_runs",
            "unrecovered_kills",
        )
        if figures[k]
    }
    assert not bad, f"{bad}\n{figures}\n{details}\n{logs[-6000:]}"


# SQLite serialises writers, and a run's action executes inside its transaction: two workers on
# SQLite carry out one action at a time (mean 0.2 s here), so the SQLite variants have fewer runs.
def storm_runs(pg: int, sqlite: int) -> int:
    return pg if connection.vendor == "postgresql" else sqlite


# RELIABILITY row 13's bar: a killed worker's runs are claimed again within the lease timeout
# plus one sweep interval (the reaper thread's poll), measured from the kill to the moment none of
# the runs the killed worker held is still leased to it. On SQLite (one writer; an action runs
# inside its run's transaction) the reaper's claim also waits for the write transaction in
# flight, which the executor bounds at a quarter of the lease plus the action that was running
# when the budget ran out (decision 0017): the bar there adds that — 5.3 + 1.25 + 2 s here.
def recovery_bar(lease: float, sweep: float, slowest_action: float) -> float:
    if connection.vendor == "postgresql":
        return lease + sweep
    return lease + sweep + lease * 0.25 + slowest_action


def assert_recovery_bar(figures: dict[str, Any]) -> None:
    bar = figures["recovery_bar_s"]
    assert figures["worst_recovery_s"] is not None, figures
    assert figures["worst_recovery_s"] <= bar, (
        f"worst recovery {figures['worst_recovery_s']} s > lease + sweep interval = {bar} s"
        f" (median {figures['median_recovery_s']} s): {figures}"
    )


def test_worker_crash_storm(personas: Any, pipeline: Any, tmp_path: Path) -> None:
    """Tier A: 120 runs (80 on SQLite), SIGKILL every 1–3 s for 20 s (tier A's row 13 in all,
    ≤ 90 s per database)."""
    runs = storm_runs(120, 80)
    figures = crash_storm(
        personas, pipeline, tmp_path, runs=runs, lease=5, kill_seconds=20, bound=60
    )
    record_figures("WORKER-CRASH storm (row 13, tier A)", _public(figures))
    _assert_storm(figures)
    assert_recovery_bar(figures)


@pytest.mark.battery
def test_worker_crash_storm_long(personas: Any, pipeline: Any, tmp_path: Path) -> None:
    """Tier B: 2,000 runs (600 on SQLite), SIGKILL every 1–3 s for 60 s (≤ 4 min)."""
    runs = storm_runs(2000, 600)
    figures = crash_storm(
        personas, pipeline, tmp_path, runs=runs, lease=5, kill_seconds=60, bound=230
    )
    record_figures("WORKER-CRASH storm (row 13, tier B)", _public(figures))
    _assert_storm(figures)
    assert_recovery_bar(figures)


def _public(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if not k.startswith("_")}


# --- row 13: a stalled lease holder -----------------------------------------------------------
#
# The executor's two guards against a worker that lost its lease while it was stopped: the lease
# is renewed (committed) right before a run's action and a run whose lease passed to another
# worker is dropped unstarted (`executor.renew`); and the run's `done` and effects commit only
# while the run still carries the worker's token (fencing, `executor._finish`). Two scenes:
# * "claimed" — stopped between the claim and the action: the worker's first run committed and
#   the rest of its claim is still leased to it, none started. Guard: renewal — after SIGCONT it
#   must never start a run it lost (no execution at all: its journal, an effect outside the
#   database that no rollback takes back, shows none).
# * "mid_action" — stopped inside a run's action (after the renewal, inside the run's
#   transaction, the action sleeping). Guard: fencing — after SIGCONT its commit must be refused
#   (its effect absent, the run done once, by the other worker). Its outside effect, written
#   before the stop, stays: why real actions queue theirs in the run's transaction (0015).
#   On SQLite a worker stopped inside a transaction holds the database's one write lock: no other
#   worker can take its run, so there is nothing to fence — the scene checks that the run is
#   done once, by the stalled worker, and the fencing negative control runs on PostgreSQL only.

STALLED_SCENES = {"claimed": "after_commit", "mid_action": "in_tx"}
PAUSE_SECONDS = 3.0  # the stalled worker's pause (the harness SIGSTOPs it inside)


def journal_lines(journal: Path) -> list[tuple[int, int]]:
    """(run id, pid) of every execution the test action journaled, in order."""
    if not journal.exists():
        return []
    return [
        (int(run), int(pid))
        for run, pid in (line.split() for line in journal.read_text().splitlines() if line)
    ]


def stalled_holder(
    personas: Any, pipeline: Any, tmp_path: Path, *, scene: str, guards_off: tuple[str, ...] = ()
) -> dict[str, Any]:
    lease = 2
    talks = pipeline.stages["talks"]
    pause_dir = tmp_path / "pause"
    pause_dir.mkdir()
    journal = tmp_path / "journal"
    # 50 ms actions under a 2 s lease: whatever the executor's sizing (a first run alone to
    # time the actions, then claims and batches that fit in a share of the lease), a worker's
    # third execution comes in a batch of several. "claimed" pauses after the first committed
    # batch after which the worker still holds claimed runs it has not started (slow_actions).
    rule = effect_rule(
        talks,
        min_ms=50,
        max_ms=50,
        pause=STALLED_SCENES[scene],
        pause_at=3,
        pause_dir=str(pause_dir),
        pause_seconds=PAUSE_SECONDS,
        journal=str(journal),
    )
    runs = 50
    deals_entering(talks, pipeline.stages["new"], runs, personas)
    plan_all()  # all runs pending before the worker starts: it claims them in one claim
    # One executor thread per worker: the scene stops a worker at a chosen point of its one
    # thread; a second thread would be stopped wherever it happens to be — between its check
    # that it still holds a run and the action, a window no lease closes (decision 0017).
    env = worker_env(
        tmp_path / "data",
        VORONKA_AUTOMATION_LEASE_SECONDS=str(lease),
        VORONKA_WORKER_EXECUTORS="1",
    )
    # Two workers from the start (one start-up less to wait for): the first to reach its third
    # execution pauses — the stalled one; the other goes on, and takes the stalled one's runs
    # once their lease passes. A negative control switches the guards off in both.
    env.update(dict.fromkeys(guards_off, "1"))
    workers = [start_worker(f"w{i}", env, tmp_path) for i in range(2)]
    stalled = other = workers[0]
    paused = pause_dir / "paused"
    blocked = connection.vendor == "sqlite" and scene == "mid_action"
    alive_at_end = False
    try:
        wait_until(paused.exists, 60, step=0.02)
        assert paused.exists(), logs_of(tmp_path)
        pause_ends = time.monotonic() + PAUSE_SECONDS  # seen within a poll of its start
        time.sleep(0.1)  # the pause file is written just before the sleep
        paused_run, paused_pid = map(int, paused.read_text().split())
        stalled, other = sorted(workers, key=lambda w: w.pid != paused_pid)
        assert stalled.pid == paused_pid, (paused_pid, [w.pid for w in workers])
        # mid_action: inside the action, inside its transaction (on SQLite holding the write
        # lock); claimed: in an on-commit callback, outside any transaction (the batch committed,
        # the rest of the claim not started).
        signal_group(stalled, signal.SIGSTOP)
        stopped_at = time.monotonic()
        executions_at_stop = len(journal_lines(journal))
        leases = dict(
            RuleRun.objects.filter(
                rule=rule, status=RunStatus.RUNNING, worker__endswith=f":{stalled.pid}"
            ).values_list("id", "leased_until")
        )
        held = list(leases)
        # The batch in progress (mid-action): the runs renewed together with the paused one, by
        # one statement — the same lease end.
        in_batch = {pk for pk, until in leases.items() if until == leases.get(paused_run)}
        taken_over = RuleRun.objects.filter(
            pk__in=held, status=RunStatus.DONE, worker__endswith=f":{other.pid}"
        )
        # SQLite, stopped inside its transaction: the other worker waits for the write lock.
        wait_until(lambda: taken_over.count() == len(held), 5 if blocked else 60)
        taken = taken_over.count()
        signal_group(stalled, signal.SIGCONT)
        resumed_after = time.monotonic() - stopped_at
        finished = RuleRun.objects.filter(rule=rule, status__in=FINISHED)
        wait_until(lambda: finished.count() == runs, 60)
        # Room for the stalled worker to go on through its claim: a second after its pause ends
        # (SIGSTOP did not stop the pause's clock; when the other worker finished early the pause
        # may still be running — a fixed second after `finished` left it none, and a negative
        # control then saw nothing started).
        time.sleep(max(0.0, pause_ends - time.monotonic()) + 1.0)
        alive_at_end = stalled.poll() is None  # it went on after SIGCONT, did not die
    finally:
        signal_group(stalled, signal.SIGCONT)
        for worker in workers:
            stop(worker)
    ledger = Ledger.of([rule.pk])
    final_worker = {
        pk: pid_of(worker)
        for pk, worker in RuleRun.objects.filter(rule=rule).values_list("id", "worker")
    }
    executions = journal_lines(journal)
    per_run = Counter(run for run, _pid in executions)
    # Runs the stalled worker started after it was resumed although another worker held them:
    # what the renewal must prevent (0 with the guard on).
    lost_started = {
        run
        for run, pid in executions[executions_at_stop:]
        if pid == stalled.pid and final_worker.get(run) != stalled.pid
    }
    paused_effects = Counter(pid for run, pid in effects(rule) if run == paused_run)
    return {
        "engine": connection.vendor,
        "scene": scene,
        "guards_off": list(guards_off),
        "runs": runs,
        "held_by_stalled": len(held),
        "taken_over": taken,
        "sqlite_writer_blocked": blocked,
        "stalled_seconds": round(resumed_after, 1),
        "lease_s": lease,
        "stalled_alive_at_end": alive_at_end,
        "fenced_log_lines": fenced_in_logs(tmp_path),
        "stopped_batch_runs": len(in_batch),
        # Runs it lost and started after SIGCONT: those of the batch it was stopped in (its
        # actions go on until the batch's fenced commit) and any other (must be none: the
        # renewal before each batch drops them).
        "lost_batch_runs_started_after_resume": len(lost_started & in_batch),
        "lost_runs_started_after_resume": len(lost_started - in_batch),
        "paused_run_done_by": (
            "stalled"
            if final_worker.get(paused_run) == stalled.pid
            else "other"
            if final_worker.get(paused_run) == other.pid
            else str(final_worker.get(paused_run))
        ),
        "paused_run_effects_by_stalled": paused_effects.get(stalled.pid, 0),
        "outside_effects": len(executions),
        "runs_with_doubled_outside_effect": sorted(r for r, n in per_run.items() if n > 1),
        "paused_run": paused_run,
        **ledger.figures(),
        "_logs": logs_of(tmp_path),
    }


def _assert_exactly_once(figures: dict[str, Any], logs: str) -> None:
    assert figures["held_by_stalled"] >= 2, (figures, logs)  # it held unstarted runs too
    assert figures["stalled_alive_at_end"], (figures, logs)
    assert figures["finished"] == figures["runs"], (figures, logs)
    assert figures["duplicate_effects"] == 0, (figures, logs)
    assert figures["zombie_writes"] == 0, (figures, logs)
    assert figures["done_without_effect"] == 0, (figures, logs)
    assert figures["lost_runs_started_after_resume"] == 0, (figures, logs)


def test_a_worker_stopped_between_claim_and_action_never_starts_a_lost_run(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    """SIGSTOP after one of its batches committed while the rest of its claim waits unstarted,
    past the lease; the other worker takes and finishes those; SIGCONT: the stalled worker starts
    none of them (the renewal right before each batch)."""
    figures = stalled_holder(personas, pipeline, tmp_path, scene="claimed")
    logs = figures.pop("_logs")
    record_figures("WORKER-CRASH SIGSTOP between claim and action", figures)
    _assert_exactly_once(figures, logs)
    # Every run the stalled worker held and had not started was taken over and done once.
    assert figures["taken_over"] == figures["held_by_stalled"], (figures, logs)
    assert figures["runs_with_doubled_outside_effect"] == [], (figures, logs)


def test_a_worker_stopped_mid_action_past_its_lease_is_fenced(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    """SIGSTOP inside a run's action (renewed, in its transaction), past the lease; the other
    worker takes and finishes the run; SIGCONT: the stalled worker's commit is fenced."""
    figures = stalled_holder(personas, pipeline, tmp_path, scene="mid_action")
    logs = figures.pop("_logs")
    record_figures("WORKER-CRASH SIGSTOP mid-action", figures)
    _assert_exactly_once(figures, logs)
    if figures["sqlite_writer_blocked"]:
        # The stopped worker held SQLite's write lock: nobody could take its runs; it finished
        # the paused run itself, once, when resumed.
        assert figures["taken_over"] == 0, (figures, logs)
        assert figures["paused_run_done_by"] == "stalled", (figures, logs)
        return
    assert figures["taken_over"] == figures["held_by_stalled"], (figures, logs)
    assert figures["paused_run_done_by"] == "other", (figures, logs)
    # Its commit was refused: the effect it wrote before the stop rolled back (the negative
    # control, in the battery, shows the same scene commits it when the fencing is off). Its journal — an
    # effect outside the database, written before the stop — stays, as for the rest of its
    # batch it may go through before the commit: why real actions queue such effects in the
    # run's transaction (decision 0015). Reported, not asserted.
    assert figures["paused_run_effects_by_stalled"] == 0, (figures, logs)


def test_negative_control_stopped_between_claim_and_action_without_renewal_or_fencing(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    """The renewal check and the fencing switched off in the workers (the launcher's
    monkeypatches): the stalled one starts the runs it lost and commits them — zombie writes and
    duplicate effects must show, else the test above is vacuous."""
    guards = ("RELIABILITY_NO_RENEW", "RELIABILITY_UNFENCED")
    figures = stalled_holder(personas, pipeline, tmp_path, scene="claimed", guards_off=guards)
    logs = figures.pop("_logs")
    record_figures("WORKER-CRASH SIGSTOP between claim and action, negative control", figures)
    assert figures["taken_over"] == figures["held_by_stalled"] >= 1, (figures, logs)
    assert figures["lost_runs_started_after_resume"] >= 1, (figures, logs)
    assert figures["zombie_writes"] >= 1, (figures, logs)
    assert figures["duplicate_effects"] >= 1, (figures, logs)


@pytest.mark.battery  # tier A's time: PostgreSQL only, in the battery
def test_negative_control_stopped_mid_action_without_fencing(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    """The fencing switched off in the workers: the stalled one's late commit of the run it lost
    mid-action must show as a zombie write and a duplicate effect (PostgreSQL; in the battery for
    tier A's time)."""
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite: a worker stopped inside its transaction holds the write lock, no other "
            "worker can take its run — there is no late commit to fence (PostgreSQL only)"
        )
    guards = ("RELIABILITY_UNFENCED",)
    figures = stalled_holder(personas, pipeline, tmp_path, scene="mid_action", guards_off=guards)
    logs = figures.pop("_logs")
    record_figures("WORKER-CRASH SIGSTOP mid-action, negative control", figures)
    assert figures["taken_over"] == figures["held_by_stalled"] >= 1, (figures, logs)
    assert figures["paused_run_effects_by_stalled"] == 1, (figures, logs)
    assert figures["zombie_writes"] >= 1, (figures, logs)
    assert figures["duplicate_effects"] >= 1, (figures, logs)


# --- row 13: a batch that outlasts its lease -------------------------------------------------


@pytest.mark.battery  # tier A's time; the "stopped between claim and action" scene covers it
def test_a_batch_longer_than_the_lease_acts_once_per_run(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    """No kill at all: two healthy workers, 40 runs of 300 ms, a 2 s lease. The first worker
    claims all 40 under one lease (12 s of work); when the lease passes, the second claims the
    runs the first has not reached. The first must not carry them out too: it renews each run's
    lease right before the action and drops the runs it lost, so not even their effects outside
    the database (a webhook, an e-mail — the journal here) double."""
    lease = 2
    talks = pipeline.stages["talks"]
    journal = tmp_path / "journal"
    rule = effect_rule(talks, min_ms=300, max_ms=300, journal=str(journal))
    deals_entering(talks, pipeline.stages["new"], 40, personas)
    plan_all()
    env = worker_env(
        tmp_path / "data",
        VORONKA_AUTOMATION_LEASE_SECONDS=str(lease),
        VORONKA_WORKER_EXECUTORS="1",  # the first worker's one thread: the batch measured
    )
    first = start_worker("first", env, tmp_path)
    second = None
    try:
        running = RuleRun.objects.filter(rule=rule, status=RunStatus.RUNNING)
        wait_until(lambda: running.count() > 0, 60)
        second = start_worker("second", env, tmp_path)
        finished = RuleRun.objects.filter(rule=rule, status__in=FINISHED)
        wait_until(lambda: finished.count() == 40, 90)
        time.sleep(1.0)
    finally:
        stop(first)
        if second is not None:
            stop(second)
    ledger = Ledger.of([rule.pk])
    lines = journal.read_text().split() if journal.exists() else []
    executions = Counter(lines[0::2])
    figures = {
        "engine": connection.vendor,
        "lease_s": lease,
        "runs": 40,
        **ledger.figures(),
        "fenced_executions": fenced_in_logs(tmp_path),
        "outside_effects": sum(executions.values()),
        "runs_with_doubled_outside_effect": sum(1 for n in executions.values() if n > 1),
    }
    record_figures("WORKER-CRASH batch longer than the lease (no kill)", figures)
    assert figures["finished"] == 40, (figures, logs_of(tmp_path))
    assert figures["duplicate_effects"] == 0 and figures["zombie_writes"] == 0, figures
    assert figures["runs_with_doubled_outside_effect"] == 0, figures


# --- row 13: a process killed inside an enqueue transaction ----------------------------------


def test_a_move_killed_inside_its_transaction_leaves_neither_move_nor_event(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    a1 = personas["a1"].user
    new, talks = pipeline.stages["new"], pipeline.stages["talks"]
    company = make_company(responsible=a1, name="ООО Атом")
    deal = make_deal(responsible=a1, company=company, title="Атом", stage=new)
    before = (Deal.objects.get(pk=deal.pk).version, DomainEvent.objects.count())
    ready = tmp_path / "ready"
    env = worker_env(tmp_path / "data")
    mover = start_proc("mover", env, tmp_path, "move-hold", str(deal.pk), str(talks.pk), str(ready))
    try:
        wait_until(ready.exists, 60)
        assert ready.exists(), logs_of(tmp_path)
        kill(mover)  # SIGKILL between the move's writes and its commit
    finally:
        stop(mover)
    deal.refresh_from_db()
    events = DomainEvent.objects.filter(object_type="deal", object_id=deal.pk)
    figures = {
        "engine": connection.vendor,
        "deal_moved": deal.stage_id != new.pk,
        "stage_changes": StageChange.objects.filter(deal=deal, from_stage__isnull=False).count(),
        "stage_changed_events": events.filter(name="deal.stage_changed").count(),
        "events_written": DomainEvent.objects.count() - before[1],
        "version_changed": deal.version != before[0],
    }
    record_figures("WORKER-CRASH kill inside an enqueue transaction", figures)
    assert figures == {
        "engine": connection.vendor,
        "deal_moved": False,
        "stage_changes": 0,
        "stage_changed_events": 0,
        "events_written": 0,
        "version_changed": False,
    }


@pytest.mark.battery  # tier A's time; tier A kills one move inside its transaction (above)
def test_moves_killed_at_random_moments_keep_each_change_with_its_event(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    a1 = personas["a1"].user
    new, talks = pipeline.stages["new"], pipeline.stages["talks"]
    company = make_company(responsible=a1, name="ООО Цикл")
    ids = [
        make_deal(responsible=a1, company=company, title=f"Цикл {i}", stage=new).pk
        for i in range(10)
    ]
    env = worker_env(tmp_path / "data")
    rnd = random.Random(SEED)
    for round_ in range(4):
        mover = start_proc(
            f"loop-{round_}", env, tmp_path, "move-loop", str(new.pk), str(talks.pk), *map(str, ids)
        )
        try:
            time.sleep(rnd.uniform(2.5, 4.0))  # start-up takes ~2 s; then moves, killed mid-way
            kill(mover)
        finally:
            stop(mover)
    changes = Counter(
        StageChange.objects.filter(deal_id__in=ids, from_stage__isnull=False).values_list(
            "deal_id", flat=True
        )
    )
    events = DomainEvent.objects.filter(
        object_type="deal", object_id__in=ids, name="deal.stage_changed"
    ).order_by("id")
    per_deal = Counter(e.object_id for e in events)
    last_stage = {e.object_id: e.payload["stage"] for e in events}
    stages = dict(Deal.objects.filter(pk__in=ids).values_list("id", "stage_id"))
    mismatched = [i for i in ids if changes[i] != per_deal[i]]
    wrong_stage = [i for i in ids if per_deal[i] and last_stage[i] != stages[i]]
    figures = {
        "engine": connection.vendor,
        "kills": 4,
        "moves": sum(changes.values()),
        "events": sum(per_deal.values()),
        "deals_with_change_event_mismatch": len(mismatched),
        "deals_whose_stage_differs_from_last_event": len(wrong_stage),
    }
    record_figures("WORKER-CRASH moves killed at random (outbox atomicity)", figures)
    assert sum(changes.values()) > 0, logs_of(tmp_path)
    assert not mismatched and not wrong_stage, figures


# --- row 12: a process whose clock runs ahead -------------------------------------------------


def test_a_monitor_run_found_on_a_fast_clock_is_due_on_the_database_clock(
    personas: Any, pipeline: Any
) -> None:
    """Row 12's clock jump, in this process: a worker whose host clock runs 50 minutes ahead
    sweeps the monitor, finds a deal over its stage's SLA, and dies before it claims the run; a
    worker with the right clock must take the run at once. Failed at 86290bb: the run was due at
    the sweeping worker's clock (`due_at = now + delay`, `now` its host's), so every other worker
    saw it 50 minutes in the future — five ticks late (the late monitor runs of row 12's
    simulated week). Passes with the sweep on the database's clock (`clock.db_now`, the lead's
    change). SQLite is one host with one clock: the case is PostgreSQL's."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite: one host, one clock — workers cannot disagree about the time")
    talks = pipeline.stages["talks"]
    Rule.objects.all().delete()  # only this monitor (see effect_rule)
    Stage.objects.exclude(pk=talks.pk).update(sla_days=None)
    Stage.objects.filter(pk=talks.pk).update(sla_days=1)
    monitor = Rule.objects.create(
        kind=RuleKind.MONITOR, name="fast clock SLA", monitor="deal_over_sla", action=ACTION
    )
    a1 = personas["a1"].user
    deal = make_deal(
        responsible=a1, company=make_company(responsible=a1, name="ООО Часы"), title="Часы"
    )
    right = timezone.now()
    Deal.objects.filter(pk=deal.pk).update(
        stage=talks, stage_entered_at=right - dt.timedelta(days=1, minutes=5)
    )
    with mock.patch("django.utils.timezone.now", return_value=right + dt.timedelta(minutes=50)):
        found = monitors_sweep()  # the fast worker; it dies here, before its claim
    run = RuleRun.objects.get(rule=monitor, object_id=deal.pk)
    report = executor.execute_due(worker="right-clock:1")  # a worker with the right clock
    run.refresh_from_db()
    figures = {
        "engine": connection.vendor,
        "found_by_fast_clock": found.get(monitor.pk),
        "due_after_the_right_clock_s": round((run.due_at - right).total_seconds()),
        "claimed_by_the_right_clock": report.claimed,
        "status": run.status,
    }
    record_figures("AUTOMATION-EXACTLY-ONCE a monitor run found on a fast clock", figures)
    assert figures["found_by_fast_clock"] == 1, figures
    assert run.status != RunStatus.PENDING and report.claimed == 1, figures


# --- row 12: exactly once over a simulated week -----------------------------------------------


@pytest.mark.battery
def test_automation_exactly_once_over_a_simulated_week(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    figures = simulated_week(personas, pipeline, tmp_path, deals=1000)
    logs = figures.pop("_logs")
    record_figures("AUTOMATION-EXACTLY-ONCE (row 12)", figures)
    assert figures["pairs"] == 10_000, figures
    assert figures["killed_holding_runs"] >= 1, figures  # killed mid-batch
    assert figures["simulated_hours"] >= 150, figures  # the loop ran to the last pair's tick
    assert figures["duplicate_effects"] == 0, (figures, logs[-4000:])
    assert figures["missed_effects"] == 0, (figures, logs[-4000:])
    assert figures["zombie_writes"] == 0, (figures, logs[-4000:])
    assert figures["late_over_1_tick"] == 0, (figures, logs[-4000:])
    # The row's time bound (B, ≤ 3 min): the setup and the simulated week (a timeout fails).
    assert figures["setup_s"] + figures["wall_s"] <= WEEK_ROW_BOUND_S, figures


WEEK = dt.timedelta(days=7)
WAIT_S = 3.0  # the most a tick waits for the runs due by then to be taken
WEEK_WALL_BOUND_S = 600.0  # the loop's own stop (then the missed effects show)
WEEK_ROW_BOUND_S = 180.0
ROBOT_DELAYS_H = [0, 16, 32, 48, 64, 80, 96, 112, 128]
SLA_DAYS = 3


def bulk_deals_with_runs(
    personas: Any, new: Stage, talks: Stage, robots: list[Rule], *, t0: dt.datetime, deals: int
) -> dict[int, dt.datetime]:
    """The week's pairs, written in bulk: `deals` deals entering the stage at random moments of
    the first day, and the runs the planner writes for the stage's robots on each entry (due at
    the entry plus the robot's delay; the entry's stage and moment in the context, which the
    executor checks before it acts). The planner is not what this row tests (its own tests cover
    it); writing the 10,000 pairs through the services took a minute of the row's three.
    {deal id: entry moment}."""
    a1 = personas["a1"].user
    company = make_company(responsible=a1, name="ООО Неделя")
    # One deal through the service, in a stage without an SLA (the monitor must not find it);
    # the week's deals are its copies in the robots' stage.
    template = make_deal(responsible=a1, company=company, title="Неделя", stage=new)
    values = {
        f.attname: getattr(template, f.attname)
        for f in Deal._meta.concrete_fields
        if not f.primary_key
    }
    rnd = random.Random(SEED)
    moments = [t0 + dt.timedelta(seconds=rnd.uniform(0, 24 * 3600)) for _ in range(deals)]
    created = Deal.objects.bulk_create(
        [
            Deal(
                **{
                    **values,
                    "title": f"Неделя {i}",
                    "stage_id": talks.pk,
                    "opened_at": at - dt.timedelta(minutes=1),
                    "stage_entered_at": at,
                }
            )
            for i, at in enumerate(moments)
        ],
        batch_size=500,
    )
    entered = {deal.pk: at for deal, at in zip(created, moments, strict=True)}
    RuleRun.objects.bulk_create(
        [
            RuleRun(
                rule=rule,
                object_type="deal",
                object_id=pk,
                key=f"week:{pk}",
                status=RunStatus.PENDING,
                due_at=at + dt.timedelta(seconds=rule.delay_seconds),
                context={"stage": talks.pk, "entered_at": at.isoformat()},
                created_at=at,
            )
            for pk, at in entered.items()
            for rule in robots
        ],
        batch_size=2000,
    )
    return entered


def simulated_week(
    personas: Any, pipeline: Any, tmp_path: Path, *, deals: int, hours: float | None = None
) -> dict[str, Any]:
    """The week (or its first `hours`, for a negative control); the figures of row 12."""
    new, talks = pipeline.stages["new"], pipeline.stages["talks"]
    t0 = clock.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    Rule.objects.all().delete()  # only the week's rules (see effect_rule)
    rules = [
        Rule.objects.create(
            kind=RuleKind.ROBOT,
            name=f"week robot +{h}h",
            pipeline_id=talks.pipeline_id,
            stage=talks,
            action=ACTION,
            delay_seconds=h * 3600,
        )
        for h in ROBOT_DELAYS_H
    ]
    # Only the robots' stage has an SLA: the monitor's pairs are the week's deals, once each.
    Stage.objects.exclude(pk=talks.pk).update(sla_days=None)
    Stage.objects.filter(pk=talks.pk).update(sla_days=SLA_DAYS)
    monitor = Rule.objects.create(
        kind=RuleKind.MONITOR, name="week SLA", monitor="deal_over_sla", action=ACTION
    )
    rules.append(monitor)
    setup_started = time.monotonic()
    entered = bulk_deals_with_runs(personas, new, talks, rules[:-1], t0=t0, deals=deals)
    setup_s = time.monotonic() - setup_started
    planned_robot_runs = RuleRun.objects.filter(rule__in=rules[:-1]).count()
    # The harness's simulated clock advances one tick (10 minutes) at a time, once every run due
    # by then has been claimed and the monitor swept (or after WAIT_S of wall time): lateness then measures the
    # scheduling, not this machine's speed (a run is done at the moment of the tick that claimed
    # it: the processes execute with that tick's `now`). Nor does the clock pass a live process's
    # lease: the processes work through their claims while the clock runs on, and a process slow
    # to get SQLite's write lock would otherwise see the others' clocks pass its lease — 2 h of
    # simulated time, a second or two of wall time — and the runs it had not reached yet taken
    # again, up to 14 ticks late (what the SQLite week showed before: 113–240 late runs, all in
    # the harness). The killed process's runs are left out of the gate until another process
    # takes them: they wait for their lease, by design. Each process ticks whenever the clock
    # moves, on its own clock: the harness's plus its skew and jumps.
    tick = dt.timedelta(minutes=10)
    lease = int(dt.timedelta(hours=2).total_seconds())  # simulated: a clock jump is shorter
    last_due = max(
        max(entered.values()) + dt.timedelta(days=SLA_DAYS),
        RuleRun.objects.filter(rule__in=rules[:-1])
        .order_by("-due_at")
        .values_list("due_at", flat=True)[0],
    )
    until = last_due + 2 * tick  # the week's last pair came due; nothing after it to wait for
    if hours is not None:
        until = min(until, t0 + dt.timedelta(hours=hours))
    base = t0 - dt.timedelta(hours=2)
    clock_file = tmp_path / "clock"
    clock_file.write_text(str(base.timestamp()))
    env = worker_env(tmp_path / "data", VORONKA_AUTOMATION_LEASE_SECONDS=str(lease))
    clocks = {
        "p0": ["--skew", "0"],
        "p1": ["--skew", "600"],  # 10 min ahead: overlapping windows
        "p2": ["--skew", "-600", "--jump", "48:3600", "--jump", "96:-3600"],  # +1 h, then back
    }

    kill_from = dt.timedelta(days=3)
    # The process to be killed: slowed from the kill's moment on (50 ms more per action), so it
    # holds its claimed batch long enough for the harness to kill it mid-batch.
    slowed = ["--slow-from", str(kill_from.total_seconds() / 3600), "--slow-ms", "50"]

    def launch(name: str, n: int) -> Any:
        return start_proc(
            f"{name}-{n}",
            env,
            tmp_path,
            "tick",
            name,
            "--t0",
            t0.isoformat(),
            "--clock-file",
            str(clock_file),
            *clocks[name],
            *(slowed if (name, n) == ("p1", 0) else []),
        )

    def set_clock(at: dt.datetime | None) -> None:
        """Atomically (a process must never read a half-written file); None: stop."""
        tmp = clock_file.with_suffix(".new")
        tmp.write_text("stop" if at is None else str(at.timestamp()))
        tmp.replace(clock_file)

    procs = {name: launch(name, 0) for name in clocks}
    ours = RuleRun.objects.filter(rule__in=rules)
    killed_held: set[int] = set()
    killed_at: dt.datetime | None = None
    dead = ""  # the killed process's worker name: its runs wait for their lease
    restart_at: float | None = None
    gate_timeouts = ticks = kill_tries = 0
    wall_started = time.monotonic()
    try:
        # The processes import Django (each says so with a file), then tick.
        wait_until(lambda: len(list(tmp_path.glob("ready-*"))) == len(clocks), 60)
        while base < until and time.monotonic() - wall_started < WEEK_WALL_BOUND_S:
            base += tick
            ticks += 1
            set_clock(base)
            if killed_at is None and base >= t0 + kill_from:
                # One process killed mid-batch: the moment it holds claimed runs of this tick
                # (slowed, it soon does; a negative control's processes take each other's runs,
                # so after ten ticks it is killed whatever it holds — the figure says).
                kill_tries += 1
                p1 = procs["p1"]
                mine = ours.filter(status=RunStatus.RUNNING, worker=f"p1:{p1.pid}")
                wait_until(mine.exists, 2.0, step=0.002)
                if mine.exists() or kill_tries >= 10:
                    kill(p1)
                    killed_held = set(mine.values_list("id", flat=True))
                    killed_at, dead = base, f"p1:{p1.pid}"
                    restart_at = time.monotonic() + 1.0
            if restart_at is not None and time.monotonic() >= restart_at:
                procs["p1"] = launch("p1", 1)
                restart_at = None
            # The fastest clock at the next tick: p2's, 50 min ahead between 48 h and 96 h.
            horizon = base + tick + dt.timedelta(minutes=50)
            due_now = ours.filter(
                Q(status=RunStatus.PENDING, due_at__lte=base)
                | (Q(status=RunStatus.RUNNING, leased_until__lte=horizon) & ~Q(worker=dead))
            )
            # …and a process whose clock has reached this tick swept the monitor (its runs for the
            # deals over their SLA by now exist only once a sweep found them).
            swept = ScheduledRun.objects.filter(job=monitor_job(monitor), created_at__gte=base)
            waited = wait_until(
                lambda d=due_now, w=swept: w.exists() and not d.exists(), WAIT_S, step=0.005
            )
            gate_timeouts += waited >= WAIT_S
        set_clock(None)
        for process in procs.values():
            process.wait(timeout=60)
    finally:
        set_clock(None)
        for process in procs.values():
            stop(process)
    wall = time.monotonic() - wall_started
    ledger = Ledger.of([r.pk for r in rules])
    runs = list(
        RuleRun.objects.filter(rule__in=rules).values_list(
            "id", "rule_id", "object_id", "due_at", "finished_at", "status", "worker", "lease_token"
        )
    )

    # When each pair came due: a robot's run at its entry + delay; the monitor's at entry + SLA.
    def true_time(worker: str, at: dt.datetime) -> dt.datetime:
        """The harness's time when a process wrote `at` on its own clock (its skew and jumps;
        `clocks` above: p1 +10 min, p2 −10 min, +50 min between 48 h and 96 h)."""
        name = worker.split(":")[0]
        if name == "p1":
            return at - dt.timedelta(seconds=600)
        if name == "p2":
            jumped = at - dt.timedelta(seconds=3000)
            if t0 + dt.timedelta(hours=48) <= jumped < t0 + dt.timedelta(hours=96):
                return jumped
            return at + dt.timedelta(seconds=600)
        return at

    late, late_held, early, worst, earliest = 0, 0, 0, dt.timedelta(), dt.timedelta()
    late_by: Counter[str] = Counter()
    late_reclaimed = 0  # late runs whose lease passed from one process to another
    late_fast_sweeper = 0
    late_samples: list[dict[str, Any]] = []
    worst_by: dict[str, float] = {}
    for pk, rule_id, object_id, due_at, finished_at, status, worker, token in runs:
        if status != RunStatus.DONE or finished_at is None:
            continue
        is_monitor = rule_id == monitor.pk
        due = entered[object_id] + dt.timedelta(days=SLA_DAYS) if is_monitor else due_at
        lateness = true_time(worker, finished_at) - due  # on the harness's clock
        worst = max(worst, lateness)
        earliest = min(earliest, lateness)
        who = f"{worker.split(':')[0]}/{'monitor' if is_monitor else 'robot'}"
        worst_by[who] = max(worst_by.get(who, -1e9), round(lateness / tick, 2))
        if lateness < dt.timedelta(0):
            early += 1
        elif lateness > tick:
            if pk in killed_held:
                late_held += 1
            elif is_monitor and due_at - due > tick:
                # Found by a process whose clock ran ahead (p2, +50 min): due at ITS clock, in
                # the others' future; late when p2 stalled before claiming it. The product's
                # sweep now takes the database's clock (`clock.db_now`; checked by
                # test_a_monitor_run_found_on_a_fast_clock_…); this harness still hands each
                # process its own clock (`now=`), the adversarial case. Reported, not asserted.
                late_fast_sweeper += 1
            else:
                late += 1
                late_by[who] += 1
                late_reclaimed += token > 1
                if len(late_samples) < 20:
                    late_samples.append(
                        {
                            "run": pk,
                            "rule": "monitor" if is_monitor else rule_id,
                            "due": due.isoformat(),
                            "finished_true": true_time(worker, finished_at).isoformat(),
                            "worker": worker,
                            "token": token,
                        }
                    )
    pairs = planned_robot_runs + deals  # nine robots per deal + the monitor once per deal
    done_pairs = {
        (rule_id, object_id)
        for _, rule_id, object_id, _, _, status, _, _ in runs
        if status == RunStatus.DONE
    }
    return {
        "engine": connection.vendor,
        "pairs": pairs,
        "runs": ledger.runs,
        "duplicate_effects": ledger.duplicate_effects,
        "missed_effects": pairs - len(done_pairs) + ledger.runs_without_effect,
        "zombie_writes": ledger.zombie_writes,
        "late_over_1_tick": late,
        "late_over_1_tick_held_by_killed": late_held,
        "late_over_1_tick_due_at_a_fast_sweepers_clock": late_fast_sweeper,
        "early_by_a_fast_clock": early,
        "earliest_ticks": round(earliest / tick, 2),
        "worst_lateness_ticks": round(worst / tick, 2),
        "late_by_process": dict(late_by),
        "late_claimed_more_than_once": late_reclaimed,
        "worst_ticks_by_process": worst_by,
        "tick_simulated_s": round(tick.total_seconds()),
        "lease_simulated_s": lease,
        "killed_holding_runs": len(killed_held),
        "kill_tries": kill_tries,
        "killed_at_simulated": killed_at.isoformat() if killed_at else None,
        "ticks_the_gate_timed_out": gate_timeouts,
        "setup_s": round(setup_s, 1),
        "wall_s": round(wall, 1),
        "ticks": ticks,
        "wall_ms_per_tick": round(1000 * wall / max(1, ticks)),
        "fenced_executions": logs_of(tmp_path, tail=10**8).count("lease lost"),
        "ticks_failed": logs_of(tmp_path, tail=10**8).count("tick failed"),
        "process_seconds": re.findall(r"tick stats (.*)", logs_of(tmp_path, tail=10**8)),
        "simulated_hours": round((base - t0).total_seconds() / 3600, 1),
        "seed": SEED,
        "late_samples": late_samples,
        "_logs": logs_of(tmp_path),
    }


@pytest.mark.battery
def test_negative_control_week_without_fencing_doubles_effects(
    personas: Any, pipeline: Any, tmp_path: Path
) -> None:
    """Row 12's negative control: the ticking processes with the guards of a claim switched off
    (a claim takes runs another process holds, and `done` ignores the lease token): duplicate
    effects must show, else the week test is vacuous."""
    os.environ.update(RELIABILITY_UNFENCED="1", RELIABILITY_NO_LEASE="1")
    try:
        # The first 40 simulated hours: the guards off, the processes fight over every run (on
        # PostgreSQL their claims deadlock and retry) — the whole week took minutes to show the
        # same.
        figures = simulated_week(personas, pipeline, tmp_path, deals=200, hours=40)
    finally:
        del os.environ["RELIABILITY_UNFENCED"], os.environ["RELIABILITY_NO_LEASE"]
    figures.pop("_logs")
    record_figures("AUTOMATION-EXACTLY-ONCE negative control (fencing off)", figures)
    assert figures["duplicate_effects"] + figures["zombie_writes"] > 0, figures


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run with pytest")
