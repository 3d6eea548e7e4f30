"""The "Экспорт" button of every list: the list's filters and sort, downloaded as CSV or XLSX
(transfer.export does the work; decision 0022). The API (export_api) answers with the same
download."""

from __future__ import annotations

import tempfile

from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from voronka.kernel import clock
from voronka.kernel.errors import ApplicationError
from voronka.kernel.files import content_disposition
from voronka.transfer import export
from voronka.web.http import error_status, ui_actor

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def file_name(table: export.Table, options: export.Options) -> tuple[str, str]:
    """The download's name in the user's language ("Сделки 2026-12-07.csv") and its ASCII
    fallback ("deals-2026-12-07.csv")."""
    day = (table.day or clock.now().date()).isoformat()
    return f"{table.title} {day}.{options.format}", f"{table.entity}-{day}.{options.format}"


def download(table: export.Table, options: export.Options) -> HttpResponseBase:
    """CSV streams as it is read (a chunk of rows per piece); XLSX is written to a temporary
    file first (a zip needs its end before its start) and then streamed from disk. Always an
    attachment, never sniffed or cached."""
    response: HttpResponseBase
    if options.format == "xlsx":
        out = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
        export.write_xlsx(table, out)
        out.seek(0)
        response = FileResponse(out, content_type=CONTENT_TYPES["xlsx"])
    else:
        response = StreamingHttpResponse(
            export.write_csv(table, delimiter=options.delimiter),
            content_type=CONTENT_TYPES["csv"],
        )
    name, fallback = file_name(table, options)
    response["Content-Disposition"] = content_disposition(name, fallback)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response


LIST_URLS = {
    "deals": "deals:deal-list",
    "companies": "contacts:company-list",
    "contacts": "contacts:contact-list",
    "tasks": "activities:task-list",
}


def list_url(entity: str, request: HttpRequest) -> str:
    """The list an export came from, with its filters (where a refused export sends back)."""
    params = request.GET.copy()
    for name in ("format", "delimiter"):
        params.pop(name, None)
    base = reverse(LIST_URLS.get(entity, "deals:deal-list"))
    return f"{base}?{params.urlencode()}" if params else base


def export_query(request: HttpRequest) -> str:
    """The list's own query (filters, sort) for its export links: without the page cursor."""
    params = request.GET.copy()
    params.pop("cursor", None)
    return params.urlencode()


@require_GET
def export_list(request: HttpRequest, entity: str) -> HttpResponseBase:
    try:
        options = export.parse_options(request.GET)
        table = export.export_open(
            actor=ui_actor(request), entity=entity, params=request.GET, options=options, online=True
        )
    except ApplicationError as exc:
        return render(
            request,
            "transfer/export_error.html",
            {"error": exc, "code": error_status(exc), "back": list_url(entity, request)},
            status=error_status(exc),
        )
    return download(table, options)
