"""Files of file custom fields: storing uploads (size limit, no active content, safe names,
hash), the one rule for file references, and serving a file to whoever may see its record.

The rule (decision 0009): a file belongs to the record it was uploaded for. A file value may
name only (a) a file the acting user uploaded that is not attached anywhere yet, or (b) the file
already attached to that very field of that very record. `files_attach` enforces it for every
service that writes custom values; `identity.files.file_for_download` serves a file only to
users who can see its record (an unattached file only to its uploader). Files are named outside
the database only by their random `token`, never by the sequential id."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse
from django.utils.translation import gettext as _

from voronka.kernel.actor import Actor
from voronka.kernel.errors import ValidationError
from voronka.kernel.models import CustomField, CustomFieldType, StoredFile

if TYPE_CHECKING:
    pass

# The public id of a file (kernel.models.new_file_token): URL-safe base64, never all digits.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}")

# The model of each entity that has file custom fields ("app_label.Model": no import cycle).
RECORD_MODELS = {"deal": "deals.Deal", "company": "contacts.Company", "contact": "contacts.Contact"}

# Content types served as themselves; anything else goes out as application/octet-stream.
SAFE_CONTENT_TYPES = {
    "application/pdf",
    "application/zip",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
}

# Active content is never stored: it could run in the browser of whoever opens it.
BLOCKED_EXTENSIONS = {
    ".html",
    ".htm",
    ".svg",
    ".xhtml",
    ".js",
    ".mjs",
    ".xml",
    ".php",
    ".exe",
    ".bat",
    ".cmd",
    ".sh",
}


def safe_filename(name: str) -> str:
    name = os.path.basename(name.replace("\\", "/"))
    name = "".join(
        ch for ch in name if unicodedata.category(ch)[0] != "C" and ch not in '<>:"/\\|?*'
    )
    name = name.strip(" .") or "file"
    if len(name.encode()) > 200:
        stem, ext = os.path.splitext(name)
        name = stem[:100] + ext[:20]
    return name


def file_store(
    *, upload: UploadedFile, entity: str, actor: Actor, field: str = "file"
) -> StoredFile:
    if upload.size is None or upload.size > settings.VORONKA_MAX_UPLOAD_BYTES:
        raise ValidationError({field: _("Файл больше допустимого размера")})
    name = safe_filename(upload.name or "file")
    ext = os.path.splitext(name)[1].lower()
    head = upload.read(512)
    upload.seek(0)
    if ext in BLOCKED_EXTENSIONS or head.lstrip().lower().startswith(
        (b"<!doctype html", b"<html", b"<svg", b"<?xml", b"<script")
    ):
        raise ValidationError({field: _("Такие файлы загружать нельзя")})
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    stored = StoredFile(
        name=name,
        size=upload.size,
        content_type=(upload.content_type or "application/octet-stream")[:100],
        sha256=digest.hexdigest(),
        entity=entity,
        uploaded_by=actor.user,
    )
    stored.file.save(f"{digest.hexdigest()[:16]}{ext}", upload, save=False)
    stored.save()
    return stored


def is_file_token(value: Any) -> bool:
    return isinstance(value, str) and TOKEN_RE.fullmatch(value) is not None


def files_of_record(
    *, entity: str, record: Any, fields: Iterable[CustomField] | None = None
) -> dict[str, StoredFile]:
    """Token → file for the values of a record's file fields that are attached to it (a card
    links only those; anything else is shown as unavailable). `fields`: the entity's field
    definitions when the caller has them already (saves a query)."""
    if fields is None:
        fields = CustomField.objects.filter(entity=entity, type=CustomFieldType.FILE)
    keys = [f.key for f in fields if f.type == CustomFieldType.FILE]
    wanted = [t for t in (record.custom.get(k) for k in keys) if is_file_token(t)]
    if not wanted:
        return {}
    files = StoredFile.objects.filter(token__in=wanted, entity=entity, object_id=record.pk)
    return {f.token: f for f in files}


def files_attach(
    *,
    entity: str,
    object_id: int,
    actor: Actor,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
) -> None:
    """THE rule for file references: every service that writes a record's custom values calls
    this after saving the record, inside its transaction, with the values before and after.

    Each file field whose value changed must name a file of this entity that the actor uploaded
    and that is not attached anywhere (it is then attached to this record and field, atomically:
    two saves racing for one upload cannot both win), or the file already attached to this very
    field of this record. Anything else raises ValidationError naming the field, and the
    caller's transaction rolls the whole write back."""
    before = before or {}
    errors: dict[str, str] = {}
    for field in CustomField.objects.filter(entity=entity, type=CustomFieldType.FILE):
        token = after.get(field.key)
        if token in (None, "") or token == before.get(field.key):
            continue  # cleared, or kept as it was
        if not is_file_token(token):
            errors[f"custom.{field.key}"] = f"{field.name}: {_('Ожидается файл')}"
            continue
        files = StoredFile.objects.filter(token=token, entity=entity)
        claimed = files.filter(object_id__isnull=True, uploaded_by_id=actor.user_id).update(
            object_id=object_id, field_key=field.key
        )
        if claimed or files.filter(object_id=object_id, field_key=field.key).exists():
            continue
        errors[f"custom.{field.key}"] = "{}: {}".format(
            field.name,
            _("этот файл прикреплён к другой записи или загружен не вами — загрузите файл заново"),
        )
    if errors:
        raise ValidationError(errors)


def content_disposition(name: str, fallback: str = "") -> str:
    """`attachment` with an ASCII fallback (`fallback`, else `name` with "_" for what ASCII
    lacks) and the RFC 6266 / RFC 5987 `filename*`."""
    fallback = (
        "".join(
            ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in fallback or name
        ).strip()
        or "file"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(stored: StoredFile) -> FileResponse:
    """Always a download, never rendered: attachment, nosniff, a sandbox CSP, not cached."""
    content_type = stored.content_type.split(";")[0].strip().lower()
    if content_type not in SAFE_CONTENT_TYPES:
        content_type = "application/octet-stream"
    response = FileResponse(stored.file.open("rb"), content_type=content_type)
    response["Content-Disposition"] = content_disposition(stored.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response
