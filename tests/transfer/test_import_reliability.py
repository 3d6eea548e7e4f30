"""RELIABILITY rows 16 (parser fuzz: CSV and XLSX import) and 19 (upload abuse, as it applies to
the import upload), each guard with its negative control (the guard switched off, the check
turns red).

Row 16 oracle: only declared refusals (FileRefused → a ValidationError naming the file) or a
table; under 1 s per input; no control or bidi character in what is stored (headers, values);
every row as wide as the header; an XLSX is never decompressed past the zip-bomb limits."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import sys
import time
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.errors import ValidationError
from voronka.transfer import readers
from voronka.transfer.readers import FileRefused, read_table

FORBIDDEN = {chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"} | {
    "\x7f",
    "\u200e",
    "\u200f",
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
}

# --- the oracle -----------------------------------------------------------------------------------


def oracle(data: bytes) -> list[str]:
    """Violations of row 16 for one input (empty: it holds)."""
    started = time.process_time()  # CPU: a hang spins; a busy machine only waits
    try:
        table = read_table(data, "fuzz")
    except FileRefused as exc:
        return [] if str(exc) else ["a refusal without a message"]
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        return [f"undeclared {type(exc).__name__}: {exc}"]
    problems = []
    if time.process_time() - started > 1.0:
        problems.append("over 1 s")
    for header in table.headers:
        if FORBIDDEN & set(header):
            problems.append(f"control character in header {header!r}")
    for row in table.rows:
        if len(row.cells) != len(table.headers):
            problems.append(f"row {row.number} is {len(row.cells)} wide")
        if not row.error and any(len(c) > readers.MAX_CELL for c in row.cells):
            problems.append(f"row {row.number}: an over-long cell without an error")
    return problems


cell_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30
) | st.sampled_from(['"', '""', ";", ",", "\t", "\r\n", "\x00", "\u202e", "=1+1", "Ё"])


@st.composite
def csv_files(draw: Any) -> bytes:
    delimiter = draw(st.sampled_from([";", ",", "\t"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]))
    width = draw(st.integers(1, 6))
    rows = draw(
        st.lists(st.lists(cell_text, min_size=0, max_size=width + 2), min_size=1, max_size=8)
    )

    def quote(cell: str) -> str:
        if draw(st.booleans()) or any(ch in cell for ch in '";,\t\r\n'):
            return '"' + cell.replace('"', '""') + '"'
        return cell

    trailing = delimiter if draw(st.booleans()) else ""
    text = "\r\n".join(delimiter.join(quote(c) for c in row) + trailing for row in rows)
    return text.encode(encoding, errors="ignore")


@st.composite
def xlsx_files(draw: Any) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook()
    sheet = book.active
    values = st.one_of(
        st.none(),
        st.integers(-(10**15), 10**15),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.dates(),
        cell_text.map(lambda s: ILLEGAL_CHARACTERS_RE.sub("", s)),
    )
    for row in draw(st.lists(st.lists(values, max_size=6), min_size=1, max_size=6)):
        sheet.append(row)
    book.properties.created = book.properties.modified = dt.datetime(2026, 1, 1)  # noqa: DTZ001
    saved = io.BytesIO()
    book.save(saved)
    out = io.BytesIO()  # the same bytes for the same draw: entries re-dated (shrinking works)
    with zipfile.ZipFile(saved) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            part = re.sub(rb"\d{4}-\d\d-\d\dT[\d:]+Z", b"2026-01-01T00:00:00Z", zin.read(item))
            zout.writestr(zipfile.ZipInfo(item.filename, (1980, 1, 1, 0, 0, 0)), part)
    data = bytearray(out.getvalue())
    for _ in range(draw(st.integers(0, 3))):  # some inputs damaged on the way
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=200, deadline=None)
@given(csv_files() | st.binary(max_size=300))
def test_row16_csv_reader_fuzz(data: bytes) -> None:
    assert oracle(data) == []


@settings(max_examples=200, deadline=None)
@given(xlsx_files())
def test_row16_xlsx_reader_fuzz(data: bytes) -> None:
    assert oracle(data) == []


@pytest.mark.django_db
@settings(  # the readers take 200 examples each above; the whole import, 50 more
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=csv_files())
def test_row16_csv_import_stores_no_control_characters(personas: Any, data: bytes) -> None:
    """The whole import of a fuzzed CSV: declared refusals only, and nothing stored carries a
    control or bidi character (each example rolled back)."""
    from voronka.contacts.models import Contact
    from voronka.transfer.services import import_file

    actor = Actor(kind=ActorKind.IMPORT, user=personas["owner"].user)
    with transaction.atomic():
        try:
            job = import_file(actor=actor, entity="contact", filename="f", data=data, mapping=None)
        except ValidationError as exc:
            assert set(exc.errors) <= {"file", "mapping"}, exc.errors
        else:
            assert job.status == "done", job.error
            for values in Contact.objects.values_list("first_name", "last_name", "comment"):
                assert not FORBIDDEN & set("".join(values)), values
        transaction.set_rollback(True)


# --- the seed corpus --------------------------------------------------------------------------


def bomb(size: int = 200 * 1024 * 1024) -> bytes:
    """A real workbook whose sheet inflates to `size` bytes (about 200 KB compressed)."""
    from openpyxl import Workbook

    src = io.BytesIO()
    Workbook().save(src)
    sheet = (
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<sheetData>" + b" " * size + b"</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = sheet if item.filename == "xl/worksheets/sheet1.xml" else zin.read(item)
            zout.writestr(item.filename, data)
    return out.getvalue()


def deep_html() -> bytes:
    return ("<table>" * 5000 + "<tr><td>x</td></tr>" + "</table>" * 5000).encode()


def unsupported_zip_version() -> bytes:
    """A workbook whose central directory asks for zip 6.4 (zipfile: NotImplementedError) —
    found by the fuzz above."""
    from openpyxl import Workbook

    out = io.BytesIO()
    Workbook().save(out)
    data = bytearray(out.getvalue())
    data[data.rfind(b"PK\x01\x02") + 6] = 64
    return bytes(data)


SEEDS = {
    "zip-version-6.4": unsupported_zip_version(),
    "zip-bomb": bomb(),
    "quadratic-csv": b'"' + b'""' * 200_000 + b"\n",
    "deep-html": deep_html(),
    "many-columns": (";".join(f"c{i}" for i in range(5000)) + "\n").encode(),
    "nul-and-bidi": "Имя\x00;\u202eФамилия\nА;Б\n".encode(),
}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_row16_seed_corpus(name: str) -> None:
    assert oracle(SEEDS[name]) == []


# --- negative controls of row 16 ------------------------------------------------------------------


def decompressed_bytes(data: bytes, fuse: int = 20 * 1024 * 1024) -> int:
    """How many bytes reading `data` decompresses (stops at the fuse: the control must not
    take the machine down)."""
    total = 0
    real_read = zipfile.ZipExtFile.read

    def counting(self: Any, n: int = -1) -> bytes:
        nonlocal total
        chunk = real_read(self, n if n and n > 0 else 1 << 20)
        total += len(chunk)
        if total > fuse:
            raise MemoryError("fuse")
        return chunk

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zipfile.ZipExtFile, "read", counting)
        with contextlib.suppress(FileRefused, MemoryError):
            read_table(data, "x.xlsx")
    return total


def test_row16_zip_bomb_guard_and_its_negative_control(monkeypatch: Any) -> None:
    assert decompressed_bytes(SEEDS["zip-bomb"]) == 0  # refused before anything is inflated
    monkeypatch.setattr(readers, "_zip_check", lambda data: None)
    assert decompressed_bytes(SEEDS["zip-bomb"]) > 20 * 1024 * 1024  # the guard off: inflated


def test_row16_header_cleaning_and_its_negative_control(monkeypatch: Any) -> None:
    assert oracle(SEEDS["nul-and-bidi"]) == []
    monkeypatch.setattr(readers, "clean_header", lambda raw: raw)
    assert any("control character" in p for p in oracle(SEEDS["nul-and-bidi"]))


def test_row16_long_cells_and_their_negative_control(monkeypatch: Any) -> None:
    data = ("Имя\n" + "я" * 1_000_000 + "\n").encode()
    assert oracle(data) == []
    monkeypatch.setattr(readers.csv, "field_size_limit", lambda *a: None)
    monkeypatch.setattr(readers, "_shaped", lambda table: table)  # no width/length checks
    assert oracle(data) != []


def test_row16_xlsx_only_through_defusedxml_and_its_negative_controls(monkeypatch: Any) -> None:
    """openpyxl is imported on the first XLSX (not by every process at start), and only parses
    through defusedxml: without it installed the readers refuse to load (a copy of the module is
    loaded, so the real one is left as it is); with openpyxl told not to use it, an XLSX is
    refused before it is parsed."""
    import importlib.util

    import openpyxl.xml
    from django.core.exceptions import ImproperlyConfigured

    def load_copy() -> None:
        spec = importlib.util.spec_from_file_location("readers_copy", readers.__file__)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "readers_copy", module)  # dataclasses look it up
        spec.loader.exec_module(module)

    load_copy()
    real_find_spec = importlib.util.find_spec
    with monkeypatch.context() as patched:
        patched.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a: None if name == "defusedxml" else real_find_spec(name, *a),
        )
        with pytest.raises(AssertionError, match="defusedxml"):
            load_copy()

    from openpyxl import Workbook

    book = Workbook()
    for row in (["Имя", "Телефон"], ["Анна", "+79161234567"]):
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()
    assert openpyxl.xml.DEFUSEDXML is True
    assert readers.read_xlsx(data).headers == ["Имя", "Телефон"]
    monkeypatch.setattr(openpyxl.xml, "DEFUSEDXML", False)
    with pytest.raises(ImproperlyConfigured, match="defusedxml"):
        readers.read_xlsx(data)


# --- row 19: upload abuse ---------------------------------------------------------------------


def upload(name: str, data: bytes) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def abuse_findings(client: Any, other: Any) -> list[str]:
    """Row 19 checks on the import upload and the error report download (empty: all hold)."""
    from voronka.transfer.models import ImportJob

    findings = []
    resp = client.post("/import/contacts/", {"file": upload("big.csv", b"a;b\n" * 600)})
    if resp.status_code != 422 or ImportJob.objects.filter(filename="big.csv").exists():
        findings.append("an upload over the limit was accepted")
    names = ["../../etc/passwd.csv", "a\x00b.csv", "evil\u202evsc.csv", "CON", "я" * 200 + ".csv"]
    for name in names:
        client.post("/import/contacts/", {"file": upload(name, "Имя\nАнна\n".encode())})
    for stored in ImportJob.objects.values_list("filename", flat=True):
        if "/" in stored or "\\" in stored or FORBIDDEN & set(stored) or len(stored.encode()) > 255:
            findings.append(f"a filename stored as given: {stored!r}")
    script = upload(
        "x.csv", "Имя;Заметка\n<script>alert(1)</script>;<img src=x onerror=alert(2)>\n".encode()
    )
    resp = client.post("/import/contacts/", {"file": script})
    page = client.get(resp["Location"]).text if resp.status_code == 302 else ""
    if "<script>alert(1)" in page or "<img src=x" in page:
        findings.append("a cell of the file rendered as HTML in the preview")
    job = ImportJob.objects.order_by("-pk").first()
    report = client.get(f"/imports/{job.pk}/errors.csv")
    disposition = report.get("Content-Disposition", "")
    if not disposition.startswith("attachment;") or "filename*=UTF-8''" not in disposition:
        findings.append("the report is not an attachment with filename*")
    if report.get("X-Content-Type-Options") != "nosniff":
        findings.append("the report lacks nosniff")
    if "sandbox" not in report.get("Content-Security-Policy", ""):
        findings.append("the report lacks a sandbox CSP")
    if other.get(f"/imports/{job.pk}/errors.csv").status_code != 404:
        findings.append("another user downloads the report")
    if other.get(f"/imports/{job.pk}/").status_code != 404:
        findings.append("another user sees the import")
    return findings


@pytest.fixture
def small_limit(settings: Any) -> None:
    settings.VORONKA_MAX_UPLOAD_BYTES = 2000


@pytest.mark.django_db
def test_row19_upload_abuse(web: Any, small_limit: None) -> None:
    assert abuse_findings(web("owner"), web("a1")) == []


GUARDS_OFF: dict[str, Callable[[Any], None]] = {
    "size limit": lambda mp: mp.setattr(
        "voronka.transfer.services.read_upload", lambda f: f.read()
    ),
    "reader size limit": lambda mp: (
        mp.setattr("voronka.transfer.services.read_upload", lambda f: f.read()),
        mp.setattr("voronka.transfer.readers.max_bytes", lambda: 10**9),
    ),
    "filename": lambda mp: mp.setattr("voronka.transfer.services.safe_filename", lambda n: n),
    "owner only": lambda mp: mp.setattr(
        "voronka.transfer.selectors.import_get",
        lambda *, user, job_id: __import__(
            "voronka.transfer.models", fromlist=["ImportJob"]
        ).ImportJob.objects.get(pk=job_id),
    ),
    "attachment": lambda mp: mp.setattr(
        "voronka.transfer.import_views.content_disposition", lambda name: "inline"
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("guard", ["reader size limit", "filename", "owner only", "attachment"])
def test_row19_negative_controls(web: Any, small_limit: None, guard: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        GUARDS_OFF[guard](mp)
        assert abuse_findings(web("owner"), web("a1")) != []
