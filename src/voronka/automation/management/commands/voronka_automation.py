"""`voronka automation export | import | dry-run` — automation as code (issue 9).

    voronka automation export > rules.yaml
    voronka automation import rules.yaml [--replace] [--as USERNAME]
    voronka automation dry-run rules.yaml --since 2026-11-01 [--until 2026-11-30]
                                          [--format table|json] [--as USERNAME]
    voronka automation dry-run --rule 12 --since 2026-11-01

Import validates the whole file through the rule services in one transaction and rejects it
whole, one line per error ("rules.yaml:14: params.comment: …"). `--as`: who imports and owns
the rules (default: the first active user who may configure; decision 0015). Dry-run dates are
local (the installation's time zone); a date without a time for --until includes that day.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from voronka.automation.dryrun import DryRunReport, file_dry_run, rule_dry_run
from voronka.automation.models import Rule
from voronka.automation.rules_io import (
    RulesFileError,
    configuring_user,
    import_actor,
    rules_export,
    rules_import,
)
from voronka.kernel.errors import ApplicationError


def parse_moment(raw: str, *, end: bool = False) -> dt.datetime:
    """A date (local midnight; `end`: the next midnight, so the day is included) or an ISO
    date-time (local when it names no zone)."""
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            if end:
                day += dt.timedelta(days=1)
            return timezone.make_aware(dt.datetime.combine(day, dt.time()))
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"not a date: {raw!r} (YYYY-MM-DD or an ISO date-time)") from None
    return moment if moment.tzinfo is not None else timezone.make_aware(moment)


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text") from None


def render_table(report: DryRunReport) -> str:
    """The report for a terminal: a line per rule, then the totals."""

    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in values.items()) or "—"

    head = ("rule", "kind", "runs", "done", "skipped", "failed", "pending", "would do")
    rows: list[tuple[str, ...]] = []
    for rule_report in report.rules:
        data = rule_report.as_dict(items=False)
        rule = data["rule"]
        label = rule["name"] if rule["id"] is None else f"#{rule['id']} {rule['name']}"
        if rule["line"] is not None:
            label = f"{label} (line {rule['line']})"
        rows.append(
            (
                label,
                rule["kind"],
                str(data["runs"]),
                str(data["done"]),
                counts(data["skipped"]),
                str(data["failed"]),
                str(data["pending"]),
                data.get("not_replayed") or counts(data["effects"]),
            )
        )
    totals = report.totals()
    rows.append(
        (
            "total",
            "",
            str(totals["runs"]),
            str(totals["done"]),
            counts(totals["skipped"]),
            str(totals["failed"]),
            str(totals["pending"]),
            counts(totals["effects"]),
        )
    )
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = [
        f"dry run {report.since.isoformat()} … {report.until.isoformat()} (nothing was written)",
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip(),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Automation rules as code: export, import, dry-run."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("export", help="Write every rule as YAML to stdout.")
        imp = sub.add_parser("import", help="Create the rules of a YAML file (all or none).")
        imp.add_argument("file", help="the YAML file ('-': stdin)")
        imp.add_argument("--replace", action="store_true", help="delete every existing rule first")
        imp.add_argument("--as", dest="username", default=None, help="who imports (username)")
        dry = sub.add_parser("dry-run", help="What the rules would have done; writes nothing.")
        dry.add_argument("file", nargs="?", default=None, help="the YAML file ('-': stdin)")
        dry.add_argument("--rule", type=int, default=None, help="a stored rule's id instead")
        dry.add_argument("--since", required=True, help="YYYY-MM-DD or an ISO date-time")
        dry.add_argument("--until", default=None, help="YYYY-MM-DD (included) or a date-time")
        dry.add_argument("--format", choices=("table", "json"), default="table")
        dry.add_argument("--as", dest="username", default=None, help="whose rights the rules use")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "export":
                self.stdout.write(rules_export(), ending="")
            elif options["action"] == "import":
                self._import(options)
            else:
                self._dry_run(options)
        except RulesFileError as exc:
            for line in exc.lines():
                self.stderr.write(line)
            raise CommandError(exc.message) from None
        except ApplicationError as exc:
            raise CommandError("; ".join(exc.errors.values()) or exc.message) from None

    def _import(self, options: dict[str, Any]) -> None:
        user = configuring_user(options["username"])
        result = rules_import(
            actor=import_actor(user),
            text=_read(options["file"]),
            filename=options["file"],
            replace=options["replace"],
        )
        self.stdout.write(
            f"imported {len(result.created)} rule(s) as {user.username}"
            + (f", replaced {result.deleted}" if options["replace"] else "")
        )

    def _dry_run(self, options: dict[str, Any]) -> None:
        since = parse_moment(options["since"])
        until = parse_moment(options["until"], end=True) if options["until"] else None
        if (options["file"] is None) == (options["rule"] is None):
            raise CommandError("give a rules file or --rule ID")
        if options["rule"] is not None:
            rule = Rule.objects.filter(pk=options["rule"]).first()
            if rule is None:
                raise CommandError(f"no rule {options['rule']}")
            actor = import_actor(configuring_user(options["username"]))
            report = rule_dry_run(rule, since, until, actor=actor)
        else:
            report = file_dry_run(
                text=_read(options["file"]),
                owner=configuring_user(options["username"]),
                since=since,
                until=until,
                filename=options["file"],
            )
        if options["format"] == "json":
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            self.stdout.write(render_table(report))
