"""`voronka counters_rebuild`: recompute every maintained counter from the rows — the board
cells, the day buckets, the LTV and the companies' numbers (deals, won, first / last purchase).
`voronka seed` runs it after loading; run it by hand after a restore, a raw import, or a cached
benchmark database written before a counter existed."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from voronka.activities.counters import task_counters_rebuild


class Command(BaseCommand):
    help = "Recompute the maintained counters (board, buckets, LTV, company numbers) from the rows"

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        task_counters_rebuild()
        self.stdout.write(f"counters rebuilt in {time.monotonic() - started:.1f} s")
