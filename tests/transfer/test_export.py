"""Export of the lists (decision 0022): the list's scope (against the independent SQL oracle of
RELIABILITY row 2, with the scope filter switched off as the negative control), its filters and
sort, the download's headers, CSV and XLSX shapes, the API, the CLI, the role's export right,
refusals before any row is read, a bounded number of queries per chunk and streaming."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from authz import oracle
from negative_controls import no_scope_filter

pytestmark = pytest.mark.django_db

ENTITY_URLS = {
    "deal": ("/deals/export/", "/api/v1/deals/export"),
    "company": ("/companies/export/", "/api/v1/companies/export"),
    "contact": ("/contacts/export/", "/api/v1/contacts/export"),
    "task": ("/tasks/export/", "/api/v1/tasks/export"),
}


def body(resp: Any) -> bytes:
    return b"".join(resp.streaming_content) if resp.streaming else resp.content


def read_csv(content: bytes, delimiter: str = ";") -> list[list[str]]:
    assert content.startswith("\ufeff".encode()), "UTF-8 with a BOM"
    return list(
        csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=delimiter)
    )


def read_xlsx(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).active
    return [[c.value for c in row] for row in sheet.iter_rows()]


def column(rows: list[list[Any]], name: str) -> list[Any]:
    index = rows[0].index(name)
    return [r[index] for r in rows[1:]]


def ids(rows: list[list[Any]]) -> list[int]:
    return [int(v) for v in column(rows, "ID")]


# --- scope ----------------------------------------------------------------------------------------


def exported_ids(client: Any, entity: str, channel: int, fmt: str = "csv") -> set[int]:
    resp = client.get(ENTITY_URLS[entity][channel], {"format": fmt})
    assert resp.status_code == 200, resp.content[:300]
    rows = read_csv(body(resp)) if fmt == "csv" else read_xlsx(body(resp))
    return set(ids(rows))


PRINCIPALS = ["owner", "admin", "head_root", "head_a", "head_b", "a1", "a11", "b1"]


def test_export_rows_are_the_scope_of_the_list(
    records: Any, personas: Any, web: Any, api: Any
) -> None:
    """Each principal's export (UI and API, four entities) holds exactly the rows the
    independent SQL oracle lets them see: a manager exports only their own deals."""
    checked = 0
    for key in PRINCIPALS:
        uid = personas[key].pk
        for entity in ENTITY_URLS:
            expected = oracle.visible_ids(uid, entity)
            assert exported_ids(web(key), entity, 0) == expected, (key, entity, "ui")
            assert exported_ids(api(key), entity, 1) == expected, (key, entity, "api")
            checked += 2
    # the integration token is manager a1's: a1's rows only
    for entity in ENTITY_URLS:
        assert exported_ids(api("integration"), entity, 1) == oracle.visible_ids(
            personas["a1"].pk, entity
        )
    assert exported_ids(web("a1"), "deal", 0, "xlsx") == {records["a1"].deal.pk}
    assert checked == len(PRINCIPALS) * 8


def test_negative_control_scope_filter_off_leaks_into_the_export(
    records: Any, personas: Any, web: Any, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_scope_filter(monkeypatch)
    expected = oracle.visible_ids(personas["a1"].pk, "deal")
    leaked = exported_ids(web("a1"), "deal", 0) - expected
    assert records["b1"].deal.pk in leaked
    assert exported_ids(api("a1"), "contact", 1) - oracle.visible_ids(personas["a1"].pk, "contact")


def test_anonymous_and_deactivated_get_nothing(records: Any, web: Any, api: Any) -> None:
    for who in ("anonymous", "deact"):
        resp = web(who).get("/deals/export/", {"format": "csv"})
        assert resp.status_code == 302 and "/login/" in resp["Location"]
        assert api(who).get("/api/v1/deals/export").status_code == 401
    # a bearer token never opens a page
    assert web("integration").get("/deals/export/").status_code == 302


def test_export_needs_the_roles_export_right(records: Any, org: Any, web: Any, api: Any) -> None:
    from voronka.kernel.models import AuditEntry

    org.roles["manager"].can_export = False
    org.roles["manager"].save(update_fields=["can_export"])
    before = AuditEntry.objects.filter(action="export").count()
    assert web("a1").get("/deals/export/", {"format": "csv"}).status_code == 403
    resp = api("a1").get("/api/v1/companies/export", {"format": "xlsx"})
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
    assert AuditEntry.objects.filter(action="export").count() == before
    assert web("head_a").get("/deals/export/").status_code == 200


# --- the download -----------------------------------------------------------------------------------


def test_download_headers(records: Any, web: Any, api: Any) -> None:
    """An attachment with the RFC 6266 name in the user's language and an ASCII fallback; never
    sniffed, rendered or cached — through the page and through the API alike."""
    for client, url in ((web("owner"), "/deals/export/"), (api("owner"), "/api/v1/deals/export")):
        for fmt, ctype in (
            ("csv", "text/csv; charset=utf-8"),
            ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ):
            resp = client.get(url, {"format": fmt})
            assert resp.status_code == 200
            assert resp["Content-Type"] == ctype
            disposition = resp["Content-Disposition"]
            assert disposition.startswith('attachment; filename="deals-'), disposition
            # "Сделки " percent-encoded as UTF-8
            assert "filename*=UTF-8''%D0%A1%D0%B4%D0%B5%D0%BB%D0%BA%D0%B8%20" in disposition
            assert disposition.endswith(f".{fmt}")
            assert resp["X-Content-Type-Options"] == "nosniff"
            assert resp["Content-Security-Policy"].startswith("sandbox")
            assert "no-store" in resp["Cache-Control"]
            body(resp)


# --- filters and sort -------------------------------------------------------------------------------


@pytest.fixture
def many_deals(org: Any, pipeline: Any) -> dict[str, Any]:
    from factories import make_company, make_deal

    a1 = org.personas["a1"].user
    company = make_company(responsible=a1, name="ООО Фильтр")
    deals = {}
    for n, (title, stage, amount) in enumerate(
        [
            ("Окна пластиковые", "new", "500"),
            ("Двери входные", "talks", "7000"),
            ("Окна деревянные", "talks", "3000"),
            ("Потолки", "won", "12000"),
            ("Стены", "lost", "100"),
        ]
    ):
        data: dict[str, Any] = {}
        if stage == "lost":
            data["loss_reason"] = pipeline.loss_reasons[0].pk
        deals[title] = make_deal(
            responsible=a1,
            company=company,
            title=title,
            stage=pipeline.stages[stage],
            amount=amount,
            custom={"f_string": f"значение {n}", "f_number": n * 10, "f_boolean": n % 2 == 0},
            **data,
        )
    return deals


def test_deal_filters_and_sort_are_the_lists(
    many_deals: Any, pipeline: Any, personas: Any, web: Any
) -> None:
    from voronka.deals.selectors import DealFilter, deal_list

    client = web("a1")
    for params in (
        {"q": "окна"},
        {"status": "open", "sort": "-amount"},
        {"stage": str(pipeline.stages["talks"].pk), "sort": "title"},
        {"amount_min": "1000", "amount_max": "9000", "sort": "amount"},
        {"pipeline": str(pipeline.sales.pk), "sort": "-opened_at"},
        {"status": "won"},
    ):
        listed = deal_list(
            user=personas["a1"].user,
            filters=DealFilter.from_params(params),
            limit=200,
        ).items
        rows = read_csv(body(client.get("/deals/export/", {"format": "csv", **params})))
        assert ids(rows) == [d.pk for d in listed], params
        assert ids(rows), params
        xlsx = read_xlsx(body(client.get("/deals/export/", {"format": "xlsx", **params})))
        assert ids(xlsx) == [d.pk for d in listed], params
    rows = read_csv(body(client.get("/deals/export/", {"q": "окна", "sort": "title"})))
    assert column(rows, "Название") == ["Окна деревянные", "Окна пластиковые"]


def test_deal_columns_csv_and_xlsx(many_deals: Any, records: Any, web: Any) -> None:
    client = web("owner")
    rows = read_csv(body(client.get("/deals/export/", {"responsible": records["a1"].user.pk})))
    row = next(dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r[1] == "Сделка a1")
    assert row["Название"] == "Сделка a1"
    assert row["Воронка"] == "Продажа" and row["Стадия"] == "Новая" and row["Статус"] == "В работе"
    assert row["Сумма"] == "5000,00" and row["Валюта"] == "RUB"
    assert row["Компания"] == "ООО Компания a1"
    assert row["Контакт"] == "Иванов Контакт a1"
    assert row["Телефон"] == "+79160000505" and row["E-mail"] == "contact.a1@example.test"
    assert row["Ответственный"] == "A1 Тестов"
    # custom fields by their names
    rows = read_csv(body(client.get("/deals/export/", {"q": "Потолки"})))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["Поле string"], row["Поле number"], row["Поле boolean"]) == (
        "значение 3",
        "30",
        "Нет",
    )
    # ',' as the separator: a decimal point
    rows = read_csv(body(client.get("/deals/export/", {"q": "Потолки", "delimiter": ","})), ",")
    assert dict(zip(rows[0], rows[1], strict=True))["Сумма"] == "12000.00"
    # XLSX: numbers are numbers, moments are dates
    xlsx = read_xlsx(body(client.get("/deals/export/", {"format": "xlsx", "q": "Потолки"})))
    row = dict(zip(xlsx[0], xlsx[1], strict=True))
    assert row["Сумма"] == Decimal("12000") or row["Сумма"] == 12000
    assert row["Дата открытия"].year >= 2026 and row["Поле number"] == 30


def test_english_headers(records: Any, personas: Any, web: Any) -> None:
    user = personas["a1"].user
    user.language = "en"
    user.save(update_fields=["language"])
    client = web("a1")
    client.cookies["django_language"] = "en"
    rows = read_csv(body(client.get("/deals/export/", HTTP_ACCEPT_LANGUAGE="en")))
    assert rows[0][:6] == ["ID", "Name", "Pipeline", "Stage", "Status", "Amount"]
    assert "Название" not in rows[0] and "Поле money, currency" in rows[0]


def test_company_contact_task_filters(records: Any, personas: Any, web: Any, api: Any) -> None:
    from factories import make_company

    owner = personas["owner"].user
    family = make_company(responsible=owner, name="Семья Петровых", type="family")
    client = web("owner")
    rows = read_csv(body(client.get("/companies/export/", {"type": "family"})))
    assert ids(rows) == [family.pk]
    assert column(rows, "Тип") == ["Семья"]
    rows = read_csv(body(client.get("/companies/export/", {"q": "Компания a1"})))
    assert "ООО Компания a1" in column(rows, "Название")
    assert column(rows, "Адрес")[column(rows, "Название").index("ООО Компания a1")] == (
        "Москва, ул. a1, 1"
    )
    rows = read_csv(
        body(api("owner").get("/api/v1/contacts/export", {"company": records["b1"].company.pk}))
    )
    assert ids(rows) == [records["b1"].contact.pk]
    assert column(rows, "Телефон") == ["+79160001010"]
    # tasks: the task list's filters (responsible, status) and order (deadline, id)
    rows = read_csv(
        body(client.get("/tasks/export/", {"responsible": personas["a2"].pk, "status": "open"}))
    )
    assert ids(rows) == [records["a2"].task.pk]
    rows = read_csv(body(client.get("/tasks/export/", {"status": "done"})))
    assert ids(rows) == []


def test_bad_filters_are_refused_before_any_row(records: Any, web: Any, api: Any) -> None:
    client = web("owner")
    for url, params, field in (
        ("/deals/export/", {"status": "maybe"}, "status"),
        ("/deals/export/", {"sort": "password"}, "sort"),
        ("/deals/export/", {"format": "pdf"}, "format"),
        ("/deals/export/", {"delimiter": "|"}, "delimiter"),
        ("/companies/export/", {"type": "alien"}, "type"),
        ("/contacts/export/", {"company": "x"}, "company"),
        ("/tasks/export/", {"overdue": "perhaps"}, "overdue"),
    ):
        resp = client.get(url, params)
        assert resp.status_code == 422, (url, params)
        assert "Content-Disposition" not in resp
        assert field in resp.content.decode()
    resp = api("owner").get("/api/v1/deals/export", {"status": "maybe"})
    assert resp.status_code == 422 and "status" in resp.json()["errors"]


def test_audit_records_the_export(records: Any, personas: Any, web: Any) -> None:
    from voronka.kernel.models import AuditEntry

    web("a1").get("/deals/export/", {"format": "xlsx", "status": "open"})
    entry = AuditEntry.objects.filter(action="export").latest("id")
    assert entry.actor_user_id == personas["a1"].pk
    assert entry.changes["entity"] == "deals" and entry.changes["format"] == "xlsx"
    assert entry.changes["filters"]["status"] == "open"


# --- the walk ---------------------------------------------------------------------------------------


def test_chunks_cover_every_row_once_in_order(
    many_deals: Any, records: Any, web: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voronka.deals.models import Deal
    from voronka.transfer import export

    client = web("owner")
    whole = ids(read_csv(body(client.get("/deals/export/", {"sort": "amount"}))))
    monkeypatch.setattr(export, "CHUNK", 2)
    chunked = ids(read_csv(body(client.get("/deals/export/", {"sort": "amount"}))))
    assert chunked == whole
    assert sorted(whole) == sorted(Deal.objects.values_list("pk", flat=True))


def test_queries_per_chunk_do_not_grow_with_rows(
    records: Any, many_deals: Any, web: Any, django_assert_max_num_queries: Any
) -> None:
    """One chunk costs the same few queries whatever its size (no query per row)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = web("owner")
    counts = []
    for params in ({"q": "Потолки"}, {}):
        with CaptureQueriesContext(connection) as ctx:
            rows = read_csv(body(client.get("/deals/export/", params)))
        counts.append((len(rows) - 1, len(ctx.captured_queries)))
    (few, q_few), (many, q_many) = counts
    assert many > few + 5
    assert q_many <= q_few + 1, counts


def test_csv_streams_before_the_last_row_is_read(
    many_deals: Any, web: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from voronka.transfer import export

    monkeypatch.setattr(export, "CHUNK", 2)
    resp = web("a1").get("/deals/export/", {"format": "csv"})
    assert resp.streaming
    pieces = iter(resp.streaming_content)
    with CaptureQueriesContext(connection) as ctx:
        header = next(pieces)
        first = next(pieces)
    assert header.startswith("\ufeff".encode()) and first.count(b"\r\n") == 2
    deal_reads = [q for q in ctx.captured_queries if 'FROM "deals_deal"' in q["sql"]]
    assert len(deal_reads) == 1  # one chunk read so far, not the list
    rest = b"".join(pieces)
    assert (first + rest).count(b"\r\n") == 5


# --- the CLI ----------------------------------------------------------------------------------------


def test_cli_exports_as_a_user_with_filters(
    many_deals: Any, records: Any, tmp_path: Any, personas: Any
) -> None:
    out = tmp_path / "deals.csv"
    call_command("voronka_export", "deals", "--as", "a1", "q=окна", "sort=title", "-o", str(out))
    rows = read_csv(out.read_bytes())
    assert column(rows, "Название") == ["Окна деревянные", "Окна пластиковые"]
    out = tmp_path / "all.xlsx"
    call_command("voronka_export", "deals", "--format", "xlsx", "-o", str(out))
    assert set(ids(read_xlsx(out.read_bytes()))) == oracle.visible_ids(personas["owner"].pk, "deal")
    out = tmp_path / "b1.csv"
    call_command("voronka_export", "contacts", "--as", "b1", "--delimiter", ",", "-o", str(out))
    assert ids(read_csv(out.read_bytes(), ",")) == [records["b1"].contact.pk]
    with pytest.raises(CommandError, match="status"):
        call_command("voronka_export", "deals", "status=maybe", "-o", str(out))
    with pytest.raises(CommandError, match="nobody"):
        call_command("voronka_export", "deals", "--as", "nobody", "-o", str(out))
    with pytest.raises(CommandError, match="name=value"):
        call_command("voronka_export", "deals", "status", "-o", str(out))


def test_export_open_as_each_kind_of_actor(records: Any, personas: Any) -> None:
    """The domain function answers as the services do (decision 0014): the system sees
    everything, a person (or their robot) their scope, an actor without an active user nothing."""
    from voronka.deals.models import Deal
    from voronka.kernel.actor import Actor, ActorKind
    from voronka.kernel.errors import ApplicationError, ValidationError
    from voronka.transfer import export

    def deal_ids(actor: Actor) -> set[int]:
        return {row[0] for row in export.export_open(actor=actor, entity="deals", params={}).rows()}

    assert deal_ids(Actor.system()) == set(Deal.objects.values_list("pk", flat=True))
    a1 = personas["a1"].user
    assert deal_ids(Actor.for_user(a1)) == {records["a1"].deal.pk}
    assert deal_ids(Actor(kind=ActorKind.AUTOMATION, user=a1)) == {records["a1"].deal.pk}
    for refused in (
        Actor.for_user(personas["deact"].user),
        Actor(kind=ActorKind.AUTOMATION, user=None),
    ):
        with pytest.raises(ApplicationError) as exc:
            export.export_open(actor=refused, entity="deals", params={})
        assert exc.value.status == 403
    with pytest.raises(ValidationError):
        export.export_open(actor=Actor.system(), entity="users", params={})


def test_a_big_xlsx_is_refused_online_and_still_made_by_the_cli(
    records: Any, web: Any, api: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    """An XLSX is written whole before its first byte leaves: over the web a list longer than
    XLSX_ONLINE_MAX_ROWS is a 422 naming `format` (not a download cut by the server's timeout);
    CSV of the same list streams, and the CLI makes the XLSX."""
    from voronka.transfer import export

    monkeypatch.setattr(export, "XLSX_ONLINE_MAX_ROWS", 1)
    resp = web("owner").get("/deals/export/", {"format": "xlsx"})
    assert resp.status_code == 422
    assert "CSV" in resp.content.decode()
    resp = api("owner").get("/api/v1/deals/export", {"format": "xlsx"})
    assert resp.status_code == 422 and "format" in resp.json()["errors"]
    assert web("owner").get("/deals/export/", {"format": "csv"}).status_code == 200
    out = tmp_path / "deals.xlsx"
    call_command("voronka_export", "deals", "--format", "xlsx", "--output", str(out))
    assert len(read_xlsx(out.read_bytes())) > 2
