"""The timeline: one ordered history per deal/company/contact from stage moves, audited field
changes and comments (tasks, calls, e-mails, documents and payments join as they arrive)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from voronka.activities.models import Comment
from voronka.identity.models import User
from voronka.kernel.models import AuditEntry, CustomField


@dataclass
class TimelineItem:
    kind: str  # stage | created | updated | deleted | comment
    at: dt.datetime
    user: User | None
    actor_kind: str
    text: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)
    from_stage: Any = None
    to_stage: Any = None
    seconds_in_from: int | None = None

    @property
    def title(self) -> str:
        from django.utils.translation import gettext as _

        return _(KIND_TITLES[self.kind]) if self.kind in KIND_TITLES else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "user": self.user.pk if self.user else None,
            "user_name": self.user.display_name if self.user else "",
            "actor_kind": self.actor_kind,
            "text": self.text,
            "changes": self.changes,
            "from_stage": self.from_stage.pk if self.from_stage else None,
            "from_stage_name": self.from_stage.name if self.from_stage else "",
            "to_stage": self.to_stage.pk if self.to_stage else None,
            "to_stage_name": self.to_stage.name if self.to_stage else "",
            "seconds_in_from": self.seconds_in_from,
        }


FIELD_LABELS = {
    "title": "Название",
    "amount": "Сумма",
    "currency": "Валюта",
    "responsible": "Ответственный",
    "company": "Компания",
    "contacts": "Контакты",
    "comment": "Комментарий",
    "source": "Источник",
    "name": "Название",
    "type": "Тип",
    "inn": "ИНН",
    "kpp": "КПП",
    "ogrn": "ОГРН",
    "bank_bik": "БИК",
    "bank_account": "Расчётный счёт",
    "phone": "Телефон",
    "email": "E-mail",
    "phones": "Телефоны",
    "emails": "E-mail",
    "addresses": "Адреса",
    "birthday": "День рождения",
    "first_name": "Имя",
    "last_name": "Фамилия",
    "loss_reason": "Причина отказа",
    "task": "Задача",
    "task_deadline": "Срок задачи",
    "reason": "Причина",
    "deadline": "Срок",
    "status": "Статус",
    "result": "Результат",
    "middle_name": "Отчество",
    "position": "Должность",
}
KIND_TITLES = {
    "task_created": "Поставлена задача",
    "task_completed": "Задача выполнена",
    "task_rescheduled": "Срок задачи перенесён",
    "updated": "Изменения",
    "deleted": "Удалено",
}


def _expand_changes(
    changes: dict[str, Any], users: dict[int, User], fields: dict[str, str]
) -> list[dict[str, Any]]:
    from django.utils.translation import gettext as _

    rows = []
    for key, pair in changes.items():
        if key == "stage":
            continue
        old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        if (
            key == "custom"
            and isinstance(old, dict | type(None))
            and isinstance(new, dict | type(None))
        ):
            old, new = old or {}, new or {}
            for ckey in sorted(set(old) | set(new)):
                if old.get(ckey) != new.get(ckey):
                    rows.append(
                        {
                            "field": ckey,
                            "label": fields.get(ckey, ckey),
                            "old": old.get(ckey),
                            "new": new.get(ckey),
                        }
                    )
            continue
        if key == "responsible":
            old = users[old].display_name if old in users else old
            new = users[new].display_name if new in users else new
        rows.append({"field": key, "label": _(FIELD_LABELS.get(key, key)), "old": old, "new": new})
    return rows


def object_timeline(
    *, object_type: str, object_id: int, stage_changes: Any = None
) -> list[TimelineItem]:
    """Newest first. `stage_changes` (a queryset of StageChange) is passed by the deals side."""
    audits = list(
        AuditEntry.objects.filter(object_type=object_type, object_id=object_id)
        .select_related("actor_user")
        .order_by("-at", "-id")[:500]
    )
    comments = list(
        Comment.objects.filter(object_type=object_type, object_id=object_id)
        .select_related("author")
        .order_by("-created_at")[:500]
    )
    user_ids: set[int] = set()
    for entry in audits:
        pair = entry.changes.get("responsible")
        if isinstance(pair, list):
            user_ids.update(x for x in pair if isinstance(x, int))
    users = {u.pk: u for u in User.objects.filter(pk__in=user_ids)}
    fields = dict(CustomField.objects.filter(entity=object_type).values_list("key", "name"))
    items: list[TimelineItem] = []
    for entry in audits:
        changes = _expand_changes(entry.changes, users, fields)
        if entry.action == "stage_changed" and not changes:
            continue  # shown by its stage row
        kind = "updated" if entry.action == "stage_changed" else entry.action
        items.append(
            TimelineItem(
                kind=kind,
                at=entry.at,
                user=entry.actor_user,
                actor_kind=entry.actor_kind,
                changes=changes if entry.action != "created" else [],
            )
        )
    for comment in comments:
        items.append(
            TimelineItem(
                kind="comment",
                at=comment.created_at,
                user=comment.author,
                actor_kind="user",
                text=comment.text,
            )
        )
    if stage_changes is not None:
        for change in stage_changes.select_related("from_stage", "to_stage", "by")[:500]:
            if change.from_stage_id is None:
                continue  # the creation row says it
            items.append(
                TimelineItem(
                    kind="stage",
                    at=change.at,
                    user=change.by,
                    actor_kind=change.actor_kind,
                    from_stage=change.from_stage,
                    to_stage=change.to_stage,
                    seconds_in_from=change.seconds_in_from,
                )
            )
    items.sort(key=lambda i: i.at, reverse=True)
    return items
