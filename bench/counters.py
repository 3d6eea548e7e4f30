"""Server-side timings of issue 3: the red badges and the head of sales' control screen.

  counters [manager]   GET /api/v1/me/counters          a manager (scope: own)
  counters [owner]     GET /api/v1/me/counters          the owner (scope: all)
  control [head]       GET /api/v1/control?department=ID   the head of the department with the
                       most managers (20 after `voronka seed` on an empty database)

Each request goes through Django's test Client with the caller's Bearer token and is timed in
process, like bench/timings.py (same loop: view and SQL alternate; warm-up 5, then
`--iterations`). Two kinds of hand-written SQL run beside it, each with the token lookup:

  bare SQL   the queries the endpoint needs as built (ADR 0003): the maintained day buckets
             and per-user counters plus the one indexed range for "today before now" and the
             deals that crossed their SLA on the boundary day
  naive SQL  the honest baseline: recounting from the rows — COUNT over tasks and deals, an
             anti-join for "deals without an open task", a join to the stages for the SLA

Both ratios are printed (view / bare SQL and view / naive SQL). Before timing, the endpoint's
figures are compared with the naive recount (they must agree: the counters are exact).

Run by scripts/bench.sh; alone: DJANGO_SETTINGS_MODULE=bench.settings PYTHONPATH=. \
DATABASE_URL=postgres://… .venv/bin/python bench/counters.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.db import connection  # noqa: E402
from django.db.models import Count, Q  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.timings import Caller, fetch, measure, request, summary  # noqa: E402  (sets up Django)
from voronka.deals.models import Deal  # noqa: E402
from voronka.identity.models import Department, User  # noqa: E402
from voronka.identity.services import api_token_create  # noqa: E402

TARGETS_MS = {"counters [manager]": 20.0, "counters [owner]": 150.0}
WARMUP = 5


def moments() -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """now, the start of today and of tomorrow in TIME_ZONE (what the counters call "today")."""
    now = timezone.now()
    today = timezone.localtime(now).date()
    start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    return now, start, start + dt.timedelta(days=1)


def sla_stages() -> list[tuple[int, int]]:
    return fetch(
        "SELECT id, sla_days FROM deals_stage WHERE sla_days IS NOT NULL AND semantic = 'open'", []
    )


def sla_conditions(
    now: dt.datetime, stages: list[tuple[int, int]]
) -> tuple[str, list[Any], str, list[Any]]:
    """(bucket SQL, params, boundary-day deal SQL, params), as counters_for builds them."""
    bucket, bucket_params, deal, deal_params = [], [], [], []
    for stage_id, days in stages:
        boundary = now - dt.timedelta(days=days)
        bday = timezone.localtime(boundary).date()
        bstart = timezone.make_aware(dt.datetime.combine(bday, dt.time.min))
        bucket.append("(stage_id = %s AND day < %s)")
        bucket_params += [stage_id, bday]
        deal.append("(stage_id = %s AND stage_entered_at >= %s AND stage_entered_at < %s)")
        deal_params += [stage_id, bstart, boundary]
    return " OR ".join(bucket) or "FALSE", bucket_params, " OR ".join(deal) or "FALSE", deal_params


# --- GET /api/v1/me/counters ------------------------------------------------------------------


def scope(user_id: int | None, column: str = "responsible_id") -> tuple[str, list[Any]]:
    return (f"AND {column} = %s", [user_id]) if user_id else ("", [])


def bare_counters(user_id: int | None, scoped: int | None) -> dict[str, int]:
    """The maintained read: day buckets + per-user counters + two indexed ranges."""
    now, today0, _tomorrow = moments()
    today = timezone.localtime(now).date()
    where, params = scope(scoped)
    result = dict.fromkeys(
        ("overdue_tasks", "tasks_today", "deals_without_task", "deals_over_sla", "open_deals"), 0
    )
    for _link, past, today_n in fetch(
        f"SELECT link, COALESCE(SUM(count) FILTER (WHERE day < %s), 0), "
        f"COALESCE(SUM(count) FILTER (WHERE day = %s), 0) FROM activities_taskdaycounter "
        f"WHERE day <= %s {where} GROUP BY link",
        [today, today, today, *params],
    ):
        result["overdue_tasks"] += past
        result["tasks_today"] += today_n
    (live,) = fetch(
        f"SELECT COUNT(*) FROM activities_task WHERE status = 'open' AND deadline >= %s "
        f"AND deadline < %s {where}",
        [today0, now, *params],
    )[0]
    result["overdue_tasks"] += live
    result["tasks_today"] -= live
    without, opened = fetch(
        f"SELECT COALESCE(SUM(without_task), 0), COALESCE(SUM(open_deals), 0) "
        f"FROM deals_dealusercounter WHERE TRUE {where}",
        params,
    )[0]
    result["deals_without_task"], result["open_deals"] = without, opened
    bucket_sql, bucket_params, deal_sql, deal_params = sla_conditions(now, sla_stages())
    result["deals_over_sla"] = (
        fetch(
            f"SELECT COALESCE(SUM(count), 0) FROM deals_dealstagedaycounter WHERE ({bucket_sql}) {where}",
            [*bucket_params, *params],
        )[0][0]
        + fetch(
            f"SELECT COUNT(*) FROM deals_deal WHERE status = 'open' AND ({deal_sql}) {where}",
            [*deal_params, *params],
        )[0][0]
    )
    fetch(
        "SELECT COUNT(*) FROM activities_notification WHERE user_id = %s AND read_at IS NULL",
        [user_id],
    )
    return result


def naive_counters(user_id: int | None, scoped: int | None) -> dict[str, int]:
    """The recount from the rows (what the counters would cost without maintained buckets)."""
    now, _today0, tomorrow = moments()
    where, params = scope(scoped)
    dwhere, dparams = scope(scoped, "d.responsible_id")
    overdue, today_n = fetch(
        f"SELECT COUNT(*) FILTER (WHERE deadline < %s), "
        f"COUNT(*) FILTER (WHERE deadline >= %s AND deadline < %s) "
        f"FROM activities_task WHERE status = 'open' {where}",
        [now, now, tomorrow, *params],
    )[0]
    opened, without, over_sla = fetch(
        f"SELECT COUNT(*), "
        f"COUNT(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM activities_task t "
        f"WHERE t.deal_id = d.id AND t.status = 'open')), "
        f"COUNT(*) FILTER (WHERE s.sla_days IS NOT NULL "
        f"AND d.stage_entered_at < %s - make_interval(days => s.sla_days)) "
        f"FROM deals_deal d JOIN deals_stage s ON s.id = d.stage_id WHERE d.status = 'open' {dwhere}",
        [now, *dparams],
    )[0]
    fetch(
        "SELECT COUNT(*) FROM activities_notification WHERE user_id = %s AND read_at IS NULL",
        [user_id],
    )
    return {
        "overdue_tasks": overdue,
        "tasks_today": today_n,
        "deals_without_task": without,
        "deals_over_sla": over_sla,
        "open_deals": opened,
    }


# --- GET /api/v1/control?department=ID ----------------------------------------------------------


def department_users(path: str) -> list[tuple[Any, ...]]:
    return fetch(
        "SELECT u.id, u.username, u.first_name, u.last_name, dp.name FROM identity_user u "
        "JOIN identity_department dp ON dp.id = u.department_id "
        "WHERE u.is_active AND dp.path LIKE %s ORDER BY u.last_name, u.first_name, u.username",
        [path + "%"],
    )


def bare_control(dept_id: int) -> dict[int, dict[str, Any]]:
    """The maintained read of control_table: users, per-user counters and buckets."""
    now, today0, _tomorrow = moments()
    today = timezone.localtime(now).date()
    (path,) = fetch("SELECT path FROM identity_department WHERE id = %s", [dept_id])[0]
    users = fetch(
        "SELECT u.id, u.username, u.first_name, u.last_name, dp.name, "
        "(SELECT t.deadline FROM activities_task t WHERE t.responsible_id = u.id "
        "AND t.status = 'open' AND t.deadline < %s ORDER BY t.deadline LIMIT 1) "
        "FROM identity_user u JOIN identity_department dp ON dp.id = u.department_id "
        "WHERE u.is_active AND dp.path LIKE %s ORDER BY u.last_name, u.first_name, u.username",
        [now, path + "%"],
    )
    ids = [u[0] for u in users]
    rows = {
        u[0]: {
            "open_deals": 0,
            "deals_without_task": 0,
            "overdue_tasks": 0,
            "oldest_overdue": u[5],
            "deals_over_sla": 0,
            "tasks_today": 0,
            "tasks_done_today": 0,
        }
        for u in users
    }
    for uid, opened, without in fetch(
        "SELECT responsible_id, open_deals, without_task FROM deals_dealusercounter "
        "WHERE responsible_id = ANY(%s)",
        [ids],
    ):
        rows[uid]["open_deals"], rows[uid]["deals_without_task"] = opened, without
    for uid, past, today_n in fetch(
        "SELECT responsible_id, COALESCE(SUM(count) FILTER (WHERE day < %s), 0), "
        "COALESCE(SUM(count) FILTER (WHERE day = %s), 0) FROM activities_taskdaycounter "
        "WHERE responsible_id = ANY(%s) AND day <= %s GROUP BY responsible_id",
        [today, today, ids, today],
    ):
        rows[uid]["overdue_tasks"] += past
        rows[uid]["tasks_today"] += today_n
    for uid, live in fetch(
        "SELECT responsible_id, COUNT(*) FROM activities_task WHERE status = 'open' "
        "AND responsible_id = ANY(%s) AND deadline >= %s AND deadline < %s GROUP BY responsible_id",
        [ids, today0, now],
    ):
        rows[uid]["overdue_tasks"] += live
        rows[uid]["tasks_today"] -= live
    bucket_sql, bucket_params, deal_sql, deal_params = sla_conditions(now, sla_stages())
    for uid, n in fetch(
        f"SELECT responsible_id, SUM(count) FROM deals_dealstagedaycounter "
        f"WHERE responsible_id = ANY(%s) AND ({bucket_sql}) GROUP BY responsible_id",
        [ids, *bucket_params],
    ):
        rows[uid]["deals_over_sla"] += n or 0
    for uid, n in fetch(
        f"SELECT responsible_id, COUNT(*) FROM deals_deal WHERE status = 'open' "
        f"AND responsible_id = ANY(%s) AND ({deal_sql}) GROUP BY responsible_id",
        [ids, *deal_params],
    ):
        rows[uid]["deals_over_sla"] += n
    for uid, n in fetch(
        "SELECT responsible_id, COUNT(*) FROM activities_task WHERE status = 'done' "
        "AND responsible_id = ANY(%s) AND completed_at >= %s GROUP BY responsible_id",
        [ids, today0],
    ):
        rows[uid]["tasks_done_today"] = n
    return rows


def naive_control(dept_id: int) -> dict[int, dict[str, Any]]:
    """The same table recounted from the task and deal rows of the department's people."""
    now, today0, tomorrow = moments()
    (path,) = fetch("SELECT path FROM identity_department WHERE id = %s", [dept_id])[0]
    users = department_users(path)
    ids = [u[0] for u in users]
    rows = {
        u[0]: {
            "open_deals": 0,
            "deals_without_task": 0,
            "overdue_tasks": 0,
            "oldest_overdue": None,
            "deals_over_sla": 0,
            "tasks_today": 0,
            "tasks_done_today": 0,
        }
        for u in users
    }
    for uid, opened, without, over_sla in fetch(
        "SELECT d.responsible_id, COUNT(*), "
        "COUNT(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM activities_task t "
        "WHERE t.deal_id = d.id AND t.status = 'open')), "
        "COUNT(*) FILTER (WHERE s.sla_days IS NOT NULL "
        "AND d.stage_entered_at < %s - make_interval(days => s.sla_days)) "
        "FROM deals_deal d JOIN deals_stage s ON s.id = d.stage_id "
        "WHERE d.status = 'open' AND d.responsible_id = ANY(%s) GROUP BY d.responsible_id",
        [now, ids],
    ):
        rows[uid].update(open_deals=opened, deals_without_task=without, deals_over_sla=over_sla)
    for uid, overdue, oldest, today_n in fetch(
        "SELECT responsible_id, COUNT(*) FILTER (WHERE deadline < %s), "
        "MIN(deadline) FILTER (WHERE deadline < %s), "
        "COUNT(*) FILTER (WHERE deadline >= %s AND deadline < %s) "
        "FROM activities_task WHERE status = 'open' AND responsible_id = ANY(%s) GROUP BY responsible_id",
        [now, now, now, tomorrow, ids],
    ):
        rows[uid].update(overdue_tasks=overdue, oldest_overdue=oldest, tasks_today=today_n)
    for uid, n in fetch(
        "SELECT responsible_id, COUNT(*) FROM activities_task WHERE status = 'done' "
        "AND responsible_id = ANY(%s) AND completed_at >= %s GROUP BY responsible_id",
        [ids, today0],
    ):
        rows[uid]["tasks_done_today"] = n
    return rows


# --- running ------------------------------------------------------------------------------------


def with_auth(caller: Caller, read: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        caller.authenticate()
        return read()

    return run


def pick() -> tuple[User, User, User, Department]:
    owner = User.objects.filter(is_active=True, roles__code="owner").order_by("id").first()
    if owner is None:
        raise SystemExit("No active owner: seed first (voronka seed)")
    dept = (
        Department.objects.annotate(
            n=Count("members", filter=Q(members__is_active=True, members__roles__code="manager"))
        )
        .filter(head__isnull=False)
        .order_by("-n", "id")
        .first()
    )
    if dept is None:
        raise SystemExit("No department with a head: seed first (voronka seed)")
    busiest = (
        Deal.objects.filter(responsible__roles__code="manager", status="open")
        .order_by()
        .values("responsible_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if busiest is None:
        raise SystemExit("No manager with open deals: seed first (voronka seed)")
    return owner, User.objects.get(pk=busiest["responsible_id"]), dept.head, dept


def api_counters(client: Client) -> dict[str, int]:
    data = json.loads(client.get("/api/v1/me/counters").content)
    return {
        k: data[k]
        for k in (
            "overdue_tasks",
            "tasks_today",
            "deals_without_task",
            "deals_over_sla",
            "open_deals",
        )
    }


def api_control(client: Client, dept_id: int) -> dict[int, dict[str, Any]]:
    data = json.loads(client.get(f"/api/v1/control?department={dept_id}").content)
    return {
        r["user"]: {
            k: r[k]
            for k in (
                "open_deals",
                "deals_without_task",
                "overdue_tasks",
                "deals_over_sla",
                "tasks_today",
                "tasks_done_today",
            )
        }
        for r in data["rows"]
    }


def strip_oldest(rows: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {k: {f: v for f, v in r.items() if f != "oldest_overdue"} for k, r in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--out", type=Path)
    opts = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench/counters.py: the SQL here is PostgreSQL's")
    started = time.monotonic()
    owner, manager, head, dept = pick()
    managers = User.objects.filter(
        is_active=True, roles__code="manager", department__path__startswith=dept.path
    ).count()
    print(
        f"department «{dept.name}» #{dept.pk}: head {head.username}, {managers} managers; "
        f"manager {manager.username}; owner {owner.username}"
    )
    people = {"manager": manager, "owner": owner, "head": head}
    tokens = {name: api_token_create(user=user, name="bench")[1] for name, user in people.items()}
    clients = {name: Client(HTTP_AUTHORIZATION=f"Bearer {token}") for name, token in tokens.items()}
    callers = {name: Caller(token=tokens[name], user_id=user.pk) for name, user in people.items()}

    # The counters are exact: the endpoint agrees with the recount from the rows.
    checks = {
        "counters [manager]": api_counters(clients["manager"])
        == naive_counters(manager.pk, manager.pk),
        "counters [owner]": api_counters(clients["owner"]) == naive_counters(owner.pk, None),
        "control [head]": api_control(clients["head"], dept.pk)
        == strip_oldest(naive_control(dept.pk)),
    }
    for key, ok in checks.items():
        print(f"  {key:<20} equals the naive recount: {'yes' if ok else 'NO'}")

    cases: dict[str, tuple[Callable[[], None], Callable[[], Any], Callable[[], Any]]] = {
        "counters [manager]": (
            request(clients["manager"], "/api/v1/me/counters"),
            with_auth(callers["manager"], lambda: bare_counters(manager.pk, manager.pk)),
            with_auth(callers["manager"], lambda: naive_counters(manager.pk, manager.pk)),
        ),
        "counters [owner]": (
            request(clients["owner"], "/api/v1/me/counters"),
            with_auth(callers["owner"], lambda: bare_counters(owner.pk, None)),
            with_auth(callers["owner"], lambda: naive_counters(owner.pk, None)),
        ),
        "control [head]": (
            request(clients["head"], f"/api/v1/control?department={dept.pk}"),
            with_auth(callers["head"], lambda: bare_control(dept.pk)),
            with_auth(callers["head"], lambda: naive_control(dept.pk)),
        ),
    }
    results: dict[str, Any] = {
        "department": {
            "id": dept.pk,
            "name": dept.name,
            "managers": managers,
            "head": head.username,
        },
        "manager": {
            "id": manager.pk,
            "username": manager.username,
            "open_deals": Deal.objects.filter(responsible=manager, status="open").count(),
        },
        "checks": checks,
        "pages": {},
        "targets_ms": TARGETS_MS,
    }
    for key, (view, bare, naive) in cases.items():
        r = measure(view, bare, opts.iterations)
        naive_times, naive_cpu = [], []
        for _ in range(min(WARMUP, 2)):
            naive()
        for _ in range(max(5, opts.iterations // 3)):  # the recount is slow: fewer rounds
            t0, c0 = time.perf_counter(), time.thread_time()
            naive()
            naive_times.append(time.perf_counter() - t0)
            naive_cpu.append(time.thread_time() - c0)
        r["naive_sql"] = summary(naive_times, naive_cpu)
        r["ratio_naive"] = round(r["view"]["median_ms"] / max(r["naive_sql"]["median_ms"], 1e-6), 3)
        results["pages"][key] = r
        target = TARGETS_MS.get(key)
        mark = (
            f"target < {target:.0f} ms: {'ok' if r['view']['median_ms'] < target else 'MISSED'}"
            if target
            else "(no target)"
        )
        print(
            f"  {key:<20} view {r['view']['median_ms']:8.2f} ms (p95 {r['view']['p95_ms']:8.2f})   "
            f"bare SQL {r['bare_sql']['median_ms']:7.2f} ms x{r['ratio']:.2f}   "
            f"naive SQL {r['naive_sql']['median_ms']:8.2f} ms x{r['ratio_naive']:.3f}   {mark}",
            flush=True,
        )
    results["seconds"] = round(time.monotonic() - started, 1)
    results["iterations"] = opts.iterations
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(json.dumps(results, ensure_ascii=False, indent=2, default=str))


if __name__ == "__main__":
    main()
