"""Import (issue 10, decision 0020): the Bitrix24 samples and an amoCRM-headed file land where
they should, through the services (audit, events, duplicate keys, actor kind "import"); duplicate
control on every row and a re-run creates nothing; broken files give per-row errors or a clear
refusal and write nothing half; the mapping screen, the status page and the error report."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from voronka.contacts.models import ClientKey, Company, Contact
from voronka.deals.models import Deal
from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.errors import ValidationError
from voronka.kernel.models import AuditEntry, CustomField, DomainEvent
from voronka.transfer.mapping import NEW_CUSTOM, SKIP, auto_mapping
from voronka.transfer.models import ImportJob, ImportRowError
from voronka.transfer.readers import read_table
from voronka.transfer.services import (
    import_file,
    import_run,
    import_set_mapping,
    import_start,
    import_upload,
)

pytestmark = pytest.mark.django_db

FIXTURES = Path("/work/shared/fixtures/crm_exports")
SAMPLES = FIXTURES / "bitrix24_import_samples"


def actor_of(personas: Any, key: str = "owner") -> Actor:
    return Actor(kind=ActorKind.IMPORT, user=personas[key].user)


def run(personas: Any, entity: str, data: bytes, name: str = "f.csv", who: str = "owner") -> Any:
    return import_file(
        actor=actor_of(personas, who), entity=entity, filename=name, data=data, mapping=None
    )


def errors_of(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(ImportRowError.objects.filter(job=job).values_list("row", "column", "message"))


def amo_deals_csv(pipeline: Any) -> bytes:
    """A deals export with amoCRM's captions (derived_header_lists/amocrm_export_headers_ru.txt):
    ',' separated, "Бюджет " with its trailing space, a contact field with " (контакт)"."""
    header = [
        "ID", "Название сделки", "Бюджет ", "Ответственный", "Дата создания сделки", "Теги",
        "Примечание", "Примечание 2", "Этап сделки", "Воронка", "Полное имя контакта",
        "Компания контакта", "Рабочий телефон (контакт)", "Рабочий email", "utm_source", "roistat",
    ]  # fmt: skip
    pipe = pipeline.sales.name
    rows = [
        ["101", "Поставка бетона", "150 000", "OWNER Тестов", "02.01.2024 15:04:05", "опт",
         "Перезвонить", "Просил скидку", "Переговоры", pipe, "Иван Петров", "ООО Бетон",
         "+7 912 345-67-89", "petrov@beton.test", "yandex", "r1"],
        ["102", "Вторая поставка", "20000", "nobody", "03.01.2024 10:00:00", "",
         "", "", "Переговоры", pipe, "Иван Петров", "ООО Бетон",
         "8 (912) 345-67-89", "", "", ""],
        ["103", "Без стадии", "abc", "", "", "", "", "", "Нет такой", pipe, "Анна", "",
         "", "", "", ""],
    ]  # fmt: skip
    out = io.StringIO()
    import csv

    writer = csv.writer(out, delimiter=",")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


# --- the Bitrix24 samples --------------------------------------------------------------------


def test_bitrix_contact_sample_imports_through_the_services(personas: Any) -> None:
    data = (SAMPLES / "crm.contact.import_sample.csv").read_bytes()
    job = run(personas, "contact", data)
    assert (job.status, job.total, job.created, job.found, job.failed) == ("done", 1, 1, 0, 0)
    contact = Contact.objects.get(last_name="Petrov")
    assert (contact.first_name, contact.middle_name, contact.position) == (
        "Ivan",
        "Ivanovich",
        "director",
    )
    assert contact.comment == "comments"
    assert list(contact.emails.values_list("address", flat=True)) == ["i.petrov@example.com"]
    assert contact.messengers == {
        "IM_ICQ": "333444555",
        "IM_SKYPE": "jabber@example.com",
        "IM_JABBER": "test",
    }
    assert contact.company.type == "family"  # a private person gets a family company
    # The bad phone of the sample ("+7 (495) 556677": 6 digits) is reported under its column.
    assert errors_of(job) == [(2, "PHONE_WORK", "+7 (495) 556677: Неверный номер телефона")]
    assert "TYPE_ID" in job.skipped_columns and "SOURCE_ID" in job.skipped_columns
    # The same rows a form writes: audit with the actor kind "import", events, duplicate keys.
    audit = AuditEntry.objects.get(object_type="contact", object_id=contact.pk)
    assert (audit.actor_kind, audit.actor_user_id, audit.action) == (
        "import",
        personas["owner"].pk,
        "created",
    )
    assert DomainEvent.objects.filter(name="contact.created", object_id=contact.pk).exists()
    assert ClientKey.objects.filter(entity="contact", object_id=contact.pk, kind="email").exists()


def test_bitrix_company_sample_imports(personas: Any) -> None:
    data = (SAMPLES / "crm.company.import_sample.csv").read_bytes()
    job = run(personas, "company", data)
    assert (job.created, job.failed) == (1, 0)
    company = Company.objects.get(name="Пример импортируемой компании")
    assert company.phone == "+74954556677"
    assert company.email == "info@example.com"
    assert company.website.startswith("http://example.com")
    assert sorted(company.addresses.values_list("kind", "text")) == [
        ("actual", "Россия, Калининград"),
        ("legal", "Россия, Москва"),
    ]
    assert "Комментарии" in company.comment and "Крупный банк" in company.comment
    # Its other phones and e-mails stay in the comment; the unusable ones are reported.
    assert "boss@example.com" in company.comment
    assert {c for _r, c, _m in errors_of(job)} == {
        "Номер пейджера",
        "Другой телефон",
        "Домашний телефон",
    }
    assert "Годовой оборот" in job.skipped_columns


def test_rerun_of_the_same_file_creates_nothing(personas: Any, pipeline: Any) -> None:
    files = [
        ("contact", (SAMPLES / "crm.contact.import_sample.csv").read_bytes()),
        ("company", (SAMPLES / "crm.company.import_sample.csv").read_bytes()),
        ("deal", amo_deals_csv(pipeline)),
    ]
    for entity, data in files:
        run(personas, entity, data)
    counts = (Contact.objects.count(), Company.objects.count(), Deal.objects.count())
    for entity, data in files:
        job = run(personas, entity, data)
        assert job.created == 0, entity
    assert (Contact.objects.count(), Company.objects.count(), Deal.objects.count()) == counts


# --- amoCRM ------------------------------------------------------------------------------------


def test_amocrm_headers_map_automatically() -> None:
    headers = [
        "ID", "Название сделки", "Бюджет ", "Ответственный", "Этап сделки", "Воронка",
        "Полное имя контакта", "Компания контакта", "Рабочий телефон (контакт)", "Личный email",
        "Примечание", "Примечание 2", "roistat",
    ]  # fmt: skip
    read = read_table((",".join(headers) + "\n1,a,1,x,y,z,w,v,u,t,s,r,q\n").encode())
    assert read.headers[2] == "Бюджет"
    assert auto_mapping("deal", read.headers, {}) == [
        SKIP, "title", "amount", "responsible", "stage", "pipeline", "contact_full_name",
        "company_name", "contact_phone", "contact_email", "comment", "comment", SKIP,
    ]  # fmt: skip
    contacts = ["Имя", "Фамилия", "Название компании", "Мобильный телефон", "Рабочий email",
                "Skype", "Должность", "Примечание 1"]  # fmt: skip
    assert auto_mapping("contact", contacts, {}) == [
        "first_name", "last_name", "company_name", "phone", "email", "messenger", "position",
        "comment",
    ]  # fmt: skip


def test_amocrm_deals_file_imports_with_clients_found_once(personas: Any, pipeline: Any) -> None:
    job = run(personas, "deal", amo_deals_csv(pipeline))
    assert (job.created, job.failed) == (2, 1)
    deals = list(Deal.objects.order_by("pk"))
    assert [d.title for d in deals] == ["Поставка бетона", "Вторая поставка"]
    first, second = deals
    assert str(first.amount) == "150000.00" and first.currency == "RUB"
    assert first.stage.name == "Переговоры" and first.pipeline == pipeline.sales
    assert first.responsible == personas["owner"].user
    assert first.comment == "Перезвонить\n\nПросил скидку"
    assert first.utm_source == "yandex"
    # One company and one contact: the second row's phone in another format is the same key.
    assert first.company_id == second.company_id
    assert first.company.name == "ООО Бетон"
    assert list(first.contacts.all()) == list(second.contacts.all())
    contact = first.contacts.get()
    assert (contact.first_name, contact.last_name) == ("Иван", "Петров")
    assert contact.company_id == first.company_id
    messages = errors_of(job)
    assert (
        3,
        "Ответственный",
        "Пользователь «nobody» не найден — назначен тот, кто импортирует",
    ) in messages
    assert (4, "Этап сделки", "Нет стадии «Нет такой»") in messages


def test_existing_contact_is_found_by_phone_and_the_deal_goes_on_it(
    personas: Any, pipeline: Any
) -> None:
    from voronka.contacts.services import contact_create

    owner = Actor.for_user(personas["owner"].user)
    existing = contact_create(
        actor=owner, data={"first_name": "Старый", "phones": ["+79123456789"]}
    )
    data = "Название сделки;Контакт;Телефон\nНовая заявка;Иван Петров;8 912 345 67 89\n"
    job = run(personas, "deal", data.encode())
    assert (job.created, job.failed) == (1, 0)
    deal = Deal.objects.get(title="Новая заявка")
    assert list(deal.contacts.all()) == [existing]
    assert deal.company_id == existing.company_id
    assert Contact.objects.count() == 1


def test_two_rows_of_one_new_client_make_one_client(personas: Any) -> None:
    data = (
        "Имя;Фамилия;Телефон;E-mail\n"
        "Анна;Иванова;+7 999 111-22-33;\n"
        "Анна;Иванова;8 (999) 111-22-33;anna@x.test\n"
        "Пётр;Сидоров;;ANNA@X.TEST\n"
    )
    job = run(personas, "contact", data.encode())
    assert (job.created, job.found) == (1, 2)
    assert Contact.objects.count() == 1


def test_contacts_name_their_company_once(personas: Any) -> None:
    data = "Имя;Компания\nАнна;ООО Ромашка\nПётр;Ромашка ООО\nОлег;ООО Лютик\n"
    job = run(personas, "contact", data.encode())
    assert job.created == 3
    assert sorted(Company.objects.exclude(type="family").values_list("name", flat=True)) == [
        "ООО Лютик",
        "ООО Ромашка",
    ]


def test_a_manager_imports_within_their_rights(personas: Any, pipeline: Any) -> None:
    """The services decide: a1 may not name b1 as the responsible (the row is refused, the
    others go in), and the records are a1's."""
    data = "Имя;Ответственный\nАнна;b1\nПётр;\n"
    job = run(personas, "contact", data.encode(), who="a1")
    assert (job.created, job.failed) == (1, 1)
    assert Contact.objects.get().responsible == personas["a1"].user
    assert errors_of(job)[0][:2] == (2, "Ответственный")


# --- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoding", "delimiter"),
    [
        ("Имя;Телефон\r\nАнна;+7 999 1112233\r\n".encode("cp1251"), "cp1251", ";"),
        ("\ufeffИмя,Телефон\nАнна,+7 999 1112233\n".encode(), "utf-8-sig", ","),
        ("Имя\tТелефон\nАнна\t+7 999 1112233\n".encode(), "utf-8", "\t"),
        ('"Имя";"Телефон";\n"Анна";"+7 999 1112233";\n'.encode(), "utf-8", ";"),
    ],
)
def test_csv_encodings_and_delimiters(raw: bytes, encoding: str, delimiter: str) -> None:
    table = read_table(raw)
    assert (table.encoding, table.delimiter, table.headers) == (
        encoding,
        delimiter,
        ["Имя", "Телефон"],
    )
    assert table.rows[0].cells == ["Анна", "+7 999 1112233"] and not table.rows[0].error


def test_bitrix_excel_export_is_an_html_table(personas: Any) -> None:
    html = (
        '<meta http-equiv="Content-type" content="text/html;charset=UTF-8">'
        '<table border="1"><tr><th>Имя</th><th>Фамилия</th><th>E-mail</th></tr>'
        "<tr><td>Анна</td><td>Иванова</td><td>anna@x.test</td></tr>"
        '<tr><td>Пётр<img src="http://evil.test/x.png"></td><td>&lt;b&gt;</td><td></td></tr></table>'
    )
    job = run(personas, "contact", html.encode(), name="export.xls")
    assert (job.format, job.created) == ("html", 2)
    assert Contact.objects.filter(last_name="<b>").exists()


def test_xlsx_imports(personas: Any) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Название компании", "ИНН", "Телефон"])
    sheet.append(["ООО Тест", 7707083893, "+7 495 111-22-33"])
    out = io.BytesIO()
    book.save(out)
    job = run(personas, "company", out.getvalue(), name="c.xlsx")
    assert (job.format, job.created, job.failed) == ("xlsx", 1, 0)
    assert Company.objects.get().inn == "7707083893"
    again = run(personas, "company", out.getvalue(), name="c.xlsx")
    assert (again.created, again.found) == (0, 1)


# --- broken files -------------------------------------------------------------------------------


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (200 * 1024 * 1024))
    return out.getvalue()


def xlsx_with(part: str, xml: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["Имя"])
    book.active.append(["Анна"])
    src = io.BytesIO()
    book.save(src)
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, xml.encode() if item.filename == part else data)
    return out.getvalue()


SHEET = (
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Имя</t></is></c></row>'
    '<row r="2"><c r="A2" t="inlineStr"><is><t>&x;</t></is></c></row></sheetData></worksheet>'
)
XXE = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + SHEET
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY x "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>' + SHEET
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xcf\xf0\xe8\x98\x98;\xff\n", "кодировку"),  # 0x98 is no cp1251 character either
        (b"", "пуст"),
        (zip_bomb(), "слишком большой объём"),
        (xlsx_with("xl/worksheets/sheet1.xml", XXE), "XLSX не читается"),
        (xlsx_with("xl/worksheets/sheet1.xml", LAUGHS), "XLSX не читается"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "XLS"),
        (b"PK\x03\x04garbage", "повреждён"),
    ],
    ids=["bad-encoding", "empty", "zip-bomb", "xxe", "billion-laughs", "old-xls", "broken-zip"],
)
def test_unreadable_files_are_refused_and_write_nothing(
    personas: Any, data: bytes, message: str, nothing_written: Any
) -> None:
    with nothing_written(), pytest.raises(ValidationError) as refused:
        import_upload(actor=actor_of(personas), entity="contact", filename="x", data=data)
    assert message in refused.value.errors["file"]


def test_bad_rows_are_reported_and_the_good_ones_go_in(personas: Any) -> None:
    big = "я" * 1_000_000
    data = (
        "Имя;Фамилия;Телефон\n"
        "Анна;Иванова;+7 999 111-22-33\n"
        "Лишнее;значение;+7 999 111-22-34;ещё;и ещё\n"  # ragged: more values than columns
        f"{big};Большой;\n"  # a 1 MB cell
        "Ник\x00;Нулев;\n"  # NUL: stripped, as from every input (kernel.normalize)
        ";Безымянный;\n"  # no first name: the service refuses
        "Пётр;Петров;+7 999 111-22-35\n"
    )
    job = run(personas, "contact", data.encode())
    assert (job.total, job.created, job.failed) == (6, 3, 3)
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == ["Анна", "Ник", "Пётр"]
    rows = {r for r, _c, _m in errors_of(job)}
    assert rows == {3, 4, 6}
    # Nothing half: no family company, key, audit row or event of a refused row.
    assert Company.objects.count() == 3
    assert AuditEntry.objects.filter(object_type="contact").count() == 3
    assert DomainEvent.objects.filter(name="company.created").count() == 3


def test_a_row_the_database_refuses_is_replayed_alone(personas: Any, monkeypatch: Any) -> None:
    """An unexpected failure in a batch: the batch is replayed row by row, the bad row is
    reported, the others are written."""
    from voronka.transfer import importer

    real = importer.contact_create_many

    def flaky(*, actor: Any, items: Any) -> Any:
        if any(i.get("first_name") == "Сбой" for i in items):
            raise RuntimeError("boom")
        return real(actor=actor, items=items)

    monkeypatch.setattr(importer, "contact_create_many", flaky)
    job = run(personas, "contact", "Имя\nАнна\nСбой\nПётр\n".encode())
    assert (job.created, job.failed) == (2, 1)
    assert errors_of(job) == [(3, "", "Строку не удалось записать")]


# --- the mapping screen, custom fields, the status and the report ------------------------------


def test_mapping_creates_a_custom_field_and_fills_it(personas: Any) -> None:
    owner = actor_of(personas)
    data = "Имя;Номер договора;Мусор\nАнна;Д-17;x\n".encode()
    job = import_upload(actor=owner, entity="contact", filename="c.csv", data=data)
    assert job.mapping == ["first_name", SKIP, SKIP]
    import_set_mapping(
        actor=owner, job_id=job.pk, mapping=["first_name", NEW_CUSTOM, SKIP], new_fields={}
    )
    field = CustomField.objects.get(entity="contact", name="Номер договора")
    import_start(actor=owner, job_id=job.pk)
    done = import_run(job_id=job.pk)
    assert done is not None and done.status == "done" and done.skipped_columns == ["Мусор"]
    assert Contact.objects.get().custom == {field.key: "Д-17"}
    assert import_run(job_id=job.pk) is None  # claimed once: a second run does nothing


def test_a_manager_cannot_create_custom_fields_from_the_mapping(personas: Any) -> None:
    from voronka.kernel.errors import ApplicationError

    a1 = actor_of(personas, "a1")
    job = import_upload(
        actor=a1, entity="contact", filename="c.csv", data="Имя;X\nАнна;1\n".encode()
    )
    with pytest.raises(ApplicationError) as refused:
        import_set_mapping(actor=a1, job_id=job.pk, mapping=["first_name", NEW_CUSTOM])
    assert refused.value.status == 403
    assert not CustomField.objects.exists()


def test_web_flow_upload_mapping_status_and_report(personas: Any, web: Any) -> None:
    client = web("owner")
    page = client.get("/contacts/")
    assert b'href="/import/contacts/"' in page.content
    data = "Имя;Телефон;Прочее\nАнна;+7 999 111-22-33;x\n;;y\n".encode()
    upload = io.BytesIO(data)
    upload.name = "../../etc/\u202ecsv.exe"
    resp = client.post("/import/contacts/", {"file": upload})
    assert resp.status_code == 302
    job = ImportJob.objects.get()
    assert "/" not in job.filename and "\u202e" not in job.filename
    mapping = client.get(resp["Location"])
    assert mapping.status_code == 200 and "Сопоставление колонок" in mapping.text
    assert '<option value="phone" selected>' in mapping.text
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("voronka.transfer.services._enqueue", lambda job_id: None)
        resp = client.post(
            f"/imports/{job.pk}/", {"col0": "first_name", "col1": "phone", "col2": SKIP}
        )
    assert resp.status_code == 302
    polling = client.get(f"/imports/{job.pk}/", HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in polling.text
    finished = import_run(job_id=job.pk)
    assert finished is not None and (finished.created, finished.failed) == (1, 1), finished.error
    done = client.get(f"/imports/{job.pk}/")
    assert "Скачать отчёт об ошибках" in done.text and "every 1s" not in done.text
    report = client.get(f"/imports/{job.pk}/errors.csv")
    assert report["Content-Disposition"].startswith("attachment;")
    assert report["X-Content-Type-Options"] == "nosniff"
    body = b"".join(report.streaming_content).decode("utf-8-sig")
    lines = body.splitlines()
    assert lines[0] == "№ строки;Колонка;Ошибка" and lines[1].startswith("3;")
    # Another user's import does not exist for them.
    assert web("a1").get(f"/imports/{job.pk}/errors.csv").status_code == 404
    assert web("a1").get(f"/imports/{job.pk}/").status_code == 404
    listing = client.get("/imports/")
    assert job.filename in listing.text


@override_settings(VORONKA_MAX_UPLOAD_BYTES=1000)
def test_an_upload_over_the_limit_is_refused_with_a_message(personas: Any, web: Any) -> None:
    upload = io.BytesIO(b"a;b\n" * 500)
    upload.name = "big.csv"
    resp = web("owner").post("/import/contacts/", {"file": upload})
    assert resp.status_code == 422 and "больше допустимого размера" in resp.text
    assert not ImportJob.objects.exists()


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_prints_a_summary_and_fails_only_on_an_unreadable_file(
    personas: Any, tmp_path: Path, capsys: Any
) -> None:
    call_command(
        "voronka_import",
        "contacts",
        str(SAMPLES / "crm.contact.import_sample.csv"),
        "--as",
        "owner",
    )
    out = capsys.readouterr().out
    assert "created 1, found existing 0, errors 0" in out and "PHONE_WORK" in out
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(zip_bomb())
    with pytest.raises(CommandError, match="слишком большой"):
        call_command("voronka_import", "contacts", str(bad), "--as", "owner")
    mapping = tmp_path / "m.json"
    mapping.write_text('["first_name", "skip", "skip"]')
    plain = tmp_path / "p.csv"
    plain.write_text("A;B;C\nАнна;1;2\n", encoding="utf-8")
    call_command(
        "voronka_import", "contacts", str(plain), "--mapping", str(mapping), "--as", "owner"
    )
    assert "created 1" in capsys.readouterr().out
