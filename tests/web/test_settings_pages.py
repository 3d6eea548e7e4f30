"""Settings (role flag can_configure): pipelines, stages (add, rename, reorder, semantic, colour,
SLA, required fields), custom fields (add, deactivate). Everyone else gets 403."""

from __future__ import annotations

from typing import Any

import pytest

from web.test_settings_save_all import form_of

pytestmark = pytest.mark.django_db

PAGES = ["/settings/pipelines/", "/settings/fields/"]


@pytest.mark.parametrize("who", ["a1", "head_a"])
def test_settings_are_403_without_can_configure(web: Any, pipeline: Any, who: str) -> None:
    client = web(who)
    for url in [*PAGES, f"/settings/pipelines/{pipeline.sales.pk}/"]:
        assert client.get(url).status_code == 403, url
    assert client.post("/settings/pipelines/", {"name": "Чужая"}).status_code == 403
    html = client.get("/deals/").content.decode()
    assert "/settings/pipelines/" not in html  # no menu entry either


def test_owner_sees_settings_and_menu(web: Any, pipeline: Any) -> None:
    client = web("owner")
    for url in [*PAGES, f"/settings/pipelines/{pipeline.sales.pk}/"]:
        assert client.get(url).status_code == 200, url
    assert "/settings/pipelines/" in client.get("/deals/").content.decode()


def test_create_and_rename_pipeline(web: Any, pipeline: Any) -> None:
    from voronka.deals.models import Pipeline

    client = web("owner")
    resp = client.post("/settings/pipelines/", {"name": "Повторные продажи"})
    assert resp.status_code == 302
    new = Pipeline.objects.get(name="Повторные продажи")
    assert new.stages.count() == 4
    resp = client.post(f"/settings/pipelines/{new.pk}/", {"pipeline_name": "Повторные"})
    assert resp.status_code == 302
    new.refresh_from_db()
    assert new.name == "Повторные"
    assert client.post("/settings/pipelines/", {"name": ""}).status_code == 422


def test_add_stage_with_sla_colour_and_required_fields(web: Any, pipeline: Any) -> None:
    client = web("owner")
    resp = client.post(
        f"/settings/pipelines/{pipeline.sales.pk}/",
        {
            "new-name": "Счёт выставлен",
            "new-semantic": "open",
            "new-color": "#A855F7",
            "new-sla_days": "4",
            "new-required_fields__present": "1",
            "new-required_fields": ["amount", "contract_no"],
            "add": "1",
        },
    )
    assert resp.status_code == 302
    stage = pipeline.sales.stages.get(name="Счёт выставлен")
    assert (stage.color, stage.sla_days, stage.required_fields) == (
        "#a855f7",
        4,
        ["amount", "contract_no"],
    )
    html = client.get(f"/settings/pipelines/{pipeline.sales.pk}/").content.decode()
    assert "Счёт выставлен" in html


def test_edit_stage_and_clear_required_fields(web: Any, pipeline: Any) -> None:
    stage = pipeline.stages["contract"]
    client = web("owner")
    data = form_of(client, pipeline.sales)
    data.update(
        {
            f"s{stage.pk}-name": "Договор подписан",
            f"s{stage.pk}-color": "#0ea5e9",
            f"s{stage.pk}-sla_days": "",
        }
    )
    data.pop(f"s{stage.pk}-required_fields", None)  # every box unticked
    resp = client.post(f"/settings/pipelines/{pipeline.sales.pk}/", data)
    assert resp.status_code == 302
    stage.refresh_from_db()
    assert (
        stage.name == "Договор подписан" and stage.required_fields == [] and stage.sla_days is None
    )


def test_bad_stage_input_is_422(web: Any, pipeline: Any, nothing_written: Any) -> None:
    stage = pipeline.stages["talks"]
    client = web("owner")
    data = form_of(client, pipeline.sales)
    data.update(
        {f"s{stage.pk}-name": "X", f"s{stage.pk}-color": "red", f"s{stage.pk}-sla_days": "-1"}
    )
    with nothing_written():
        resp = client.post(f"/settings/pipelines/{pipeline.sales.pk}/", data)
    assert resp.status_code == 422
    assert "alert--error" in resp.content.decode()


def test_reorder_by_drag_and_by_buttons(web: Any, pipeline: Any) -> None:
    """Drag reorders the rows on the page and Save stores the order; ▲/▼ without JavaScript
    submit the form with the move (decision 0009)."""
    client = web("owner")
    ids = [s.pk for s in pipeline.sales.stages.order_by("sort", "id")]
    new_order = [ids[1], ids[0], *ids[2:]]
    data = form_of(client, pipeline.sales)
    resp = client.post(
        f"/settings/pipelines/{pipeline.sales.pk}/", {**data, "stage": [str(x) for x in new_order]}
    )
    assert resp.status_code == 302
    assert [s.pk for s in pipeline.sales.stages.order_by("sort", "id")] == new_order
    data = form_of(client, pipeline.sales)
    resp = client.post(
        f"/settings/pipelines/{pipeline.sales.pk}/", {**data, "move": f"{ids[0]}:up"}
    )
    assert resp.status_code == 302
    assert [s.pk for s in pipeline.sales.stages.order_by("sort", "id")] == ids


def test_add_and_deactivate_custom_field(web: Any, pipeline: Any) -> None:
    from voronka.kernel.models import CustomField

    client = web("owner")
    resp = client.post(
        "/settings/fields/",
        {
            "entity": "deal",
            "key": "delivery_zone",
            "name": "Зона доставки",
            "type": "list",
            "choices": "Центр\nОбласть\n",
        },
    )
    assert resp.status_code == 302
    field = CustomField.objects.get(key="delivery_zone")
    assert field.choices == ["Центр", "Область"]
    resp = client.post(
        "/settings/fields/", {"entity": "deal", "key": "Bad Key", "name": "x", "type": "string"}
    )
    assert resp.status_code == 422
    resp = client.post(f"/settings/fields/{field.pk}/toggle/")
    assert resp.status_code == 302
    field.refresh_from_db()
    assert field.is_active is False
    assert "Зона доставки" in client.get("/settings/fields/", {"entity": "deal"}).content.decode()
