"""`voronka duplicates scan | reindex` — duplicate control from the command line (issue 10).

    voronka duplicates scan --entity contact|company [--json]
    voronka duplicates reindex [--entity contact|company]

`scan` runs the full scan now (the worker also runs it every night), stores the groups for the
review screen and prints them: a table, or with --json a list of
{"ids": [...], "score": 0.93, "matched": ["phone", "name"]}. `reindex` rebuilds the normalized
keys of every record (after data was loaded around the services, e.g. `voronka seed`).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from voronka.contacts.dedup import duplicates_scan, reindex
from voronka.contacts.models import ClientEntity, DuplicateGroup


class Command(BaseCommand):
    help = "Duplicate control: the full scan, the rebuild of the keys."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        scan = sub.add_parser("scan", help="find the duplicate groups across the whole base")
        scan.add_argument("--entity", choices=ClientEntity.values, required=True)
        scan.add_argument("--json", action="store_true", help="print the groups as JSON")
        index = sub.add_parser("reindex", help="rebuild the keys of every record")
        index.add_argument("--entity", choices=ClientEntity.values)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "reindex":
            for entity in [options["entity"]] if options["entity"] else ClientEntity.values:
                count = reindex(entity)
                self.stderr.write(f"{entity}: {count} records indexed")
            return
        entity = options["entity"]
        run = duplicates_scan(entity)
        groups = DuplicateGroup.objects.filter(entity=entity, status=DuplicateGroup.Status.OPEN)
        rows = [
            {"ids": g.ids, "score": round(g.score, 3), "matched": g.matched}
            for g in groups.order_by("-score", "id")
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            ids = ", ".join(map(str, row["ids"]))
            self.stdout.write(f"{row['score']:.2f}  {'+'.join(row['matched']):<28} {ids}")
        seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0
        self.stderr.write(
            f"{len(rows)} groups, {seconds:.1f} s, peak memory {run.peak_memory_kb // 1024} MB"
        )
