"""`voronka events_doc`: write docs/events.md from the event, consumer and job registries."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from voronka.kernel.events_doc import DOC_PATH, render, write


class Command(BaseCommand):
    help = "Write docs/events.md from the registries (--check: fail when it is out of date)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Only compare, do not write")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
            if current != render():
                raise CommandError(f"{DOC_PATH} is out of date: run `voronka events_doc`")
            self.stdout.write(f"{DOC_PATH}: up to date")
            return
        self.stdout.write(f"{DOC_PATH}: {'written' if write() else 'up to date'}")
