"""Who may download a stored file. Files are kept by kernel.files; whether a user may have one
is a question of the scope of the record holding it, so the answer lives here, above kernel
(which must not import the scope function) and below every app that shows files."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.models import AnonymousUser

from voronka.identity.models import User
from voronka.identity.scopes import scope_filter
from voronka.kernel.errors import NotFound
from voronka.kernel.files import RECORD_MODELS, is_file_token
from voronka.kernel.models import StoredFile


def file_for_download(*, user: User | AnonymousUser, token: str) -> StoredFile:
    """The file named by `token` if `user` may have it: the scope of its record decides (and the
    file must still be in that record's field); a file not attached yet is its uploader's only.
    Everything else — a sequential id, an unknown token, a record out of scope — is NotFound."""
    if not is_file_token(token) or not user.is_authenticated or not user.is_active:
        raise NotFound
    stored = StoredFile.objects.filter(token=token).first()
    if stored is None:
        raise NotFound
    if stored.object_id is None:
        if stored.uploaded_by_id is None or stored.uploaded_by_id != user.pk:
            raise NotFound
        return stored
    label = RECORD_MODELS.get(stored.entity)
    if label is None or not stored.field_key:
        raise NotFound
    records = apps.get_model(label).objects.filter(
        pk=stored.object_id, **{f"custom__{stored.field_key}": stored.token}
    )
    if not scope_filter(records, user, stored.entity).exists():
        raise NotFound
    return stored
