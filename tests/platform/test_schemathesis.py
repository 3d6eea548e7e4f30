"""RELIABILITY row 5 — API-FUZZ smoke (tier A, ≤ 3 min): schemathesis 4 (`st run`) against
/api/v1/openapi.json served by gunicorn on 127.0.0.1, once per role (owner, manager), with a Bearer
token each, `--max-examples 20`, a fixed seed, all phases (examples, coverage, fuzzing, stateful).

Checks: all of schemathesis' checks except two, excluded on purpose:
- positive_data_acceptance — the services reject schema-valid data that breaks business rules
  (INN/OGRN checksums, unknown or out-of-scope ids, stage of another pipeline, page limits…) with a
  4xx naming the field; the schema cannot express those rules, so this check reports them all.
- negative_data_rejection — django-ninja validates with pydantic's lax mode. Ids, versions and
  other integers of bodies are strict (kernel.schemas.Id/Version, StrictInt; issue 7 item 5,
  tests/api/test_api_strict_ids.py), but other types still coerce (a boolean takes 0/1 or "true");
  the value then goes through the same service validation as any other, so nothing invalid is
  stored, but the check counts the coercion.
Pass: schemathesis exits 0 — 0 server errors (5xx), 0 response-schema violations, 0 ignored-auth,
every operation tested. Reports (JUnit, NDJSON with curl reproducers) stay in the test's tmp dir.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from platform_support import (
    VENV_BIN,
    DatabaseFactory,
    Gunicorn,
    figures,
    seed_crm,
    seed_users,
    server_env,
)

SEED = 20260
MAX_EXAMPLES = 20
EXCLUDED = ["positive_data_acceptance", "negative_data_rejection"]


@pytest.fixture(scope="module")
def api_server(
    tmp_path_factory: pytest.TempPathFactory, server_databases: DatabaseFactory
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    env = server_env(
        tmp / "data", production=False
    )  # the OpenAPI document is public outside production
    with server_databases.database(env):
        users = seed_users(
            env,
            [
                ("owner", "owner", "Owner-password-2026"),
                ("manager", "manager", "Manager-password-2026"),
            ],
        )
        seed_crm(env, ["owner", "manager"])
        with Gunicorn(env, log_path=tmp / "gunicorn.log") as server:
            yield {"server": server, "users": users, "tmp": tmp}


def parse_summary(output: str) -> dict[str, Any]:
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated, (.*)", output)
    failures = {
        m.group(1): int(m.group(3)) for m in re.finditer(r"(ST\d+) ([^:\n]+): (\d+)", output)
    }
    warnings = re.findall(r"⚠️ ([^\n]+)", output)
    return {
        "operations_selected": f"{selected.group(1)}/{selected.group(2)}" if selected else None,
        "operations_tested": int(tested.group(1)) if tested else 0,
        "operations_total": int(selected.group(2)) if selected else None,
        "test_cases": cases.group(0).strip() if cases else None,
        "failures_by_check": failures,
        "server_errors_5xx": failures.get("ST101", 0),
        "warnings": warnings,
    }


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_schemathesis_smoke(api_server: dict[str, Any], role: str) -> None:
    server: Gunicorn = api_server["server"]
    token = api_server["users"][role]["token"]
    report_dir: Path = api_server["tmp"] / f"report-{role}"
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(VENV_BIN / "st"),
            "run",
            f"{server.base_url}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--checks",
            "all",
            "--exclude-checks",
            ",".join(EXCLUDED),
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--report",
            "junit,ndjson",
            "--report-dir",
            str(report_dir),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=api_server["tmp"],  # its caches stay out of the repo
    )
    output = proc.stdout + proc.stderr
    summary = parse_summary(output)
    figures(
        f"5 API-FUZZ smoke ({role})",
        seed=SEED,
        max_examples=MAX_EXAMPLES,
        excluded_checks=EXCLUDED,
        exit=proc.returncode,
        seconds=round(time.monotonic() - started, 1),
        **summary,
    )
    assert proc.returncode == 0, output[-12000:] + "\n--- server log ---\n" + server.log_tail(80)
    assert summary["failures_by_check"] == {}
    assert (
        summary["operations_total"] and summary["operations_tested"] == summary["operations_total"]
    )


def test_schemathesis_control_a_failing_check_is_reported(api_server: dict[str, Any]) -> None:
    """The harness must see failures: the excluded positive_data_acceptance check on POST /companies
    (INN checksums reject schema-valid strings) has to come back red and be parsed as such."""
    server: Gunicorn = api_server["server"]
    proc = subprocess.run(
        [
            str(VENV_BIN / "st"),
            "run",
            f"{server.base_url}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {api_server['users']['owner']['token']}",
            "--include-path",
            "/api/v1/companies",
            "--include-method",
            "POST",
            "--phases",
            "coverage,fuzzing",
            "--checks",
            "positive_data_acceptance",
            "--max-examples",
            "10",
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=api_server["tmp"],
    )
    summary = parse_summary(proc.stdout + proc.stderr)
    assert proc.returncode != 0 and summary["failures_by_check"], proc.stdout[-3000:]
