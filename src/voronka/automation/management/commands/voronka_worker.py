"""`voronka worker`: the django-tasks DB worker, the schedule ticker, the event dispatcher (the
consumers of the outbox, kernel.outbox), the automation's executor (VORONKA_WORKER_EXECUTORS
threads on PostgreSQL, one on SQLite) and its reaper (expired leases, taken over on threads of
their own) in one process.

Run as many as you like: job claims use the database (SKIP LOCKED on PostgreSQL, IMMEDIATE
transactions on SQLite), periodic runs are claimed by a unique (job, period) row and each
consumer's events are handled under a lock on its position row."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django_tasks.signals import log_task_started, task_started
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from voronka.automation import executor
from voronka.automation.executor import execute_due, worker_name
from voronka.automation.schedule import schedule_tick
from voronka.kernel import clock
from voronka.kernel.outbox import events_dispatch

logger = logging.getLogger(__name__)
TICK_SECONDS = 15
DISPATCH_SECONDS = 0.3
DISPATCH_LIMIT = 500
RUNS_LIMIT = 500
WORKER = worker_name()


def _ticker(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            close_old_connections()
            schedule_tick()
        except Exception:  # a failed tick must not kill the worker; the next tick retries
            logger.exception("schedule tick failed")
        finally:
            close_old_connections()
        stop.wait(TICK_SECONDS)


def _dispatcher(stop: threading.Event, wake: threading.Event) -> None:
    """Hand new events to the consumers (the automation planner among them); again at once while
    there is more, else after a short pause. Wakes the executor when something was handled (the
    planner may have planned runs due now)."""
    while not stop.is_set():
        busy = False
        close_old_connections()
        try:
            report = events_dispatch(limit=DISPATCH_LIMIT)
            busy = any(n >= DISPATCH_LIMIT for n in report.handled.values())
            if report.total:
                wake.set()
        except Exception:  # a failed round must not kill the worker; the next one retries
            logger.exception("event dispatch failed")
        close_old_connections()
        if not busy:
            stop.wait(DISPATCH_SECONDS)


def _executor_loop(stop: threading.Event, wake: threading.Event) -> None:
    """Run the rule runs that are due; again at once while there were some, else when the
    dispatcher has handled events or after a short pause (delayed runs, expired leases). A thread
    of its own: while one thread waits for the database the other runs Python."""
    while not stop.is_set():
        busy = False
        close_old_connections()
        try:
            busy = execute_due(worker=WORKER, limit=RUNS_LIMIT).claimed > 0
        except Exception:
            logger.exception("rule runs failed")
        close_old_connections()
        if not busy:
            wake.wait(DISPATCH_SECONDS)
            wake.clear()


def executors() -> int:
    """Executor threads (VORONKA_WORKER_EXECUTORS); one on SQLite, whose single writer would
    only queue the others behind the running action's transaction."""
    if connection.vendor != "postgresql":
        return 1
    return settings.VORONKA_WORKER_EXECUTORS


# Takeovers running at once per worker (each a thread of its own, with its own connection): the
# reaper hands a claim of expired runs to one and polls again, instead of carrying them out itself
# and missing the next expiry meanwhile. A claim takes what fits in half the lease, so a killed
# worker's runs may need several takeovers at once.
TAKEOVERS = 8


def _reaper(stop: threading.Event, wake: threading.Event) -> None:
    """Take over the runs of a worker whose lease expired (killed, or stopped) within a poll of
    the expiry, whatever the executor threads are busy with: RELIABILITY row 13's recovery bar is
    the lease plus this poll. Every expired run is claimed at once; takeover threads carry out
    what fits in their share of the lease, and the rest go back in the queue at once (a dead
    worker's big claim; a worker just restarted, its pace not measured yet; takeovers all busy)."""
    takeovers: list[threading.Thread] = []
    while not stop.is_set():
        takeovers = [t for t in takeovers if t.is_alive()]
        pause = DISPATCH_SECONDS
        share = executor.paced_claim(RUNS_LIMIT)  # what one thread gets through within a lease
        capacity = share * (TAKEOVERS - len(takeovers))
        close_old_connections()
        try:
            now = clock.db_now()
            claimed = executor.claim(  # through the module: a negative control patches it
                worker=WORKER, limit=RUNS_LIMIT, now=now, expired_only=True
            )
            # The takeovers start before anything else is read.
            mine = claimed[:capacity]
            for start in range(0, len(mine), share):  # a dead worker's runs at once
                thread = threading.Thread(
                    target=_take_over,
                    args=(mine[start : start + share], now),
                    daemon=True,
                    name="takeover",
                )
                thread.start()
                takeovers.append(thread)
            if executor.release(claimed[capacity:]):
                wake.set()  # this worker's executors too
            # Awake when the next lease expires, not up to a poll after it.
            expiry = executor.next_expiry(clock.db_now())
            if expiry is not None:
                pause = min(pause, max(0.05, expiry + 0.01))
        except Exception:
            logger.exception("claiming expired rule runs failed")
        close_old_connections()
        stop.wait(pause)
    connection.close()  # this thread's own


def _take_over(claimed: list[tuple[int, int]], now: dt.datetime) -> None:
    try:
        executor.execute_claimed(claimed, now=now)
    except Exception:
        logger.exception("expired rule runs failed")
    finally:
        connection.close()  # this thread's own connection


def quiet_job_start() -> None:
    """One log line per job: django-tasks logs a job when it starts and again when it ends
    (with its outcome); the worker keeps only the second (failures keep their traceback)."""
    task_started.disconnect(log_task_started)


class Command(DbWorkerCommand):
    help = "Run background jobs and the periodic schedule."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        super().add_arguments(parser)
        parser.add_argument("--no-schedule", action="store_true", help="No periodic schedule")
        parser.add_argument(
            "--no-events", action="store_true", help="Do not hand events to their consumers"
        )
        parser.add_argument(
            "--no-rules", action="store_true", help="Do not run the automation's rule runs"
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        quiet_job_start()
        stop = threading.Event()
        if not options.pop("no_schedule", False):
            threading.Thread(target=_ticker, args=(stop,), daemon=True, name="schedule").start()
        no_events = options.pop("no_events", False)
        no_rules = options.pop("no_rules", False)
        wake = threading.Event()
        if not no_events:
            threading.Thread(
                target=_dispatcher, args=(stop, wake), daemon=True, name="events"
            ).start()
        if not no_rules:
            for n in range(executors()):
                threading.Thread(
                    target=_executor_loop, args=(stop, wake), daemon=True, name=f"rules-{n}"
                ).start()
            if connection.vendor == "postgresql":  # SQLite: the executor takes over (0017)
                threading.Thread(
                    target=_reaper, args=(stop, wake), daemon=True, name="reaper"
                ).start()
        try:
            return super().handle(*args, **options)
        finally:
            stop.set()
