"""Turning posted forms into the plain dicts the services take (they validate everything).
Custom fields are rendered and parsed by type here, once, for deals, companies and contacts."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict

from voronka.deals.inputs import DEAL
from voronka.kernel.inputs import Kind
from voronka.kernel.models import CustomField, CustomFieldType


def custom_from_post(
    fields: list[CustomField], post: QueryDict, prefix: str = "cf_"
) -> dict[str, Any]:
    """Values of the custom fields present in the form (absent ones are left alone)."""
    values: dict[str, Any] = {}
    for field in fields:
        name = prefix + field.key
        if field.type == CustomFieldType.MULTI:
            if f"{name}__present" in post:
                values[field.key] = post.getlist(name)
        elif field.type == CustomFieldType.BOOLEAN:
            if f"{name}__present" in post:
                values[field.key] = name in post and post.get(name) in ("on", "true", "1")
        elif field.type == CustomFieldType.MONEY:
            if name in post:
                amount = post.get(name, "").strip()
                values[field.key] = (
                    {"amount": amount, "currency": post.get(f"{name}__currency", "RUB")}
                    if amount
                    else None
                )
        elif field.type == CustomFieldType.FILE:
            continue  # uploads are handled by the view (StoredFile)
        elif name in post:
            values[field.key] = post.get(name)
    return values


def uploaded_files(
    fields: list[CustomField], files: Any, prefix: str = "cf_"
) -> dict[str, UploadedFile]:
    return {
        f.key: files[prefix + f.key]
        for f in fields
        if f.type == CustomFieldType.FILE and prefix + f.key in files
    }


# The deal's single-value fields a form posts, from the one declaration (deals/inputs.py);
# contacts and custom values are read below, the loss only with a lost stage (views).
DEAL_POSTED = [
    k
    for k, f in DEAL.fields.items()
    if f.kind not in (Kind.IDS, Kind.OBJECT) and k not in ("loss_reason", "loss_comment")
]


def deal_from_post(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in DEAL_POSTED:
        if key in post:
            data[key] = post.get(key)
    if "contacts__present" in post:
        data["contacts"] = [x for x in post.getlist("contacts") if x]
    return data
