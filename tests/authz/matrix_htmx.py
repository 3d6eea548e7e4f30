"""RELIABILITY row 1, htmx channel: the UI routes in the same structure as the ninja operations
(rules in matrix.py). Each cell is sent with the persona's *session*; the integration persona
sends only its bearer token, which must never authenticate a page. Forms that succeed redirect
(302, not to the login page); refusals are 403 (missing right) or 404 (record outside the scope);
without a session every page redirects to the login page.

A new URL pattern fails tests/authz/test_authz_matrix.py::test_every_route_is_in_the_matrix until
it gets its entries here."""

from __future__ import annotations

from authz.matrix import Route, _j


def page(pattern: str, action: str, href: str, rule: str, **kw: object) -> Route:
    return Route("htmx", kw.pop("method", "GET"), pattern, action, href, rule, **kw)  # type: ignore[arg-type]


def form(pattern: str, action: str, href: str, rule: str, **kw: object) -> Route:
    return Route("htmx", "POST", pattern, action, href, rule, ok=kw.pop("ok", 302), **kw)  # type: ignore[arg-type]


HTMX_ROUTES: list[Route] = [
    # --- web -------------------------------------------------------------------------------------
    page("login/", "login", "/login/", "login_page"),
    # The code step of the login: without a pending password login it sends a signed-in user
    # home and anyone else to /login/.
    page("login/2fa/", "login", "/login/2fa/", "login_step", ok=302),
    # Everyone may turn their authenticator on (owner/admin must, in production).
    page("account/2fa/", "self", "/account/2fa/", "auth"),
    form(
        "account/2fa/",
        "self",
        "/account/2fa/",
        "auth",
        ok=422,
        body=_j(action="confirm", code="000000"),
    ),
    form("logout/", "logout", "/logout/", "auth", extra={"redirects_to_login": True}),
    page("healthz", "health", "/healthz", "public"),
    # The language switch is on the login page too: visitors may use it (it only sets a cookie).
    form("language/", "self", "/language/", "public", body=_j(language="en", next="/deals/")),
    page("", "home", "/", "auth", ok=302),
    # The header search (scoped results; the dropdown is its htmx partial).
    page("search/", "search", "/search/?q=Компания", "auth"),
    page("search/", "search", "/search/?q=Компания", "auth", htmx=True),
    # --- deals: board, list, card ----------------------------------------------------------------
    page("pipelines/<int:pipeline_id>/board/", "list", "/pipelines/{pipeline}/board/", "auth"),
    page(
        "pipelines/<int:pipeline_id>/board/<int:stage_id>/more/",
        "list",
        "/pipelines/{pipeline}/board/{stage_new}/more/?offset=0",
        "auth",
        htmx=True,
    ),
    page("deals/", "list", "/deals/", "auth"),
    page("deals/export/", "export", "/deals/export/?format=csv", "auth"),
    page("deals/new/", "create", "/deals/new/", "auth"),
    form(
        "deals/new/",
        "create",
        "/deals/new/",
        "auth",
        body=_j(title="Матрица UI", company="{own_company}"),
    ),
    page("deals/<int:deal_id>/", "view", "/deals/{deal}/", "record", target="deal"),
    page("deals/<int:deal_id>/", "edit_form", "/deals/{deal}/?edit=1", "record", target="deal"),
    form(
        "deals/<int:deal_id>/",
        "edit",
        "/deals/{deal}/",
        "record",
        target="deal",
        body=_j(title="UI edit"),
    ),
    form(
        "deals/<int:deal_id>/",
        "reassign",
        "/deals/{deal}/",
        "record",
        target="deal",
        body=_j(title="UI reassign", responsible="{me}"),
    ),
    form(
        "deals/<int:deal_id>/move/",
        "stage_change",
        "/deals/{deal}/move/",
        "record",
        target="deal",
        body=_j(stage="{stage_talks}"),
    ),
    form(
        "deals/<int:deal_id>/move/",
        "stage_change",
        "/deals/{deal}/move/",
        "record",
        target="deal",
        body=_j(stage="{stage_talks}"),
        htmx=True,
        ok=200,
        note="drag on the board: the card partial",
    ),
    form(
        "deals/<int:deal_id>/comment/",
        "comment",
        "/deals/{deal}/comment/",
        "record",
        target="deal",
        body=_j(text="комментарий из матрицы"),
    ),
    form("deals/<int:deal_id>/delete/", "delete", "/deals/{deal}/delete/", "delete", target="deal"),
    # Files by their random token; the scope of the record that holds the file decides.
    page("files/<slug:file_token>/", "download", "/files/{deal_file}/", "record", target="deal"),
    # --- settings (can_configure) ----------------------------------------------------------------
    page("settings/pipelines/", "configure", "/settings/pipelines/", "configure"),
    form(
        "settings/pipelines/",
        "configure",
        "/settings/pipelines/",
        "configure",
        body=_j(name="UI воронка"),
    ),
    page(
        "settings/pipelines/<int:pipeline_id>/",
        "configure",
        "/settings/pipelines/{pipeline}/",
        "configure",
    ),
    # The pipeline's settings are one form (decision 0009): rename, stage rows, add, delete.
    form(
        "settings/pipelines/<int:pipeline_id>/",
        "configure",
        "/settings/pipelines/{pipeline}/",
        "configure",
        body=_j(pipeline_name="Продажа UI"),
    ),
    form(
        "settings/pipelines/<int:pipeline_id>/",
        "configure",
        "/settings/pipelines/{pipeline}/",
        "configure",
        body=_j(**{"new-name": "Стадия UI", "new-semantic": "open", "add": "1"}),
    ),
    form(
        "settings/pipelines/<int:pipeline_id>/",
        "configure",
        "/settings/pipelines/{other_pipeline}/",
        "configure",
        body=_j(delete="{empty_stage}"),
    ),
    # Settings → Integrations → Реквизиты (can_configure).
    page(
        "settings/integrations/requisites/",
        "configure",
        "/settings/integrations/requisites/",
        "configure",
    ),
    form(
        "settings/integrations/requisites/",
        "configure",
        "/settings/integrations/requisites/",
        "configure",
        body=_j(provider="dadata", api_key="matrix-key", base_url="https://dadata.example.test"),
    ),
    # Settings → Integrations → Webhooks (can_configure).
    page(
        "settings/integrations/webhooks/",
        "configure",
        "/settings/integrations/webhooks/",
        "configure",
    ),
    form(
        "settings/integrations/webhooks/",
        "configure",
        "/settings/integrations/webhooks/",
        "configure",
        body=_j(name="UI вебхук", url="https://hooks.example.test/ui"),
    ),
    form(
        "settings/integrations/webhooks/<int:endpoint_id>/toggle/",
        "configure",
        "/settings/integrations/webhooks/{webhook}/toggle/",
        "configure",
        body=_j(enabled="0"),
    ),
    form(
        "settings/integrations/webhooks/<int:endpoint_id>/delete/",
        "configure",
        "/settings/integrations/webhooks/{webhook}/delete/",
        "configure",
    ),
    form(
        "settings/integrations/webhooks/<int:endpoint_id>/test/",
        "configure",
        "/settings/integrations/webhooks/{webhook}/test/",
        "configure",
    ),
    form(
        "settings/integrations/webhooks/deliveries/<int:delivery_id>/retry/",
        "configure",
        "/settings/integrations/webhooks/deliveries/{webhook_delivery}/retry/",
        "configure",
    ),
    # Settings → Automation (can_configure): robots and triggers of a pipeline, the rule form,
    # monitors, the run log with retry, a rule's dry run.
    page("settings/automation/", "configure", "/settings/automation/", "configure", ok=302),
    page(
        "settings/pipelines/<int:pipeline_id>/automation/",
        "configure",
        "/settings/pipelines/{pipeline}/automation/",
        "configure",
    ),
    page(
        "settings/pipelines/<int:pipeline_id>/automation/new/",
        "configure",
        "/settings/pipelines/{pipeline}/automation/new/?kind=robot&stage={stage_talks}",
        "configure",
    ),
    form(
        "settings/pipelines/<int:pipeline_id>/automation/new/",
        "configure",
        "/settings/pipelines/{pipeline}/automation/new/",
        "configure",
        body=_j(
            kind="trigger",
            name="UI триггер",
            stage="{stage_talks}",
            event="task.completed",
            enabled="on",
        ),
    ),
    page(
        "settings/automation/rules/<int:rule_id>/",
        "configure",
        "/settings/automation/rules/{automation_rule}/",
        "configure",
    ),
    form(
        "settings/automation/rules/<int:rule_id>/",
        "configure",
        "/settings/automation/rules/{automation_rule}/",
        "configure",
        body=_j(
            kind="robot",
            name="UI робот",
            stage="{stage_talks}",
            action="create_task",
            **{"p-create_task-comment": "Позвонить"},
        ),
    ),
    form(
        "settings/automation/rules/<int:rule_id>/toggle/",
        "configure",
        "/settings/automation/rules/{automation_rule}/toggle/",
        "configure",
        body=_j(enabled="0"),
    ),
    form(
        "settings/automation/rules/<int:rule_id>/move/",
        "configure",
        "/settings/automation/rules/{automation_rule}/move/",
        "configure",
        body=_j(step="-1"),
    ),
    form(
        "settings/automation/rules/<int:rule_id>/delete/",
        "configure",
        "/settings/automation/rules/{automation_rule}/delete/",
        "configure",
    ),
    page(
        "settings/automation/rules/<int:rule_id>/dry-run/",
        "configure",
        "/settings/automation/rules/{automation_rule}/dry-run/",
        "configure",
        htmx=True,
    ),
    page(
        "settings/automation/monitors/", "configure", "/settings/automation/monitors/", "configure"
    ),
    page(
        "settings/automation/monitors/new/",
        "configure",
        "/settings/automation/monitors/new/",
        "configure",
    ),
    form(
        "settings/automation/monitors/new/",
        "configure",
        "/settings/automation/monitors/new/",
        "configure",
        body=_j(
            kind="monitor",
            name="UI монитор",
            monitor="deal_over_sla",
            action="notify",
            enabled="on",
            **{"p-notify-text": "Сделка {deal.title} дольше лимита"},
        ),
    ),
    page("settings/automation/runs/", "configure", "/settings/automation/runs/", "configure"),
    form(
        "settings/automation/runs/<int:run_id>/retry/",
        "configure",
        "/settings/automation/runs/{automation_run}/retry/",
        "configure",
    ),
    page("settings/fields/", "configure", "/settings/fields/", "configure"),
    form(
        "settings/fields/",
        "configure",
        "/settings/fields/",
        "configure",
        body=_j(entity="deal", key="ui_field", name="UI поле", type="string"),
    ),
    form(
        "settings/fields/<int:field_id>/toggle/",
        "configure",
        "/settings/fields/{field}/toggle/",
        "configure",
    ),
    # --- companies and contacts ------------------------------------------------------------------
    page("companies/", "list", "/companies/", "auth"),
    page("companies/export/", "export", "/companies/export/?format=csv", "auth"),
    page("companies/new/", "create", "/companies/new/", "auth"),
    # The company picker (type-ahead, scoped options) and its inline "new company" (htmx).
    page("companies/picker/", "list", "/companies/picker/?q=ООО", "auth", htmx=True),
    # "Find the client" on the deal form: contacts by name/phone/e-mail, scoped.
    page("contacts/picker/", "list", "/contacts/picker/?q=Иван", "auth", htmx=True),
    form(
        "companies/quick-create/",
        "create",
        "/companies/quick-create/",
        "auth",
        ok=201,
        htmx=True,
        body=_j(new_company_name="ООО Быстрая", new_company_type="legal"),
    ),
    form("companies/new/", "create", "/companies/new/", "auth", body=_j(name="ООО UI")),
    page(
        "companies/<int:company_id>/", "view", "/companies/{company}/", "record", target="company"
    ),
    page(
        "companies/<int:company_id>/edit/",
        "edit_form",
        "/companies/{company}/edit/",
        "record",
        target="company",
    ),
    form(
        "companies/<int:company_id>/edit/",
        "edit",
        "/companies/{company}/edit/",
        "record",
        target="company",
        body=_j(comment="UI edit"),
    ),
    form(
        "companies/<int:company_id>/edit/",
        "reassign",
        "/companies/{company}/edit/",
        "record",
        target="company",
        body=_j(responsible="{me}"),
    ),
    page("contacts/", "list", "/contacts/", "auth"),
    page("contacts/export/", "export", "/contacts/export/?format=csv", "auth"),
    page("contacts/new/", "create", "/contacts/new/", "auth"),
    form(
        "contacts/new/",
        "create",
        "/contacts/new/",
        "auth",
        body=_j(first_name="UI", company="{own_company}"),
    ),
    # The company form's requisites panel (any active user; unconfigured: its message, 200).
    form(
        "companies/requisites/",
        "lookup",
        "/companies/requisites/",
        "auth",
        ok=200,
        body=_j(by="inn", inn="7707083893"),
        htmx=True,
    ),
    # «Возможные семьи»: the list (scoped), and joining a visible contact into a new family.
    page("companies/families/", "list", "/companies/families/", "auth"),
    form(
        "companies/families/",
        "edit",
        "/companies/families/",
        "record",
        target="contact",
        body=_j(contact="{contact}", target="new", name="Семья UI"),
    ),
    page("contacts/<int:contact_id>/", "view", "/contacts/{contact}/", "record", target="contact"),
    page(
        "contacts/<int:contact_id>/edit/",
        "edit_form",
        "/contacts/{contact}/edit/",
        "record",
        target="contact",
    ),
    form(
        "contacts/<int:contact_id>/edit/",
        "edit",
        "/contacts/{contact}/edit/",
        "record",
        target="contact",
        body=_j(position="UI"),
    ),
    form(
        "contacts/<int:contact_id>/edit/",
        "reassign",
        "/contacts/{contact}/edit/",
        "record",
        target="contact",
        body=_j(responsible="{me}"),
    ),
    # Merges (contacts/views_merge.py): the screen compares the principal's own company with
    # the owner's spare one; confirming merges them (delete right); the undo of the twin merged
    # into the owner's company (tests/authz/test_authz_matrix.py matrix_env).
    page(
        "merge/",
        "merge",
        "/merge/?entity=company&ids={own_company}&ids={spare_company}",
        "record",
        target="spare_company",
    ),
    form(
        "merge/",
        "merge",
        "/merge/",
        "delete",
        target="spare_company",
        body=_j(entity="company", ids=["{own_company}", "{spare_company}"], keep="{own_company}"),
    ),
    page("merges/", "list", "/merges/?entity=company", "auth"),
    form(
        "merges/undo/",
        "merge_undo",
        "/merges/undo/",
        "delete",
        target="company",
        body=_j(merge="{merge}"),
    ),
    # Duplicate control (contacts/views_duplicates.py): the review screen lists the groups the
    # user sees whole; «Не дубли» needs every record of the group (a1's company and its spare).
    page("duplicates/", "list", "/duplicates/?entity=company", "auth"),
    page(
        "duplicates/check/",
        "list",
        "/duplicates/check/?entity=contact&phone=%2B79160000101",
        "auth",
        htmx=True,
    ),
    form("duplicates/scan/", "scan", "/duplicates/scan/", "auth", body=_j(entity="company")),
    page("duplicates/scans/<int:scan_id>/", "list", "/duplicates/scans/{dup_scan}/", "auth"),
    form(
        "duplicates/<int:group_id>/dismiss/",
        "edit",
        "/duplicates/{dup_group}/dismiss/",
        "record",
        target="company",
        ok=200,
        htmx=True,
    ),
    # --- tasks, control, counters, notifications -------------------------------------------------
    # --- import (transfer): the caller's own imports; another's is 404 (tests/transfer) -------
    page("imports/", "list", "/imports/", "auth"),
    page("import/<str:entity>/", "create", "/import/contacts/", "auth"),
    form("import/<str:entity>/", "create", "/import/contacts/", "auth", ok=422, body=_j()),
    page("imports/<int:job_id>/", "list", "/imports/{own_import}/", "auth"),
    page("imports/<int:job_id>/errors.csv", "export", "/imports/{own_import}/errors.csv", "auth"),
    page("tasks/", "list", "/tasks/", "auth"),
    page("tasks/list/", "list", "/tasks/list/", "auth"),
    page("tasks/export/", "export", "/tasks/export/?format=csv", "auth"),
    page("tasks/calendar/", "list", "/tasks/calendar/", "auth"),
    page("tasks/new/", "create", "/tasks/new/", "auth"),
    form(
        "tasks/new/",
        "create",
        "/tasks/new/",
        "auth",
        body=_j(
            type="call",
            responsible="{me}",
            deadline="{later}",
            comment="UI",
            company="{own_company}",
        ),
    ),
    page("tasks/<int:task_id>/", "view", "/tasks/{task}/", "record", target="task"),
    form(
        "tasks/<int:task_id>/complete/",
        "complete",
        "/tasks/{task}/complete/",
        "record",
        target="task",
        body=_j(result="готово"),
    ),
    form(
        "tasks/<int:task_id>/reschedule/",
        "reschedule",
        "/tasks/{task}/reschedule/",
        "record",
        target="task",
        body=_j(deadline="{later}", reason="клиент просил"),
    ),
    # The calendar's drag: the reschedule form for the modal (GET) and the reschedule (POST).
    page("tasks/<int:task_id>/move/", "view", "/tasks/{task}/move/", "record", target="task"),
    form(
        "tasks/<int:task_id>/move/",
        "reschedule",
        "/tasks/{task}/move/",
        "record",
        target="task",
        body=_j(deadline="{later}", reason="перетащили в календаре"),
    ),
    form(
        "tasks/<int:task_id>/reassign/",
        "reassign",
        "/tasks/{task}/reassign/",
        "record",
        target="task",
        body=_j(responsible="{me}"),
    ),
    page("control/", "view", "/control/", "control"),
    page("control/", "view_other_dept", "/control/?department={dept_b}", "control_b"),
    page("counters/", "self", "/counters/", "auth", htmx=True),
    page("notifications/", "self", "/notifications/", "auth"),
    form("notifications/read/", "self", "/notifications/read/", "auth"),
]
