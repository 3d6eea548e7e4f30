"""`voronka import contacts|companies|deals FILE [--mapping auto|FILE.json] [--as USERNAME]`:
import a CSV/XLSX file here and now, printing progress and a summary. Exits non-zero only when
the file cannot be read (bad rows are reported, not fatal)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

ENTITIES = {"contacts": "contact", "companies": "company", "deals": "deal"}


class Command(BaseCommand):
    help = "Import contacts, companies or deals from a CSV/XLSX file (Bitrix24, amoCRM formats)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("entity", choices=sorted(ENTITIES))
        parser.add_argument("file")
        parser.add_argument("--mapping", default="auto", help="auto, or a JSON list of targets")
        parser.add_argument("--as", dest="username", default="", help="the importing user")

    def handle(self, *args: Any, **opts: Any) -> None:
        from voronka.identity.models import User
        from voronka.kernel.actor import Actor, ActorKind
        from voronka.kernel.errors import ApplicationError
        from voronka.transfer.models import ImportJob
        from voronka.transfer.services import import_file

        path = Path(opts["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        users = User.objects.filter(is_active=True)
        user = (
            users.filter(username=opts["username"]).first()
            if opts["username"]
            else users.filter(is_superuser=True).order_by("pk").first()
        )
        if user is None:
            raise CommandError("no such active user (--as USERNAME)")
        mapping = None
        if opts["mapping"] != "auto":
            try:
                mapping = json.loads(Path(opts["mapping"]).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the mapping: {exc}") from None
            if not isinstance(mapping, list) or not all(isinstance(t, str) for t in mapping):
                raise CommandError("the mapping is a JSON list of targets, one per column")
        stop = threading.Event()

        def progress() -> None:  # reads the job's counters while the import runs
            from django.db import connection

            while not stop.wait(1.0):
                job = ImportJob.objects.filter(created_by=user).order_by("-pk").first()
                if job is not None and job.total:
                    self.stderr.write(f"  {job.processed}/{job.total} rows", ending="\r")
            connection.close()

        watcher = threading.Thread(target=progress, daemon=True)
        started = time.monotonic()
        watcher.start()
        try:
            job = import_file(
                actor=Actor(kind=ActorKind.IMPORT, user=user),
                entity=ENTITIES[opts["entity"]],
                filename=path.name,
                data=data,
                mapping=mapping,
            )
        except ApplicationError as exc:
            raise CommandError(
                exc.message if not exc.errors else "; ".join(exc.errors.values())
            ) from None
        finally:
            stop.set()
            watcher.join(timeout=5)
        seconds = time.monotonic() - started
        self.stdout.write(
            f"{job.status}: {job.total} rows, created {job.created}, found existing {job.found}, "
            f"errors {job.failed} ({seconds:.1f} s)"
        )
        if job.skipped_columns:
            self.stdout.write("skipped columns: " + ", ".join(job.skipped_columns))
        for error in job.row_errors.all()[:20]:
            self.stdout.write(f"  row {error.row}: {error.column}: {error.message}")
        if job.error:
            self.stdout.write(job.error)
