"""Imports: upload a file (read and mapped automatically), correct the mapping (creating custom
fields on the way), start it — the worker runs it (`jobs.run_import` → `import_run`)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Mapping, Sequence

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import translation
from django.utils.translation import gettext as _

from voronka.customfields.services import custom_field_create
from voronka.identity.models import User
from voronka.identity.permissions import require_active
from voronka.kernel import clock
from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.audit import audit
from voronka.kernel.errors import Conflict, ValidationError
from voronka.kernel.files import safe_filename
from voronka.kernel.models import CustomField, CustomFieldType
from voronka.transfer.importer import Importer, Stats
from voronka.transfer.mapping import CUSTOM_PREFIX, NEW_CUSTOM, SKIP, auto_mapping, check_mapping
from voronka.transfer.models import ImportEntity, ImportJob, ImportStatus
from voronka.transfer.readers import FileRefused, Table, max_bytes, read_table


def custom_names(entity: str) -> dict[str, str]:
    """The active custom fields of an entity: key → name."""
    return dict(
        CustomField.objects.filter(entity=entity, is_active=True).values_list("key", "name")
    )


def max_upload_mb() -> int:
    return max_bytes() // 2**20


def read_upload(upload: UploadedFile) -> bytes:
    """The bytes of an uploaded file, refused over the size limit before it is read."""
    if upload.size is None or upload.size > max_bytes():
        raise ValidationError(
            {"file": _("Файл больше допустимого размера (%(mb)s МБ)") % {"mb": max_upload_mb()}}
        )
    return upload.read(max_bytes() + 1)


def _skipped(headers: Sequence[str], mapping: Sequence[str]) -> list[str]:
    return [h for h, t in zip(headers, mapping, strict=True) if t == SKIP]


@transaction.atomic
def import_upload(*, actor: Actor, entity: str, filename: str, data: bytes) -> ImportJob:
    """Read the file (refused with a clear message if it cannot be), map its columns
    automatically and keep it for the mapping screen."""
    require_active(actor)
    if actor.user is None:
        raise ValidationError({"file": _("Импорт выполняет пользователь")})
    if entity not in ImportEntity.values:
        raise ValidationError({"entity": _("Импорт: контакты, компании или сделки")})
    try:
        table = read_table(data, filename)
    except FileRefused as exc:
        raise ValidationError({"file": str(exc)}) from None
    mapping = auto_mapping(entity, table.headers, custom_names(entity))
    job = ImportJob.objects.create(
        entity=entity,
        filename=safe_filename(filename or "file"),
        content=data,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        format=table.format,
        headers=table.headers,
        mapping=mapping,
        total=len(table.rows),
        skipped_columns=_skipped(table.headers, mapping),
        created_by=actor.user,
        created_at=clock.now(),
    )
    audit(actor=actor, obj=job, action="created", changes={"file": [None, job.filename]})
    return job


def _job_for_write(actor: Actor, job_id: int) -> ImportJob:
    """The actor's own job, locked (another user's job does not exist for them)."""
    from voronka.kernel.errors import NotFound

    require_active(actor)
    job = ImportJob.objects.select_for_update().filter(pk=job_id, created_by_id=actor.user_id)
    found = job.defer("content").first()
    if found is None:
        raise NotFound(_("Импорт не найден"))
    return found


def _key_for(name: str, taken: set[str]) -> str:
    from voronka.transfer.mapping import fold

    translit = str.maketrans(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "abvgdeezziiklmnoprstufhccss_y_eua",
    )
    base = re.sub(r"[^a-z0-9]+", "_", fold(name).translate(translit)).strip("_")
    base = ("f_" + base if not base[:1].isalpha() else base)[:40] or "field"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


@transaction.atomic
def import_set_mapping(
    *,
    actor: Actor,
    job_id: int,
    mapping: Sequence[str],
    new_fields: Mapping[int, str] | None = None,
) -> ImportJob:
    """The mapping as the user chose it. A column set to "create custom field" gets a string
    field named `new_fields[column]` (or its caption), created through the custom-field service
    (which asks for the right to configure)."""
    job = _job_for_write(actor, job_id)
    if job.status != ImportStatus.MAPPING:
        raise Conflict(_("Импорт уже запущен"))
    chosen = list(mapping)
    if len(chosen) != len(job.headers):
        raise ValidationError({"mapping": _("Нужна цель для каждой колонки")})
    taken = set(CustomField.objects.filter(entity=job.entity).values_list("key", flat=True))
    for index, target in enumerate(chosen):
        if target != NEW_CUSTOM:
            continue
        name = ((new_fields or {}).get(index) or job.headers[index]).strip()[:120] or job.headers[
            index
        ]
        key = _key_for(name, taken)
        taken.add(key)
        field = custom_field_create(
            actor=actor,
            data={"entity": job.entity, "key": key, "name": name, "type": CustomFieldType.STRING},
        )
        chosen[index] = CUSTOM_PREFIX + field.key
    errors = check_mapping(job.entity, chosen, len(job.headers), list(custom_names(job.entity)))
    if errors:
        raise ValidationError(
            {
                (k if k == "mapping" else "mapping"): (
                    v if k == "mapping" else f"{job.headers[int(k)]}: {v}"
                )
                for k, v in sorted(errors.items(), key=lambda kv: kv[0] != "mapping")
            }
        )
    job.mapping = chosen
    job.skipped_columns = _skipped(job.headers, chosen)
    job.save(update_fields=["mapping", "skipped_columns"])
    return job


@transaction.atomic
def import_start(*, actor: Actor, job_id: int) -> ImportJob:
    """Queue the job for the worker (after commit)."""
    job = _job_for_write(actor, job_id)
    if job.status != ImportStatus.MAPPING:
        raise Conflict(_("Импорт уже запущен"))
    errors = check_mapping(
        job.entity, job.mapping, len(job.headers), list(custom_names(job.entity))
    )
    if errors:
        raise ValidationError({"mapping": next(iter(errors.values()))})
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["status"])
    audit(actor=actor, obj=job, action="started", changes={"mapping": [None, job.mapping]})
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from voronka.transfer.jobs import run_import

    run_import.enqueue(job_id)


# A running job whose heartbeat is older than this lost its worker (a batch commits in well
# under a second; reading a 200,000-row XLSX before the first one takes about a minute).
STALE = dt.timedelta(minutes=5)


def import_run(*, job_id: int) -> ImportJob | None:
    """Run a queued job (the worker; the CLI directly). Claimed by a conditional UPDATE, so two
    workers never run one job; each batch commits with its progress. None if not claimed.
    A job resumed after its worker died goes on after the rows its committed batches counted
    (`processed`, committed with them): none is done twice."""
    now = clock.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)),
        heartbeat_at=now,
    )
    if not claimed:
        return None
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    try:
        table = read_table(bytes(job.content), job.filename)
        ImportJob.objects.filter(pk=job_id).update(heartbeat_at=clock.now())
        _run_table(job, table)
    except Exception as exc:  # a job never stays "running": the reason is shown on its page
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportStatus.FAILED,
            error=str(exc)[:2000]
            if isinstance(exc, FileRefused | ValidationError)
            else _("Внутренняя ошибка импорта: %(kind)s") % {"kind": type(exc).__name__},
            finished_at=clock.now(),
        )
        if not isinstance(exc, FileRefused | ValidationError):
            raise
    else:
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportStatus.DONE, finished_at=clock.now(), content=b""
        )
    job.refresh_from_db()
    return job


def _run_table(job: ImportJob, table: Table) -> Stats:
    user: User = job.created_by
    actor = Actor(kind=ActorKind.IMPORT, user=user, meta={"import": job.pk})
    importer = Importer(
        entity=job.entity, actor=actor, headers=table.headers, mapping=job.mapping, job_id=job.pk
    )

    def report(stats: Stats, rows: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(
            heartbeat_at=clock.now(),
            processed=F("processed") + rows,
            created=F("created") + stats.created,
            found=F("found") + stats.found,
            failed=F("failed") + stats.failed,
        )

    ImportJob.objects.filter(pk=job.pk).update(total=len(table.rows))
    with translation.override(user.language or settings.LANGUAGE_CODE):  # the report's language
        return importer.run(table.rows[resume_offset(job) :], report)


def resume_offset(job: ImportJob) -> int:
    """Where a job goes on: after the rows its committed batches counted (0 for a new one)."""
    return job.processed


def imports_resume(*, now: dt.datetime | None = None) -> list[int]:
    """Queue again the running jobs that went quiet (their worker was killed or the machine
    restarted) and hand them to the worker; the ids queued. Each is taken by a conditional
    UPDATE, so two sweepers never queue one job twice."""
    cutoff = (now or clock.now()) - STALE
    quiet = ImportJob.objects.filter(status=ImportStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    resumed = []
    for job_id in quiet.values_list("pk", flat=True):
        with transaction.atomic():
            taken = ImportJob.objects.filter(pk=job_id, status=ImportStatus.RUNNING).update(
                status=ImportStatus.QUEUED
            )
            if taken:
                job = ImportJob.objects.get(pk=job_id)
                changes = {"processed": [None, job.processed]}
                audit(actor=Actor.system(), obj=job, action="resumed", changes=changes)
                transaction.on_commit(functools.partial(_enqueue, job_id))
                resumed.append(job_id)
    return resumed


def import_file(
    *, actor: Actor, entity: str, filename: str, data: bytes, mapping: Sequence[str] | None
) -> ImportJob:
    """The CLI: upload, map (the given mapping or the automatic one), run here and now."""
    job = import_upload(actor=actor, entity=entity, filename=filename, data=data)
    if mapping is not None:
        job = import_set_mapping(actor=actor, job_id=job.pk, mapping=mapping)
    with transaction.atomic():
        job = _job_for_write(actor, job.pk)
        errors = check_mapping(
            job.entity, job.mapping, len(job.headers), list(custom_names(job.entity))
        )
        if errors:
            raise ValidationError({"mapping": next(iter(errors.values()))})
        ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    result = import_run(job_id=job.pk)
    assert result is not None
    return result
