"""Events of the automation's configuration (the catalogue: kernel.events, docs/events.md)."""

from __future__ import annotations

from voronka.kernel.events import NoPayload, declare

SERVICES = "automation.services"

RULE_CREATED = declare(
    "rule.created",
    NoPayload,
    description="An automation rule (robot, trigger, monitor) was created.",
    emitted_by=f"{SERVICES}.rule_create",
)
RULE_CHANGED = declare(
    "rule.updated",
    NoPayload,
    description="An automation rule was changed (it now acts with the rights of who saved it).",
    emitted_by=f"{SERVICES}.rule_update",
)
RULE_DELETED = declare(
    "rule.deleted",
    NoPayload,
    description="An automation rule was deleted with its runs.",
    emitted_by=f"{SERVICES}.rule_delete",
)
