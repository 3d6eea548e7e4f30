"""Imports: the uploaded file and its mapping, the job's progress and outcome, the per-row
errors, and the fingerprints that make re-running a file create nothing twice."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportEntity(models.TextChoices):
    CONTACT = "contact", _("Контакты")
    COMPANY = "company", _("Компании")
    DEAL = "deal", _("Сделки")


class ImportStatus(models.TextChoices):
    MAPPING = "mapping", _("Сопоставление колонок")
    QUEUED = "queued", _("В очереди")
    RUNNING = "running", _("Идёт")
    DONE = "done", _("Готово")
    FAILED = "failed", _("Ошибка")


class ImportJob(models.Model):
    """One file imported into one entity. The file's bytes stay here until the job is done (the
    worker reads them from the database, whatever machine it runs on)."""

    entity = models.CharField(max_length=8, choices=ImportEntity.choices)
    status = models.CharField(
        max_length=8, choices=ImportStatus.choices, default=ImportStatus.MAPPING
    )
    filename = models.CharField(max_length=255)
    content = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=8)  # csv | xlsx | html
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=list)  # one target per column (transfer.mapping)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    found = models.PositiveIntegerField(default=0)  # rows that matched an existing record
    failed = models.PositiveIntegerField(default=0)  # rows not imported
    skipped_columns = models.JSONField(default=list)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved on at each committed batch: a running job whose worker died goes quiet, and the
    # periodic imports_resume queues it again (transfer.services.imports_resume).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="importjob_user_idx")]

    def __str__(self) -> str:
        return f"{self.entity}: {self.filename}"

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, self.processed * 100 // self.total)

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)


class ImportRowError(models.Model):
    """A problem with one row (and column, when one is to blame): the row was not imported, or
    was imported without that value."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField()
    column = models.CharField(max_length=200, blank=True)
    message = models.CharField(max_length=500)

    class Meta:
        ordering = ["row", "id"]
        indexes = [models.Index(fields=["job", "row"], name="importrowerror_job_idx")]


class ImportFingerprint(models.Model):
    """A row once imported (the hash of its mapped values) → the record it made or found: the
    same row imported again finds that record instead of creating another."""

    entity = models.CharField(max_length=8, choices=ImportEntity.choices)
    fingerprint = models.CharField(max_length=64)
    object_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "fingerprint"], name="importfingerprint_uniq"
            ),
        ]
