"""Reads of imports: the user's own jobs, a preview of the file, the error report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db.models import QuerySet

from voronka.identity.models import User
from voronka.kernel.errors import NotFound
from voronka.transfer.models import ImportJob, ImportRowError
from voronka.transfer.readers import FileRefused, Row, read_table

PREVIEW_ROWS = 5


def import_list(*, user: User, limit: int = 20) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(created_by=user).defer("content")[:limit]


def import_get(*, user: User, job_id: int) -> ImportJob:
    """The user's own import (another's does not exist for them)."""
    from django.utils.translation import gettext as _

    job = ImportJob.objects.defer("content").filter(pk=job_id, created_by=user).first()
    if job is None:
        raise NotFound(_("Импорт не найден"))
    return job


def import_preview(*, job: ImportJob) -> list[Row]:
    """The first rows of the file, for the mapping screen."""
    content = ImportJob.objects.filter(pk=job.pk).values_list("content", flat=True).first()
    if not content:
        return []
    try:
        return read_table(bytes(content), job.filename).rows[:PREVIEW_ROWS]
    except FileRefused:
        return []


def import_errors(*, job: ImportJob, limit: int = 100) -> QuerySet[ImportRowError]:
    return ImportRowError.objects.filter(job=job)[:limit]


def neutral(value: str) -> str:
    """A cell a spreadsheet would run as a formula (= + - @, tab, CR) starts with a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def import_errors_csv(*, job: ImportJob) -> Iterator[str]:
    """The error report as CSV lines (row, column, message), UTF-8 with BOM for Excel."""
    from django.utils.translation import gettext as _

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow([_("№ строки"), _("Колонка"), _("Ошибка")])
    yield "\ufeff" + buffer.getvalue()
    rows = ImportRowError.objects.filter(job=job).values_list("row", "column", "message")
    for row, column, message in rows.iterator(chunk_size=2000):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([row, neutral(column), neutral(message)])
        yield buffer.getvalue()
