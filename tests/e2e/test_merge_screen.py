"""The merge screen in Chromium, Russian and English, at 1440 px and 390 px (decision 0021): from a
company card "Объединить с…" finds the twin, the columns compare the two records with a radio per
differing field (on a phone the options stack under each field), the summary counts what moves,
confirming lands on the kept card with "Объединено. Отменить", and the undo brings the twin
back. The page never scrolls sideways; no JavaScript error. Screenshots go to
$VORONKA_DATA_DIR/screens (looked at by hand)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import OWNER_PASSWORD, login
from factories import make_company, make_contact, make_deal

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
TEXT = {
    "ru": {"with": "Объединить с…", "merged": "Объединено.", "undo": "Отменить", "deals": "Сделки"},
    "en": {"with": "Merge with…", "merged": "Merged.", "undo": "Undo", "deals": "Deals"},
}


def shot(page: Any, name: str) -> None:
    folder = Path(os.environ.get("VORONKA_DATA_DIR", "/tmp")) / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440", "390"])
def test_merge_screen(
    page: Any, owner: Any, pipeline: Any, size: dict[str, int], lang: str
) -> None:
    from voronka.contacts.models import Company

    owner.language = lang
    owner.save(update_fields=["language"])
    kept = make_company(
        responsible=owner,
        name="ООО Северный ветер",
        inn="7707083893",
        addresses=[{"kind": "legal", "text": "Москва, Тверская, 1"}],
    )
    twin = make_company(
        responsible=owner,
        name="Северный Ветер ООО",
        phone="+7 495 123-45-67",
        website="https://north.example.test",
        comment="Перезвонить в понедельник, спросить про склад на Арбате и про доставку",
        addresses=[{"kind": "actual", "text": "Москва, Арбат, 5, офис 12, вход со двора"}],
    )
    make_deal(responsible=owner, company=twin, title="Поставка", stage=pipeline.stages["new"])
    make_contact(responsible=owner, company=twin, first_name="Анна", last_name="Ветрова")
    t = TEXT[lang]
    tag = f"merge_{size['width']}_{lang}"

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size(size)
    login(page, owner.username, OWNER_PASSWORD)
    page.goto(f"{page.base}/companies/{kept.pk}/")
    page.click("[data-merge-with]")
    assert page.locator("[data-merge-with]").count() == 0  # on the merge screen now
    page.fill(".merge-search input[name=q]", "Северный")
    page.press(".merge-search input[name=q]", "Enter")
    page.click(f"[data-merge-candidate='{twin.pk}']")

    page.wait_for_selector("[data-merge-form]")
    assert page.locator(f"[data-merge-column='{kept.pk}'] .badge").count() == 1  # kept: first
    assert page.locator("[data-merge-field='name'] input[type=radio]").count() == 2
    summary = page.locator("[data-merge-summary]").inner_text()
    assert t["deals"] in summary
    assert page.evaluate(OVERFLOW_JS) <= 0
    shot(page, f"{tag}_screen")
    page.check(f"[data-merge-field='name'] input[value='{twin.pk}']")
    page.click("[data-merge-confirm]")

    page.wait_for_selector("[data-merge-banner]")
    assert t["merged"] in page.locator("[data-merge-banner]").inner_text()
    assert page.locator("h1").inner_text() == "Северный Ветер ООО"
    assert not Company.objects.filter(pk=twin.pk).exists()
    assert page.evaluate(OVERFLOW_JS) <= 0
    shot(page, f"{tag}_banner")

    page.click("[data-merge-undo]")
    page.wait_for_selector(".alert--success")
    assert Company.objects.filter(pk=twin.pk).exists()
    assert page.locator("h1").inner_text() == "ООО Северный ветер"

    page.goto(f"{page.base}/merges/?entity=company")
    assert page.locator("[data-merge-id]").count() == 1
    assert page.evaluate(OVERFLOW_JS) <= 0
    shot(page, f"{tag}_history")
    assert errors == []
