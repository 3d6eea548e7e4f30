"""Periodic jobs of the integrations (kernel.jobs.periodic; discovered by kernel.events)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django_tasks import task

from voronka.integrations.webhooks.delivery import webhooks_deliver, webhooks_prune
from voronka.kernel import clock
from voronka.kernel.jobs import periodic

DELIVER_LIMIT = 200
DELIVER_SECONDS = 30.0


@periodic("webhooks_deliver", every=dt.timedelta(seconds=10))
@task()
def deliver_webhooks() -> dict[str, int]:
    """Send the outgoing webhooks that are due (signed, retried with backoff)."""
    return webhooks_deliver(DELIVER_LIMIT, max_seconds=DELIVER_SECONDS).as_dict()


@periodic("webhooks_prune", every=dt.timedelta(hours=1))
@task()
def prune_webhooks() -> int:
    """Delete finished webhook deliveries older than VORONKA_WEBHOOK_RETENTION_DAYS."""
    days = settings.VORONKA_WEBHOOK_RETENTION_DAYS
    return webhooks_prune(older_than=clock.now() - dt.timedelta(days=days))
