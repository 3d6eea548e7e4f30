"""Export of the lists — deals, companies, contacts, tasks — to CSV and XLSX (decision 0022).

A list is exported as the user sees it: its filters and its sort, within the user's scope, read
through the very selectors the list uses (`DealFilter`, `companies_filtered`,
`contacts_filtered`, `TaskFilter`) and walked in keyset chunks (`kernel.pagination
.keyset_chunks`) — a million deals stream out without ever being held in memory.

Formula injection (RELIABILITY row 18). A spreadsheet runs a cell whose text starts with
= + - @ (and, after a tab or a line break, the same): "=HYPERLINK(…)" in a deal title would
become a live formula on the exporting manager's machine. Every text cell is written so that
cannot happen:

* CSV: a text that starts with one of `TRIGGERS` — or with the apostrophe itself, so the rule
  stays reversible — gets a leading apostrophe (`neutralize`); `restore` is the inverse the
  import applies, so a value survives the round trip exactly.
* XLSX: every text is an explicit string cell (`data_type "s"`, an inline string); openpyxl
  would otherwise store "=…" as a formula. No apostrophe is needed there.
* Phone numbers: a phone column's value that is a valid E.164 number ("+79161234567": a plus
  and digits only, which no spreadsheet can turn into a call or a reference) is written as it
  is, so it survives as data; in XLSX it is a string cell like any text. Anything else in a
  phone column is neutralized as text. Numbers (amounts, counters) are numbers, never text.

Two characters cannot make the trip in XLSX at all: the control characters XML forbids (NUL and
its kin) and the carriage return (XML reads CR and CRLF as LF). `cell_text` drops the first
and turns the second into LF, in both formats alike; stored text never holds either (every
input is cleaned by kernel.normalize). XLSX cells hold at most 32,767 characters (Excel's limit).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from voronka.activities.models import Task, TaskStatus, TaskType
from voronka.activities.task_selectors import TaskFilter, tasks_visible
from voronka.contacts.models import (
    CompanyAddress,
    CompanyType,
    Contact,
    ContactEmail,
    ContactPhone,
)
from voronka.contacts.selectors import (
    COMPANY_LIST_ORDER,
    CONTACT_LIST_ORDER,
    companies_filtered,
    contacts_filtered,
)
from voronka.deals.models import Deal, LossReason, StageSemantic
from voronka.deals.selectors import DealFilter, deal_order, deals_visible
from voronka.identity.models import User, person_name
from voronka.identity.permissions import acting_user, require_actor_flag
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit
from voronka.kernel.errors import ValidationError
from voronka.kernel.models import CustomField, CustomFieldType
from voronka.kernel.pagination import keyset_chunks

ENTITIES = ("deals", "companies", "contacts", "tasks")
FORMATS = ("csv", "xlsx")
DELIMITERS = {";": ";", "semicolon": ";", ",": ",", "comma": ","}
CHUNK = 2000  # rows per query of the walk
XLSX_MAX_ROWS = 1_048_576 - 1  # a sheet's rows, less the header
# An XLSX is written whole before its first byte leaves (a zip needs its end first): over the
# web (UI and API) it must be done within the server's timeout (gunicorn: 60 s) at ~1,000
# rows/s on a loaded machine. Bigger lists: CSV (streamed) or `voronka export` (no limit).
XLSX_ONLINE_MAX_ROWS = 30_000
XLSX_MAX_CELL = 32_767  # characters a cell holds

# What a spreadsheet reads as the start of a formula (OWASP "CSV injection"): = + - @, and tab,
# CR, LF before them. The apostrophe is neutralized too, so `restore` can undo `neutralize`.
TRIGGERS = frozenset("=+-@\t\r\n'")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# The characters XML 1.0 (so XLSX) cannot hold: openpyxl's ILLEGAL_CHARACTERS_RE.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class Kind(StrEnum):
    TEXT = "text"
    PHONE = "phone"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"


@dataclass(frozen=True)
class Column:
    label: str
    kind: Kind = Kind.TEXT


@dataclass
class Options:
    format: str = "csv"
    delimiter: str = ";"


@dataclass
class Table:
    """A list ready to be written: its columns and its rows, read lazily chunk by chunk."""

    entity: str
    title: str  # the sheet's and the file's name ("Сделки")
    columns: list[Column]
    chunks: Callable[[], Iterator[list[list[Any]]]]
    count: Callable[[], int]
    day: dt.date | None = None  # today in the reader's zone (the file's name)

    def rows(self) -> Iterator[list[Any]]:
        for chunk in self.chunks():
            yield from chunk


# --- cells ------------------------------------------------------------------------------------


def cell_text(text: str) -> str:
    """What a text cell can carry in both formats: no XML-illegal control characters, LF for
    CR and CRLF."""
    if text.isprintable():  # the common case: nothing to drop (tabs, newlines are not printable)
        return text
    if _XML_ILLEGAL.search(text):
        text = _XML_ILLEGAL.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def neutralize(text: str) -> str:
    """The CSV form of a text: a leading apostrophe when it starts with a formula trigger."""
    return "'" + text if text[:1] in TRIGGERS else text


def restore(text: str) -> str:
    """The inverse of `neutralize` (the import reads a cell of our CSV with it)."""
    return text[1:] if text[:1] == "'" and text[1:2] in TRIGGERS else text


def is_phone_number(text: str) -> bool:
    """A whole valid-looking E.164 number: "+" and 7–15 digits, nothing else."""
    return _E164.fullmatch(text) is not None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _csv_text(value: Any) -> str:
    text = cell_text(value if isinstance(value, str) else str(value))
    return neutralize(text) if text[:1] in TRIGGERS else text


def csv_cell(value: Any, kind: Kind, *, decimal_comma: bool) -> str:
    """One CSV cell: numbers and moments as themselves, every text neutralized, a whole E.164
    number in a phone column as it is (decision 0022)."""
    if value is None or value == "":
        return ""
    if kind == Kind.NUMBER and _is_number(value):
        text = str(value) if isinstance(value, int) else format(value, "f")
        return text.replace(".", ",") if decimal_comma else text
    if kind == Kind.DATETIME and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if kind == Kind.DATE and isinstance(value, dt.date):
        return value.isoformat()
    if kind == Kind.PHONE and isinstance(value, str) and is_phone_number(value):
        return value
    return _csv_text(value)


def _csv_converter(kind: Kind, decimal_comma: bool) -> Callable[[Any], str]:
    """`csv_cell` for one column, with the plain text of a text column on the fast path (a
    million rows of forty cells each go through here)."""
    if kind != Kind.TEXT:
        return lambda value: csv_cell(value, kind, decimal_comma=decimal_comma)

    def text(value: Any) -> str:
        if value is None:
            return ""
        if type(value) is str and value.isprintable() and value[:1] not in TRIGGERS:
            return value
        return "" if value == "" else _csv_text(value)

    return text


def _xlsx_cell(sheet: Any, value: Any, kind: Kind) -> Any:
    from openpyxl.cell import WriteOnlyCell  # on use: see write_xlsx

    if value is None or value == "":
        return None
    if kind == Kind.NUMBER and _is_number(value):
        return WriteOnlyCell(sheet, value=value)
    if kind == Kind.DATETIME and isinstance(value, dt.datetime):
        cell = WriteOnlyCell(sheet, value=value.replace(tzinfo=None))
        cell.number_format = "DD.MM.YYYY HH:MM"
        return cell
    if kind == Kind.DATE and isinstance(value, dt.date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "DD.MM.YYYY"
        return cell
    return string_cell(sheet, cell_text(str(value))[:XLSX_MAX_CELL])


def string_cell(sheet: Any, text: str) -> Any:
    """An explicit string cell: openpyxl types a str starting with "=" as a formula; the type
    is set back to string after the value, so the text is written as an inline string."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    return cell


# --- writers ----------------------------------------------------------------------------------


def write_csv(table: Table, *, delimiter: str = ";") -> Iterator[bytes]:
    """UTF-8 with a BOM (what Excel needs to read Cyrillic), CRLF rows, one piece per chunk.
    With ";" (the separator of Russian Excel) amounts have a decimal comma."""
    decimal_comma = delimiter == ";"
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([_csv_text(c.label) for c in table.columns])
    converters = [_csv_converter(c.kind, decimal_comma) for c in table.columns]
    yield "\ufeff".encode() + buffer.getvalue().encode()
    for chunk in table.chunks():
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(
            [convert(v) for convert, v in zip(converters, row, strict=True)] for row in chunk
        )
        yield buffer.getvalue().encode()


def write_xlsx(table: Table, out: IO[bytes]) -> None:
    """One sheet, written row by row (openpyxl write_only keeps the sheet in a temporary file,
    not in memory); every text an explicit string cell. openpyxl is imported here, not at the
    module's import: ~0.1 s of CPU and 10 MB in every process otherwise, the worker's restart
    after a crash included (RELIABILITY row 13's recovery)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(table.title))
    sheet.append([string_cell(sheet, cell_text(c.label)) for c in table.columns])
    kinds = [c.kind for c in table.columns]
    for row in table.rows():
        sheet.append([_xlsx_cell(sheet, v, k) for v, k in zip(row, kinds, strict=True)])
    workbook.save(out)


def _sheet_title(title: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Sheet"


# --- opening an export --------------------------------------------------------------------------


def parse_options(params: Mapping[str, Any]) -> Options:
    errors: dict[str, str] = {}
    fmt = str(params.get("format") or "csv").strip().lower()
    if fmt not in FORMATS:
        errors["format"] = _("Формат: csv или xlsx")
    raw = str(params.get("delimiter") or ";").strip().lower()
    delimiter = DELIMITERS.get(raw)
    if delimiter is None:
        errors["delimiter"] = _("Разделитель: ; или ,")
    if errors:
        raise ValidationError(errors)
    return Options(format=fmt, delimiter=delimiter or ";")


def export_open(
    *,
    actor: Actor,
    entity: str,
    params: Mapping[str, Any],
    options: Options | None = None,
    online: bool = False,
) -> Table:
    """The list `entity` with the filters and sort of `params`, as the actor may see it (a
    person: their scope; the system — the CLI without --as — everything). Needs the role's
    `can_export`. Validates everything before the first row is read (a bad filter is a 4xx,
    never a broken download) and records the export in the audit log. `online`: a web request
    (an XLSX of more than XLSX_ONLINE_MAX_ROWS rows is refused there, not cut by a timeout)."""
    if entity not in ENTITIES:
        raise ValidationError({"entity": _("Выгружаются сделки, компании, контакты и задачи")})
    require_actor_flag(actor, "can_export")
    reader = acting_user(actor) or _everyone()
    build = {
        "deals": _deals,
        "companies": _companies,
        "contacts": _contacts,
        "tasks": _tasks,
    }[entity]
    table = build(reader, params)
    table.day = clock.now().astimezone(_context(reader).zone).date()
    if options is not None and options.format == "xlsx":
        rows = table.count()
        if rows > XLSX_MAX_ROWS:
            raise ValidationError(
                {"format": _("В Excel помещается не больше 1 048 575 строк — выгрузите в CSV")}
            )
        if online and rows > XLSX_ONLINE_MAX_ROWS:
            raise ValidationError(
                {
                    "format": _(
                        "Excel-файл больше %(n)s строк здесь не собрать (%(rows)s строк) — "
                        "выгрузите в CSV или сузьте фильтр"
                    )
                    % {"n": f"{XLSX_ONLINE_MAX_ROWS:,}".replace(",", " "), "rows": rows}
                }
            )
    if actor.user is not None:
        audit(
            actor=actor,
            obj=actor.user,
            action="export",
            changes={
                "entity": entity,
                "format": options.format if options else "",
                "filters": {k: str(v) for k, v in params.items() if k not in ("format",)},
            },
        )
    return table


def _everyone() -> User:
    """Whose scope the system reads with: a superuser that exists only in memory (every scope
    is `all` for it — identity.scopes)."""
    return User(username="system", is_superuser=True, is_active=True)


@dataclass
class _Context:
    """What every row of one export shares: the zone dates are shown in, people by id."""

    zone: dt.tzinfo
    people: dict[int, str] = field(default_factory=dict)
    yes: str = ""
    no: str = ""

    def yes_no(self, value: bool) -> str:
        return self.yes if value else self.no

    def local(self, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else value.astimezone(self.zone)

    def person(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        name = self.people.get(user_id)
        if name is None:
            self._load([user_id])
            name = self.people.get(user_id, "")
        return name

    def prime(self, ids: Iterable[int | None]) -> None:
        self._load([i for i in set(ids) if i is not None and i not in self.people])

    def _load(self, ids: list[int]) -> None:
        if not ids:
            return
        for pk, first, last, login in User.objects.filter(pk__in=ids).values_list(
            "pk", "first_name", "last_name", "username"
        ):
            self.people[pk] = person_name(first, last, login)


def _context(user: User) -> _Context:
    try:
        zone: dt.tzinfo = ZoneInfo(user.timezone or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(settings.TIME_ZONE)
    return _Context(zone=zone, yes=_("Да"), no=_("Нет"))


def _labels(choices: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Choice labels translated once per export (a lazy label costs a gettext per row)."""
    return {value: str(label) for value, label in choices}


# --- custom fields --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Custom:
    key: str
    type: str
    columns: list[Column]


def _custom_fields(entity: str) -> list[_Custom]:
    """The entity's active custom fields as columns, by their names (files are not exported:
    a file is a download of its own, not a cell). Money takes two: the amount and its currency."""
    out = []
    for f in CustomField.objects.filter(entity=entity, is_active=True).order_by("sort", "id"):
        if f.type == CustomFieldType.FILE:
            continue
        if f.type == CustomFieldType.MONEY:
            columns = [Column(f.name, Kind.NUMBER), Column(f"{f.name}, {_('валюта')}")]
        elif f.type == CustomFieldType.NUMBER:
            columns = [Column(f.name, Kind.NUMBER)]
        elif f.type == CustomFieldType.DATE:
            columns = [Column(f.name, Kind.DATE)]
        elif f.type == CustomFieldType.DATETIME:
            columns = [Column(f.name, Kind.DATETIME)]
        else:
            columns = [Column(f.name)]
        out.append(_Custom(key=f.key, type=f.type, columns=columns))
    return out


def _number(raw: Any) -> Any:
    try:
        number = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return str(raw)
    return number if number.is_finite() else str(raw)


def _custom_values(fields: list[_Custom], custom: Any, ctx: _Context) -> list[Any]:
    values: dict[str, Any] = custom if isinstance(custom, dict) else {}
    out: list[Any] = []
    for f in fields:
        raw = values.get(f.key)
        if f.type == CustomFieldType.MONEY:
            if isinstance(raw, dict):
                out += [_number(raw.get("amount")), raw.get("currency") or ""]
            else:
                out += [None if raw is None else _number(raw), ""]
            continue
        if raw is None:
            out.append(None)
        elif f.type == CustomFieldType.NUMBER:
            out.append(_number(raw))
        elif f.type == CustomFieldType.BOOLEAN:
            out.append(ctx.yes_no(bool(raw)))
        elif f.type == CustomFieldType.MULTI and isinstance(raw, list):
            out.append(", ".join(str(v) for v in raw))
        elif f.type == CustomFieldType.DATE:
            out.append(_parse_day(raw))
        elif f.type == CustomFieldType.DATETIME:
            out.append(_parse_moment(raw, ctx))
        else:
            out.append(str(raw))
    return out


def _parse_day(raw: Any) -> Any:
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        return str(raw)


def _parse_moment(raw: Any, ctx: _Context) -> Any:
    try:
        moment = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        return str(raw)
    return ctx.local(moment) if moment.tzinfo else moment


def _custom_columns(fields: list[_Custom]) -> list[Column]:
    return [c for f in fields for c in f.columns]


# --- the walk ---------------------------------------------------------------------------------------


def _walk(
    qs: QuerySet[Any],
    order: tuple[str, ...],
    values: tuple[str, ...],
    render: Callable[[list[dict[str, Any]]], list[list[Any]]],
) -> Callable[[], Iterator[list[list[Any]]]]:
    """The chunks of rows of `qs` in `order` (a fresh walk at each call)."""

    def chunks() -> Iterator[list[list[Any]]]:
        for rows in keyset_chunks(qs.values(*values), order=order, size=CHUNK):
            yield render(rows)

    return chunks


def _phones_by_contact(contact_ids: list[int]) -> dict[int, list[str]]:
    phones: dict[int, list[str]] = {}
    for cid, number in (
        ContactPhone.objects.filter(contact_id__in=contact_ids)
        .order_by("contact_id", "id")
        .values_list("contact_id", "number")
    ):
        phones.setdefault(cid, []).append(number)
    return phones


def _emails_by_contact(contact_ids: list[int]) -> dict[int, list[str]]:
    emails: dict[int, list[str]] = {}
    for cid, address in (
        ContactEmail.objects.filter(contact_id__in=contact_ids)
        .order_by("contact_id", "id")
        .values_list("contact_id", "address")
    ):
        emails.setdefault(cid, []).append(address)
    return emails


def _spread(items: list[str], n: int) -> list[str]:
    """`items` over n cells: one each, the last cell holding the rest joined."""
    cells = items[: n - 1]
    rest = items[n - 1 :]
    cells.append(", ".join(rest))
    return cells + [""] * (n - len(cells))


# --- deals --------------------------------------------------------------------------------------------

_DEAL_VALUES = (
    "id",
    "title",
    "stage_id",
    "status",
    "amount",
    "currency",
    "company__name",
    "company__inn",
    "responsible_id",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "opened_at",
    "closed_at",
    "stage_entered_at",
    "next_task_deadline",
    "loss_reason_id",
    "comment",
    "custom",
)


def _deals(user: User, params: Mapping[str, Any]) -> Table:
    from voronka.deals.models import Stage

    filters = DealFilter.from_params(params)
    qs = filters.apply(deals_visible(user))
    order = deal_order(filters.sort)
    ctx = _context(user)
    stages = {
        s.pk: (s.name, s.pipeline.name) for s in Stage.objects.select_related("pipeline").all()
    }
    reasons = dict(LossReason.objects.values_list("pk", "name"))
    status_labels = _labels(StageSemantic.choices)
    fields = _custom_fields("deal")
    columns = [
        Column("ID", Kind.NUMBER),
        Column(_("Название")),
        Column(_("Воронка")),
        Column(_("Стадия")),
        Column(_("Статус")),
        Column(_("Сумма"), Kind.NUMBER),
        Column(_("Валюта")),
        Column(_("Компания")),
        Column(_("ИНН")),
        Column(_("Контакт")),
        Column(_("Телефон"), Kind.PHONE),
        Column("E-mail"),
        Column(_("Ответственный")),
        Column(_("Источник")),
        Column("UTM source"),
        Column("UTM medium"),
        Column("UTM campaign"),
        Column("UTM content"),
        Column("UTM term"),
        Column(_("Дата открытия"), Kind.DATETIME),
        Column(_("Дата закрытия"), Kind.DATETIME),
        Column(_("На стадии с"), Kind.DATETIME),
        Column(_("Следующая задача"), Kind.DATETIME),
        Column(_("Причина отказа")),
        Column(_("Комментарий")),
        *_custom_columns(fields),
    ]

    def render(rows: list[dict[str, Any]]) -> list[list[Any]]:
        ids = [r["id"] for r in rows]
        first_contact: dict[int, int] = {}
        for deal_id, contact_id in (
            Deal.contacts.through.objects.filter(deal_id__in=ids)
            .order_by("deal_id", "contact_id")
            .values_list("deal_id", "contact_id")
        ):
            first_contact.setdefault(deal_id, contact_id)
        cids = list(set(first_contact.values()))
        names = {
            pk: " ".join(p for p in (last, first, middle) if p)
            for pk, last, first, middle in Contact.objects.filter(pk__in=cids).values_list(
                "pk", "last_name", "first_name", "middle_name"
            )
        }
        phones, emails = _phones_by_contact(cids), _emails_by_contact(cids)
        ctx.prime(r["responsible_id"] for r in rows)
        out = []
        for r in rows:
            stage, pipeline = stages.get(r["stage_id"], ("", ""))
            cid = first_contact.get(r["id"])
            out.append(
                [
                    r["id"],
                    r["title"],
                    pipeline,
                    stage,
                    status_labels.get(r["status"], r["status"]),
                    r["amount"],
                    r["currency"],
                    r["company__name"],
                    r["company__inn"],
                    names.get(cid, "") if cid else "",
                    (phones.get(cid) or [""])[0] if cid else "",
                    (emails.get(cid) or [""])[0] if cid else "",
                    ctx.person(r["responsible_id"]),
                    r["source"],
                    r["utm_source"],
                    r["utm_medium"],
                    r["utm_campaign"],
                    r["utm_content"],
                    r["utm_term"],
                    ctx.local(r["opened_at"]),
                    ctx.local(r["closed_at"]),
                    ctx.local(r["stage_entered_at"]),
                    ctx.local(r["next_task_deadline"]),
                    reasons.get(r["loss_reason_id"], ""),
                    r["comment"],
                    *_custom_values(fields, r["custom"], ctx),
                ]
            )
        return out

    return Table(
        entity="deals",
        title=_("Сделки"),
        columns=columns,
        chunks=_walk(qs, order, _DEAL_VALUES, render),
        count=qs.order_by().count,
    )


# --- companies ----------------------------------------------------------------------------------------

_COMPANY_VALUES = (
    "id",
    "name",
    "type",
    "inn",
    "kpp",
    "ogrn",
    "bank_bik",
    "bank_account",
    "bank_name",
    "phone",
    "email",
    "website",
    "ltv",
    "deals_count",
    "won_count",
    "first_purchase_at",
    "last_purchase_at",
    "last_interaction_at",
    "responsible_id",
    "comment",
    "created_at",
    "custom",
)


def _companies(user: User, params: Mapping[str, Any]) -> Table:
    ctype = str(params.get("type") or "").strip() or None
    if ctype is not None and ctype not in CompanyType.values:
        raise ValidationError({"type": _("Тип: legal, sole_proprietor или family")})
    qs = companies_filtered(
        user=user,
        q=params.get("q"),
        type=ctype,
        responsible=_id_param(params, "responsible"),
    )
    ctx = _context(user)
    types = _labels(CompanyType.choices)
    fields = _custom_fields("company")
    columns = [
        Column("ID", Kind.NUMBER),
        Column(_("Название")),
        Column(_("Тип")),
        Column(_("ИНН")),
        Column(_("КПП")),
        Column(_("ОГРН")),
        Column(_("БИК")),
        Column(_("Расчётный счёт")),
        Column(_("Банк")),
        Column(_("Телефон"), Kind.PHONE),
        Column("E-mail"),
        Column(_("Сайт")),
        Column(_("Адрес")),
        Column("LTV, ₽", Kind.NUMBER),
        Column(_("Сделок"), Kind.NUMBER),
        Column(_("Успешных сделок"), Kind.NUMBER),
        Column(_("Первая покупка"), Kind.DATETIME),
        Column(_("Последняя покупка"), Kind.DATETIME),
        Column(_("Последнее взаимодействие"), Kind.DATETIME),
        Column(_("Ответственный")),
        Column(_("Комментарий")),
        Column(_("Создана"), Kind.DATETIME),
        *_custom_columns(fields),
    ]

    def render(rows: list[dict[str, Any]]) -> list[list[Any]]:
        addresses: dict[int, list[str]] = {}
        for company_id, text in (
            CompanyAddress.objects.filter(company_id__in=[r["id"] for r in rows])
            .order_by("company_id", "id")
            .values_list("company_id", "text")
        ):
            addresses.setdefault(company_id, []).append(text)
        ctx.prime(r["responsible_id"] for r in rows)
        return [
            [
                r["id"],
                r["name"],
                types.get(r["type"], r["type"]),
                r["inn"],
                r["kpp"],
                r["ogrn"],
                r["bank_bik"],
                r["bank_account"],
                r["bank_name"],
                r["phone"],
                r["email"],
                r["website"],
                "; ".join(addresses.get(r["id"], [])),
                r["ltv"],
                r["deals_count"],
                r["won_count"],
                ctx.local(r["first_purchase_at"]),
                ctx.local(r["last_purchase_at"]),
                ctx.local(r["last_interaction_at"]),
                ctx.person(r["responsible_id"]),
                r["comment"],
                ctx.local(r["created_at"]),
                *_custom_values(fields, r["custom"], ctx),
            ]
            for r in rows
        ]

    return Table(
        entity="companies",
        title=_("Компании"),
        columns=columns,
        chunks=_walk(qs, COMPANY_LIST_ORDER, _COMPANY_VALUES, render),
        count=qs.order_by().count,
    )


# --- contacts -----------------------------------------------------------------------------------------

_CONTACT_VALUES = (
    "id",
    "last_name",
    "first_name",
    "middle_name",
    "position",
    "company__name",
    "birthday",
    "consent_calls",
    "consent_mailing",
    "responsible_id",
    "comment",
    "created_at",
    "custom",
)
PHONE_COLUMNS = 3
EMAIL_COLUMNS = 2


def _contacts(user: User, params: Mapping[str, Any]) -> Table:
    qs = contacts_filtered(
        user=user,
        q=params.get("q"),
        company=_id_param(params, "company"),
        responsible=_id_param(params, "responsible"),
    )
    ctx = _context(user)
    fields = _custom_fields("contact")
    phone = _("Телефон")
    columns = [
        Column("ID", Kind.NUMBER),
        Column(_("Фамилия")),
        Column(_("Имя")),
        Column(_("Отчество")),
        Column(_("Должность")),
        Column(_("Компания")),
        *[
            Column(phone if i == 0 else f"{phone} {i + 1}", Kind.PHONE)
            for i in range(PHONE_COLUMNS)
        ],
        *[Column("E-mail" if i == 0 else f"E-mail {i + 1}") for i in range(EMAIL_COLUMNS)],
        Column(_("День рождения"), Kind.DATE),
        Column(_("Согласие на звонки")),
        Column(_("Согласие на рассылку")),
        Column(_("Ответственный")),
        Column(_("Комментарий")),
        Column(_("Создан"), Kind.DATETIME),
        *_custom_columns(fields),
    ]

    def render(rows: list[dict[str, Any]]) -> list[list[Any]]:
        ids = [r["id"] for r in rows]
        phones, emails = _phones_by_contact(ids), _emails_by_contact(ids)
        ctx.prime(r["responsible_id"] for r in rows)
        return [
            [
                r["id"],
                r["last_name"],
                r["first_name"],
                r["middle_name"],
                r["position"],
                r["company__name"],
                *_spread(phones.get(r["id"], []), PHONE_COLUMNS),
                *_spread(emails.get(r["id"], []), EMAIL_COLUMNS),
                r["birthday"],
                ctx.yes_no(r["consent_calls"]),
                ctx.yes_no(r["consent_mailing"]),
                ctx.person(r["responsible_id"]),
                r["comment"],
                ctx.local(r["created_at"]),
                *_custom_values(fields, r["custom"], ctx),
            ]
            for r in rows
        ]

    return Table(
        entity="contacts",
        title=_("Контакты"),
        columns=columns,
        chunks=_walk(qs, CONTACT_LIST_ORDER, _CONTACT_VALUES, render),
        count=qs.order_by().count,
    )


# --- tasks ----------------------------------------------------------------------------------------------

_TASK_VALUES = (
    "id",
    "deadline",
    "type",
    "comment",
    "status",
    "result",
    "deal_id",
    "deal__title",
    "company__name",
    "contact__last_name",
    "contact__first_name",
    "contact__middle_name",
    "responsible_id",
    "created_at",
    "completed_at",
)
TASK_ORDER = ("deadline", "id")  # the task list's (task_selectors.task_list)


def _tasks(user: User, params: Mapping[str, Any]) -> Table:
    filters = TaskFilter.from_params(params)
    now = clock.now()
    qs: QuerySet[Task] = filters.apply(tasks_visible(user), now)
    ctx = _context(user)
    types = _labels(TaskType.choices)
    statuses = _labels(TaskStatus.choices)
    columns = [
        Column("ID", Kind.NUMBER),
        Column(_("Срок"), Kind.DATETIME),
        Column(_("Тип")),
        Column(_("Задача")),
        Column(_("Статус")),
        Column(_("Просрочена")),
        Column(_("Сделка")),
        Column(_("Компания")),
        Column(_("Контакт")),
        Column(_("Ответственный")),
        Column(_("Результат")),
        Column(_("Создана"), Kind.DATETIME),
        Column(_("Выполнена"), Kind.DATETIME),
    ]

    def render(rows: list[dict[str, Any]]) -> list[list[Any]]:
        ctx.prime(r["responsible_id"] for r in rows)
        return [
            [
                r["id"],
                ctx.local(r["deadline"]),
                types.get(r["type"], r["type"]),
                r["comment"],
                statuses.get(r["status"], r["status"]),
                ctx.yes_no(r["status"] == TaskStatus.OPEN and r["deadline"] < now),
                r["deal__title"] or "",
                r["company__name"] or "",
                " ".join(
                    p
                    for p in (
                        r["contact__last_name"],
                        r["contact__first_name"],
                        r["contact__middle_name"],
                    )
                    if p
                ),
                ctx.person(r["responsible_id"]),
                r["result"],
                ctx.local(r["created_at"]),
                ctx.local(r["completed_at"]),
            ]
            for r in rows
        ]

    return Table(
        entity="tasks",
        title=_("Задачи"),
        columns=columns,
        chunks=_walk(qs, TASK_ORDER, _TASK_VALUES, render),
        count=qs.order_by().count,
    )


def _id_param(params: Mapping[str, Any], name: str) -> int | None:
    raw = str(params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
        if value < 1 or value > 2**62:
            raise ValueError
    except ValueError:
        raise ValidationError({name: _("Ожидается номер")}) from None
    return value
