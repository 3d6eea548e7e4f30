"""The processes of the reliability battery (RELIABILITY rows 12 and 13), started and killed by
the tests that own them (tests/workers.py conventions: their own session, the test database).

    python tests/automation/reliability_proc.py worker [voronka worker options…]
        `voronka worker` (voronka.config.cli.main) with the test action `reliability_effect`
        (slow_actions.py) registered in this process only. The negative controls switch a guard
        off in this process (also for `tick`): RELIABILITY_UNFENCED=1 — the executor's fenced
        finish replaced by one that ignores the lease token; RELIABILITY_NO_RENEW=1 — the renewal
        right before an action keeps every claimed run, whoever holds it now;
        RELIABILITY_NO_LEASE=1 — a claim that ignores other leases.
    python tests/automation/reliability_proc.py move-hold DEAL STAGE READY
        moves the deal inside a transaction, writes READY and sleeps in it (to be SIGKILLed).
    python tests/automation/reliability_proc.py move-loop STAGE_A STAGE_B DEAL…
        moves the deals back and forth, one service call (one transaction) each, until killed.
    python tests/automation/reliability_proc.py tick NAME --t0 … --clock-file FILE [--skew S]
        row 12: claims and executes due runs and sweeps the monitors on its own simulated clock
        (`execute_due(now=…)`, `monitors_sweep(now=…)`): the harness's simulated time (FILE)
        plus its skew and jumps; a tick each time the harness's clock moves (`--slow-from H
        --slow-ms MS`: from simulated hour H on, every action sleeps MS more). It says it is
        ready (Django imported) with a file `ready-NAME-PID` next to FILE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ — `automation.slow_actions`
MAX_LOOP = 100_000
# The test action (slow_actions.py) and the text of its effect rows; here, so the tests name them
# without importing slow_actions (which would register the action in the pytest process too).
ACTION = "reliability_effect"
EFFECT_PREFIX = "reliability-effect"


def unfence() -> None:
    """Negative control: `done` is written whatever token the run carries now (the executor's
    fenced finish — `_finish_many` for a batch, `_finish` for one run before it — replaced)."""
    from voronka.automation import executor
    from voronka.automation.models import RuleRun

    def finish(run: Any, token: int, **fields: Any) -> None:
        RuleRun.objects.filter(pk=run.pk).update(
            status=fields["status"],
            result=fields["result"],
            error=fields["error"],
            finished_at=fields["now"],
            leased_until=None,
        )

    def finish_many(finished: list[tuple[Any, int, dict[str, Any]]], *, now: Any) -> None:
        for run, token, outcome in finished:
            status = "skipped" if "skipped" in outcome else "done"
            finish(run, token, status=status, result=outcome, error="", now=now)

    if hasattr(executor, "_finish_many"):
        executor._finish_many = finish_many
    elif hasattr(executor, "_finish"):
        executor._finish = finish
    else:  # the executor changed: a negative control that switches nothing off must not pass
        raise SystemExit("RELIABILITY_UNFENCED: no fenced finish to replace in the executor")


def no_lease() -> None:
    """Negative control: a claim takes running runs too, whoever holds them (the lease ignored)."""
    from django.db import transaction
    from django.db.models import F, Q

    from voronka.automation import executor
    from voronka.automation.models import RuleRun, RunStatus

    def claim(
        *, worker: str, limit: int = 50, now: Any = None, expired_only: bool = False
    ) -> list[tuple[int, int]]:
        due = Q(status__in=[RunStatus.PENDING, RunStatus.RUNNING], due_at__lte=now)
        with transaction.atomic():
            ids = list(
                RuleRun.objects.filter(due)
                .order_by("due_at", "id")
                .values_list("id", flat=True)[:limit]
            )
            RuleRun.objects.filter(id__in=ids).update(
                status=RunStatus.RUNNING,
                lease_token=F("lease_token") + 1,
                leased_until=now + executor.lease(),
                worker=worker[:64],
            )
            return list(RuleRun.objects.filter(id__in=ids).values_list("id", "lease_token"))

    executor.claim = claim  # type: ignore[assignment]


def no_renew() -> None:
    """Negative control: the renewal before an action keeps every claimed run — the worker starts
    the actions of runs whose lease passed to another worker meanwhile."""
    from voronka.automation import executor

    def renew(claimed: list[tuple[int, int]], *, now: Any) -> list[tuple[int, int]]:
        return list(claimed)

    executor.renew = renew  # type: ignore[assignment]
    # ... and the same check inside the batch's transaction.
    executor._lost = lambda claimed: set()  # type: ignore[assignment]


SWITCHES = {
    "RELIABILITY_UNFENCED": unfence,
    "RELIABILITY_NO_RENEW": no_renew,
    "RELIABILITY_NO_LEASE": no_lease,
}


def switch_guards_off() -> None:
    """The negative controls the environment asks for (none in a normal run)."""
    for name, switch in SWITCHES.items():
        if os.environ.get(name) == "1":
            switch()


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voronka.config.settings")
    import django

    django.setup()
    import automation.slow_actions  # noqa: F401  (registers the test action here only)

    switch_guards_off()


def worker(args: list[str]) -> None:
    import automation.slow_actions  # noqa: F401

    if any(os.environ.get(name) == "1" for name in SWITCHES):
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voronka.config.settings")
        import django

        django.setup()
        switch_guards_off()
    from voronka.config.cli import main

    sys.argv = ["voronka", "worker", *args]
    main()


def move_hold(deal_id: int, stage_id: int, ready: str) -> None:
    setup()
    from django.db import transaction

    from voronka.deals.models import Deal
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    with transaction.atomic():
        deal_move_to_stage(deal=Deal.objects.get(pk=deal_id), stage=stage_id, actor=Actor.system())
        Path(ready).write_text("moved, not committed\n")
        time.sleep(120)  # killed here


def move_loop(stage_a: int, stage_b: int, deal_ids: list[int]) -> None:
    setup()
    from voronka.deals.models import Deal
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    actor = Actor.system()
    for i in range(MAX_LOOP):
        deal = Deal.objects.get(pk=deal_ids[i % len(deal_ids)])
        target = stage_b if deal.stage_id == stage_a else stage_a
        deal_move_to_stage(deal=deal, stage=target, actor=actor)


def read_clock(path: Path) -> float | None:
    """The harness's simulated time (epoch seconds), or None once it says stop."""
    text = path.read_text().strip()
    return None if text == "stop" else float(text)


def tick(opts: argparse.Namespace) -> None:
    setup()
    from django.db import close_old_connections

    from automation import slow_actions
    from voronka.automation.executor import execute_due
    from voronka.automation.sweeps import monitors_sweep

    t0 = dt.datetime.fromisoformat(opts.t0)
    clock_file = Path(opts.clock_file)
    # "AT_SIMULATED_HOURS:DELTA_SECONDS": the process's clock jumps by DELTA once the harness's
    # clock has passed t0 + AT hours (a negative DELTA: back in time).
    jumps = [tuple(float(x) for x in j.split(":")) for j in opts.jump]
    name = f"{opts.name}:{os.getpid()}"  # as worker_name(): the harness reads the pid from it
    (clock_file.parent / f"ready-{opts.name}-{os.getpid()}").touch()
    last: dt.datetime | None = None
    spent = {"ticks": 0.0, "sweep": 0.0, "execute": 0.0}  # wall seconds, printed at the end
    for _ in range(MAX_LOOP * 100):
        base_ts = read_clock(clock_file)
        if base_ts is None:
            break
        base = dt.datetime.fromtimestamp(base_ts, dt.UTC)
        hours = (base - t0).total_seconds() / 3600
        shift = opts.skew + sum(delta for at, delta in jumps if hours >= at)
        now = base + dt.timedelta(seconds=shift)
        if now == last:
            time.sleep(0.003)  # the harness moves its clock as soon as a tick's runs are done
            continue
        last = now
        if opts.slow_from is not None and hours >= opts.slow_from:
            slow_actions.EXTRA_MS = opts.slow_ms  # to be killed while it holds a batch
        began = time.monotonic()
        try:
            monitors_sweep(now=now)
            swept = time.monotonic()
            spent["sweep"] += swept - began
            for _batch in range(1000):  # until nothing is due (a claim may take fewer)
                if not execute_due(worker=name, limit=opts.limit, now=now).claimed:
                    break
            spent["execute"] += time.monotonic() - swept
            spent["ticks"] += 1
        except Exception as exc:  # a tick that failed (SQLite busy): the next tick retries
            print(f"tick failed: {exc!r}", flush=True)
            close_old_connections()
    print(f"tick stats {' '.join(f'{k}={v:.2f}' for k, v in spent.items())}", flush=True)


def main() -> None:
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "worker":
        worker(rest)
    elif command == "move-hold":
        move_hold(int(rest[0]), int(rest[1]), rest[2])
    elif command == "move-loop":
        move_loop(int(rest[0]), int(rest[1]), [int(x) for x in rest[2:]])
    elif command == "tick":
        parser = argparse.ArgumentParser(prog="tick")
        parser.add_argument("name")
        parser.add_argument("--t0", required=True)
        parser.add_argument("--clock-file", required=True)
        parser.add_argument("--skew", type=float, default=0.0)
        parser.add_argument("--jump", action="append", default=[], help="AT_HOURS:DELTA_S")
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--slow-from", type=float, help="from this simulated hour on…")
        parser.add_argument("--slow-ms", type=float, default=0.0, help="…each action sleeps MS")
        tick(parser.parse_args(rest))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
