"""RELIABILITY row 4 — BOPLA / field level. Every write operation gets extra or protected fields
(id, version tricks, created_by, status, stage/pipeline in PATCH, ltv, closed_at, owner/department
ids, is_staff…) and foreign keys pointing into other scopes (IDOR through FK); each must be a 4xx
naming the field with nothing written. Every read response carries exactly the documented
fields, the same for every role, and never a secret. Figures: protected fields written,
restricted fields returned, foreign FKs accepted — all 0; the negative control (scope filter
off) must see foreign FKs accepted."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction

from authz.harness import fingerprint, quiet_request_logs, record_figures
from authz.matrix import ACTIVE, PRINCIPALS
from negative_controls import no_scope_filter

pytestmark = pytest.mark.django_db

R = dict[str, Any]  # the records fixture
P = Any  # the pipeline fixture


@dataclass
class Case:
    kind: str  # "protected" | "fk"
    who: str
    method: str
    path: Callable[[R, P], str]
    body: Callable[[R, P], dict[str, Any]]
    field: str
    status: int = 422

    def name(self) -> str:
        return f"{self.kind}:{self.who}:{self.method}:{self.field}"


def deal(key: str) -> Callable[[R, P], str]:
    return lambda r, p: f"/api/v1/deals/{r[key].deal.pk}"


def move(key: str) -> Callable[[R, P], str]:
    return lambda r, p: f"/api/v1/deals/{r[key].deal.pk}/move"


def company(key: str) -> Callable[[R, P], str]:
    return lambda r, p: f"/api/v1/companies/{r[key].company.pk}"


def contact(key: str) -> Callable[[R, P], str]:
    return lambda r, p: f"/api/v1/contacts/{r[key].contact.pk}"


def task(key: str) -> Callable[[R, P], str]:
    return lambda r, p: f"/api/v1/tasks/{r[key].task.pk}"


def const(path: str) -> Callable[[R, P], str]:
    return lambda r, p: path


def new_deal(**extra: Any) -> Callable[[R, P], dict[str, Any]]:
    return lambda r, p: {"title": "BOPLA", "company": r["a1"].company.pk, **extra}


def plus(**extra: Any) -> Callable[[R, P], dict[str, Any]]:
    return lambda r, p: dict(extra)


PROTECTED_DEAL = {
    "id": 999,
    "status": "won",
    "created_by": 1,
    "ltv": "1000000",
    "closed_at": "2020-01-01T00:00:00Z",
    "opened_at": "2020-01-01T00:00:00Z",
    "stage_entered_at": "2020-01-01T00:00:00Z",
    "open_tasks": 5,
    "loss_reason": 1,
    "owner_id": 1,
    "department_id": 1,
    "is_staff": True,
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "next_task_deadline": "2020-01-01T00:00:00Z",
}
PROTECTED_COMPANY = {
    "id": 999,
    "ltv": "100",
    "last_interaction_at": "2020-01-01T00:00:00Z",
    "created_at": "2020-01-01T00:00:00Z",
    "owner_id": 1,
    "is_staff": True,
}
PROTECTED_CONTACT = {
    "id": 999,
    "company_name": "x",
    "created_at": "2020-01-01T00:00:00Z",
    "owner_id": 1,
}
PROTECTED_TASK = {
    "id": 999,
    "status": "done",
    "completed_at": "2020-01-01T00:00:00Z",
    "created_by": 1,
    "completed_by": 1,
    "overdue": False,
    "result": "x",
}

CASES: list[Case] = []
for key, value in PROTECTED_DEAL.items():
    CASES.append(
        Case("protected", "a1", "post", const("/api/v1/deals"), new_deal(**{key: value}), key)
    )
    CASES.append(Case("protected", "a1", "patch", deal("a1"), plus(**{key: value}), key))
CASES.append(
    Case("protected", "a1", "post", const("/api/v1/deals"), new_deal(version=7), "version")
)
for key in ("stage", "pipeline"):
    CASES.append(
        Case(
            "protected",
            "a1",
            "patch",
            deal("a1"),
            lambda r, p, key=key: {key: p.stages["won"].pk if key == "stage" else p.other.pk},
            key,
        )
    )
for key in ("status", "responsible", "amount", "title", "closed_at"):
    CASES.append(
        Case(
            "protected",
            "a1",
            "post",
            move("a1"),
            lambda r, p, key=key: {"stage": p.stages["talks"].pk, key: "x"},
            key,
        )
    )
for key, value in PROTECTED_COMPANY.items():
    CASES.append(
        Case(
            "protected",
            "a1",
            "post",
            const("/api/v1/companies"),
            plus(name="ООО", **{key: value}),
            key,
        )
    )
    CASES.append(Case("protected", "a1", "patch", company("a1"), plus(**{key: value}), key))
CASES.append(
    Case(
        "protected",
        "a1",
        "post",
        const("/api/v1/companies"),
        plus(name="ООО", version=3),
        "version",
    )
)
for key, value in PROTECTED_CONTACT.items():
    CASES.append(
        Case(
            "protected",
            "a1",
            "post",
            const("/api/v1/contacts"),
            plus(first_name="А", **{key: value}),
            key,
        )
    )
    CASES.append(Case("protected", "a1", "patch", contact("a1"), plus(**{key: value}), key))
for key, value in PROTECTED_TASK.items():
    CASES.append(
        Case(
            "protected",
            "a1",
            "post",
            const("/api/v1/tasks"),
            lambda r, p, key=key, value=value: {
                "type": "call",
                "responsible": r["a1"].user.pk,
                "deadline": "2030-01-01T10:00:00+03:00",
                "comment": "c",
                "company": r["a1"].company.pk,
                key: value,
            },
            key,
        )
    )
    CASES.append(Case("protected", "a1", "patch", task("a1"), plus(**{key: value}), key))
CASES.append(
    Case("protected", "a1", "patch", task("a1"), plus(deadline="2031-01-01T10:00:00Z"), "deadline")
)
CASES.append(
    Case(
        "protected",
        "a1",
        "post",
        lambda r, p: f"/api/v1/tasks/{r['a1'].task.pk}/complete",
        plus(result="ok", status="open"),
        "status",
    )
)
# Version tricks: booleans, strings, floats are not versions.
for path in (deal("a1"), company("a1"), contact("a1"), task("a1")):
    for trick in (True, "1", 1.0, [1], {"v": 1}):
        CASES.append(
            Case("protected", "a1", "patch", path, plus(version=trick, comment="x"), "version")
        )
CASES.append(
    Case(
        "protected",
        "a1",
        "post",
        move("a1"),
        lambda r, p: {"stage": p.stages["talks"].pk, "version": True},
        "version",
    )
)
# Amount on a closed deal (a1's deal is won by the fixture of this module).
CASES.append(Case("protected", "a1", "patch", deal("a1"), plus(amount="1"), "amount"))
# Configuration objects: ids and parents are not writable.
CASES.append(
    Case("protected", "owner", "post", const("/api/v1/pipelines"), plus(name="P", id=5), "id")
)
CASES.append(
    Case(
        "protected",
        "owner",
        "post",
        lambda r, p: f"/api/v1/pipelines/{p.sales.pk}/stages",
        plus(name="S", pipeline=1),
        "pipeline",
    )
)
CASES.append(
    Case(
        "protected",
        "owner",
        "patch",
        lambda r, p: f"/api/v1/pipelines/{p.sales.pk}/stages/{p.stages['new'].pk}",
        plus(pipeline=1),
        "pipeline",
    )
)
CASES.append(
    Case(
        "protected",
        "owner",
        "post",
        const("/api/v1/pipelines/custom-fields"),
        plus(key="k", name="K", type="string", is_active=False),
        "is_active",
    )
)

# --- foreign keys into other scopes (IDOR through FK) -----------------------------------------------
FK: list[tuple[str, str, Callable[[R, P], str], Callable[[R, P], dict[str, Any]], str]] = [
    (
        "a1",
        "post",
        const("/api/v1/deals"),
        lambda r, p: {"title": "x", "company": r["b1"].company.pk},
        "company",
    ),
    (
        "a1",
        "post",
        const("/api/v1/deals"),
        lambda r, p: {"title": "x", "company": r["a2"].company.pk},
        "company",
    ),
    (
        "a1",
        "post",
        const("/api/v1/deals"),
        lambda r, p: {
            "title": "x",
            "company": r["a1"].company.pk,
            "contacts": [r["a2"].contact.pk],
        },
        "contacts",
    ),
    (
        "a1",
        "post",
        const("/api/v1/deals"),
        lambda r, p: {"title": "x", "company": r["a1"].company.pk, "responsible": r["a2"].user.pk},
        "responsible",
    ),
    ("a1", "patch", deal("a1"), lambda r, p: {"company": r["b1"].company.pk}, "company"),
    (
        "a1",
        "patch",
        deal("a1"),
        lambda r, p: {"contacts": [r["a1"].contact.pk, r["b1"].contact.pk]},
        "contacts",
    ),
    ("a1", "patch", deal("a1"), lambda r, p: {"responsible": r["b1"].user.pk}, "responsible"),
    ("head_a", "patch", deal("a1"), lambda r, p: {"responsible": r["b1"].user.pk}, "responsible"),
    ("head_a", "patch", deal("a1"), lambda r, p: {"company": r["head_b"].company.pk}, "company"),
    (
        "head_a",
        "patch",
        deal("a1"),
        lambda r, p: {"responsible": r["deact"].user.pk},
        "responsible",
    ),
    (
        "head_b",
        "post",
        const("/api/v1/deals"),
        lambda r, p: {"title": "x", "company": r["b1"].company.pk, "responsible": r["a11"].user.pk},
        "responsible",
    ),
    (
        "a1",
        "post",
        lambda r, p: f"/api/v1/deals/{r['a1'].deal.pk}/move",
        lambda r, p: {"stage": p.stages["talks"].pk, "fields": {"contacts": [r["b1"].contact.pk]}},
        "contacts",
    ),
    (
        "a1",
        "post",
        const("/api/v1/contacts"),
        lambda r, p: {"first_name": "x", "company": r["b1"].company.pk},
        "company",
    ),
    ("a1", "patch", contact("a1"), lambda r, p: {"company": r["a2"].company.pk}, "company"),
    ("a1", "patch", contact("a1"), lambda r, p: {"responsible": r["a11"].user.pk}, "responsible"),
    (
        "a1",
        "post",
        const("/api/v1/companies"),
        lambda r, p: {"name": "x", "responsible": r["b1"].user.pk},
        "responsible",
    ),
    (
        "a1",
        "patch",
        company("a1"),
        lambda r, p: {"responsible": r["head_a"].user.pk},
        "responsible",
    ),
    (
        "a1",
        "post",
        const("/api/v1/tasks"),
        lambda r, p: {
            "type": "call",
            "responsible": r["a1"].user.pk,
            "deadline": "2030-01-01T10:00:00+03:00",
            "comment": "c",
            "deal": r["b1"].deal.pk,
        },
        "deal",
    ),
    (
        "a1",
        "post",
        const("/api/v1/tasks"),
        lambda r, p: {
            "type": "call",
            "responsible": r["a1"].user.pk,
            "deadline": "2030-01-01T10:00:00+03:00",
            "comment": "c",
            "contact": r["a2"].contact.pk,
        },
        "contact",
    ),
    (
        "a1",
        "post",
        const("/api/v1/tasks"),
        lambda r, p: {
            "type": "call",
            "responsible": r["a1"].user.pk,
            "deadline": "2030-01-01T10:00:00+03:00",
            "comment": "c",
            "company": r["b1"].company.pk,
        },
        "company",
    ),
    (
        "a1",
        "post",
        const("/api/v1/tasks"),
        lambda r, p: {
            "type": "call",
            "responsible": r["b1"].user.pk,
            "deadline": "2030-01-01T10:00:00+03:00",
            "comment": "c",
            "company": r["a1"].company.pk,
        },
        "responsible",
    ),
    ("a1", "patch", task("a1"), lambda r, p: {"responsible": r["a2"].user.pk}, "responsible"),
    ("integration", "patch", deal("a1"), lambda r, p: {"company": r["a2"].company.pk}, "company"),
]
for who, method, path, body, fld in FK:
    CASES.append(Case("fk", who, method, path, body, fld))


@pytest.fixture
def bopla(records: Any, pipeline: Any, api: Any) -> dict[str, Any]:
    from voronka.deals.services import deal_move_to_stage
    from voronka.kernel.actor import Actor

    deal_move_to_stage(deal=records["a1"].deal, stage=pipeline.stages["won"], actor=Actor.system())
    return {"records": records, "pipeline": pipeline, "api": api}


def send(client: Any, method: str, path: str, body: Any) -> Any:
    return getattr(client, method)(path, json.dumps(body), content_type="application/json")


def run_cases(env: dict[str, Any], cases: list[Case]) -> dict[str, Any]:
    records, pipeline, api = env["records"], env["pipeline"], env["api"]
    figures = {
        "cases": 0,
        "protected_fields_written": 0,
        "foreign_fks_accepted": 0,
        "field_not_named": 0,
    }
    failures: list[str] = []
    clients: dict[str, Any] = {}
    with quiet_request_logs():
        for case in cases:
            client = clients.setdefault(case.who, api(case.who))
            path, body = case.path(records, pipeline), case.body(records, pipeline)
            with transaction.atomic():
                before = fingerprint()
                response = send(client, case.method, path, body)
                wrote = fingerprint() != before
                transaction.set_rollback(True)
            figures["cases"] += 1
            accepted = response.status_code < 400 or wrote
            if accepted:
                figures[
                    "foreign_fks_accepted" if case.kind == "fk" else "protected_fields_written"
                ] += 1
                failures.append(
                    f"{case.name()} {path} {body}: {response.status_code} wrote={wrote}"
                )
            elif response.status_code != case.status or case.field not in response.json().get(
                "errors", {}
            ):
                figures["field_not_named"] += 1
                failures.append(
                    f"{case.name()} {path} {body}: {response.status_code} {response.content[:200]!r}"
                )
    figures["failures"] = failures
    return figures


def test_protected_fields_and_foreign_keys_are_refused(bopla: dict[str, Any]) -> None:
    figures = run_cases(bopla, CASES)
    failures = figures.pop("failures")
    figures["fk_cases"] = sum(1 for c in CASES if c.kind == "fk")
    record_figures("BOPLA write cases", figures)
    assert figures["cases"] == len(CASES) > 100
    assert not failures, "\n".join(failures[:40])


def test_negative_control_scope_filter_off_accepts_foreign_keys(
    bopla: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_scope_filter(monkeypatch)
    figures = run_cases(bopla, [c for c in CASES if c.kind == "fk"])
    figures.pop("failures")
    record_figures("BOPLA negative control (no_scope_filter)", figures)
    assert figures["foreign_fks_accepted"] > 0


# --- read responses -------------------------------------------------------------------------------

READ_FIELDS = {
    "deal": {
        "id",
        "title",
        "pipeline",
        "stage",
        "status",
        "amount",
        "currency",
        "responsible",
        "company",
        "company_name",
        "contacts",
        "source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "comment",
        "custom",
        "opened_at",
        "closed_at",
        "stage_entered_at",
        "loss_reason",
        "loss_comment",
        "version",
        "created_at",
        "updated_at",
    },
    "deal_item": {
        "id",
        "title",
        "pipeline",
        "stage",
        "status",
        "amount",
        "currency",
        "responsible",
        "company",
        "company_name",
        "opened_at",
        "closed_at",
        "stage_entered_at",
        "version",
    },
    "company": {
        "id",
        "name",
        "type",
        "inn",
        "kpp",
        "ogrn",
        "bank_bik",
        "bank_account",
        "bank_name",
        "phone",
        "email",
        "website",
        "comment",
        "responsible",
        "custom",
        "addresses",
        "ltv",
        "ltv_by_currency",
        "deals_count",
        "won_count",
        "first_purchase_at",
        "last_purchase_at",
        "phone_info",
        "last_interaction_at",
        "version",
        "created_at",
        "updated_at",
    },
    "contact": {
        "id",
        "company",
        "company_name",
        "last_name",
        "first_name",
        "middle_name",
        "position",
        "birthday",
        "phones",
        "emails",
        "messengers",
        "consent_calls",
        "consent_mailing",
        "comment",
        "responsible",
        "custom",
        "version",
        "created_at",
        "updated_at",
    },
    "task": {
        "id",
        "type",
        "responsible",
        "responsible_name",
        "deadline",
        "comment",
        "status",
        "result",
        "deal",
        "contact",
        "company",
        "overdue",
        "created_by",
        "created_at",
        "completed_at",
        "version",
    },
}
SECRETS = ("password", "digest", "token", "vk_", "pbkdf2", "argon2", "md5$", "session", "secret")


def test_read_responses_carry_exactly_the_documented_fields(
    records: Any, personas: Any, api: Any
) -> None:
    restricted = 0
    checked = 0
    problems: list[str] = []
    with quiet_request_logs():
        for key in PRINCIPALS:
            if key not in ACTIVE:
                continue
            client = api(key)
            own = "a1" if key == "integration" else key
            reads = [
                ("deal", f"/api/v1/deals/{records[own].deal.pk}", None),
                ("company", f"/api/v1/companies/{records[own].company.pk}", None),
                ("contact", f"/api/v1/contacts/{records[own].contact.pk}", None),
                ("task", f"/api/v1/tasks/{records[own].task.pk}", None),
                ("deal_item", "/api/v1/deals", "items"),
                ("company", "/api/v1/companies", "items"),
                ("contact", "/api/v1/contacts", "items"),
                ("task", "/api/v1/tasks", "items"),
            ]
            for kind, path, items_key in reads:
                response = client.get(path)
                assert response.status_code == 200, (key, path)
                text = response.content.decode()
                for secret in SECRETS:
                    if secret in text.lower():
                        restricted += 1
                        problems.append(f"{key} {path}: contains {secret!r}")
                body = response.json()
                for obj in body[items_key] if items_key else [body]:
                    checked += 1
                    extra = set(obj) - READ_FIELDS[kind]
                    missing = READ_FIELDS[kind] - set(obj)
                    restricted += len(extra)
                    if extra or missing:
                        problems.append(
                            f"{key} {path}: extra {sorted(extra)} missing {sorted(missing)}"
                        )
    record_figures(
        "BOPLA read responses",
        {"objects_checked": checked, "restricted_fields_returned": restricted},
    )
    assert checked > 100
    assert not problems, "\n".join(problems[:20])
