from __future__ import annotations

from django.db import models

from voronka.kernel import clock


class ScheduledRun(models.Model):
    """One row per (job, period): the unique key makes a periodic job run once per period
    however many worker processes tick at the same time."""

    job = models.CharField(max_length=64)
    period = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "period"], name="scheduledrun_uniq")]
