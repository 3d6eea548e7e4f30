"""RELIABILITY row 1 — the authorization matrix, as data.

    principal × record scope × action × channel → expected outcome

* Principals (tests/conftest.py personas): owner, admin, head_root (head of the parent department:
  the subtree), head_a, head_b, managers a1, a2 (same department), a11 (sub-department), b1 (other
  department), deact (deactivated), anonymous, integration (a scoped API token of manager a1).
* Records: each responsible persona owns one deal, company, spare company, contact and task.
  Relative to a principal a record's owner is its *scope*: own, colleague, sub-dept, parent-dept,
  other dept, owner-deactivated (``deact``'s records) or unassigned (``admin`` has no department —
  ``responsible`` is NOT NULL, so "no department" is how an unassigned record looks here).
* ``VISIBLE`` is the expected visibility, written out by hand (not computed by scopes.py);
  ``CAN_DELETE``, ``CAN_CONFIGURE``, ``CONTROL`` list who holds those rights.
* ``ROUTES``: every ninja operation and every Django URL pattern, each with its action, the
  record it acts on (or none) and the rule giving the expected status. ``harness.unmapped_routes``
  fails the run for any route of the application missing here.

Actions without a route yet (import-update-by-id, attach): no cells; the day a route appears,
the unmapped-route check demands its entries. Export: every active principal may export a list
(the default roles grant `can_export`); which rows it holds is tests/transfer/test_export.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ALL_OWNERS = frozenset(
    {"owner", "admin", "head_root", "head_a", "a1", "a2", "a11", "deact", "head_b", "b1"}
)
TREE = ALL_OWNERS - {"admin"}  # everyone with a department

PRINCIPALS = [
    "owner",
    "admin",
    "head_root",
    "head_a",
    "head_b",
    "a1",
    "a2",
    "a11",
    "b1",
    "deact",
    "anonymous",
    "integration",
]
# Authenticated and active (deact's token and session are refused; anonymous has none).
ACTIVE = frozenset(PRINCIPALS) - {"deact", "anonymous"}

# Whose records each principal may see (deals, companies, contacts and tasks alike: every
# default role has the same scope for the four entities).
VISIBLE: dict[str, frozenset[str]] = {
    "owner": ALL_OWNERS,
    "admin": ALL_OWNERS,
    "head_root": TREE,
    "head_a": frozenset({"head_a", "a1", "a2", "a11", "deact"}),
    "head_b": frozenset({"head_b", "b1"}),
    "a1": frozenset({"a1"}),
    "a2": frozenset({"a2"}),
    "a11": frozenset({"a11"}),
    "b1": frozenset({"b1"}),
    "integration": frozenset({"a1"}),
    "deact": frozenset(),
    "anonymous": frozenset(),
}
CAN_DELETE = frozenset({"owner", "admin", "head_root", "head_a", "head_b"})
CAN_CONFIGURE = frozenset({"owner", "admin"})
CONTROL = frozenset({"owner", "admin", "head_root", "head_a", "head_b"})  # the control screen
# Departments whose control table a principal may open (root, a, a1grp, b).
CONTROL_DEPTS: dict[str, frozenset[str]] = {
    "owner": frozenset({"root", "a", "a1grp", "b"}),
    "admin": frozenset({"root", "a", "a1grp", "b"}),
    "head_root": frozenset({"root", "a", "a1grp", "b"}),
    "head_a": frozenset({"a", "a1grp"}),
    "head_b": frozenset({"b"}),
}


DEPARTMENT_OF = {
    "owner": "root",
    "head_root": "root",
    "head_a": "a",
    "a1": "a",
    "a2": "a",
    "deact": "a",
    "a11": "a1grp",
    "head_b": "b",
    "b1": "b",
    "admin": None,
}
PARENT = {"a1grp": "a", "a": "root", "b": "root"}


def _ancestors(dept: str | None) -> list[str]:
    chain = []
    while dept in PARENT:
        dept = PARENT[dept]
        chain.append(dept)
    return chain


def scope_label(principal: str, owner: str) -> str:
    """The record's scope relative to the principal (reports only; expectations are VISIBLE)."""
    me = "a1" if principal == "integration" else principal
    mine, theirs = DEPARTMENT_OF.get(me), DEPARTMENT_OF[owner]
    if owner == me:
        return "own"
    if owner == "deact":
        return "owner-deactivated"
    if theirs is None:
        return "unassigned"
    if mine == theirs:
        return "colleague"
    if mine is not None and mine in _ancestors(theirs):
        return "sub-dept"
    if mine is not None and theirs in _ancestors(mine):
        return "parent-dept"
    return "other-dept"


# --- routes -----------------------------------------------------------------------------------

Ids = dict[str, Any]  # placeholders for paths and bodies (see harness.ids_for)


@dataclass(frozen=True)
class Route:
    """One action on one route through one channel.

    ``pattern`` is the route as the application declares it: the OpenAPI path for ninja
    operations ("/api/v1/deals/{deal_id}"), the Django route for the others ("deals/<int:deal_id>/").
    ``href`` is the URL with ``{placeholders}`` from ``Ids``; ``target`` the record kind the
    action works on (None for collection/self/config routes); ``rule`` picks the expected status:

    record   — the target record must be visible: ``ok`` else 404
    delete   — visible and CAN_DELETE: ``ok``; visible without the right: 403; invisible: 404
    merge_pair — the target merged into the principal's own record: itself 422; invisible 404;
               visible without CAN_DELETE 403; else ``ok``
    auth     — any active principal: ``ok``
    configure— CAN_CONFIGURE: ``ok`` else 403
    control  — CONTROL: ``ok`` else 403
    control_b— CONTROL_DEPTS containing "b": ``ok``; other heads 404; managers 403
    public   — everyone, anonymous included: ``ok``
    login_page — the login form: 200 without a session, 302 home with one
    staff    — Django admin: nobody here is staff → redirect to a login page

    Unauthenticated principals (anonymous, deact) get 401 on ninja, a redirect to the login page
    on htmx/django pages (unless ``public``).
    """

    channel: str  # "ninja" | "htmx"
    method: str
    pattern: str
    action: str
    href: str
    rule: str
    ok: int = 200
    target: str | None = None  # deal | company | spare_company | contact | task
    body: Callable[[Ids], Any] | None = None
    htmx: bool = False  # send HX-Request: true
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _j(**values: Any) -> Callable[[Ids], Any]:
    """A body whose string values may name placeholders: "{me}" → ids["me"]."""

    def build(ids: Ids) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
                out[key] = ids[value[1:-1]]
            elif isinstance(value, list):
                out[key] = [
                    ids[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v for v in value
                ]
            else:
                out[key] = value
        return out

    return build


NINJA: list[Route] = [
    # deals
    Route(
        "ninja",
        "GET",
        "/api/v1/deals/{deal_id}",
        "view",
        "/api/v1/deals/{deal}",
        "record",
        target="deal",
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/deals/{deal_id}",
        "edit",
        "/api/v1/deals/{deal}",
        "record",
        target="deal",
        body=_j(title="matrix edit"),
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/deals/{deal_id}",
        "reassign",
        "/api/v1/deals/{deal}",
        "record",
        target="deal",
        body=_j(responsible="{me}"),
    ),
    Route(
        "ninja",
        "DELETE",
        "/api/v1/deals/{deal_id}",
        "delete",
        "/api/v1/deals/{deal}",
        "delete",
        ok=204,
        target="deal",
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/deals/{deal_id}/move",
        "stage_change",
        "/api/v1/deals/{deal}/move",
        "record",
        target="deal",
        body=_j(stage="{stage_talks}"),
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/deals/{deal_id}/timeline",
        "view_history",
        "/api/v1/deals/{deal}/timeline",
        "record",
        target="deal",
    ),
    Route("ninja", "GET", "/api/v1/deals", "list", "/api/v1/deals", "auth"),
    # export (transfer.export): the list as a file, rows in the caller's scope (tests/transfer)
    Route(
        "ninja", "GET", "/api/v1/deals/export", "export", "/api/v1/deals/export?format=csv", "auth"
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/deals",
        "create",
        "/api/v1/deals",
        "auth",
        ok=201,
        body=_j(title="matrix deal", company="{own_company}"),
    ),
    # companies
    Route(
        "ninja",
        "GET",
        "/api/v1/companies/{company_id}",
        "view",
        "/api/v1/companies/{company}",
        "record",
        target="company",
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/companies/{company_id}",
        "edit",
        "/api/v1/companies/{company}",
        "record",
        target="company",
        body=_j(comment="matrix edit"),
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/companies/{company_id}",
        "reassign",
        "/api/v1/companies/{company}",
        "record",
        target="company",
        body=_j(responsible="{me}"),
    ),
    Route(
        "ninja",
        "DELETE",
        "/api/v1/companies/{company_id}",
        "delete",
        "/api/v1/companies/{spare_company}",
        "delete",
        ok=204,
        target="spare_company",
    ),
    Route("ninja", "GET", "/api/v1/companies", "list", "/api/v1/companies", "auth"),
    # export (transfer.export): the list as a file, rows in the caller's scope (tests/transfer)
    Route(
        "ninja",
        "GET",
        "/api/v1/companies/export",
        "export",
        "/api/v1/companies/export?format=csv",
        "auth",
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/companies",
        "create",
        "/api/v1/companies",
        "auth",
        ok=201,
        body=_j(name="ООО Матрица"),
    ),
    # merges (contacts.merge): the owner's record into the principal's own one; the undo of
    # the merge of a twin into the owner's company
    Route(
        "ninja",
        "POST",
        "/api/v1/companies/merge",
        "merge",
        "/api/v1/companies/merge",
        "delete",
        target="spare_company",
        body=_j(keep="{own_company}", merge=["{spare_company}"]),
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/contacts/merge",
        "merge",
        "/api/v1/contacts/merge",
        "merge_pair",
        target="contact",
        body=_j(keep="{own_contact}", merge=["{contact}"]),
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/merges/{merge_id}/undo",
        "merge_undo",
        "/api/v1/merges/{merge}/undo",
        "delete",
        target="company",
    ),
    Route("ninja", "GET", "/api/v1/merges", "list", "/api/v1/merges?entity=company", "auth"),
    # duplicate control (contacts.duplicate_selectors): the groups a principal sees whole, the
    # check (masked outside the scope), «not duplicates» on a group of the owner's company and
    # its spare (needs both), one scan at a time
    Route(
        "ninja", "GET", "/api/v1/duplicates", "list", "/api/v1/duplicates?entity=company", "auth"
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/duplicates/check",
        "view",
        "/api/v1/duplicates/check?phone=89161234567",
        "auth",
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/duplicates/{group_id}/dismiss",
        "update",
        "/api/v1/duplicates/{dup_group}/dismiss",
        "record",
        target="company",
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/duplicates/scan",
        "create",
        "/api/v1/duplicates/scan?entity=company",
        "auth",
        ok=202,
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/duplicates/scans/{scan_id}",
        "view",
        "/api/v1/duplicates/scans/{dup_scan}",
        "auth",
    ),
    # contacts
    Route(
        "ninja",
        "GET",
        "/api/v1/contacts/{contact_id}",
        "view",
        "/api/v1/contacts/{contact}",
        "record",
        target="contact",
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/contacts/{contact_id}",
        "edit",
        "/api/v1/contacts/{contact}",
        "record",
        target="contact",
        body=_j(position="matrix"),
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/contacts/{contact_id}",
        "reassign",
        "/api/v1/contacts/{contact}",
        "record",
        target="contact",
        body=_j(responsible="{me}"),
    ),
    Route(
        "ninja",
        "DELETE",
        "/api/v1/contacts/{contact_id}",
        "delete",
        "/api/v1/contacts/{contact}",
        "delete",
        ok=204,
        target="contact",
    ),
    Route("ninja", "GET", "/api/v1/contacts", "list", "/api/v1/contacts", "auth"),
    # the one search (decision 0019): deals, companies, contacts within the caller's scope
    Route("ninja", "GET", "/api/v1/search", "list", "/api/v1/search?q=Матрица", "auth"),
    # export (transfer.export): the list as a file, rows in the caller's scope (tests/transfer)
    Route(
        "ninja",
        "GET",
        "/api/v1/contacts/export",
        "export",
        "/api/v1/contacts/export?format=csv",
        "auth",
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/contacts",
        "create",
        "/api/v1/contacts",
        "auth",
        ok=201,
        body=_j(first_name="Матрица", company="{own_company}"),
    ),
    # tasks
    Route(
        "ninja",
        "GET",
        "/api/v1/tasks/{task_id}",
        "view",
        "/api/v1/tasks/{task}",
        "record",
        target="task",
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/tasks/{task_id}",
        "edit",
        "/api/v1/tasks/{task}",
        "record",
        target="task",
        body=_j(comment="matrix edit"),
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/tasks/{task_id}",
        "reassign",
        "/api/v1/tasks/{task}",
        "record",
        target="task",
        body=_j(responsible="{me}"),
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/tasks/{task_id}/complete",
        "complete",
        "/api/v1/tasks/{task}/complete",
        "record",
        target="task",
        body=_j(result="done"),
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/tasks/{task_id}/reschedule",
        "reschedule",
        "/api/v1/tasks/{task}/reschedule",
        "record",
        target="task",
        body=_j(deadline="{later}", reason="matrix"),
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/tasks/{task_id}/history",
        "view_history",
        "/api/v1/tasks/{task}/history",
        "record",
        target="task",
    ),
    Route("ninja", "GET", "/api/v1/tasks", "list", "/api/v1/tasks", "auth"),
    # export (transfer.export): the list as a file, rows in the caller's scope (tests/transfer)
    Route(
        "ninja", "GET", "/api/v1/tasks/export", "export", "/api/v1/tasks/export?format=csv", "auth"
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/tasks",
        "create",
        "/api/v1/tasks",
        "auth",
        ok=201,
        body=_j(
            type="call",
            responsible="{me}",
            deadline="{later}",
            comment="matrix",
            company="{own_company}",
        ),
    ),
    # pipelines and configuration
    Route("ninja", "GET", "/api/v1/pipelines", "list", "/api/v1/pipelines", "auth"),
    Route(
        "ninja",
        "POST",
        "/api/v1/pipelines",
        "configure",
        "/api/v1/pipelines",
        "configure",
        ok=201,
        body=_j(name="Матрица"),
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/pipelines/loss-reasons",
        "list",
        "/api/v1/pipelines/loss-reasons",
        "auth",
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/pipelines/custom-fields",
        "list",
        "/api/v1/pipelines/custom-fields",
        "auth",
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/pipelines/custom-fields",
        "configure",
        "/api/v1/pipelines/custom-fields",
        "configure",
        ok=201,
        body=_j(key="matrix_field", name="Матрица", type="string"),
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/pipelines/{pipeline_id}",
        "view",
        "/api/v1/pipelines/{pipeline}",
        "auth",
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/pipelines/{pipeline_id}",
        "configure",
        "/api/v1/pipelines/{pipeline}",
        "configure",
        body=_j(name="Переименована"),
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/pipelines/{pipeline_id}/stages",
        "configure",
        "/api/v1/pipelines/{pipeline}/stages",
        "configure",
        ok=201,
        body=_j(name="Новая стадия"),
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/pipelines/{pipeline_id}/stages/{stage_id}",
        "configure",
        "/api/v1/pipelines/{pipeline}/stages/{stage_talks}",
        "configure",
        body=_j(name="Переговоры+"),
    ),
    Route(
        "ninja",
        "DELETE",
        "/api/v1/pipelines/{pipeline_id}/stages/{stage_id}",
        "configure",
        "/api/v1/pipelines/{other_pipeline}/stages/{empty_stage}",
        "configure",
        ok=204,
    ),
    # the caller's own things
    Route("ninja", "GET", "/api/v1/me/counters", "self", "/api/v1/me/counters", "auth"),
    Route("ninja", "GET", "/api/v1/me/notifications", "self", "/api/v1/me/notifications", "auth"),
    Route(
        "ninja",
        "POST",
        "/api/v1/me/notifications/read",
        "self",
        "/api/v1/me/notifications/read",
        "auth",
        body=_j(),
    ),
    Route("ninja", "GET", "/api/v1/control", "view", "/api/v1/control", "control"),
    Route(
        "ninja",
        "GET",
        "/api/v1/control",
        "view_other_dept",
        "/api/v1/control?department={dept_b}",
        "control_b",
    ),
    # automation rules and runs (can_configure)
    Route(
        "ninja",
        "GET",
        "/api/v1/automation/rules",
        "configure",
        "/api/v1/automation/rules",
        "configure",
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/automation/rules",
        "configure",
        "/api/v1/automation/rules",
        "configure",
        ok=201,
        body=_j(
            kind="robot",
            name="Матрица API",
            stage="{stage_talks}",
            action="create_task",
            params={"comment": "Позвонить"},
        ),
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/automation/rules/{rule_id}",
        "configure",
        "/api/v1/automation/rules/{automation_rule}",
        "configure",
    ),
    Route(
        "ninja",
        "PATCH",
        "/api/v1/automation/rules/{rule_id}",
        "configure",
        "/api/v1/automation/rules/{automation_rule}",
        "configure",
        body=_j(enabled=False),
    ),
    Route(
        "ninja",
        "DELETE",
        "/api/v1/automation/rules/{rule_id}",
        "configure",
        "/api/v1/automation/rules/{automation_rule}",
        "configure",
        ok=204,
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/automation/runs",
        "configure",
        "/api/v1/automation/runs",
        "configure",
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/automation/runs/{run_id}/retry",
        "configure",
        "/api/v1/automation/runs/{automation_run}/retry",
        "configure",
    ),
    # requisites auto-fill (any active user; it only reads the outside registry). Nothing is
    # configured in the matrix run: an allowed call answers 409 provider_not_configured.
    Route(
        "ninja",
        "POST",
        "/api/v1/requisites/lookup",
        "lookup",
        "/api/v1/requisites/lookup",
        "auth",
        ok=409,
        body=_j(inn="7707083893"),
    ),
    # outgoing webhooks (can_configure)
    Route(
        "ninja",
        "GET",
        "/api/v1/webhooks/endpoints",
        "configure",
        "/api/v1/webhooks/endpoints",
        "configure",
    ),
    Route(
        "ninja",
        "POST",
        "/api/v1/webhooks/endpoints",
        "configure",
        "/api/v1/webhooks/endpoints",
        "configure",
        ok=201,
        body=_j(name="Матрица", url="https://hooks.example.test/matrix"),
    ),
    Route(
        "ninja",
        "DELETE",
        "/api/v1/webhooks/endpoints/{endpoint_id}",
        "configure",
        "/api/v1/webhooks/endpoints/{webhook}",
        "configure",
        ok=204,
    ),
    Route(
        "ninja",
        "GET",
        "/api/v1/webhooks/deliveries",
        "configure",
        "/api/v1/webhooks/deliveries",
        "configure",
    ),
]

# Ninja's own routes (not operations of the schema): public while developing (settings
# VORONKA_API_DOCS_PUBLIC; production puts the docs behind login — the hardening row checks that).
NINJA_META: list[Route] = [
    Route("ninja", "GET", "api/v1/openapi.json", "docs", "/api/v1/openapi.json", "public"),
    Route("ninja", "GET", "api/v1/docs", "docs", "/api/v1/docs", "public"),
    Route(
        "ninja",
        "GET",
        "api/v1/",
        "docs",
        "/api/v1/",
        "public",
        ok=404,
        note="ninja's api-root: no home page",
    ),
]

# Django admin: every pattern under admin/ is covered by these probes (nobody here is staff).
ADMIN_PREFIX = "admin/"
ADMIN: list[Route] = [
    Route("htmx", "GET", "admin/", "admin", "/admin/", "staff", ok=302),
    Route("htmx", "GET", "admin/auth/group/", "admin", "/admin/auth/group/", "staff", ok=302),
]

# UI routes (htmx channel): filled in by tests/authz/matrix_htmx.py.
HTMX: list[Route] = []


def all_routes() -> list[Route]:
    from authz.matrix_htmx import HTMX_ROUTES

    return [*NINJA, *NINJA_META, *ADMIN, *HTMX, *HTMX_ROUTES]
