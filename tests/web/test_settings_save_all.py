"""Issue 7 item 15 — the pipeline settings are one form (decision 0009): one Save keeps the edits
of every row (the old per-row Save lost the others'), a refusal of any row writes nothing and
shows every row's error and typed values, and a row someone else saved meanwhile is a conflict
for that row only if this user changed it too."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from factories import system

pytestmark = pytest.mark.django_db


class _Form(HTMLParser):
    """The fields a browser would submit from the form #pipeline-settings (no button)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.select: str | None = None
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "pipeline-settings":
            self.inside = True
        if not self.inside or "name" not in a and tag != "option":
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind == "checkbox" and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and self.select and "selected" in a:
            self.fields.append((self.select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None
        if tag == "form":
            self.inside = False


def _row(html: str, pk: int) -> str:
    """The HTML of one stage row (up to the next row)."""
    rest = html.split(f'id="stage-row-{pk}"', 1)[1]
    return rest.split('id="stage-row-', 1)[0].split('id="stage-create"', 1)[0]


def form_of(client: Any, pipeline: Any) -> dict[str, Any]:
    """GET the page and read its form as a browser would (lists for repeated names)."""
    parser = _Form()
    resp = client.get(f"/settings/pipelines/{pipeline.pk}/")
    assert resp.status_code == 200
    parser.feed(resp.content.decode())
    data: dict[str, Any] = {}
    for name, value in parser.fields:
        if name in data:
            data[name] = [*(data[name] if isinstance(data[name], list) else [data[name]]), value]
        else:
            data[name] = value
    for name in list(data):  # multi-value fields always as lists
        if name.endswith("required_fields") or name == "stage":
            data[name] = data[name] if isinstance(data[name], list) else [data[name]]
    return data


def test_one_save_keeps_the_edits_of_every_row(web: Any, pipeline: Any) -> None:
    from voronka.kernel.models import AuditEntry

    st = pipeline.stages
    client = web("owner")
    data = form_of(client, pipeline.sales)
    assert data["stage"] == [str(s.pk) for s in pipeline.sales.stages.all()]
    data["pipeline_name"] = "Продажа B2B"
    data[f"s{st['new'].pk}-name"] = "Входящая заявка"
    data[f"s{st['talks'].pk}-sla_days"] = "4"
    data[f"s{st['contract'].pk}-color"] = "#0EA5E9"
    data[f"s{st['contract'].pk}-required_fields"] = ["contract_no", "amount"]
    data[f"s{st['won'].pk}-name"] = "Оплачено"
    audits = AuditEntry.objects.count()
    resp = client.post(f"/settings/pipelines/{pipeline.sales.pk}/", {**data, "save": "1"})
    assert resp.status_code == 302
    for s in st.values():
        s.refresh_from_db()
    pipeline.sales.refresh_from_db()
    assert pipeline.sales.name == "Продажа B2B"
    assert st["new"].name == "Входящая заявка"
    assert st["talks"].sla_days == 4
    assert st["contract"].color == "#0ea5e9"
    assert st["contract"].required_fields == ["contract_no", "amount"]
    assert st["won"].name == "Оплачено"
    # One audit row per changed record (pipeline + 4 stages), none for the untouched ones.
    assert AuditEntry.objects.count() - audits == 5


def test_every_stage_field_belongs_to_the_one_form(web: Any, pipeline: Any) -> None:
    """What lost edits before: each row was its own form with its own Save. Now every stage
    field is inside #pipeline-settings and there is no other form on the stage rows."""
    html = web("owner").get(f"/settings/pipelines/{pipeline.sales.pk}/").content.decode()
    body = html.split('id="pipeline-settings"', 1)[1].split("</form>", 1)[0]
    assert "<form" not in body and ' form="' not in body
    for s in pipeline.sales.stages.all():
        assert f'name="s{s.pk}-name"' in body and f'id="stage-row-{s.pk}"' in body
    assert body.count('id="settings-save"') == 1 and "Сохранить изменения" in body


def test_a_refused_row_writes_nothing_and_every_row_keeps_its_typing(
    web: Any, pipeline: Any, nothing_written: Any
) -> None:
    st = pipeline.stages
    client = web("owner")
    data = form_of(client, pipeline.sales)
    data[f"s{st['new'].pk}-name"] = "Входящая заявка"
    data[f"s{st['talks'].pk}-color"] = "red"
    data[f"s{st['contract'].pk}-sla_days"] = "-3"
    data["new-name"] = "Счёт выставлен"
    with nothing_written():
        resp = client.post(f"/settings/pipelines/{pipeline.sales.pk}/", data)
    assert resp.status_code == 422
    html = resp.content.decode()
    assert 'value="Входящая заявка"' in html and 'value="Счёт выставлен"' in html
    talks, contract = _row(html, st["talks"].pk), _row(html, st["contract"].pk)
    assert "#RRGGBB" in talks and "stage-row-errors" in talks
    assert "3650" in contract
    st["new"].refresh_from_db()
    assert st["new"].name != "Входящая заявка"


def test_semantic_of_a_stage_with_deals_is_refused_with_the_rest(
    web: Any, pipeline: Any, records: Any, nothing_written: Any
) -> None:
    st = pipeline.stages  # records put a deal of each persona in "new"
    client = web("owner")
    data = form_of(client, pipeline.sales)
    data[f"s{st['new'].pk}-semantic"] = "won"
    data[f"s{st['talks'].pk}-name"] = "Переговоры+"
    with nothing_written():
        resp = client.post(f"/settings/pipelines/{pipeline.sales.pk}/", data)
    assert resp.status_code == 422
    assert "семантику менять нельзя" in _row(resp.content.decode(), st["new"].pk)


def test_a_row_changed_meanwhile_is_a_conflict_only_if_edited_here_too(
    web: Any, pipeline: Any
) -> None:
    from voronka.deals.services import stage_update

    st = pipeline.stages
    client = web("owner")
    data = form_of(client, pipeline.sales)
    # Another admin saves two rows after this form was opened.
    stage_update(stage=st["talks"], actor=system(), data={"name": "Переговоры (Петров)"})
    stage_update(stage=st["won"], actor=system(), data={"sla_days": 1})
    # This user edits "talks" (conflict) and "contract" (fine), not "won".
    data[f"s{st['talks'].pk}-name"] = "Переговоры (мои)"
    data[f"s{st['contract'].pk}-sla_days"] = "9"
    resp = client.post(f"/settings/pipelines/{pipeline.sales.pk}/", data)
    assert resp.status_code == 409
    html = resp.content.decode()
    talks = _row(html, st["talks"].pk)
    assert "is-conflict" in html and 'value="Переговоры (Петров)"' in talks  # theirs shown
    assert "Переговоры (мои)" in talks  # and what this user typed, to re-apply
    st["contract"].refresh_from_db()
    assert st["contract"].sla_days != 9  # nothing half written
    # Saving again (their row as shown now) keeps both users' work.
    data = form_of(client, pipeline.sales)
    data[f"s{st['contract'].pk}-sla_days"] = "9"
    assert client.post(f"/settings/pipelines/{pipeline.sales.pk}/", data).status_code == 302
    for s in st.values():
        s.refresh_from_db()
    assert st["talks"].name == "Переговоры (Петров)" and st["won"].sla_days == 1
    assert st["contract"].sla_days == 9


def test_untouched_rows_do_not_overwrite_changes_made_meanwhile(web: Any, pipeline: Any) -> None:
    from voronka.deals.services import pipeline_rename, stage_update, stages_reorder

    st = pipeline.stages
    client = web("owner")
    data = form_of(client, pipeline.sales)
    stage_update(stage=st["lost"], actor=system(), data={"color": "#000000"})
    ids = [s.pk for s in pipeline.sales.stages.all()]
    stages_reorder(pipeline=pipeline.sales, actor=system(), order=[ids[1], ids[0], *ids[2:]])
    pipeline_rename(pipeline=pipeline.sales, actor=system(), name="Продажа (новое имя)")
    data[f"s{st['new'].pk}-sla_days"] = "2"
    assert client.post(f"/settings/pipelines/{pipeline.sales.pk}/", data).status_code == 302
    st["lost"].refresh_from_db()
    pipeline.sales.refresh_from_db()
    assert st["lost"].color == "#000000"
    assert [s.pk for s in pipeline.sales.stages.all()][:2] == [ids[1], ids[0]]
    assert pipeline.sales.name == "Продажа (новое имя)"


def test_order_add_and_delete_are_saved_with_the_edits(web: Any, pipeline: Any) -> None:
    other = pipeline.other
    ost = pipeline.other_stages
    client = web("owner")
    data = form_of(client, other)
    ids = [int(x) for x in data["stage"]]
    data["stage"] = [str(ids[1]), str(ids[0]), *map(str, ids[2:])]  # dragged
    data[f"s{ost['call'].pk}-name"] = "Звонок состоялся"
    data["new-name"] = "Перезвонить позже"
    data["new-sla_days"] = "2"
    data["delete"] = str(ost["empty"].pk)  # ✕ on the empty stage
    resp = client.post(f"/settings/pipelines/{other.pk}/", data)
    assert resp.status_code == 302
    names = [s.name for s in other.stages.all()]
    assert "Звонок состоялся" in names and "Перезвонить позже" in names
    assert not other.stages.filter(pk=ost["empty"].pk).exists()
    assert [s.pk for s in other.stages.all()][:2] == [ids[1], ids[0]]


def test_move_buttons_without_javascript_save_the_edits_too(web: Any, pipeline: Any) -> None:
    st = pipeline.stages
    client = web("owner")
    data = form_of(client, pipeline.sales)
    data[f"s{st['talks'].pk}-sla_days"] = "6"
    resp = client.post(
        f"/settings/pipelines/{pipeline.sales.pk}/", {**data, "move": f"{st['talks'].pk}:up"}
    )
    assert resp.status_code == 302
    order = [s.pk for s in pipeline.sales.stages.all()]
    assert order.index(st["talks"].pk) < order.index(st["new"].pk)
    st["talks"].refresh_from_db()
    assert st["talks"].sla_days == 6


def test_add_with_an_empty_name_says_so(web: Any, pipeline: Any, nothing_written: Any) -> None:
    client = web("owner")
    data = form_of(client, pipeline.sales)
    with nothing_written():
        resp = client.post(f"/settings/pipelines/{pipeline.sales.pk}/", {**data, "add": "1"})
    assert resp.status_code == 422
    assert "stage-row-errors" in resp.content.decode().split('id="stage-create"', 1)[1]


def test_settings_form_is_for_configurers_only(web: Any, pipeline: Any) -> None:
    data = form_of(web("owner"), pipeline.sales)
    data["pipeline_name"] = "Чужая"
    assert web("head_a").post(f"/settings/pipelines/{pipeline.sales.pk}/", data).status_code == 403
    pipeline.sales.refresh_from_db()
    assert pipeline.sales.name != "Чужая"
