"""Runs the authorization matrix: enumerates the application's routes, expands the matrix into
cells, sends each cell through the HTTP client as the real user (Bearer token for ninja, a
session for htmx pages — never a superuser) inside a savepoint that is rolled back, and
classifies the outcome."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
import re
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from authz.matrix import (
    ACTIVE,
    ADMIN,
    ADMIN_PREFIX,
    CAN_CONFIGURE,
    CAN_DELETE,
    CONTROL,
    CONTROL_DEPTS,
    NINJA,
    NINJA_META,
    PRINCIPALS,
    VISIBLE,
    Route,
    all_routes,
    scope_label,
)

RECORD_OWNERS = [
    "owner",
    "admin",
    "head_root",
    "head_a",
    "a1",
    "a2",
    "a11",
    "deact",
    "head_b",
    "b1",
]
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


# --- route enumeration --------------------------------------------------------------------------


def django_routes() -> list[tuple[str, str | None]]:
    """(route, name) of every URL pattern, depth first."""
    from django.urls import URLResolver, get_resolver

    def walk(resolver: Any, prefix: str) -> Iterator[tuple[str, str | None]]:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern.name

    return list(walk(get_resolver(), ""))


def openapi_operations() -> set[tuple[str, str]]:
    from voronka.config.api import api

    schema = api.get_openapi_schema()
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}


def _as_openapi(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def unmapped_routes(routes: list[Route]) -> list[str]:
    """Routes of the application without an entry in the matrix (and matrix entries whose route
    no longer exists)."""
    ops = openapi_operations()
    openapi_paths = {p for _m, p in ops}
    ninja_keys = {(r.method, r.pattern) for r in routes if r.channel == "ninja"}
    page_patterns = {r.pattern for r in routes if r.channel == "htmx"}
    meta_patterns = {r.pattern for r in NINJA_META}
    missing = [f"ninja {m} {p}" for m, p in sorted(ops - ninja_keys)]
    seen: set[str] = set()
    for route, name in django_routes():
        seen.add(route)
        if route.startswith(ADMIN_PREFIX):
            if not ADMIN:
                missing.append(f"django {route} ({name})")
        elif route.startswith("api/"):
            if _as_openapi(route) not in openapi_paths and route not in meta_patterns:
                missing.append(f"django {route} ({name})")
        elif route not in page_patterns:
            missing.append(f"htmx {route} ({name})")
    stale = [
        f"stale matrix entry {r.channel} {r.method} {r.pattern}"
        for r in routes
        if (r.channel == "ninja" and r.pattern.startswith("/") and (r.method, r.pattern) not in ops)
        or (r.channel == "htmx" and r.pattern not in seen)
    ]
    return missing + stale


def route_counts(routes: list[Route]) -> dict[str, int]:
    ops = openapi_operations()
    django = django_routes()
    return {
        "openapi_operations": len(ops),
        "django_patterns": len(django),
        "admin_patterns": sum(1 for r, _ in django if r.startswith(ADMIN_PREFIX)),
        "matrix_routes": len(routes),
    }


# --- cells --------------------------------------------------------------------------------------


@dataclass
class Cell:
    route: Route
    principal: str
    owner: str | None  # the record owner (None: collection/self/config route)
    expected: int
    expected_kind: str  # allow / deny / unauth

    def label(self) -> str:
        scope = f" {scope_label(self.principal, self.owner)}({self.owner})" if self.owner else ""
        return f"{self.route.channel} {self.route.method} {self.route.href} [{self.route.action}] as {self.principal}{scope}"


def expected_status(route: Route, principal: str, owner: str | None) -> tuple[int, str]:
    """(status, kind) the matrix expects for one cell."""
    ninja = route.channel == "ninja"
    if route.rule == "public":
        return route.ok, "allow"
    if route.rule == "login_page":  # the form for visitors; a signed-in user is sent home
        signed_in = principal in ACTIVE and principal != "integration"
        return (302 if signed_in else 200), "allow"
    if route.rule == "login_step":  # the code step: home when signed in, else back to the login
        signed_in = principal in ACTIVE and principal != "integration"
        return 302, "allow" if signed_in else "unauth"
    if principal not in ACTIVE or (not ninja and principal == "integration"):
        # No user: 401 from the API; pages redirect to the login page (an htmx request gets
        # 401 with HX-Redirect instead). A bearer token never authenticates a page.
        return (401 if ninja or route.htmx else 302), "unauth"
    if route.rule == "staff":
        return 302, "deny"
    status = _status_for_user(route, principal, owner)
    return status, "allow" if status == route.ok else "deny"


def _status_for_user(route: Route, principal: str, owner: str | None) -> int:
    if route.rule == "record":
        return route.ok if owner in VISIBLE[principal] else 404
    if route.rule == "delete":
        if owner not in VISIBLE[principal]:
            return 404
        return route.ok if principal in CAN_DELETE else 403
    if route.rule == "merge_pair":  # the owner's record merged into the principal's own one
        me = "a1" if principal == "integration" else principal
        if owner == me:
            return 422  # a record cannot be merged into itself
        if owner not in VISIBLE[principal]:
            return 404
        return route.ok if principal in CAN_DELETE else 403
    if route.rule == "auth":
        return route.ok
    if route.rule == "configure":
        return route.ok if principal in CAN_CONFIGURE else 403
    if route.rule == "control":
        return route.ok if principal in CONTROL else 403
    if route.rule == "control_b":
        if principal not in CONTROL:
            return 403
        return route.ok if "b" in CONTROL_DEPTS[principal] else 404
    raise ValueError(f"unknown rule {route.rule}")


def cells_for(routes: list[Route], principals: list[str] | None = None) -> list[Cell]:
    cells = []
    for route in routes:
        for principal in principals or PRINCIPALS:
            owners = RECORD_OWNERS if route.target else [None]
            for owner in owners:
                status, kind = expected_status(route, principal, owner)
                cells.append(Cell(route, principal, owner, status, kind))
    return cells


def kind_of(status: int, location: str | None) -> str:
    """allow / deny / unauth / error for an actual status (and a redirect's target)."""
    if status >= 500:
        return "error"
    if status == 401:
        return "unauth"
    if status in (403, 404, 405):
        return "deny"
    if 300 <= status < 400:
        return "unauth" if "login" in (location or "") else "allow"
    if 200 <= status < 300:
        return "allow"
    return "error"  # 400/409/422…: the request itself was wrong, the matrix must not hit those


# --- running ------------------------------------------------------------------------------------


@dataclass
class Result:
    cell: Cell
    status: int
    location: str | None
    wrote: bool = False

    @property
    def passed(self) -> bool:
        if self.status != self.cell.expected:
            return False
        if self.status in (301, 302, 303):
            # A redirect must go where the rule says: to a login page when denied, elsewhere when
            # allowed (logout's success *is* the login page).
            to_login = "login" in (self.location or "")
            if self.cell.expected_kind == "allow" and self.cell.route.extra.get(
                "redirects_to_login"
            ):
                return True
            return to_login == (self.cell.expected_kind in ("unauth", "deny"))
        return True

    @property
    def actual_kind(self) -> str:
        if (
            self.cell.route.extra.get("redirects_to_login")
            and self.status == 302
            and self.cell.expected_kind == "allow"
        ):
            return "allow"
        return kind_of(self.status, self.location)


@dataclass
class Report:
    name: str
    results: list[Result] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def add(self, result: Result) -> None:
        self.results.append(result)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.passed]

    def figures(self) -> dict[str, Any]:
        counts = Counter()
        for r in self.results:
            if r.passed:
                counts["passed"] += 1
                continue
            expected, actual = r.cell.expected_kind, r.actual_kind
            if actual == "allow" and expected != "allow":
                counts["wrongly_allowed"] += 1
            elif expected == "allow" and actual in ("deny", "unauth"):
                counts["wrongly_denied"] += 1
            else:
                counts["other_mismatch"] += 1
        return {
            "cells_run": len(self.results),
            "passed": counts["passed"],
            "failed": len(self.results) - counts["passed"],
            "wrongly_allowed": counts["wrongly_allowed"],
            "wrongly_denied": counts["wrongly_denied"],
            "other_mismatch": counts["other_mismatch"],
            "writes_by_denied_cells": sum(1 for r in self.results if r.wrote),
            "unmapped_routes": len(self.unmapped),
        }

    def summary(self) -> str:
        f = self.figures()
        return (
            f"{self.name}: cells run {f['cells_run']} / passed {f['passed']} / wrongly-allowed "
            f"{f['wrongly_allowed']} / wrongly-denied {f['wrongly_denied']} / other mismatches "
            f"{f['other_mismatch']} / writes by denied cells {f['writes_by_denied_cells']} / unmapped routes "
            f"{f['unmapped_routes']} ({environment()})"
        )

    def failures(self, limit: int = 40) -> str:
        lines = [
            f"  {r.cell.label()}: expected {r.cell.expected}, got {r.status}"
            + (f" → {r.location}" if r.location else "")
            + (" [WROTE]" if r.wrote else "")
            for r in self.failed[:limit]
        ]
        lines += [f"  unmapped: {u}" for u in self.unmapped]
        return "\n".join(lines)


def fingerprint() -> tuple[int, ...]:
    """One query: row counts and version sums of what a write could touch."""
    tables = [
        ("kernel_auditentry", None),
        ("kernel_domainevent", None),
        ("deals_deal", "version"),
        ("deals_stagechange", None),
        ("contacts_company", "version"),
        ("contacts_contact", "version"),
        ("contacts_contactphone", None),
        ("activities_task", "version"),
        ("activities_comment", None),
        ("deals_stage", None),
        ("deals_pipeline", None),
        ("kernel_customfield", None),
        ("activities_notification", None),
    ]
    qn = connection.ops.quote_name
    parts = []
    for table, version in tables:
        parts.append(f"(SELECT COUNT(*) FROM {qn(table)})")
        if version:
            parts.append(f"(SELECT COALESCE(SUM({qn(version)}), 0) FROM {qn(table)})")
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        return tuple(int(x) for x in cursor.fetchone())


@contextmanager
def quiet_request_logs() -> Iterator[None]:
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Rollback(Exception):
    pass


def run_cells(
    cells: list[Cell], *, clients: dict[str, Any], ids_for: Any, report: Report
) -> Report:
    with quiet_request_logs():
        for cell in cells:
            route = cell.route
            ids = ids_for(cell.principal, cell.owner)
            url = route.href.format(**ids)
            client = clients[(route.channel, cell.principal)]
            method = route.method.lower()
            extra: dict[str, Any] = {}
            if route.htmx:
                extra["HTTP_HX_REQUEST"] = "true"
            check_writes = route.method in WRITE_METHODS and cell.expected_kind != "allow"
            cookies = copy.deepcopy(
                client.cookies
            )  # logout/language must not leak into the next cell
            try:
                with transaction.atomic():
                    before = fingerprint() if check_writes else None
                    if route.channel == "ninja":
                        body = route.body(ids) if route.body else None
                        if method == "get":
                            response = client.get(url, **extra)
                        else:
                            response = getattr(client, method)(
                                url,
                                json.dumps(body) if body is not None else "",
                                content_type="application/json",
                                **extra,
                            )
                    else:
                        data = route.body(ids) if route.body else {}
                        response = (
                            client.get(url, data, **extra)
                            if method == "get"
                            else client.post(url, data, **extra)
                        )
                    wrote = check_writes and fingerprint() != before
                    result = Result(cell, response.status_code, response.get("Location"), wrote)
                    raise Rollback
            except Rollback:
                pass
            client.cookies = cookies
            report.add(result)
    return report


# --- reporting ----------------------------------------------------------------------------------


def environment() -> str:
    engine = connection.vendor
    if engine == "sqlite":
        version = sqlite3.sqlite_version
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
    return f"engine {engine} {version}, git {git_sha()}, {os.uname().machine} x{os.cpu_count()}"


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def record_figures(row: str, figures: dict[str, Any]) -> None:
    """Print the figures; with VORONKA_BATTERY_DIR set also write them as JSON (one file per row
    and xdist worker — the battery script collects them)."""
    from factories import report_figures

    line = json.dumps(
        {
            "row": row,
            **figures,
            "environment": environment(),
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        ensure_ascii=False,
    )
    report_figures(line)
    out = os.environ.get("VORONKA_BATTERY_DIR")
    if out:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        path = Path(out) / f"{re.sub(r'[^a-z0-9]+', '-', row.lower())}-{worker}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


__all__ = ["NINJA", "Report", "all_routes", "cells_for", "run_cells", "unmapped_routes"]
