"""Notifications (issue 3): in the app (the bell: /api/v1/me/notifications, /read, the unread
count in /me/counters) and by e-mail — through a REAL SMTP server (aiosmtpd on 127.0.0.1, a free
port) and the REAL worker (`.venv/bin/voronka worker` subprocesses on the same database: the
file SQLite test database or the PostgreSQL test database).

The end-to-end test: an overdue task past the head's grace period and one within it; the test
claims the current schedule period (schedule_tick) and enqueues a second sweep; two worker
processes run the sweeps and the e-mail jobs. Each expected e-mail (to the responsibles, and to
the head only for the task past the grace period) arrives exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core import mail
from django.db import connection
from django.utils import translation

from factories import make_company, run_monitors, set_overdue_grace
from tasks.fixtures import SmtpSink
from tasks.support import record_figures
from voronka.activities.jobs import send_notification_email
from voronka.activities.models import Notification, NotificationKind
from voronka.activities.tasks_services import task_create
from voronka.automation.jobs import sweep_monitors
from voronka.kernel import clock
from voronka.kernel.actor import Actor

ROOT = Path(__file__).resolve().parents[2]
VORONKA = ROOT / ".venv" / "bin" / "voronka"
NOW = dt.datetime(2026, 3, 18, 12, 0, tzinfo=dt.UTC)


def label(kind: str) -> str:
    with translation.override("ru"):
        return str(NotificationKind(kind).label)


def overdue_task(user: Any, company: Any, hours: float, comment: str) -> Any:
    """A task of `user`, created by `user` (so nobody is notified of the assignment)."""
    return task_create(
        actor=Actor.for_user(user),
        data={
            "type": "call",
            "responsible": user.pk,
            "comment": comment,
            "company": company.pk,
            "deadline": (clock.now() - dt.timedelta(hours=hours)).isoformat(),
        },
    )


# --- in the app -------------------------------------------------------------------------------------


@pytest.fixture
def swept(db: None, personas: Any, settings: Any) -> dict[str, Any]:
    """Overdue tasks of a1 (30 h, past the 24 h grace), a2 (1 h), a11 (30 h; group A-1 has no
    head → head_a) and head_a (30 h → the root department's head), then two sweeps."""
    set_overdue_grace(24)
    users = {k: personas[k].user for k in ("a1", "a2", "a11", "head_a")}
    tasks = {}
    with clock.frozen(NOW - dt.timedelta(days=2)):
        companies = {
            k: make_company(responsible=u, name=f"ООО Звонок {k}") for k, u in users.items()
        }
    with clock.frozen(NOW):
        for key, hours in (("a1", 30), ("a2", 1), ("a11", 30), ("head_a", 30)):
            tasks[key] = overdue_task(users[key], companies[key], hours, f"Перезвонить ({key})")
        first = run_monitors()
        second = run_monitors()
    return {"tasks": tasks, "sent": (first, second)}


def notified(kind: str) -> set[tuple[str, str]]:
    return {
        (n.user.username, n.task.comment)
        for n in Notification.objects.filter(kind=kind).select_related("user", "task")
    }


def test_sweep_notifies_responsibles_and_heads_once(swept: dict[str, Any]) -> None:
    assert swept["sent"] == (4 + 3, 0)  # the second sweep adds nothing
    assert notified(NotificationKind.TASK_OVERDUE) == {
        ("a1", "Перезвонить (a1)"),
        ("a2", "Перезвонить (a2)"),
        ("a11", "Перезвонить (a11)"),
        ("head_a", "Перезвонить (head_a)"),
    }
    assert notified(NotificationKind.TASK_OVERDUE_HEAD) == {
        ("head_a", "Перезвонить (a1)"),  # the department's head
        ("head_a", "Перезвонить (a11)"),  # sub-department without a head: the parent's head
        ("head_root", "Перезвонить (head_a)"),  # a head's own task: the parent department's head
    }  # a2's task is within the grace period: no head notification yet


def test_bell_lists_counts_and_marks_read(swept: dict[str, Any], api: Any, personas: Any) -> None:
    a1, head = api("a1"), api("head_a")
    mine = a1.get_json("/api/v1/me/notifications").json()
    assert [(n["kind"], n["task"], n["read"]) for n in mine] == [
        (NotificationKind.TASK_OVERDUE, swept["tasks"]["a1"].pk, False)
    ]
    heads = head.get_json("/api/v1/me/notifications").json()
    assert len(heads) == 3 and {n["kind"] for n in heads} == {"task_overdue", "task_overdue_head"}
    assert head.get_json("/api/v1/me/counters").json()["unread_notifications"] == 3
    assert a1.get_json("/api/v1/me/counters").json()["unread_notifications"] == 1

    # Marking someone else's notification does nothing; one's own ids are marked.
    own = [n["id"] for n in heads if n["kind"] == "task_overdue_head"]
    assert a1.post_json("/api/v1/me/notifications/read", {"ids": own}).json() == {"marked": 0}
    assert head.post_json("/api/v1/me/notifications/read", {"ids": own[:1]}).json() == {"marked": 1}
    assert head.get_json("/api/v1/me/counters").json()["unread_notifications"] == 2
    unread = head.get_json("/api/v1/me/notifications", {"unread": "true"}).json()
    assert len(unread) == 2 and own[0] not in {n["id"] for n in unread}
    # Without ids: all of mine.
    assert head.post_json("/api/v1/me/notifications/read", {}).json() == {"marked": 2}
    assert head.get_json("/api/v1/me/counters").json()["unread_notifications"] == 0
    assert a1.get_json("/api/v1/me/counters").json()["unread_notifications"] == 1
    # Bad input and no session.
    assert head.post_json("/api/v1/me/notifications/read", {"ids": "all"}).status_code == 422
    assert api("anonymous").get_json("/api/v1/me/notifications").status_code == 401
    assert api("deact").post_json("/api/v1/me/notifications/read", {}).status_code == 401


def test_bell_screens(swept: dict[str, Any], web: Any) -> None:
    client = web("a1")
    badge = client.get("/counters/", HTTP_ACCEPT="application/json").json()
    assert badge["unread"] == 1
    page = client.get("/notifications/").content.decode()
    assert "Перезвонить (a1)" in page and "Перезвонить (a2)" not in page
    # Opening the page read what it shows (issue 7 item 14): the badge follows.
    assert client.get("/counters/", HTTP_ACCEPT="application/json").json()["unread"] == 0
    Notification.objects.filter(user__username="a1").update(read_at=None)
    assert client.post("/notifications/read/", {}).status_code == 302
    assert client.get("/counters/", HTTP_ACCEPT="application/json").json()["unread"] == 0


def test_email_job_sends_once_locmem(swept: dict[str, Any], settings: Any, personas: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    note = Notification.objects.get(
        kind=NotificationKind.TASK_OVERDUE_HEAD, task=swept["tasks"]["a1"]
    )
    assert send_notification_email.call(note.pk) is True
    assert send_notification_email.call(note.pk) is False  # claimed: a second run sends nothing
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["head_a@example.test"]
    assert message.subject == f"Voronka: {label(NotificationKind.TASK_OVERDUE_HEAD)}"
    assert "Перезвонить (a1)" in message.body
    # A deactivated recipient gets nothing (the claim still stops retries).
    other = Notification.objects.get(kind=NotificationKind.TASK_OVERDUE, task=swept["tasks"]["a2"])
    type(personas["a2"].user).objects.filter(pk=personas["a2"].pk).update(is_active=False)
    assert send_notification_email.call(other.pk) is False
    assert len(mail.outbox) == 1


def test_failed_send_releases_the_claim(swept: dict[str, Any], settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = (
        "127.0.0.1",
        9,
        2,
    )  # nothing listens
    note = Notification.objects.get(kind=NotificationKind.TASK_OVERDUE, task=swept["tasks"]["a1"])
    with pytest.raises(OSError):
        send_notification_email.call(note.pk)
    note.refresh_from_db()
    assert note.emailed_at is None  # a retry can still send it


# --- by e-mail, through the real worker and a real SMTP server --------------------------------------


def database_url() -> str:
    """The URL of the database this test runs on (the test database, not the developer's)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(index: int, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    out = (logs / f"worker-{index}.log").open("wb")
    return subprocess.Popen(
        [
            str(VORONKA),
            "worker",
            "--interval",
            "0.3",
            "--no-startup-delay",
            "--worker-id",
            f"test-worker-{index}",
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Only the processes this test started, by their own process group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_overdue_emails_arrive_once_through_the_worker_and_smtp(
    smtp_server: SmtpSink,
    personas: Any,
    tmp_path: Path,
) -> None:
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from voronka.automation.schedule import schedule_tick

    assert VORONKA.exists(), VORONKA
    a1, a2, head = personas["a1"].user, personas["a2"].user, personas["head_a"].user
    past = overdue_task(
        a1, make_company(responsible=a1, name="ООО Почта 1"), 3, "Перезвонить: просрочено 3 ч"
    )
    within = overdue_task(
        a2, make_company(responsible=a2, name="ООО Почта 2"), 1, "Перезвонить: просрочено 1 ч"
    )

    # The test claims the current period of the schedule (and the claim holds against a second
    # tick); then a second sweep is enqueued by hand: the sweep runs twice.
    assert "automation_monitors" in schedule_tick()
    assert schedule_tick() == []
    sweep_monitors.enqueue()
    set_overdue_grace(2)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VORONKA_", "DATABASE_URL"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "voronka.config.settings",
            "DATABASE_URL": database_url(),
            "VORONKA_ENV": "test",
            "VORONKA_DATA_DIR": str(tmp_path / "data"),
            "VORONKA_SMTP_HOST": smtp_server.host,
            "VORONKA_SMTP_PORT": str(smtp_server.port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    expected = Counter(
        {
            (a1.email, label(NotificationKind.TASK_OVERDUE)): 1,
            (head.email, label(NotificationKind.TASK_OVERDUE_HEAD)): 1,
            (a2.email, label(NotificationKind.TASK_OVERDUE)): 1,
        }
    )
    workers = [start_worker(i, env, tmp_path) for i in (1, 2)]
    started = time.monotonic()
    bound = 150.0  # a timeout is a failure, never a skip
    try:
        while time.monotonic() - started < bound:
            if any(w.poll() is not None for w in workers):
                break
            pending = DBTaskResult.objects.filter(
                status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]
            )
            sweeps = DBTaskResult.objects.filter(
                task_path__endswith="sweep_monitors", status=TaskResultStatus.SUCCESSFUL
            ).count()
            if (
                len(smtp_server.received()) >= sum(expected.values())
                and sweeps >= 2
                and not pending.exists()
            ):
                break
            time.sleep(0.3)
        waited = time.monotonic() - started
        time.sleep(2.0)  # room for a duplicate to show up
    finally:
        for w in workers:
            stop(w)
    logs = "\n".join(
        (tmp_path / f"worker-{i}.log").read_text(errors="replace")[-3000:] for i in (1, 2)
    )
    received = smtp_server.received()
    got = Counter(
        (rcpt, m.subject.removeprefix("Voronka: ")) for m in received for rcpt in m.recipients
    )
    results = Counter(DBTaskResult.objects.values_list("task_path", "status"))
    record_figures(
        "NOTIFICATION E-MAIL (worker + SMTP)",
        {
            "expected": sum(expected.values()),
            "received": len(received),
            "duplicates": sum(max(0, n - 1) for n in got.values()),
            "unexpected": sum((got - expected).values()),
            "missing": sum((expected - got).values()),
            "jobs": {
                f"{path.rsplit('.', 1)[-1]} {status}": n for (path, status), n in results.items()
            },
            "workers": len(workers),
            "seconds": round(waited, 1),
            "engine": connection.vendor,
        },
    )
    assert waited < bound, f"no complete delivery within {bound}s\n{logs}"
    assert got == expected, f"{got} != {expected}\n{logs}"
    assert results[("voronka.automation.jobs.sweep_monitors", TaskResultStatus.SUCCESSFUL)] >= 2, (
        results
    )
    assert not any(status == TaskResultStatus.FAILED for (_p, status) in results), (
        f"{results}\n{logs}"
    )
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()
    # The messages: sender, the task's text, and nothing about the task within the grace period to the head.
    for m in received:
        assert m.sender == "voronka@localhost"
    head_mail = [m for m in received if head.email in m.recipients]
    assert (
        len(head_mail) == 1
        and past.comment in head_mail[0].body
        and within.comment not in head_mail[0].body
    )


@pytest.mark.django_db(transaction=True)
def test_negative_control_released_claims_send_duplicates(
    smtp_server: SmtpSink,
    personas: Any,
    tmp_path: Path,
) -> None:
    """The exactly-once check is not vacuous: with the e-mail claim switched off (emailed_at
    reset, the jobs enqueued again) the real worker sends every message a second time and the
    same per-recipient count sees the duplicates."""
    a1 = personas["a1"].user
    overdue_task(
        a1, make_company(responsible=a1, name="ООО Дубль"), 30, "Перезвонить"
    )  # past 24 h grace
    run_monitors()  # in the test process: notifications + e-mail jobs enqueued on commit
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VORONKA_", "DATABASE_URL"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "voronka.config.settings",
            "DATABASE_URL": database_url(),
            "VORONKA_ENV": "test",
            "VORONKA_DATA_DIR": str(tmp_path / "data"),
            "VORONKA_SMTP_HOST": smtp_server.host,
            "VORONKA_SMTP_PORT": str(smtp_server.port),
            "PYTHONUNBUFFERED": "1",
        }
    )

    def run_batch(n: int) -> None:
        out = (tmp_path / f"batch-{n}.log").open("wb")
        process = subprocess.Popen(
            [str(VORONKA), "worker", "--batch", "--no-schedule", "--no-startup-delay"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            assert process.wait(timeout=120) == 0, (tmp_path / f"batch-{n}.log").read_text(
                errors="replace"
            )
        finally:
            stop(process)

    run_batch(1)
    first = len(smtp_server.received())
    ids = list(Notification.objects.values_list("pk", flat=True))
    Notification.objects.update(emailed_at=None)  # the guard switched off
    for pk in ids:
        send_notification_email.enqueue(pk)
    run_batch(2)
    got = Counter((rcpt, m.subject) for m in smtp_server.received() for rcpt in m.recipients)
    duplicates = sum(max(0, n - 1) for n in got.values())
    record_figures(
        "NOTIFICATION E-MAIL negative control (claim released)",
        {"first_run": first, "total": len(smtp_server.received()), "duplicates": duplicates},
    )
    assert first == len(ids) == 2  # a1 (overdue) and head_a (past the grace period)
    assert duplicates == len(ids) > 0
