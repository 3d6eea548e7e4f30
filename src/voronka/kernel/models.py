"""Shared primitives with no business rules: base model, custom-field definitions, stored
files, the audit log and the outbox of domain events (written by every service)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from voronka.kernel import clock


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=clock.now, editable=False)
    updated_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Like auto_now, but from the application clock (demo history, fake-clock tests).
        self.updated_at = clock.now()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "updated_at" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "updated_at"]
        super().save(*args, **kwargs)


class CustomFieldEntity(models.TextChoices):
    DEAL = "deal", _("Сделка")
    COMPANY = "company", _("Компания")
    CONTACT = "contact", _("Контакт")


class CustomFieldType(models.TextChoices):
    STRING = "string", _("Строка")
    NUMBER = "number", _("Число")
    MONEY = "money", _("Деньги")
    LIST = "list", _("Список (один)")
    MULTI = "multi", _("Список (несколько)")
    DATE = "date", _("Дата")
    DATETIME = "datetime", _("Дата и время")
    BOOLEAN = "boolean", _("Да/Нет")
    ADDRESS = "address", _("Адрес")
    LINK = "link", _("Ссылка")
    FILE = "file", _("Файл")


class CustomField(TimeStampedModel):
    """A typed user-defined field. Values live in the entity's `custom` JSON under `key`."""

    entity = models.CharField(max_length=16, choices=CustomFieldEntity.choices)
    key = models.SlugField(max_length=50)
    name = models.CharField(max_length=120)
    type = models.CharField(max_length=16, choices=CustomFieldType.choices)
    choices = models.JSONField(default=list, blank=True)
    sort = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["entity", "sort", "id"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "key"], name="customfield_entity_key_uniq"),
        ]

    def __str__(self) -> str:
        return self.name


def new_file_token() -> str:
    """The public id of a stored file: 192 random bits, URL-safe (32 characters)."""
    return secrets.token_urlsafe(24)


class StoredFile(models.Model):
    """An uploaded file; served only through an authorizing view, never from MEDIA_URL.

    Outside the database a file is named only by its random `token` (URLs, custom-field values,
    the API), never by its sequential id. It belongs to the record it was uploaded for: until
    then it is its uploader's alone (`object_id` NULL); the first save that puts it in a file
    field attaches it for good to that record and field (`entity`, `object_id`, `field_key`).
    The rule is enforced in one place, kernel/files.py (decision 0009)."""

    token = models.CharField(max_length=64, unique=True, default=new_file_token, editable=False)
    file = models.FileField(upload_to="uploads/%Y/%m/")
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    entity = models.CharField(max_length=16, choices=CustomFieldEntity.choices)
    object_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    field_key = models.CharField(max_length=50, blank=True, default="")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class AuditEntry(models.Model):
    """Append-only: who changed what, when, before → after. Never updated or deleted (a DB
    trigger refuses it), so users who acted are deactivated, not deleted (PROTECT)."""

    at = models.DateTimeField(default=clock.now, db_index=True)
    actor_kind = models.CharField(max_length=16)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    object_type = models.CharField(max_length=32)
    object_id = models.BigIntegerField()
    action = models.CharField(max_length=32)
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "at"], name="audit_object_idx")]


class DomainEvent(models.Model):
    """The outbox: written in the same transaction as the change that caused it (kernel.events).

    Consumers do not mark rows: each keeps its own position (ConsumerPosition, EventDelivery —
    kernel.outbox), and rows every consumer has passed are pruned after the retention period.
    `causation_id` names what caused the event ("request:<id>", "event:<id>", "job:…") and
    `depth` how deep in a cascade it is (0: a person's request)."""

    name = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=32)
    object_id = models.BigIntegerField()
    payload = models.JSONField(default=dict)
    actor_kind = models.CharField(max_length=16)
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(default=clock.now)
    # Wall-clock time of the insert (never the product clock, which the demo sets in the past):
    # how old a gap in the ids is (kernel.outbox) and when a row may be pruned.
    recorded_at = models.DateTimeField(default=timezone.now)
    causation_id = models.CharField(max_length=96, blank=True, default="")
    depth = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="outbox_object_idx"),
        ]


class ConsumerPosition(models.Model):
    """One row per consumer: every event with id <= position has been handled by it or is not
    for it. Events above the position that it has handled have an EventDelivery row."""

    consumer = models.CharField(max_length=64, unique=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    # The last failure (the handler raised): the event stays unhandled and is retried after
    # `retry_at` (a growing pause), other consumers go on.
    failures = models.PositiveIntegerField(default=0)
    failed_event_id = models.BigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    retry_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.consumer} @ {self.position}"


class EventDelivery(models.Model):
    """A consumer handled this event (written in the transaction of the handler's effects).
    Rows at or below the consumer's position are deleted as the position moves on."""

    consumer = models.CharField(max_length=64)
    event_id = models.BigIntegerField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event_id"], name="eventdelivery_uniq")
        ]
