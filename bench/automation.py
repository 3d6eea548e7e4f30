"""The automation engine's figures of issue 9, on PostgreSQL.

Throughput and latency run on a throwaway cluster of their own (`--phase throughput`, the
DATABASE_URL of an empty database: it is migrated and filled here), with REAL `voronka worker`
processes (events dispatch → the planner → the executor → `create_task`):
  * throughput: N deals are moved into a stage with a robot "create a task" in ONE transaction
    (the events commit at once); then 1 (then 2) workers drain them; events/s = N / time from
    the workers' start to the last task (worker start-up excluded: the workers are up and idle
    before the commit);
  * latency: a producer moves deals one transaction at a time, paced at `--rate` events/s, with
    one worker running; commit-to-task = task.created_at − the move's commit time (median, p95);
  * bloat: the outbox and the RuleRun table then get 200,000 more events' worth of history (bulk
    SQL: outbox rows, and runs taken pending → running → done by three UPDATEs each, as claims
    do; no VACUUM), and the 1-worker throughput is measured again next to the fresh one.
The sweep runs on the big bench cluster (`--phase sweep`, scripts/bench.sh's DATABASE_URL):
one `sweep_rule` of `deal_over_sla` and of `deal_without_task` over all its deals and tasks. That
cluster is not written: the automation tables are created as TEMPORARY tables of this session
(they shadow the real names; no foreign keys — a temporary table may not reference a permanent
one), so the runs the sweep inserts vanish with the connection.

Targets (issue 9): ≥ 500 events/s with one worker; p95 commit-to-task < 2 s at moderate load;
a full sweep < 30 s.

    DATABASE_URL=postgres://…(empty) .venv/bin/python bench/automation.py --phase throughput \
        --out t.json
    DATABASE_URL=postgres://…(bench cluster) .venv/bin/python bench/automation.py --phase sweep \
        --out s.json
    .venv/bin/python bench/automation.py --report t.json s.json [--out automation.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VORONKA = ROOT / ".venv" / "bin" / "voronka"
PRODUCERS = 4
TARGETS = {"events_per_s_1_worker": 500, "p95_commit_to_task_s": 2.0, "sweep_s": 30.0}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


# --- throughput and latency (throwaway cluster) -----------------------------------------------


class Scene:
    def __init__(self) -> None:
        from voronka.automation.models import Rule, RuleKind
        from voronka.contacts.services import company_create
        from voronka.deals.services import pipeline_create
        from voronka.identity.models import User
        from voronka.kernel.actor import Actor

        self.actor = Actor.system()
        self.user = User.objects.create_user(username=f"bench-{int(time.time())}", password=None)
        self.pipeline = pipeline_create(
            actor=self.actor,
            name=f"Bench {int(time.time())}",
            stages=[
                {"name": "A", "semantic": "open"},
                {"name": "B", "semantic": "open"},
                {"name": "Won", "semantic": "won"},
                {"name": "Lost", "semantic": "lost"},
            ],
        )
        self.a, self.b = list(self.pipeline.stages.order_by("sort"))[:2]
        Rule.objects.update(enabled=False)  # the built-in monitors: not what is measured
        self.rule = Rule.objects.create(
            kind=RuleKind.ROBOT,
            name="bench: call",
            pipeline=self.pipeline,
            stage=self.b,
            action="create_task",
            params={"type": "call", "comment": "Позвонить: {deal.title}"},
        )
        self.company = company_create(
            actor=self.actor, data={"name": "ООО Бенч", "responsible": self.user.pk}
        )

    @property
    def tasks(self) -> Any:
        """A new QuerySet each time: the Scene is pickled to the producer processes, and
        pickling a QuerySet fills its cache (a stored one would count the same rows forever)."""
        from voronka.activities.models import Task

        return Task.objects.filter(deal__pipeline=self.pipeline)

    def deals(self, n: int) -> list[int]:
        from voronka.deals.services import deal_create

        return [
            deal_create(
                actor=self.actor,
                data={
                    "title": f"Б{i}",
                    "company": self.company.pk,
                    "responsible": self.user.pk,
                    "amount": "1000",
                    "stage": self.a.pk,
                },
            ).pk
            for i in range(n)
        ]

    def move(self, deal_id: int) -> None:
        from voronka.deals.models import Deal
        from voronka.deals.services import deal_move_to_stage

        deal_move_to_stage(deal=Deal(pk=deal_id), stage=self.b, actor=self.actor)


def drain_events() -> None:
    from voronka.kernel.outbox import events_dispatch

    for _ in range(1000):
        if not sum(events_dispatch(limit=2000).handled.values()):
            return


def start_workers(n: int, logs: Path) -> list[Any]:
    env = {k: v for k, v in os.environ.items()}
    env["DJANGO_SETTINGS_MODULE"] = "voronka.config.settings"
    procs = []
    for i in range(n):
        out = (logs / f"worker-{n}-{i}-{time.time():.0f}.log").open("ab")
        procs.append(
            subprocess.Popen(
                [str(VORONKA), "worker", "--no-startup-delay", "--no-schedule"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return procs


def stop_workers(procs: list[Any]) -> None:
    for p in procs:  # only the processes started here, by their own process group
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def wait_ready(scene: Scene, probe: int) -> None:
    """The workers are up and polling: a probe move's task has been made."""
    scene.move(probe)
    bound = time.monotonic() + 120
    while not scene.tasks.filter(deal_id=probe).exists() and time.monotonic() < bound:
        time.sleep(0.1)
    time.sleep(1.0)  # a second worker starts alongside the first


def throughput(scene: Scene, workers: int, events: int, logs: Path) -> dict[str, Any]:
    from django.db import transaction

    ids = scene.deals(events)
    probe = scene.deals(1)[0]
    drain_events()  # deal.created: nothing to plan; the consumers pass them
    procs = start_workers(workers, logs)
    try:
        wait_ready(scene, probe)
        before = scene.tasks.count()
        with transaction.atomic():  # all the events commit at once
            for deal_id in ids:
                scene.move(deal_id)
        committed = time.monotonic()
        bound = committed + 600
        while scene.tasks.count() < before + events and time.monotonic() < bound:
            time.sleep(0.05)
        took = time.monotonic() - committed
        made = scene.tasks.count() - before
    finally:
        stop_workers(procs)
    return {
        "workers": workers,
        "events": events,
        "tasks": made,
        "seconds": round(took, 2),
        "events_per_s": round(made / took, 1),
    }


def _produce(args: tuple[Scene, list[tuple[int, int]], float, float]) -> list[tuple[int, str]]:
    """A producer process: its share of the moves, each at start + i / rate (wall clock)."""
    from django.db import connection

    scene, share, start, rate = args
    connection.close()  # the parent's connection is not this process's
    done = []
    for i, deal_id in share:
        pause = start + i / rate - time.time()
        if pause > 0:
            time.sleep(pause)
        scene.move(deal_id)  # its own transaction: committed on return
        done.append((deal_id, dt.datetime.now(dt.UTC).isoformat()))
    connection.close()
    return done


def latency(scene: Scene, rate: float, seconds: float, logs: Path) -> dict[str, Any]:
    """Deals moved one transaction each at `rate` per second by PRODUCERS processes (one process
    cannot move 100 deals a second through the services on this machine), each move's commit
    time taken on return; the worker's task for it: task.created_at."""
    import multiprocessing

    from django.db import connection
    from django.db.models import Min

    n = int(rate * seconds)
    ids = scene.deals(n)
    probe = scene.deals(1)[0]
    drain_events()
    procs = start_workers(1, logs)
    committed: dict[int, dt.datetime] = {}
    try:
        wait_ready(scene, probe)
        numbered = list(enumerate(ids))
        connection.close()  # not shared with the forked producers
        start = time.time() + 1.0
        with multiprocessing.get_context("fork").Pool(PRODUCERS) as pool:
            shares = [(scene, numbered[k::PRODUCERS], start, rate) for k in range(PRODUCERS)]
            for part in pool.map(_produce, shares):
                committed.update((d, dt.datetime.fromisoformat(at)) for d, at in part)
        produced = time.time() - start
        bound = time.monotonic() + 120
        tasks = scene.tasks.filter(deal_id__in=ids)
        while tasks.count() < n and time.monotonic() < bound:
            time.sleep(0.1)
    finally:
        stop_workers(procs)
    created = dict(
        tasks.values("deal_id").annotate(at=Min("created_at")).values_list("deal_id", "at")
    )
    lat = [(created[d] - committed[d]).total_seconds() for d in ids if d in created]
    return {
        "rate_target": rate,
        "rate_achieved": round(n / produced, 1),
        "producers": PRODUCERS,
        "events": n,
        "tasks": len(lat),
        "median_s": round(statistics.median(lat), 3) if lat else None,
        "p95_s": round(pct(lat, 0.95), 3) if lat else None,
        "max_s": round(max(lat), 3) if lat else None,
    }


def bloat(scene: Scene, history: int) -> dict[str, Any]:
    """History of `history` events: outbox rows (consumed: the consumers' positions moved past
    them) and one run each, pending → running → done by three UPDATEs (what a claim cycle
    leaves behind), no VACUUM."""
    from django.db import connection

    rule = scene.rule
    with connection.cursor() as c:
        c.execute("SELECT coalesce(max(id), 0) FROM kernel_domainevent")
        first = c.fetchone()[0] + 1
        c.execute(
            "INSERT INTO kernel_domainevent (name, object_type, object_id, payload, actor_kind,"
            " occurred_at, recorded_at, causation_id, depth) SELECT 'deal.updated', 'deal', g,"
            " '{}'::jsonb, 'system', now(), now(), '', 0 FROM generate_series(1, %s) g",
            [history],
        )
        c.execute("SELECT max(id) FROM kernel_domainevent")
        last = c.fetchone()[0]
        c.execute("UPDATE kernel_consumerposition SET position = %s", [last])
        c.execute(
            "INSERT INTO automation_rulerun (rule_id, object_type, object_id, key, status, due_at,"
            " attempts, lease_token, worker, depth, context, result, error, created_at)"
            " SELECT %s, 'deal', -g, 'bloat' || g, 'pending', now(), 0, 0, '', 0, '{}', '{}', '',"
            " now() FROM generate_series(1, %s) g",
            [rule.pk, history],
        )
        c.execute(
            "UPDATE automation_rulerun SET status = 'running', lease_token = lease_token + 1,"
            " leased_until = now() WHERE key LIKE 'bloat%%'"
        )
        c.execute(
            "UPDATE automation_rulerun SET status = 'done', finished_at = now(),"
            " leased_until = NULL WHERE key LIKE 'bloat%%'"
        )
        c.execute("SELECT pg_total_relation_size('automation_rulerun')")
        size = c.fetchone()[0]
        c.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'automation_rulerun'")
        dead = c.fetchone()
    return {
        "history_events": last - first + 1,
        "rulerun_bytes": size,
        "rulerun_dead_tuples": dead[0] if dead else None,
    }


def phase_throughput(opts: argparse.Namespace) -> dict[str, Any]:
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    logs = Path(opts.logs)
    logs.mkdir(parents=True, exist_ok=True)
    scene = Scene()
    out: dict[str, Any] = {"server": getattr(connection, "pg_version", connection.vendor)}
    out["throughput_1"] = throughput(scene, 1, opts.events, logs)
    print(f"  1 worker: {out['throughput_1']}", flush=True)
    out["throughput_2"] = throughput(scene, 2, opts.events, logs)
    print(f"  2 workers: {out['throughput_2']}", flush=True)
    out["latency"] = latency(scene, opts.rate, opts.latency_seconds, logs)
    print(f"  latency at {opts.rate:g}/s: {out['latency']}", flush=True)
    # Below the worker's capacity (the 100/s may be over it): half the 1-worker rate.
    half = max(1.0, min(opts.rate, out["throughput_1"]["events_per_s"] / 2))
    out["latency_half_capacity"] = latency(scene, half, opts.latency_seconds, logs)
    print(f"  latency at {half:g}/s: {out['latency_half_capacity']}", flush=True)
    out["bloat"] = bloat(scene, opts.history)
    out["throughput_1_after_history"] = throughput(scene, 1, opts.events, logs)
    print(f"  after {opts.history:,} events: {out['throughput_1_after_history']}", flush=True)
    return out


# --- the sweep (the big bench cluster, temporary tables) --------------------------------------


def temporary_automation_tables() -> None:
    """The automation tables as TEMPORARY tables of this connection (they shadow the names)."""
    from django.db import connection

    from voronka.automation.models import Rule, RuleRun, ScheduledRun

    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        for model in (ScheduledRun, Rule, RuleRun):
            editor.create_model(model)
        statements = list(editor.collected_sql)
    with connection.cursor() as c:
        for sql in statements:
            if "FOREIGN KEY" in sql:
                continue
            c.execute(sql.replace("CREATE TABLE", "CREATE TEMPORARY TABLE", 1).rstrip(";"))


def phase_sweep(opts: argparse.Namespace) -> dict[str, Any]:
    setup_django()
    from django.db import connection

    from voronka.activities.models import Task
    from voronka.automation.models import Rule, RuleKind, RuleRun
    from voronka.automation.registry import MONITORS
    from voronka.automation.sweeps import sweep_rule
    from voronka.deals.models import Deal, Stage
    from voronka.kernel import clock

    temporary_automation_tables()
    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'automation_rulerun'"
        )
        permanent = c.fetchone()[0]
    totals = {
        "deals": Deal.objects.count(),
        "tasks": Task.objects.count(),
        "stages_with_sla": Stage.objects.filter(sla_days__isnull=False).count(),
        "permanent_automation_tables": bool(permanent),
    }
    print(f"  {totals}", flush=True)
    out: dict[str, Any] = {"totals": totals, "sweeps": {}}
    for monitor in ("deal_over_sla", "deal_without_task"):
        rule = Rule.objects.create(
            kind=RuleKind.MONITOR,
            name=f"bench {monitor}",
            monitor=monitor,
            action="create_task",
            params={"type": "other", "comment": "bench"},
        )
        times, found = [], 0
        for i in range(opts.sweeps):
            RuleRun.objects.filter(rule=rule).delete()
            now = clock.now() + dt.timedelta(minutes=i)  # a new period each time
            started = time.monotonic()
            found = sweep_rule(rule, now=now) or 0
            times.append(time.monotonic() - started)
        kind = MONITORS[monitor]
        params = kind.params.model_validate({})
        started = time.monotonic()
        listed = sum(1 for _ in kind.pairs(params, clock.now()))  # (id, key) read into Python
        find_s = time.monotonic() - started
        out["sweeps"][monitor] = {
            "find_only_s": round(find_s, 2),
            "find_only_found": listed,
            "found": found,
            "seconds": [round(t, 2) for t in times],
            "median_s": round(statistics.median(times), 2),
        }
        print(f"  {monitor}: {out['sweeps'][monitor]}", flush=True)
    return out


# --- report ---------------------------------------------------------------------------------


def report(parts: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    rows: list[tuple[str, str, str]] = []
    if "throughput_1" in merged:
        t1, t2 = merged["throughput_1"], merged["throughput_2"]
        lat, after = merged["latency"], merged["throughput_1_after_history"]
        half = merged["latency_half_capacity"]
        rows += [
            ("events → tasks, 1 worker", f"{t1['events_per_s']:.0f} events/s", "≥ 500"),
            ("events → tasks, 2 workers", f"{t2['events_per_s']:.0f} events/s", ""),
            (
                f"commit → task, paced {lat['rate_target']:g}/s (got {lat['rate_achieved']:g})",
                f"median {lat['median_s']} s, p95 {lat['p95_s']} s",
                "p95 < 2 s",
            ),
            (
                f"commit → task, paced {half['rate_target']:g}/s (got {half['rate_achieved']:g})",
                f"median {half['median_s']} s, p95 {half['p95_s']} s",
                "",
            ),
            (
                f"1 worker after {merged['bloat']['history_events']:,} events of history",
                f"{after['events_per_s']:.0f} events/s (fresh {t1['events_per_s']:.0f})",
                "",
            ),
        ]
    if "sweeps" in merged:
        totals = merged["totals"]
        for name, sweep in merged["sweeps"].items():
            rows.append(
                (
                    f"sweep {name} ({totals['deals']:,} deals, {totals['tasks']:,} tasks)",
                    f"{sweep['median_s']} s, {sweep['found']:,} runs"
                    f" (the finder alone {sweep['find_only_s']} s)",
                    "< 30 s",
                )
            )
    width = max(len(r[0]) for r in rows) if rows else 10
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<40}  {target}")
    merged["targets"] = TARGETS
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase", choices=["throughput", "sweep"])
    parser.add_argument("--report", nargs="*", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--logs", default=str(ROOT / "bench" / "out" / "automation-logs"))
    opts = parser.parse_args()
    if opts.phase == "throughput":
        result = phase_throughput(opts)
    elif opts.phase == "sweep":
        result = phase_sweep(opts)
    else:
        result = report([json.loads(p.read_text()) for p in opts.report or []])
    result["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if opts.out:
        opts.out.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    print(json.dumps(result, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
