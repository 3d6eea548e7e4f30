"""The timeline: one ordered history per deal/company/contact from stage moves, audited field
changes and comments (tasks, calls, e-mails, documents and payments join as they arrive)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils import translation

from voronka.activities.models import Comment, TaskStatus, TaskType
from voronka.contacts.models import Company, CompanyType, Contact
from voronka.deals.models import StageSemantic
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
    # Set by the deal card for a stage change: the colours of the stages it went between.
    color: str = ""
    from_color: str = ""

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
    "messengers": "Мессенджеры",
    "consent_calls": "Согласие на звонки",
    "consent_mailing": "Согласие на рассылки",
    "bank_name": "Банк",
    "website": "Сайт",
    # contacts.merge: the kept record's and each merged one's audit rows
    "merged": "Объединены записи",
    "merged_into": "Объединена с записью",
}
# Stored codes of choices, shown as their labels in the reader's language: (object, field) → choices.
CHOICES: dict[tuple[str, str], type[models.TextChoices]] = {
    ("company", "type"): CompanyType,
    ("task", "type"): TaskType,
    ("task", "status"): TaskStatus,
    ("stage", "semantic"): StageSemantic,
}
KIND_TITLES = {
    "task_created": "Поставлена задача",
    "task_completed": "Задача выполнена",
    "task_rescheduled": "Срок задачи перенесён",
    "updated": "Изменения",
    "deleted": "Удалено",
}


def _choice_label(choices: type[models.TextChoices], value: Any) -> Any:
    return str(choices(value).label) if value in choices.values else value


def _russian_task_labels() -> dict[str, str]:
    with translation.override("ru"):
        return {str(label): code for code, label in TaskType.choices}


def _task_text(value: Any) -> Any:
    """A task on the deal's timeline: «<type label>: <comment>» in the reader's language. Stored
    as {"type", "comment"}; rows written before that hold the Russian text «Встреча: …»."""
    if isinstance(value, dict) and "type" in value:
        label = _choice_label(TaskType, value.get("type"))
        return f"{label}: {value.get('comment', '')}"
    if isinstance(value, str):
        head, sep, rest = value.partition(": ")
        code = _russian_task_labels().get(head) if sep else None
        if code is not None:
            return f"{TaskType(code).label}: {rest}"
    return value


def _names(ids: Any, names: dict[int, str]) -> Any:
    if isinstance(ids, list):
        return [names.get(x, x) if isinstance(x, int) else x for x in ids]
    return names.get(ids, ids) if isinstance(ids, int) else ids


def _expand_changes(
    changes: dict[str, Any],
    users: dict[int, User],
    fields: dict[str, str],
    object_type: str = "",
    names: dict[str, dict[int, str]] | None = None,
) -> list[dict[str, Any]]:
    """Audit changes as rows for people: field labels, choice labels, task types, names of the
    responsible users, companies and contacts — all in the reader's language (never the
    language of whoever made the change)."""
    from django.utils.translation import gettext as _

    names = names or {}
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
        elif key == "task":
            old, new = _task_text(old), _task_text(new)
        elif key in ("company", "contacts") and object_type == "deal":
            old, new = _names(old, names.get(key, {})), _names(new, names.get(key, {}))
        elif (object_type, key) in CHOICES:
            choices = CHOICES[(object_type, key)]
            old, new = _choice_label(choices, old), _choice_label(choices, new)
        rows.append({"field": key, "label": _(FIELD_LABELS.get(key, key)), "old": old, "new": new})
    return rows


def _related_names(audits: list[AuditEntry]) -> dict[str, dict[int, str]]:
    """Names of the companies and contacts a deal's changes refer to (stored as ids)."""
    wanted: dict[str, set[int]] = {"company": set(), "contacts": set()}
    for entry in audits:
        for key, ids in wanted.items():
            for value in entry.changes.get(key) or []:
                values = value if isinstance(value, list) else [value]
                ids.update(x for x in values if isinstance(x, int) and not isinstance(x, bool))
    names: dict[str, dict[int, str]] = {"company": {}, "contacts": {}}
    if wanted["company"]:
        names["company"] = dict(
            Company.objects.filter(pk__in=wanted["company"]).values_list("pk", "name")
        )
    if wanted["contacts"]:
        names["contacts"] = {
            c.pk: c.full_name
            for c in Contact.objects.filter(pk__in=wanted["contacts"]).only(
                "id", "last_name", "first_name", "middle_name"
            )
        }
    return names


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
    names = _related_names(audits) if object_type == "deal" else {}
    items: list[TimelineItem] = []
    for entry in audits:
        changes = _expand_changes(entry.changes, users, fields, object_type, names)
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
