"""RELIABILITY row 20 — AUDIT & LOG HYGIENE.

A scripted scenario per role (field edits, stage change, responsible change, delete, an API-token
actor, the system actor) must leave exactly the expected AuditEntry rows: actor kind and user,
UTC time, object, field old → new, request id, IP. The application cannot UPDATE or DELETE audit
rows (the trigger of kernel/migrations/0002, on SQLite and PostgreSQL) — with the trigger
unlocked (negative control) the same tamper attempts succeed. Captured logs and output are
grepped for phone numbers, e-mail addresses and tokens."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from authz.harness import record_figures
from factories import make_deal, set_audit_lock
from voronka.contacts.services import company_update
from voronka.kernel.actor import Actor
from voronka.kernel.models import AuditEntry

pytestmark = pytest.mark.django_db

PHONE = re.compile(
    r"(?<!\d)(?:\+7|8)[\s(-]*9\d{2}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)|\+79\d{9}"
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
TOKEN = re.compile(r"vk_[A-Za-z0-9_-]{10,}|Bearer\s+\S+")


def entries_since(mark: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(pk__gt=mark).order_by("id"))


def last_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_scenario_per_role_leaves_the_expected_audit_rows(
    records: Any,
    pipeline: Any,
    api: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    deal = records["a1"].deal
    expected: list[dict[str, Any]] = []
    missing: list[str] = []
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    def step(
        client: Any, method: str, path: str, body: dict[str, Any] | None, request_id: str
    ) -> Any:
        send = {
            "get": client.get,
            "post": client.post_json,
            "patch": client.patch_json,
            "delete": client.delete,
        }[method]
        args = (path,) if method in ("get", "delete") else (path, body)
        response = send(*args, HTTP_X_REQUEST_ID=request_id)
        assert response.status_code < 400, (path, response.content)
        return response

    mark = last_id()
    # 1. manager a1 (API token): field edits
    step(
        api("a1"),
        "patch",
        f"/api/v1/deals/{deal.pk}",
        {"title": "Аудит", "amount": "7777"},
        "req-a1-edit",
    )
    expected.append(
        {
            "action": "updated",
            "object": ("deal", deal.pk),
            "kind": "api",
            "user": records["a1"].user.pk,
            "request_id": "req-a1-edit",
            "changes": {"title": ["Сделка a1", "Аудит"], "amount": ["5000.00", "7777.00"]},
        }
    )
    # 2. manager a1: stage change
    step(
        api("a1"),
        "post",
        f"/api/v1/deals/{deal.pk}/move",
        {"stage": pipeline.stages["talks"].pk},
        "req-a1-move",
    )
    expected.append(
        {
            "action": "stage_changed",
            "object": ("deal", deal.pk),
            "kind": "api",
            "user": records["a1"].user.pk,
            "request_id": "req-a1-move",
            "changes": {"stage": [pipeline.stages["new"].pk, pipeline.stages["talks"].pk]},
        }
    )
    # 3. head of A: responsible change
    step(
        api("head_a"),
        "patch",
        f"/api/v1/deals/{deal.pk}",
        {"responsible": records["a2"].user.pk},
        "req-head-reassign",
    )
    expected.append(
        {
            "action": "updated",
            "object": ("deal", deal.pk),
            "kind": "api",
            "user": records["head_a"].user.pk,
            "request_id": "req-head-reassign",
            "changes": {"responsible": [records["a1"].user.pk, records["a2"].user.pk]},
        }
    )
    # 4. head of A: delete
    victim = records["a11"].deal
    step(api("head_a"), "delete", f"/api/v1/deals/{victim.pk}", None, "req-head-delete")
    expected.append(
        {
            "action": "deleted",
            "object": ("deal", victim.pk),
            "kind": "api",
            "user": records["head_a"].user.pk,
            "request_id": "req-head-delete",
            "changes": {"title": ["Сделка a11", None]},
        }
    )
    # 5. the integration token (a1's second token) edits a contact
    contact = records["a1"].contact
    step(
        api("integration"),
        "patch",
        f"/api/v1/contacts/{contact.pk}",
        {"position": "Главбух"},
        "req-integration",
    )
    expected.append(
        {
            "action": "updated",
            "object": ("contact", contact.pk),
            "kind": "api",
            "user": records["a1"].user.pk,
            "request_id": "req-integration",
            "changes": {"position": ["", "Главбух"]},
        }
    )
    # 6. owner (admin/owner role) changes a company's requisites through the service (UI actor kind)
    company = records["b1"].company
    company_update(
        company=company, actor=Actor.for_user(records["owner"].user), data={"comment": "VIP"}
    )
    expected.append(
        {
            "action": "updated",
            "object": ("company", company.pk),
            "kind": "user",
            "user": records["owner"].user.pk,
            "request_id": "",
            "changes": {"comment": ["", "VIP"]},
        }
    )
    # 7. the system (import/automation) creates a deal
    created = make_deal(responsible=records["b1"].user, company=company, title="Системная")
    expected.append(
        {
            "action": "created",
            "object": ("deal", created.pk),
            "kind": "system",
            "user": None,
            "request_id": "",
            "changes": {"title": [None, "Системная"]},
        }
    )
    # 8. a task deadline moved with a reason by the head of B
    task = records["b1"].task
    new_deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=9)).replace(microsecond=0)
    step(
        api("head_b"),
        "post",
        f"/api/v1/tasks/{task.pk}/reschedule",
        {"deadline": new_deadline.isoformat(), "reason": "клиент в отпуске"},
        "req-head-b-reschedule",
    )
    expected.append(
        {
            "action": "rescheduled",
            "object": ("task", task.pk),
            "kind": "api",
            "user": records["head_b"].user.pk,
            "request_id": "req-head-b-reschedule",
            "changes": {"reason": [None, "клиент в отпуске"]},
        }
    )
    # PII in refused input must not reach the logs either.
    bad = api("a1").post_json(
        "/api/v1/contacts",
        {
            "first_name": "Иван",
            "phones": ["+7 916 555-12-34", "123"],
            "emails": ["ivan.petrov@mail"],
        },
    )
    assert bad.status_code == 422
    finished = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    rows = entries_since(mark)
    for exp in expected:
        match = [
            e
            for e in rows
            if e.action == exp["action"]
            and (e.object_type, e.object_id) == exp["object"]
            and e.actor_kind == exp["kind"]
            and e.actor_user_id == exp["user"]
            and e.request_id == exp["request_id"]
            and all(e.changes.get(k) == v for k, v in exp["changes"].items())
        ]
        if len(match) != 1:
            missing.append(f"{exp} → {len(match)} matching rows")
            continue
        entry = match[0]
        assert entry.at.utcoffset() == dt.timedelta(0), "audit time is UTC"
        assert started <= entry.at <= finished
        if exp["kind"] == "api":
            assert entry.ip == "127.0.0.1"
    log_text = caplog.text + capsys.readouterr().out
    hits = {
        name: pattern.findall(log_text)
        for name, pattern in (("phone", PHONE), ("email", EMAIL), ("token", TOKEN))
    }
    hits = {k: v for k, v in hits.items() if v}
    record_figures(
        "AUDIT scenario",
        {
            "expected_events": len(expected),
            "expected_events_missing": len(missing),
            "audit_rows_written": len(rows),
            "log_lines": len(caplog.records),
            "pii_or_secret_hits_in_logs": sum(len(v) for v in hits.values()),
        },
    )
    assert not missing, "\n".join(missing)
    assert not hits, hits


TAMPERS = [
    ("ORM update", lambda e: AuditEntry.objects.filter(pk=e.pk).update(action="forged")),
    ("ORM delete", lambda e: AuditEntry.objects.filter(pk=e.pk).delete()),
    ("ORM delete all", lambda e: AuditEntry.objects.all().delete()),
    ("model save", lambda e: (setattr(e, "changes", {"forged": True}), e.save())),
    (
        "raw UPDATE",
        lambda e: connection.cursor().execute(
            "UPDATE kernel_auditentry SET request_id = 'forged' WHERE id = %s", [e.pk]
        ),
    ),
    (
        "raw DELETE",
        lambda e: connection.cursor().execute(
            "DELETE FROM kernel_auditentry WHERE id = %s", [e.pk]
        ),
    ),
]


def _state(pk: int) -> tuple[Any, ...] | None:
    return (
        AuditEntry.objects.filter(pk=pk)
        .values_list("action", "changes", "actor_user_id", "request_id", "at")
        .first()
    )


def attempt_tampers(entry: AuditEntry) -> tuple[int, list[str]]:
    """Each attempt in a savepoint that is rolled back; returns (attempts, names that changed the row)."""
    succeeded = []
    original = _state(entry.pk)
    for name, tamper in TAMPERS:
        target = AuditEntry.objects.get(pk=entry.pk)
        try:
            with transaction.atomic():
                tamper(target)
                changed = _state(entry.pk) != original
                transaction.set_rollback(True)
        except DatabaseError:
            changed = False
        if changed:
            succeeded.append(name)
        assert _state(entry.pk) == original
    return len(TAMPERS), succeeded


def test_audit_rows_cannot_be_updated_or_deleted(records: Any, audit_locked: None) -> None:
    entry = (
        AuditEntry.objects.filter(object_type="deal", actor_kind="system").order_by("id").first()
    )
    assert entry is not None
    attempts, succeeded = attempt_tampers(entry)
    record_figures(
        "AUDIT tamper",
        {"engine": connection.vendor, "attempts": attempts, "tamper_succeeded": len(succeeded)},
    )
    assert succeeded == []
    # Appending still works.
    make_deal(responsible=records["a1"].user, company=records["a1"].company, title="После попыток")


def test_negative_control_unlocked_trigger_lets_tampering_through(records: Any) -> None:
    set_audit_lock(locked=False)
    entry = (
        AuditEntry.objects.filter(object_type="deal", actor_kind="system").order_by("id").first()
    )
    attempts, succeeded = attempt_tampers(entry)
    record_figures(
        "AUDIT tamper negative control (unlocked)",
        {"attempts": attempts, "tamper_succeeded": len(succeeded)},
    )
    assert len(succeeded) == attempts


def test_negative_control_the_log_grep_finds_planted_pii(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("voronka.test").warning(
        "client +7 916 123-45-67 ivan@example.ru token vk_abcdefghijklmnop"
    )
    found = [bool(p.search(caplog.text)) for p in (PHONE, EMAIL, TOKEN)]
    assert found == [True, True, True]
