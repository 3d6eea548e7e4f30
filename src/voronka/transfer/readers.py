"""Reading an uploaded table: CSV (UTF-8, UTF-8 with BOM, UTF-16, cp1251; `;` `,` or tab),
XLSX (openpyxl, read-only, behind defusedxml and a zip-bomb check) and Bitrix24's "Excel"
export, which is an HTML table. Pure functions of the bytes: nothing here touches the database.

A file that cannot be read at all raises `FileRefused` with a message for the user; a row that
does not fit (more values than columns, a value over MAX_CELL) is kept with its problem in
`Row.error`, so the importer reports it and goes on."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from types import ModuleType

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

# openpyxl parses with defusedxml when it is installed: XXE and entity expansion ("billion
# laughs") are refused. Without it the XLSX reader would be open to both; start-up fails.
# (openpyxl itself is imported on first use — `_openpyxl` — not by every process at start.)
assert importlib.util.find_spec("defusedxml"), "defusedxml must be installed: openpyxl reads XLSX"

MAX_COLUMNS = 300
MAX_ROWS = 200_000
MAX_CELL = 10_000  # characters; a longer value is a row error, not a refused file
MAX_HEADER = 200
# The zip container of an XLSX: entries, their total uncompressed size, and the ratio any
# large entry may have (a sheet of repeated cells compresses well, ~10-30x; a bomb, 1000x).
MAX_ZIP_ENTRIES = 2_000
MAX_ZIP_UNCOMPRESSED = 300 * 1024 * 1024
MAX_ZIP_RATIO = 200
RATIO_FROM = 1024 * 1024  # small entries may compress as they like

csv.field_size_limit(64 * 1024 * 1024)  # a long cell is a row error (MAX_CELL), not a crash


class FileRefused(ValueError):
    """The file cannot be imported at all (the message says why, for the user)."""


@dataclass
class Row:
    number: int  # the row as a spreadsheet numbers it (the header is row 1)
    cells: list[str]
    error: str = ""


@dataclass
class Table:
    format: str  # csv | xlsx | html
    headers: list[str]
    rows: list[Row] = field(default_factory=list)
    encoding: str = ""
    delimiter: str = ""


def max_bytes() -> int:
    return int(settings.VORONKA_MAX_UPLOAD_BYTES)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_header(raw: str) -> str:
    """A column caption as shown and stored: no control or bidi characters, inner space
    collapsed, at most MAX_HEADER characters (amoCRM writes "Бюджет " with a trailing space)."""
    text = _CONTROL.sub("", unicodedata.normalize("NFC", raw))
    return " ".join(text.split())[:MAX_HEADER]


def read_table(data: bytes, filename: str = "") -> Table:
    """The table in `data` (the format from its first bytes, not from the name)."""
    if len(data) > max_bytes():
        raise FileRefused(
            _("Файл больше допустимого размера (%(mb)s МБ)") % {"mb": max_bytes() // 2**20}
        )
    if not data.strip():
        raise FileRefused(_("Файл пуст"))
    if data[:4] == b"PK\x03\x04":
        table = read_xlsx(data)
    elif data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise FileRefused(_("Старый формат XLS не поддерживается: сохраните файл как XLSX или CSV"))
    else:
        text, encoding = decode(data)
        head = text.lstrip()[:2048].lower()
        if head.startswith("<") and ("<table" in text[:65536].lower() or "<html" in head):
            table = read_html(text)
        else:
            table = read_csv(text)
        table.encoding = encoding
    return _shaped(table)


def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else cp1251 (Windows exports)."""
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8", "cp1251"]
    for encoding in encodings:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise FileRefused(
        _("Не удалось прочитать кодировку файла: сохраните его в UTF-8 или Windows-1251")
    )


def sniff_delimiter(text: str) -> str:
    """`;`, `,` or tab: the one the header line has most of outside quotes."""
    line: list[str] = []
    quoted = False
    for ch in text[:65536]:
        if ch == '"':
            quoted = not quoted
        elif ch in "\r\n" and not quoted:
            if line:
                break
            continue
        line.append("" if quoted else ch)
    counts = {d: line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ";"))
    return best if counts[best] else ";"


def read_csv(text: str) -> Table:
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    table = Table(format="csv", headers=[], delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            if number == 1:
                table.headers = cells
                continue
            table.rows.append(Row(number=number, cells=cells))
            if len(table.rows) > MAX_ROWS:
                raise FileRefused(_("В файле больше %(n)s строк") % {"n": MAX_ROWS})
    except csv.Error as exc:
        raise FileRefused(_("Файл CSV не читается: %(error)s") % {"error": exc}) from None
    return table


def _zip_check(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except Exception:  # BadZipFile, a version it cannot read (NotImplementedError), …
        raise FileRefused(_("Файл XLSX повреждён")) from None
    if len(entries) > MAX_ZIP_ENTRIES:
        raise FileRefused(_("Файл XLSX содержит слишком много частей"))
    total = 0
    for entry in entries:
        total += entry.file_size
        ratio = entry.file_size / max(entry.compress_size, 1)
        if total > MAX_ZIP_UNCOMPRESSED or (entry.file_size > RATIO_FROM and ratio > MAX_ZIP_RATIO):
            raise FileRefused(_("Файл XLSX распаковывается в слишком большой объём — отказ"))
    if "xl/workbook.xml" not in {e.filename for e in entries}:
        raise FileRefused(_("Это не файл XLSX"))
    return archive


def _xlsx_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.strftime("%d.%m.%Y")
        return value.strftime("%d.%m.%Y %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def _openpyxl() -> ModuleType:
    import openpyxl
    import openpyxl.xml

    if not openpyxl.xml.DEFUSEDXML:  # defusedxml present but not used (OPENPYXL_DEFUSEDXML)
        raise ImproperlyConfigured("openpyxl does not parse through defusedxml: XLSX refused")
    return openpyxl


def read_xlsx(data: bytes) -> Table:
    _zip_check(data)  # before openpyxl decompresses anything
    openpyxl = _openpyxl()
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # defusedxml's refusals, broken XML, missing parts: one answer
        raise FileRefused(
            _("Файл XLSX не читается (%(kind)s)") % {"kind": type(exc).__name__}
        ) from None
    table = Table(format="xlsx", headers=[])
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise FileRefused(_("В файле XLSX нет листов"))
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_xlsx_cell(v) for v in values[: MAX_COLUMNS + 1]]
            if number == 1:
                table.headers = cells
                continue
            table.rows.append(Row(number=number, cells=cells))
            if len(table.rows) > MAX_ROWS:
                raise FileRefused(_("В файле больше %(n)s строк") % {"n": MAX_ROWS})
    except FileRefused:
        raise
    except Exception as exc:
        raise FileRefused(
            _("Файл XLSX не читается (%(kind)s)") % {"kind": type(exc).__name__}
        ) from None
    finally:
        book.close()
    return table


class _TableParser(HTMLParser):
    """The rows of the first <table>: text of each <td>/<th>; nothing is fetched or run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.depth = 0
        self.done = False
        self.cell: list[str] | None = None
        self.row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "table":
            self.depth += 1
        elif self.depth == 1 and tag == "tr":
            self.row = []
        elif self.depth == 1 and tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.done:
            return
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None and self.depth == 1:
            self.rows.append(self.row)
            self.row = None
            if len(self.rows) > MAX_ROWS + 1:
                raise FileRefused(_("В файле больше %(n)s строк") % {"n": MAX_ROWS})
        elif tag == "table":
            self.depth -= 1
            if self.depth == 0:
                self.done = True

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def read_html(text: str) -> Table:
    parser = _TableParser()
    parser.feed(text)
    parser.close()
    if not parser.rows:
        raise FileRefused(_("В файле не найдена таблица"))
    table = Table(format="html", headers=parser.rows[0])
    table.rows = [Row(number=i, cells=cells) for i, cells in enumerate(parser.rows[1:], start=2)]
    return table


def _shaped(table: Table) -> Table:
    """Headers cleaned, the trailing empty column of `;`-terminated lines dropped, rows checked
    against the header: a row with more values is an error, a shorter one is padded."""
    headers = [clean_header(h) for h in table.headers]
    while headers and not headers[-1]:
        headers.pop()
    if not headers:
        raise FileRefused(_("В первой строке файла нет заголовков колонок"))
    if len(headers) > MAX_COLUMNS:
        raise FileRefused(_("В файле больше %(n)s колонок") % {"n": MAX_COLUMNS})
    table.headers = headers
    width = len(headers)
    rows = []
    for row in table.rows:
        cells = row.cells
        if not any(c.strip() for c in cells):
            continue  # an empty line
        if len(cells) > width:
            extra = cells[width:]
            cells = cells[:width]
            if any(c.strip() for c in extra):
                row.error = _("В строке %(got)s значений, а колонок %(want)s") % {
                    "got": len(row.cells),
                    "want": width,
                }
        elif len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        if not row.error and any(len(c) > MAX_CELL for c in cells):
            row.error = _("Значение длиннее %(n)s символов") % {"n": MAX_CELL}
        row.cells = cells
        rows.append(row)
    table.rows = rows
    return table
