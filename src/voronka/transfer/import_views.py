"""The import screens: upload → the mapping (a preview with a select per column, filled in
automatically) → the progress (htmx polls it) and the result with the error report. Thin: the
services read, map and run; the views parse, call and render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from voronka.identity.permissions import actor_has_flag
from voronka.kernel.errors import ApplicationError, ValidationError
from voronka.kernel.files import content_disposition
from voronka.transfer import selectors, services
from voronka.transfer.mapping import CUSTOM_PREFIX, NEW_CUSTOM, SKIP, TARGETS
from voronka.transfer.models import ImportEntity, ImportJob
from voronka.web.http import is_htmx, ui_actor

ENTITIES = {"contacts": "contact", "companies": "company", "deals": "deal"}
BACK = {
    "contact": "contacts:contact-list",
    "company": "contacts:company-list",
    "deal": "deals:list",
}


@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest, entity: str) -> HttpResponse:
    kind = ENTITIES.get(entity)
    if kind is None:
        return render(request, "web/error.html", {"code": 404}, status=404)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Выберите файл")
        else:
            try:
                data = services.read_upload(upload)
                job = services.import_upload(
                    actor=ui_actor(request), entity=kind, filename=upload.name or "", data=data
                )
                return redirect("imports:job", job_id=job.pk)
            except ValidationError as exc:
                error = next(iter(exc.errors.values()), exc.message)
    return render(
        request,
        "transfer/import_upload.html",
        {
            "entity": kind,
            "entity_label": ImportEntity(kind).label,
            "back": BACK[kind],
            "error": error,
            "max_mb": services.max_upload_mb(),
        },
        status=422 if error else 200,
    )


def _mapping_context(request: HttpRequest, job: ImportJob, errors: str = "") -> dict:
    custom = services.custom_names(job.entity)
    options = [(SKIP, _("Не импортировать"))]
    options += [(k, str(v)) for k, v in TARGETS[job.entity].items()]
    options += [(CUSTOM_PREFIX + k, _("Поле: %(name)s") % {"name": n}) for k, n in custom.items()]
    can_configure = actor_has_flag(ui_actor(request), "can_configure")
    if can_configure:
        options.append((NEW_CUSTOM, _("Создать пользовательское поле")))
    preview = selectors.import_preview(job=job)
    columns = []
    for i, header in enumerate(job.headers):
        columns.append(
            {
                "index": i,
                "header": header,
                "target": job.mapping[i] if i < len(job.mapping) else SKIP,
                "samples": [row.cells[i] for row in preview if i < len(row.cells)],
            }
        )
    return {
        "job": job,
        "columns": columns,
        "options": options,
        "errors": errors,
        "back": BACK[job.entity],
        "can_configure": can_configure,
    }


@require_http_methods(["GET", "POST"])
def import_job(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = selectors.import_get(user=request.user, job_id=job_id)  # type: ignore[arg-type]
    except ApplicationError:
        return render(request, "web/error.html", {"code": 404}, status=404)
    if request.method == "POST":
        mapping = [request.POST.get(f"col{i}", SKIP) for i in range(len(job.headers))]
        names = {
            i: request.POST.get(f"name{i}", "").strip()
            for i in range(len(job.headers))
            if mapping[i] == NEW_CUSTOM
        }
        try:
            services.import_set_mapping(
                actor=ui_actor(request), job_id=job.pk, mapping=mapping, new_fields=names
            )
            services.import_start(actor=ui_actor(request), job_id=job.pk)
        except ApplicationError as exc:
            job.mapping = mapping
            message = "; ".join(exc.errors.values()) if exc.errors else exc.message
            context = _mapping_context(request, job, message)
            return render(request, "transfer/import_mapping.html", context, status=422)
        return redirect("imports:job", job_id=job.pk)
    if job.status == "mapping":
        return render(request, "transfer/import_mapping.html", _mapping_context(request, job))
    context = {
        "job": job,
        "errors": selectors.import_errors(job=job),
        "back": BACK[job.entity],
    }
    if is_htmx(request):
        return render(request, "transfer/_import_status.html", context)
    return render(request, "transfer/import_status.html", context)


def import_errors_csv(request: HttpRequest, job_id: int) -> HttpResponseBase:
    try:
        job = selectors.import_get(user=request.user, job_id=job_id)  # type: ignore[arg-type]
    except ApplicationError:
        return render(request, "web/error.html", {"code": 404}, status=404)
    response = StreamingHttpResponse(
        selectors.import_errors_csv(job=job), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition(f"import-{job.pk}-errors.csv")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response


def import_list(request: HttpRequest) -> HttpResponse:
    jobs = selectors.import_list(user=request.user)  # type: ignore[arg-type]
    return render(request, "transfer/import_list.html", {"jobs": jobs})
