from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext as _

from voronka.activities.events import COMMENTED
from voronka.activities.inputs import COMMENT
from voronka.activities.models import Comment
from voronka.contacts.interactions import client_interaction_record
from voronka.identity.permissions import require_visible
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ValidationError
from voronka.kernel.events import emit
from voronka.kernel.normalize import clean_text


@transaction.atomic
def comment_add(*, obj: models.Model, actor: Actor, text: str) -> Comment:
    require_visible(obj, actor=actor)  # whoever loaded `obj`, an invisible one does not exist
    if not isinstance(text, str):
        raise ValidationError({"text": _("Ожидается текст")})
    try:
        cleaned = clean_text(text, max_length=COMMENT.max_length("text"))
    except ValueError as exc:
        raise ValidationError({"text": str(exc)}) from None
    if not cleaned:
        raise ValidationError({"text": _("Комментарий не может быть пустым")})
    if obj._meta.model_name not in COMMENTED:
        raise ValueError(f"comments on {obj._meta.model_name} have no event declared")
    comment = Comment.objects.create(
        object_type=obj._meta.model_name, object_id=obj.pk, text=cleaned, author=actor.user
    )
    emit(COMMENTED[comment.object_type], obj=obj, actor=actor, payload={"comment": comment.pk})
    _client_interaction(obj, comment.created_at)
    return comment


def _client_interaction(obj: models.Model, at: Any) -> None:
    """A comment on a client or on one of its deals is an interaction with the client."""
    name = obj._meta.model_name
    if name == "company":
        client_interaction_record(company_id=obj.pk, at=at)
    elif name == "contact":
        client_interaction_record(contact_id=obj.pk, at=at)
    elif name == "deal":
        client_interaction_record(company_id=getattr(obj, "company_id", None), at=at)
