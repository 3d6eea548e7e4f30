"""Backfill for decision 0009: every stored file gets its random token; the values of file
custom fields (deals, companies, contacts) change from the sequential file id to that token; each
file is attached to the record and field that holds it.

A file held by several records (possible before 0008: any id was accepted) is attached to one of
them — the record whose responsible uploaded it, else the oldest — and the others keep the token
but can no longer download it (their card shows the file as unavailable). Values that name no
file are left as they are (they were dangling already)."""

import secrets

from django.db import migrations

RECORD_MODELS = {
    "deal": ("deals", "Deal"),
    "company": ("contacts", "Company"),
    "contact": ("contacts", "Contact"),
}


def forward(apps, schema_editor):
    StoredFile = apps.get_model("kernel", "StoredFile")
    CustomField = apps.get_model("kernel", "CustomField")
    for pk in StoredFile.objects.filter(token__isnull=True).values_list("pk", flat=True):
        StoredFile.objects.filter(pk=pk).update(token=secrets.token_urlsafe(24))
    files = {
        pk: (token, entity, uploader)
        for pk, token, entity, uploader in StoredFile.objects.values_list(
            "pk", "token", "entity", "uploaded_by_id"
        )
    }
    holders = {}  # file id → [(uploader is not responsible, record pk, field key)]
    for field in CustomField.objects.filter(type="file").order_by("id"):
        if field.entity not in RECORD_MODELS:
            continue
        model = apps.get_model(*RECORD_MODELS[field.entity])
        rows = (
            model.objects.filter(custom__has_key=field.key)
            .order_by("pk")
            .values_list("pk", "custom", "responsible_id")
        )
        for pk, custom, responsible_id in rows.iterator():
            value = custom.get(field.key)
            if isinstance(value, bool):
                continue
            if isinstance(value, str) and value.isdigit() and len(value) < 18:
                value = int(value)
            if not isinstance(value, int) or value not in files:
                continue
            token, entity, uploader = files[value]
            custom[field.key] = token
            model.objects.filter(pk=pk).update(custom=custom)
            if entity == field.entity:
                holders.setdefault(value, []).append((uploader != responsible_id, pk, field.key))
    for file_id, candidates in holders.items():
        _not_uploader, pk, key = min(candidates)
        StoredFile.objects.filter(pk=file_id).update(object_id=pk, field_key=key)


def backward(apps, schema_editor):
    StoredFile = apps.get_model("kernel", "StoredFile")
    CustomField = apps.get_model("kernel", "CustomField")
    ids = dict(StoredFile.objects.values_list("token", "pk"))
    for field in CustomField.objects.filter(type="file"):
        if field.entity not in RECORD_MODELS:
            continue
        model = apps.get_model(*RECORD_MODELS[field.entity])
        rows = model.objects.filter(custom__has_key=field.key).values_list("pk", "custom")
        for pk, custom in rows.iterator():
            if custom.get(field.key) in ids:
                custom[field.key] = ids[custom[field.key]]
                model.objects.filter(pk=pk).update(custom=custom)
    StoredFile.objects.update(object_id=None, field_key="")


class Migration(migrations.Migration):
    dependencies = [
        ("kernel", "0003_storedfile_token_owner"),
        ("deals", "0005_deal_board_counter"),
        ("contacts", "0002_initial"),
    ]

    operations = [migrations.RunPython(forward, backward)]
