from __future__ import annotations

from django.db import models, transaction
from django.utils.translation import gettext as _

from voronka.activities.models import Comment
from voronka.kernel.actor import Actor
from voronka.kernel.audit import emit
from voronka.kernel.errors import ValidationError
from voronka.kernel.normalize import clean_text


@transaction.atomic
def comment_add(*, obj: models.Model, actor: Actor, text: str) -> Comment:
    if not isinstance(text, str):
        raise ValidationError({"text": _("Ожидается текст")})
    try:
        cleaned = clean_text(text, max_length=10000)
    except ValueError as exc:
        raise ValidationError({"text": str(exc)}) from None
    if not cleaned:
        raise ValidationError({"text": _("Комментарий не может быть пустым")})
    comment = Comment.objects.create(
        object_type=obj._meta.model_name, object_id=obj.pk, text=cleaned, author=actor.user
    )
    emit(
        name=f"{obj._meta.model_name}.commented",
        obj=obj,
        actor=actor,
        payload={"comment": comment.pk},
    )
    return comment
