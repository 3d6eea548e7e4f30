"""What an action sees when it runs: the rule, the actor it acts as, the object and its deal, the
moment, and whether this is a dry run (decision 0015)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils import formats

from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.events import Cause

if TYPE_CHECKING:
    from django.db import models

    from voronka.automation.models import Rule, RuleRun
    from voronka.contacts.models import Company
    from voronka.deals.models import Deal


def rule_actor(rule: Rule, *, run_id: int | None = None) -> Actor:
    """The automation actor of a rule: its owner's rights (decision 0014); a built-in rule
    without an owner acts as the system. The request id names the rule (and run) in the audit."""
    request_id = f"rule:{rule.pk}" + (f":run:{run_id}" if run_id else "")
    meta = {"rule": rule.pk, "rule_name": rule.name}
    if rule.owner_id is None:
        return Actor(kind=ActorKind.SYSTEM, request_id=request_id, meta=meta)
    return Actor(kind=ActorKind.AUTOMATION, user=rule.owner, request_id=request_id, meta=meta)


@dataclass
class RunContext:
    rule: Rule
    actor: Actor
    now: dt.datetime
    object_type: str
    obj: models.Model
    deal: Deal | None = None
    company: Company | None = None
    run: RuleRun | None = None
    # When the deal entered the stage the robot belongs to (robots; a trigger: the event time).
    entered_at: dt.datetime | None = None
    event_name: str = ""
    dry: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cause(self) -> Cause:
        """What the run's effects name as their cause (a cascade's depth counts from the event
        that planned the run)."""
        if self.run is None:
            return Cause(f"rule:{self.rule.pk}", 1)
        return Cause(f"rule:{self.rule.pk}:run:{self.run.pk}", self.run.depth + 1)

    @property
    def moment(self) -> dt.datetime:
        """What relative deadlines count from: the stage entry, else now."""
        return self.entered_at or self.now

    def values(self) -> dict[str, Any]:
        """The placeholders of text templates ({deal.title}, {company.name} …)."""
        out: dict[str, Any] = {}
        deal = self.deal
        if deal is not None:
            out.update(
                {
                    "deal.id": deal.pk,
                    "deal.title": deal.title,
                    "deal.amount": deal.amount,
                    "deal.currency": deal.currency,
                    "deal.source": deal.source,
                    "deal.stage": deal.stage.name,
                    "deal.pipeline": deal.pipeline.name,
                    "responsible.name": deal.responsible.display_name,
                }
            )
        company = self.company or (deal.company if deal is not None else None)
        if company is not None:
            out["company.name"] = company.name
        task = self.obj if self.object_type == "task" else None
        if task is not None:
            out["task.comment"] = getattr(task, "comment", "")
            out["task.deadline"] = getattr(task, "deadline", None)
        out["rule.name"] = self.rule.name
        return out


PLACEHOLDER = re.compile(r"\{([a-z_]+\.[a-z_]+)\}")


def _shown(value: Any) -> str:
    if isinstance(value, Decimal):
        return formats.number_format(value, decimal_pos=0, use_l10n=True, force_grouping=True)
    if isinstance(value, dt.datetime):
        return formats.date_format(value, "DATETIME_FORMAT")
    return "" if value is None else str(value)


def render_text(template: str, values: dict[str, Any]) -> str:
    """Put the values in a rule's text. Only the named placeholders are replaced (no attribute
    access, no format specs: a rule's text cannot reach into objects); unknown ones stay as
    written so the author sees the typo."""
    return PLACEHOLDER.sub(
        lambda m: _shown(values[m.group(1)]) if m.group(1) in values else m.group(0), template
    )
