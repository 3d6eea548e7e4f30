"""The automation engine's tables (decision 0015).

Rule — what a head of sales configures: a robot (a stage's action when a deal enters it), a
trigger (an event that moves a deal into a stage) or a monitor (a periodic sweep).
RuleRun — one intended effect: (rule, object, occurrence key) is unique, so however often an
event is delivered or a sweep ticks, a rule acts once on an object per occurrence. A run is
claimed by one worker under a lease; its effect and its `done` commit together, fenced by the
lease token, so a worker killed or stalled mid-run leaves nothing half done and applies nothing
late.
ScheduledRun — one row per (periodic job, period), so N workers run a periodic job once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from voronka.kernel import clock


class ScheduledRun(models.Model):
    """One row per (job, period): the unique key makes a periodic job run once per period
    however many worker processes tick at the same time."""

    job = models.CharField(max_length=64)
    period = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "period"], name="scheduledrun_uniq")]


class RuleKind(models.TextChoices):
    ROBOT = "robot", _("Робот")
    TRIGGER = "trigger", _("Триггер")
    MONITOR = "monitor", _("Монитор")


class RuleQuerySet(models.QuerySet["Rule"]):
    def enabled(self) -> RuleQuerySet:
        return self.filter(enabled=True)

    def robots_of(self, stage_id: int) -> RuleQuerySet:
        """A stage's robots in the order they run (`sort`, then the older first)."""
        return self.filter(kind=RuleKind.ROBOT, stage_id=stage_id).order_by("sort", "id")


class Rule(models.Model):
    kind = models.CharField(max_length=8, choices=RuleKind.choices)
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    sort = models.PositiveIntegerField(default=0)
    # Whose rights the rule acts with (decision 0014): the person who last saved it. None: a
    # built-in rule of the system (the default monitors), acting as the system.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Robot: the stage it belongs to. Trigger: the stage it moves deals into.
    pipeline = models.ForeignKey(
        "deals.Pipeline", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    stage = models.ForeignKey(
        "deals.Stage", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Trigger: the event that fires it. Robot: an event to wait for after the stage entry
    # ("" — run on entry, after the delay).
    event = models.CharField(max_length=64, blank=True, default="")
    # Monitor: the sweep (automation.registry.MONITORS) and its parameters.
    monitor = models.CharField(max_length=64, blank=True, default="")
    monitor_params = models.JSONField(default=dict, blank=True)
    # [{"field": "amount", "op": "gte", "value": "100000"}, …] — all must hold (conditions.py).
    conditions = models.JSONField(default=list, blank=True)
    delay_seconds = models.PositiveIntegerField(default=0)
    # The action (automation.registry.ACTIONS) and its parameters (validated by its schema).
    action = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    # The outbox head when the rule was created or switched on: robots and triggers act on later
    # events only (a backlog the worker has not reached yet, or the history, never fires a rule
    # that did not exist when it happened).
    since_event = models.BigIntegerField(default=0)
    # A built-in rule's slug (automation.defaults): created when missing, never deleted (switched
    # off instead). "" for the rules people make.
    builtin = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    objects = RuleQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "stage_id", "sort", "id"]
        indexes = [models.Index(fields=["kind", "stage"], name="rule_kind_stage_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["robot", "trigger", "monitor"]), name="rule_kind_valid"
            ),
            models.UniqueConstraint(
                fields=["builtin"], condition=~models.Q(builtin=""), name="rule_builtin_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    WAITING = "waiting", _("Ждёт события")
    PENDING = "pending", _("В очереди")
    RUNNING = "running", _("Выполняется")
    DONE = "done", _("Выполнен")
    SKIPPED = "skipped", _("Пропущен")
    FAILED = "failed", _("Ошибка")


class RuleRunQuerySet(models.QuerySet["RuleRun"]):
    def failed(self) -> RuleRunQuerySet:
        return self.filter(status=RunStatus.FAILED)


class RuleRun(models.Model):
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    object_type = models.CharField(max_length=16)  # deal, task, company, contact
    object_id = models.BigIntegerField()
    # The occurrence: "e<event id>" for an event, "<monitor key>" for a sweep's find.
    key = models.CharField(max_length=96)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.PENDING)
    due_at = models.DateTimeField(default=clock.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The lease: a claim increments the token; the effect commits only with its token (fencing).
    lease_token = models.PositiveIntegerField(default=0)
    leased_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=64, blank=True, default="")
    # What caused it: the event (None for a sweep), the cascade depth its effects continue.
    event_id = models.BigIntegerField(null=True, blank=True)
    depth = models.PositiveSmallIntegerField(default=0)
    # Facts at planning time (e.g. the stage entry a robot belongs to).
    context = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=clock.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RuleRunQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "object_type", "object_id", "key"], name="rulerun_once"
            ),
        ]
        indexes = [
            # The claim: due pending runs, and running ones whose lease expired.
            models.Index(
                fields=["due_at"],
                name="rulerun_pending_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["leased_until"],
                name="rulerun_running_idx",
                condition=models.Q(status="running"),
            ),
            models.Index(
                fields=["object_type", "object_id"],
                name="rulerun_waiting_idx",
                condition=models.Q(status="waiting"),
            ),
            models.Index(fields=["status", "-id"], name="rulerun_status_idx"),
            models.Index(fields=["rule", "-id"], name="rulerun_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.object_type}:{self.object_id}:{self.key}"
