"""`voronka export deals|companies|contacts|tasks` — a list as a file, on standard output.

    voronka export deals --format csv > deals.csv
    voronka export deals --format xlsx --as a.petrov status=open pipeline=2 > deals.xlsx
    voronka export contacts --delimiter , q=Иванов > contacts.csv

Filters are the list's own query parameters, as `name=value` (deals: pipeline, stage,
responsible, company, department, status, amount_min, amount_max, opened_from, opened_to, q,
no_task, over_sla, sort; companies: q, type, responsible; contacts: q, company, responsible;
tasks: deal, contact, company, responsible, department, status, overdue, type, deadline_from,
deadline_to, completed_on). `--as USERNAME`: export what that user sees (their scope and their
role's export right); without it the command, trusted like every CLI command, exports everything.
The rows stream out in chunks (CSV) or through a temporary file (XLSX): memory stays flat.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation

from voronka.identity.models import User
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError
from voronka.transfer import export


class Command(BaseCommand):
    help = "Export a list (deals, companies, contacts, tasks) to CSV or XLSX on stdout."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        """Filters may follow the options (`export deals --as x status=open`): the arguments are
        parsed intermixed, not positionals first."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        plain = parser.parse_args

        def parse_args(args: Any = None, namespace: Any = None) -> Any:
            try:
                return parser.parse_intermixed_args(args, namespace)
            except TypeError:  # an option argparse cannot intermix: the plain way
                return plain(args, namespace)

        parser.parse_args = parse_args  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("entity", choices=export.ENTITIES)
        parser.add_argument("filters", nargs="*", metavar="name=value")
        parser.add_argument("--format", choices=export.FORMATS, default="csv")
        parser.add_argument("--delimiter", choices=[";", ","], default=";")
        parser.add_argument("--as", dest="as_user", metavar="USERNAME")
        parser.add_argument("--output", "-o", metavar="FILE", help="write here, not to stdout")

    def handle(self, *args: Any, **opts: Any) -> None:
        params: dict[str, str] = {}
        for item in opts["filters"]:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise CommandError(f"a filter is name=value, not {item!r}")
            params[name] = value
        actor = Actor.system()
        language = None
        if opts["as_user"]:
            user = User.objects.filter(username=opts["as_user"]).first()
            if user is None or not user.is_active:
                raise CommandError(f"no active user {opts['as_user']!r}")
            actor = Actor.for_user(user)
            language = user.language
        with translation.override(language or translation.get_language() or "ru"):
            try:
                options = export.parse_options(
                    {"format": opts["format"], "delimiter": opts["delimiter"]}
                )
                table = export.export_open(
                    actor=actor, entity=opts["entity"], params=params, options=options
                )
                self._write(table, options, opts["output"])
            except ApplicationError as exc:
                details = (
                    "; ".join(f"{k}: {v}" for k, v in exc.errors.items()) if exc.errors else ""
                )
                raise CommandError(f"{exc.message}{' — ' + details if details else ''}") from None

    def _write(self, table: export.Table, options: export.Options, path: str | None) -> None:
        out = open(path, "wb") if path else sys.stdout.buffer  # noqa: SIM115
        try:
            if options.format == "xlsx":
                with tempfile.TemporaryFile() as scratch:
                    export.write_xlsx(table, scratch)
                    scratch.seek(0)
                    shutil.copyfileobj(scratch, out)
            else:
                for piece in export.write_csv(table, delimiter=options.delimiter):
                    out.write(piece)
            out.flush()
        finally:
            if path:
                out.close()
