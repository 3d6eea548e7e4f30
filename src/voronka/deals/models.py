"""Pipelines with ordered stages (semantic open/won/lost), deals, their stage history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from voronka.kernel.models import TimeStampedModel


class StageSemantic(models.TextChoices):
    OPEN = "open", _("В работе")
    WON = "won", _("Успех")
    LOST = "lost", _("Провал")


class Pipeline(TimeStampedModel):
    name = models.CharField(max_length=120)
    sort = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.name


# --- the two named rules of the methodology ------------------------------------------------------
# "Needs a next task": an open deal with no open task. "Over the stage SLA": an open deal that
# entered its stage before `stage_sla_cutoff(now, stage.sla_days)` (exactly at the limit is
# not over). Each has a query form (the QuerySet methods below, the counters) and a per-object
# form (cards, lists, templates); tests/domain/test_dom_deal_rules.py checks that they agree
# and that no copy of either appears elsewhere.

NEEDS_NEXT_TASK = Q(status=StageSemantic.OPEN, open_tasks=0)


class DealLike(Protocol):
    """What the per-object rules read: a Deal, a board card or a counters snapshot."""

    @property
    def status(self) -> str: ...
    @property
    def open_tasks(self) -> int: ...
    @property
    def stage_entered_at(self) -> dt.datetime: ...


def needs_next_task(deal: DealLike) -> bool:
    """The per-object form of `NEEDS_NEXT_TASK`."""
    return deal.status == StageSemantic.OPEN and deal.open_tasks == 0


def stage_sla_cutoff(now: dt.datetime, sla_days: int) -> dt.datetime:
    """A deal that entered a stage with this limit before the returned moment is over it."""
    return now - dt.timedelta(days=sla_days)


def stage_sla_breach_at(entered_at: dt.datetime, sla_days: int) -> dt.datetime:
    """When a deal that entered a stage at `entered_at` goes over its limit: from this moment on
    it is over (the inverse of `stage_sla_cutoff`; the automation's dry run replays history)."""
    return entered_at + dt.timedelta(days=sla_days)


def is_over_stage_sla(deal: DealLike, sla_days: int | None, now: dt.datetime) -> bool:
    """The per-object form of `DealQuerySet.over_stage_sla` (`sla_days`: the deal's stage's)."""
    return (
        deal.status == StageSemantic.OPEN
        and sla_days is not None
        and deal.stage_entered_at < stage_sla_cutoff(now, sla_days)
    )


def stage_sla_cutoffs(
    now: dt.datetime, stages: Iterable[Stage]
) -> list[tuple[list[int], dt.datetime]]:
    """(stage ids, cutoff) per distinct limit of `stages` (stages with the same limit share one
    condition); stages without a limit are left out."""
    by_days: dict[int, list[int]] = {}
    for stage in stages:
        if stage.sla_days is not None:
            by_days.setdefault(stage.sla_days, []).append(stage.pk)
    return [(ids, stage_sla_cutoff(now, days)) for days, ids in sorted(by_days.items())]


class StageQuerySet(models.QuerySet["Stage"]):
    def with_sla(self) -> StageQuerySet:
        """Open stages with a limit: the only ones a deal can be over."""
        return self.filter(sla_days__isnull=False, semantic=StageSemantic.OPEN)


class Stage(TimeStampedModel):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=120)
    sort = models.PositiveIntegerField(default=0)
    semantic = models.CharField(
        max_length=8, choices=StageSemantic.choices, default=StageSemantic.OPEN
    )
    color = models.CharField(max_length=7, default="#3b82f6")
    sla_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Limiter: days in stage"
    )
    # Keys of custom deal fields (or "amount") that must be filled to enter this stage.
    required_fields = models.JSONField(default=list, blank=True)

    objects = StageQuerySet.as_manager()

    class Meta:
        ordering = ["pipeline", "sort", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(semantic__in=["open", "won", "lost"]),
                name="stage_semantic_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.semantic != StageSemantic.OPEN


class LossReasonQuerySet(models.QuerySet):
    def active(self) -> LossReasonQuerySet:
        """The reasons a user may choose now (retired ones stay on the deals that have them)."""
        return self.filter(is_active=True)


class LossReason(models.Model):
    """Why a deal was lost. Maps to a stage of the warming pipeline (Подогрев) when set."""

    name = models.CharField(max_length=120, unique=True)
    sort = models.PositiveIntegerField(default=0)
    warming_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)

    objects = LossReasonQuerySet.as_manager()

    class Meta:
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.name


class DealQuerySet(models.QuerySet["Deal"]):
    def for_list(self) -> DealQuerySet:
        return self.select_related("company", "responsible", "stage", "pipeline")

    def needing_next_task(self) -> DealQuerySet:
        """Open deals with no open task (the control screen's red number, the list filter)."""
        return self.filter(NEEDS_NEXT_TASK)

    def over_stage_sla(
        self, now: dt.datetime, stages: Iterable[Stage] | None = None
    ) -> DealQuerySet:
        """Open deals longer in their stage than its limit at `now` (the product clock's).
        `stages`: the limited stages if the caller has them (else one query for them)."""
        if stages is None:
            stages = Stage.objects.with_sla().only("id", "sla_days")
        return self.filter(over_stage_sla_q(now, stages), status=StageSemantic.OPEN)


def over_stage_sla_q(now: dt.datetime, stages: Iterable[Stage]) -> Q:
    """The condition on (stage, stage_entered_at) of `DealQuerySet.over_stage_sla`, without the
    status (callers that count open deals only add it or have it already)."""
    cond = Q(pk__in=[])
    for ids, cutoff in stage_sla_cutoffs(now, stages):
        cond |= Q(stage_id__in=ids, stage_entered_at__lt=cutoff)
    return cond


class Deal(TimeStampedModel):
    title = models.CharField(max_length=255)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    # Denormalized from the stage so open/won/lost filters need no join.
    status = models.CharField(
        max_length=8, choices=StageSemantic.choices, default=StageSemantic.OPEN
    )
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="RUB")
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deals"
    )
    company = models.ForeignKey("contacts.Company", on_delete=models.PROTECT, related_name="deals")
    contacts = models.ManyToManyField("contacts.Contact", blank=True, related_name="deals")
    source = models.CharField(max_length=64, blank=True)
    utm_source = models.CharField(max_length=128, blank=True)
    utm_medium = models.CharField(max_length=128, blank=True)
    utm_campaign = models.CharField(max_length=128, blank=True)
    utm_content = models.CharField(max_length=128, blank=True)
    utm_term = models.CharField(max_length=128, blank=True)
    comment = models.TextField(blank=True)
    custom = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    stage_entered_at = models.DateTimeField()
    loss_reason = models.ForeignKey(
        LossReason, null=True, blank=True, on_delete=models.PROTECT, related_name="deals"
    )
    loss_comment = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    # Maintained by the task services (activities): open tasks on this deal and the earliest
    # open deadline — the board's "no next task" / "overdue" marks read these, no join.
    open_tasks = models.PositiveIntegerField(default=0)
    next_task_deadline = models.DateTimeField(null=True, blank=True)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Board: per stage, newest-in-stage first; list: scope + keyset on id.
            models.Index(fields=["stage", "-stage_entered_at", "-id"], name="deal_board_idx"),
            models.Index(fields=["pipeline", "stage", "amount"], name="deal_stage_sum_idx"),
            models.Index(fields=["responsible", "-id"], name="deal_resp_idx"),
            models.Index(fields=["responsible", "stage"], name="deal_resp_stage_idx"),
            # Board of a manager or a head: count and sum per stage of their deals, index-only
            # (bench, 1M deals: a manager's 22k deals of the pipeline, 210 ms -> 10 ms).
            models.Index(
                fields=["responsible", "pipeline", "stage", "amount"], name="deal_resp_board_idx"
            ),
            models.Index(fields=["status", "-id"], name="deal_status_idx"),
            models.Index(fields=["opened_at"], name="deal_opened_idx"),
            models.Index(fields=["amount"], name="deal_amount_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="deal_amount_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def needs_next_task(self) -> bool:
        return needs_next_task(self)

    def is_over_stage_sla(self, now: dt.datetime) -> bool:
        return is_over_stage_sla(self, self.stage.sla_days, now)


class StageChange(models.Model):
    """Append-only: one row per stage move. Time in stage and funnels are computed from it."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(Stage, null=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_kind = models.CharField(max_length=16, default="user")
    seconds_in_from = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["deal", "at"], name="stagechange_deal_idx")]


class DealStageDayCounter(models.Model):
    """Open deals per (responsible, stage, local day entered the stage). "Deals past their
    stage SLA" is a sum over whole past days plus one indexed range on the boundary day, so
    the owner's counter does not scan a million deals."""

    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    count = models.IntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["responsible", "stage", "day"], name="dealstageday_uniq"
            ),
        ]
        indexes = [models.Index(fields=["stage", "day"], name="dealstageday_stage_idx")]


class DealUserCounter(models.Model):
    """Per responsible: open deals and open deals without an open task."""

    responsible = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    open_deals = models.IntegerField(default=0, db_default=0)
    without_task = models.IntegerField(default=0, db_default=0)


class DealBoardCounter(models.Model):
    """Deals (any status) and their amount per (stage, responsible, currency): the kanban's
    column count and sums without scanning the pipeline's deals. Amounts of different
    currencies are never added (decision 0010). Maintained by the deal services."""

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    currency = models.CharField(max_length=3)
    count = models.IntegerField(default=0, db_default=0)
    amount = models.DecimalField(
        max_digits=20, decimal_places=2, default=Decimal("0"), db_default=Decimal("0")
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "responsible", "currency"], name="dealboard_cur_uniq"
            ),
        ]


class CompanyLtv(models.Model):
    """The amount of a company's won deals per currency (its LTV, decision 0010). Maintained
    by the deal services with the board cells; `Company.ltv` mirrors the main currency."""

    company = models.ForeignKey(
        "contacts.Company", on_delete=models.CASCADE, related_name="ltv_cells"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(
        max_digits=20, decimal_places=2, default=Decimal("0"), db_default=Decimal("0")
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company", "currency"], name="companyltv_uniq"),
        ]
