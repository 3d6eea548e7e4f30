"""RELIABILITY row 1 — AUTHZ-MATRIX. Every cell of tests/authz/matrix.py through the HTTP client as
the real user; every route of the application must be in the matrix; the negative control
(scope filter switched off) must find wrongly-allowed cells."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from authz.harness import (
    Report,
    cells_for,
    record_figures,
    route_counts,
    run_cells,
    unmapped_routes,
)
from authz.matrix import NINJA, PRINCIPALS, all_routes
from factories import report_figures
from negative_controls import no_scope_filter

pytestmark = pytest.mark.django_db


@pytest.fixture
def matrix_env(
    records: Any, pipeline: Any, org: Any, api: Any, web: Any, settings: Any, tmp_path: Any
) -> dict[str, Any]:
    from django.core.files.base import ContentFile

    from voronka.deals.models import Deal
    from voronka.kernel.models import StoredFile

    settings.MEDIA_ROOT = str(tmp_path / "media")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).replace(microsecond=0).isoformat()
    files = {}
    for owner, rec in records.items():  # a file on each deal: downloads follow the deal's scope
        stored = StoredFile(
            name=f"{owner}.pdf",
            size=4,
            content_type="application/pdf",
            sha256="0" * 64,
            entity="deal",
            object_id=rec.deal.pk,  # attached to the deal (kernel.files.files_attach)
            field_key="f_file",
        )
        stored.file.save(f"{owner}.pdf", ContentFile(b"%PDF"), save=False)
        stored.save()
        Deal.objects.filter(pk=rec.deal.pk).update(custom={"f_file": stored.token})
        files[owner] = stored.token
    # Outgoing webhooks: an endpoint and a dead delivery (retryable).
    from voronka.integrations.models import WebhookDelivery, WebhookEndpoint

    webhook = WebhookEndpoint.objects.create(
        name="Матрица", url="https://hooks.example.test/m", secret="whsec_bWF0cml4"
    )
    dead = WebhookDelivery.objects.create(
        endpoint=webhook, webhook_id="msg_matrix", event_type="webhook.test", status="failed"
    )

    # Merges: each owner's company has a twin merged into it (undoable).
    from factories import system
    from voronka.contacts.merge import company_merge
    from voronka.contacts.models import Company

    merges = {}
    for owner, rec in records.items():
        twin = Company.objects.create(responsible=rec.user, name=f"Дубль {owner}")
        merges[owner], _kept = company_merge(
            actor=system(), keep_id=rec.company.pk, merge_ids=[twin.pk]
        )

    # Duplicate control: a group of each owner's company and spare company, and a scan.
    from voronka.contacts.models import DuplicateGroup, DuplicateScan

    found_at = dt.datetime.now(dt.UTC)
    dup_scan = DuplicateScan.objects.create(entity="company", started_at=found_at)
    dup_groups = {
        owner: DuplicateGroup.objects.create(
            entity="company",
            signature=f"matrix-{owner}",
            ids=[rec.company.pk, rec.spare_company.pk],
            score=0.9,
            matched=["name"],
            found_at=found_at,
        )
        for owner, rec in records.items()
    }

    # Imports: each owner's own finished import with one row error (issue 10). Another user's
    # import does not exist for them (tests/transfer/test_import_reliability.py).
    from voronka.transfer.models import ImportJob, ImportRowError

    import_jobs = {}
    for owner, rec in records.items():
        import_jobs[owner] = ImportJob.objects.create(
            entity="contact",
            status="done",
            filename="matrix.csv",
            content=b"",
            sha256="0" * 64,
            format="csv",
            headers=["Имя"],
            mapping=["first_name"],
            created_by=rec.user,
            created_at=found_at,
        )
        ImportRowError.objects.create(job=import_jobs[owner], row=2, message="x")

    # Automation: a robot on a stage and a failed run of it (retryable).
    from voronka.automation.models import Rule, RuleRun

    robot = Rule.objects.create(
        kind="robot",
        name="Матрица",
        pipeline=pipeline.sales,
        stage=pipeline.stages["talks"],
        action="create_task",
        params={"comment": "Позвонить"},
    )
    failed_run = RuleRun.objects.create(
        rule=robot, object_type="deal", object_id=1, key="matrix", status="failed", error="x"
    )

    def ids_for(principal: str, owner: str | None) -> dict[str, Any]:
        me = "a1" if principal in ("integration", "anonymous", "deact") else principal
        rec = records[owner or "a1"]
        own = records[me]
        return {
            "deal": rec.deal.pk,
            "company": rec.company.pk,
            "spare_company": rec.spare_company.pk,
            "contact": rec.contact.pk,
            "task": rec.task.pk,
            "me": own.user.pk,
            "own_company": own.company.pk,
            "own_contact": own.contact.pk,
            "merge": merges[owner or "a1"].pk,
            "dup_group": dup_groups[owner or "a1"].pk,
            "dup_scan": dup_scan.pk,
            "own_import": import_jobs[me].pk,
            "own_deal": own.deal.pk,
            "pipeline": pipeline.sales.pk,
            "other_pipeline": pipeline.other.pk,
            "stage_talks": pipeline.stages["talks"].pk,
            "stage_new": pipeline.stages["new"].pk,
            "empty_stage": pipeline.other_stages["empty"].pk,
            "dept_b": org.departments["b"].pk,
            "dept_a": org.departments["a"].pk,
            "later": later,
            "file": pipeline.stored_file.token,
            "field": pipeline.fields["f_string"].pk,
            "deal_file": files[owner or "a1"],
            "webhook": webhook.pk,
            "webhook_delivery": dead.pk,
            "automation_rule": robot.pk,
            "automation_run": failed_run.pk,
        }

    clients = {}
    for principal in PRINCIPALS:
        clients[("ninja", principal)] = api(principal)
        clients[("htmx", principal)] = web(principal)
    for client in clients.values():
        client.raise_request_exception = False  # a 500 is a failed cell, not an aborted run
    return {"ids_for": ids_for, "clients": clients}


def run(name: str, routes: list[Any], env: dict[str, Any]) -> Report:
    report = Report(name)
    return run_cells(
        cells_for(routes), clients=env["clients"], ids_for=env["ids_for"], report=report
    )


def test_every_route_is_in_the_matrix(db: None) -> None:
    routes = all_routes()
    unmapped = unmapped_routes(routes)
    counts = route_counts(routes)
    record_figures("AUTHZ-MATRIX routes", {**counts, "unmapped_routes": len(unmapped)})
    assert not unmapped, "routes missing from tests/authz/matrix*.py:\n" + "\n".join(unmapped)


GROUPS = {
    "ninja deals": lambda r: r.channel == "ninja" and ("/deals" in r.pattern),
    "ninja companies+contacts": lambda r: (
        r.channel == "ninja" and ("/companies" in r.pattern or "/contacts" in r.pattern)
    ),
    "ninja tasks+config+self": lambda r: (
        r.channel == "ninja"
        and not any(p in r.pattern for p in ("/deals", "/companies", "/contacts"))
    ),
    "htmx deals+settings": lambda r: (
        r.channel == "htmx" and r.pattern.startswith(("deals", "pipelines", "files", "settings"))
    ),
    "htmx other pages": lambda r: (
        r.channel == "htmx"
        and not r.pattern.startswith(("deals", "pipelines", "files", "settings"))
    ),
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_authz_matrix(matrix_env: dict[str, Any], group: str) -> None:
    """One summary line per group (the groups run in parallel under xdist)."""
    routes = [r for r in all_routes() if GROUPS[group](r)]
    channel = group.split()[0]
    report = run(f"AUTHZ-MATRIX {group}", routes, matrix_env)
    report.unmapped = [u for u in unmapped_routes(all_routes()) if u.startswith(channel)]
    report_figures(report.summary())
    record_figures(f"AUTHZ-MATRIX {group}", report.figures())
    figures = report.figures()
    assert figures["cells_run"] > 0
    assert (
        figures["failed"] == 0 and figures["writes_by_denied_cells"] == 0 and not report.unmapped
    ), report.summary() + "\n" + report.failures()


def test_negative_control_scope_filter_off_is_detected(
    matrix_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the scope filter switched off the same matrix must find wrongly-allowed cells."""
    no_scope_filter(monkeypatch)
    routes = [r for r in NINJA if r.target in ("deal", "company") and r.action in ("view", "edit")]
    report = run("AUTHZ-MATRIX negative control (no_scope_filter)", routes, matrix_env)
    report_figures(report.summary())
    figures = report.figures()
    record_figures("AUTHZ-MATRIX negative control", figures)
    assert figures["wrongly_allowed"] > 0
