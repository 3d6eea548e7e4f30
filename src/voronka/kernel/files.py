"""Storing uploads for file custom fields: size limit, no active content, safe names, hash."""

from __future__ import annotations

import hashlib
import os
import unicodedata

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from voronka.kernel.actor import Actor
from voronka.kernel.errors import ValidationError
from voronka.kernel.models import StoredFile

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
