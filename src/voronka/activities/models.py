"""Comments, tasks (with deadline history and day counters) and in-app notifications."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from voronka.kernel import clock


class Comment(models.Model):
    object_type = models.CharField(max_length=16)  # deal / company / contact
    object_id = models.BigIntegerField()
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "created_at"], name="comment_obj_idx")
        ]


class TaskType(models.TextChoices):
    CALL = "call", _("Звонок")
    MEETING = "meeting", _("Встреча")
    EMAIL = "email", _("E-mail")
    OTHER = "other", _("Другое")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Открыта")
    DONE = "done", _("Выполнена")


# An open task whose current deadline has not had its task.overdue event: the overdue sweep's
# filter and its partial index's condition (one expression: the planner matches them).
OVERDUE_DUE = models.Q(status="open") & (
    models.Q(overdue_for__isnull=True) | ~models.Q(overdue_for=models.F("deadline"))
)


class Task(models.Model):
    """Responsible + deadline + type + comment, all four mandatory (seed 003)."""

    type = models.CharField(max_length=8, choices=TaskType.choices)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks"
    )
    deadline = models.DateTimeField()
    comment = models.TextField()
    status = models.CharField(max_length=4, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    result = models.TextField(blank=True)
    deal = models.ForeignKey(
        "deals.Deal", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    company = models.ForeignKey(
        "contacts.Company", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    # The deadline for which `task.overdue` was emitted (tasks_overdue_emit): once per task and
    # deadline; a deadline moved and passed again differs from it, and emits again.
    overdue_for = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deadline", "id"]
        indexes = [
            # The overdue sweep: open tasks whose deadline has not had its task.overdue yet — a
            # task leaves the index once emitted, so a sweep reads only the newly overdue.
            models.Index(
                fields=["deadline"],
                name="task_overdue_due_idx",
                condition=OVERDUE_DUE,
            ),
            # deal, contact at the end: the badges' "today before now" count splits open tasks by
            # what they hang on from the index alone (index-only scan; not INCLUDE: SQLite has none).
            models.Index(
                fields=["responsible", "deadline", "deal", "contact"],
                name="task_open_resp_deadline_idx",
                condition=models.Q(status="open"),
            ),
            models.Index(
                fields=["deadline", "deal", "contact"],
                name="task_open_deadline_idx",
                condition=models.Q(status="open"),
            ),
            models.Index(
                fields=["responsible", "completed_at"],
                name="task_done_resp_idx",
                condition=models.Q(status="done"),
            ),
            models.Index(fields=["deal", "status", "deadline"], name="task_deal_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(deal__isnull=False)
                | models.Q(contact__isnull=False)
                | models.Q(company__isnull=False),
                name="task_linked_to_something",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "done"]), name="task_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.comment[:60]

    @property
    def link(self) -> str:
        return "deal" if self.deal_id else "contact" if self.contact_id else "company"


class TaskDeadlineChange(models.Model):
    """Every deadline move with who, when, old → new and the reason (seed 000 §7)."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="deadline_changes")
    old_deadline = models.DateTimeField()
    new_deadline = models.DateTimeField()
    reason = models.TextField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_kind = models.CharField(max_length=16, default="user")
    at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["at", "id"]


class TaskDayCounter(models.Model):
    """Open tasks per (responsible, local day of the deadline) — maintained by the task services."""

    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # What the task hangs on (deal / contact / company): the navigation badges split by it.
    link = models.CharField(max_length=8)
    day = models.DateField()
    count = models.IntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["responsible", "link", "day"], name="taskday_uniq")
        ]


class NotificationKind(models.TextChoices):
    TASK_ASSIGNED = "task_assigned", _("Вам поставлена задача")
    TASK_OVERDUE = "task_overdue", _("Задача просрочена")
    TASK_OVERDUE_HEAD = "task_overdue_head", _("Просрочена задача сотрудника")
    DEADLINE_MOVED = "deadline_moved", _("Срок задачи перенесён")
    AUTOMATION = "automation", _("Уведомление робота")


class Notification(models.Model):
    display_text: str  # not a column: the text in the reader's language, set for screens

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=24, choices=NotificationKind.choices)
    # The text in the recipient's language when it was written (kept for old rows and exports);
    # screens, the API and e-mails render `params` in the reader's language instead
    # (activities.notifications.notification_text).
    text = models.CharField(max_length=500)
    params = models.JSONField(default=dict, blank=True)
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    deal = models.ForeignKey(
        "deals.Deal", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Makes sweeps idempotent: one notification per (user, kind, task, key).
    dedup_key = models.CharField(max_length=64, default="")
    created_at = models.DateTimeField(default=clock.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notif_user_idx"),
            models.Index(
                fields=["user"], name="notif_unread_idx", condition=models.Q(read_at__isnull=True)
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "task", "dedup_key"], name="notif_dedup_uniq"
            ),
        ]
