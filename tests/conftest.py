"""Shared fixtures of the whole test suite (domain, API, authorization, web, e2e, platform).

What is here, in the order a test usually needs it:

Database
  * SQLite runs on a *file* test database (not pytest-django's in-memory default) with the
    product's settings (WAL, ``transaction_mode=IMMEDIATE``, busy timeout), so threaded tests
    (RELIABILITY row 11) see real SQLite locking. Every xdist worker gets its own file under its
    own temporary directory. With ``DATABASE_URL=postgres://…`` the test database is the usual
    ``test_<name>_gw<N>`` on that server.
  * Audit rows are append-only (a trigger, kernel/migrations/0002) unless the table
    ``kernel_audit_unlock`` has a row. ``transactional_db``/``live_server`` tests flush the
    tables afterwards, so for them the row is inserted *before* the test (autouse fixture
    ``_audit_lock_state``); ordinary ``db`` tests start *locked*, like production. A test that
    checks append-only behaviour requests ``audit_locked`` (locked in either kind of test).
    ``set_audit_lock(locked=...)`` is the primitive.

People (RELIABILITY row 1 personas), fixture ``personas`` → ``dict[str, Persona]``::

    Компания (root, head: head_root; owner sits here)
    ├── Отдел продаж A (head_a; managers a1, a2; deactivated manager "deact")
    │   └── Группа A-1 (manager a11)
    └── Отдел продаж B (head_b; manager b1)
    admin — role admin, no department ("unassigned" records are the admin's)

  Keys: owner, admin, head_root, head_a, head_b, a1, a2, a11, b1, deact (is_active=False, its
  records were created while it was active), anonymous (no user, no token) and integration
  (a second API token of manager a1: "scoped integration token"). Every persona with a user has
  ``.token`` (raw bearer token). Roles come from ``roles_ensure_defaults()``.

Configuration, fixture ``pipeline`` → ``PipelineSetup``: pipeline "Продажа" with stages new,
  talks (open), contract (open, ``required_fields=["contract_no"]``), won, lost; pipeline
  "Обзвон" (``other``) with its own stages and an empty deletable stage; loss reasons; deal
  custom fields of every type (key = type name, plus ``contract_no``), company and contact
  custom fields.

Records, fixture ``records`` → ``dict[responsible_key, Records]``: for each of owner, admin,
  head_root, head_a, a1, a2, a11, deact, head_b, b1 a company (with an address), a spare
  company (nothing attached: deletable), a contact (phone + e-mail) of that company, a deal in
  "Продажа/new" and an open task on the company — all created through the services by
  ``Actor.system()``, then the events dispatched to the consumers (``events_dispatch()``, what
  ``voronka worker`` does): each responsible has its "new task" notification. Titles carry the key (``"Сделка a1"``) so pages can be checked by text.

Clients
  * ``api(persona_or_key)`` → ``django.test.Client`` with ``Authorization: Bearer <token>``
    (no header for anonymous) and JSON helpers ``.get_json/.post_json/.patch_json``.
  * ``web(persona_or_key)`` → ``Client`` logged in with the session (``force_login``); anonymous
    gets a fresh client. Use for htmx/UI routes.

Helpers: ``table_counts()`` / ``nothing_written`` (counts of every project table before/after).
"""

from __future__ import annotations

import os
import unittest
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from factories import (  # noqa: F401  (re-exported for tests that import from conftest)
    FIGURES,
    ApiClient,
    PipelineSetup,
    Records,
    build_pipeline,
    build_records,
    set_audit_lock,
    table_counts,
    while_active,
)

# Hypothesis: deterministic (derandomized) examples, no example database on disk (xdist workers
# must not share files), no deadline (CI machines are slow and noisy).
hypothesis_settings.register_profile(
    "voronka",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "voronka"))


# --- reliability figures in the terminal summary ----------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    while FIGURES:  # user_properties travel from xdist workers to the controller
        report.user_properties.append(("figures", FIGURES.pop(0)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        for key, value in getattr(report, "user_properties", [])
        if key == "figures"
    ]
    if lines:
        terminalreporter.section(
            "reliability figures (RELIABILITY.md rows; raw numerators/denominators)"
        )
        for line in lines:
            terminalreporter.write_line(line)


# --- database ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """SQLite: a file-based test database (per xdist worker) so threads really share it."""
    from django.conf import settings

    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "main")
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        directory = tmp_path_factory.mktemp(f"sqlite-{worker_id}")
        db.setdefault("TEST", {})["NAME"] = str(directory / f"test-{worker_id}.sqlite3")


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher() -> Iterator[None]:
    """MD5 hashing in tests (argon2 costs ~50 ms per login). Platform tests that check the
    product's hashers restore them with the ``settings`` fixture."""
    from django.test.utils import override_settings

    override = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    override.enable()
    yield
    override.disable()


def _uses_db(request: pytest.FixtureRequest) -> tuple[bool, bool]:
    """(uses the database, is transactional) — the same rules pytest-django applies."""
    if isinstance(getattr(request, "instance", None), unittest.TestCase):
        return False, False
    names = request.fixturenames
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in names or "live_server" in names
    if marker is not None:
        transactional = transactional or bool(
            marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")
        )
    uses = marker is not None or transactional or "db" in names
    return uses, transactional


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Every test starts in the default language: a request through the test client activates
    its language in this thread (LocaleMiddleware) and it would stay for the next test."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _audit_lock_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Transactional tests: unlock audit rows before the test so the flush afterwards works.
    Ordinary tests: start locked (inside the test transaction, rolled back with it)."""
    uses, transactional = _uses_db(request)
    if not uses:
        yield
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    set_audit_lock(locked=not transactional)
    yield
    if transactional:
        set_audit_lock(locked=False)  # a test may have locked it; the flush comes next


@pytest.fixture
def audit_locked(_audit_lock_state: None) -> Iterator[None]:
    """Audit rows are append-only during the test (the production state)."""
    set_audit_lock(locked=True)
    yield
    set_audit_lock(locked=False)


# --- personas ---------------------------------------------------------------------------------


@dataclass
class Persona:
    key: str
    user: Any = None  # identity.models.User | None (anonymous)
    token: str | None = None
    role: str = ""
    description: str = ""

    @property
    def pk(self) -> int | None:
        return self.user.pk if self.user is not None else None

    @property
    def active(self) -> bool:
        return self.user is not None and self.user.is_active


@dataclass
class Org:
    roles: dict[str, Any]
    departments: dict[str, Any]
    personas: dict[str, Persona] = field(default_factory=dict)


# key: (role, department key or None, description)
PERSONA_SPECS: dict[str, tuple[str, str | None, str]] = {
    "owner": ("owner", "root", "Собственник (role owner, root department)"),
    "admin": ("admin", None, "Администратор (role admin, no department)"),
    "head_root": ("head", "root", "Head of the parent department (sees the whole tree)"),
    "head_a": ("head", "a", "Head of Отдел продаж A"),
    "head_b": ("head", "b", "Head of Отдел продаж B"),
    "a1": ("manager", "a", "Manager A1"),
    "a2": ("manager", "a", "Manager A2 (same department as A1)"),
    "a11": ("manager", "a1grp", "Manager of sub-department Группа A-1"),
    "b1": ("manager", "b", "Manager B1 (other department)"),
    "deact": ("manager", "a", "Deactivated manager of department A"),
}
# Users who own fixture records (everyone with a user; "integration" is a1's second token).
RESPONSIBLE_KEYS = [
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


@pytest.fixture
def org(db: None) -> Org:
    """Roles, the department tree and the personas (users + tokens). See module docstring."""
    from voronka.identity.models import User
    from voronka.identity.services import api_token_create, department_create, roles_ensure_defaults

    roles = roles_ensure_defaults()
    root = department_create(name="Компания")
    dept_a = department_create(name="Отдел продаж A", parent=root)
    dept_a1 = department_create(name="Группа A-1", parent=dept_a)
    dept_b = department_create(name="Отдел продаж B", parent=root)
    departments = {"root": root, "a": dept_a, "a1grp": dept_a1, "b": dept_b}
    result = Org(roles=roles, departments=departments)
    for key, (role, dept_key, description) in PERSONA_SPECS.items():
        user = User.objects.create_user(
            username=key,
            email=f"{key}@example.test",
            first_name=key.upper(),
            last_name="Тестов",
            department=departments[dept_key] if dept_key else None,
        )
        user.roles.add(roles[role])
        _token, raw = api_token_create(user=user, name=f"{key} token")
        result.personas[key] = Persona(
            key=key, user=user, token=raw, role=role, description=description
        )
    for dept_key, head_key in (("root", "head_root"), ("a", "head_a"), ("b", "head_b")):
        departments[dept_key].head = result.personas[head_key].user
        departments[dept_key].save(update_fields=["head"])
    deact = result.personas["deact"].user
    deact.is_active = False
    deact.save(update_fields=["is_active"])
    a1 = result.personas["a1"].user
    _token, raw = api_token_create(user=a1, name="integration")
    result.personas["integration"] = Persona(
        key="integration",
        user=a1,
        token=raw,
        role="manager",
        description="Scoped integration token (a second API token of manager A1)",
    )
    result.personas["anonymous"] = Persona(key="anonymous", description="No session, no token")
    return result


@pytest.fixture
def personas(org: Org) -> dict[str, Persona]:
    """Personas by key (see the module docstring)."""
    return org.personas


@pytest.fixture
def pipeline(db: None) -> PipelineSetup:
    """Two pipelines, loss reasons and custom fields of every type (see factories.build_pipeline)."""
    return build_pipeline()


@pytest.fixture
def records(org: Org, pipeline: PipelineSetup) -> dict[str, Records]:
    """Company, spare company, contact, deal and task per responsible persona. The deactivated
    manager's records are created while it is briefly active again (owner-deactivated scope).
    Their events are then handed to the consumers, as the worker would: each task (created by
    the system) has notified its responsible."""
    from voronka.kernel.outbox import events_dispatch

    with while_active(org.personas["deact"].user):
        built = build_records({k: org.personas[k].user for k in RESPONSIBLE_KEYS}, pipeline)
    events_dispatch()
    return built


# --- clients ----------------------------------------------------------------------------------


def _persona(personas: dict[str, Persona], who: Persona | str) -> Persona:
    return personas[who] if isinstance(who, str) else who


@pytest.fixture
def api(personas: dict[str, Persona]) -> Callable[[Persona | str], ApiClient]:
    """``api("a1")`` → a test client that sends ``Authorization: Bearer <a1's token>``."""

    def make(who: Persona | str) -> ApiClient:
        persona = _persona(personas, who)
        if persona.token:
            return ApiClient(HTTP_AUTHORIZATION=f"Bearer {persona.token}")
        return ApiClient()

    return make


@pytest.fixture
def web(personas: dict[str, Persona]) -> Callable[[Persona | str], Client]:
    """``web("head_a")`` → a test client logged in with a session (anonymous: not logged in;
    "integration": only its bearer token; "deact": a session of an inactive user)."""

    def make(who: Persona | str) -> Client:
        persona = _persona(personas, who)
        if persona.key == "integration":  # a token, no session: must not open pages
            return ApiClient(HTTP_AUTHORIZATION=f"Bearer {persona.token}")
        client = ApiClient()
        if persona.user is not None:
            client.force_login(persona.user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return make


# --- "a failed call wrote nothing" ------------------------------------------------------------


@pytest.fixture
def nothing_written() -> Callable[[], Any]:
    """``with nothing_written(): call()`` — asserts every project table has the same row count
    afterwards (exceptions from the block propagate; catch them inside the block)."""

    @contextmanager
    def check() -> Iterator[dict[str, int]]:
        before = table_counts()
        yield before
        after = table_counts()
        changed = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
        assert not changed, f"a refused call wrote rows: {changed}"

    return check
