"""GET /api/v1/{deals,companies,contacts,tasks}/export?format=csv|xlsx&<the list's filters>:
the list as a file, the same download as the list's "Экспорт" button (export_views.download)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from ninja import Router

from voronka.kernel.schemas import ERRORS
from voronka.transfer import export
from voronka.transfer.export_views import download
from voronka.web.http import api_actor

export_router = Router(tags=["export"])

_FILE = {
    "responses": {
        "200": {
            "description": "The file (Content-Disposition: attachment)",
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        }
    }
}

_DESCRIPTION = (
    "The list as a file: `format=csv` (UTF-8 with BOM, `delimiter=;` by default or `,`) or "
    "`format=xlsx`, with the filters and sort the list takes, within the caller's scope. "
    "Cells starting with = + - @ are neutralized (decision 0022)."
)


def _export(request: HttpRequest, entity: str) -> HttpResponseBase:
    options = export.parse_options(request.GET)
    table = export.export_open(
        actor=api_actor(request), entity=entity, params=request.GET, options=options, online=True
    )
    return download(table, options)


@export_router.get(
    "/deals/export",
    response=ERRORS,
    summary="Export the deal list",
    description=_DESCRIPTION,
    openapi_extra=_FILE,
)
def export_deals(
    request: HttpRequest,
    format: str = "csv",
    delimiter: str | None = None,
    pipeline: int | None = None,
    stage: int | None = None,
    responsible: int | None = None,
    company: int | None = None,
    department: int | None = None,
    status: str | None = None,
    amount_min: str | None = None,
    amount_max: str | None = None,
    opened_from: dt.date | None = None,
    opened_to: dt.date | None = None,
    no_task: bool | None = None,
    over_sla: bool | None = None,
    q: str | None = None,
    sort: str | None = None,
) -> HttpResponseBase:
    return _export(request, "deals")


@export_router.get(
    "/companies/export",
    response=ERRORS,
    summary="Export the company list",
    description=_DESCRIPTION,
    openapi_extra=_FILE,
)
def export_companies(
    request: HttpRequest,
    format: str = "csv",
    delimiter: str | None = None,
    q: str | None = None,
    type: str | None = None,
    responsible: int | None = None,
) -> HttpResponseBase:
    return _export(request, "companies")


@export_router.get(
    "/contacts/export",
    response=ERRORS,
    summary="Export the contact list",
    description=_DESCRIPTION,
    openapi_extra=_FILE,
)
def export_contacts(
    request: HttpRequest,
    format: str = "csv",
    delimiter: str | None = None,
    q: str | None = None,
    company: int | None = None,
    responsible: int | None = None,
) -> HttpResponseBase:
    return _export(request, "contacts")


@export_router.get(
    "/tasks/export",
    response=ERRORS,
    summary="Export the task list",
    description=_DESCRIPTION,
    openapi_extra=_FILE,
)
def export_tasks(
    request: HttpRequest,
    format: str = "csv",
    delimiter: str | None = None,
    deal: int | None = None,
    contact: int | None = None,
    company: int | None = None,
    responsible: int | None = None,
    department: int | None = None,
    status: str | None = None,
    overdue: str | None = None,
    type: str | None = None,
    deadline_from: dt.datetime | None = None,
    deadline_to: dt.datetime | None = None,
    completed_on: dt.date | None = None,
) -> HttpResponseBase:
    return _export(request, "tasks")
