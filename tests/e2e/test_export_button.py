"""The "Экспорт" button of the deal list (decision 0022) in a real browser, at 1440 and 390 px, in
Russian and English: the menu opens, CSV and Excel each start a download (a download event with
the file's name), and the file holds the list as filtered right now — including a filter
changed through htmx after the page loaded (app.js takes the address bar at the click)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from e2e.conftest import OWNER_PASSWORD, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
LABELS = {"ru": ("Экспорт", "Сделки", "Название"), "en": ("Export", "Deals", "Name")}
SHOTS = os.environ.get("VORONKA_SCREENSHOTS")  # a directory: also keep screenshots there


def _titles_csv(path: Path, header: str) -> list[str]:
    rows = list(
        csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline=""), delimiter=";")
    )
    index = rows[0].index(header)
    return [r[index] for r in rows[1:]]


def _titles_xlsx(path: Path, header: str) -> list[str]:
    rows = [[c.value for c in r] for r in load_workbook(path).active.iter_rows()]
    index = rows[0].index(header)
    return [r[index] for r in rows[1:]]


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_export_button_downloads_the_filtered_list(
    browser: Any, live_server: Any, owner: Any, records: Any, tmp_path: Path, size: str, lang: str
) -> None:
    owner.language = lang
    owner.save(update_fields=["language"])
    button, stem, header = LABELS[lang]
    context = browser.new_context(
        viewport=SIZES[size], locale="ru-RU" if lang == "ru" else "en-US", accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.base = live_server.url
    try:
        login(page, "owner", OWNER_PASSWORD)
        page.goto(page.base + f"/deals/?responsible={records['a1'].user.pk}")
        summary = page.locator(".export-menu > summary")
        assert summary.inner_text().strip().startswith(button)
        assert summary.is_visible()
        summary.click()
        csv_link = page.locator(".export-menu a[data-export-format=csv]")
        assert csv_link.is_visible()
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/export_menu_{size}_{lang}.png")
        with page.expect_download() as info:
            csv_link.click()
        download = info.value
        assert download.suggested_filename.startswith(f"{stem} ")
        assert download.suggested_filename.endswith(".csv")
        path = tmp_path / "deals.csv"
        download.save_as(path)
        assert _titles_csv(path, header) == ["Сделка a1"]

        # A filter changed through htmx (no page load): the export follows it.
        page.goto(page.base + "/deals/")
        page.wait_for_load_state("networkidle")
        if size == "phone":  # the filters hide behind their toggle on a phone
            page.locator("#deal-filters .filters-toggle").click()
        b1 = str(records["b1"].user.pk)
        page.select_option("#deal-filters select[name=responsible]", b1)
        page.wait_for_url(f"**responsible={b1}**")
        page.wait_for_load_state("networkidle")
        page.locator(".export-menu > summary").click()
        with page.expect_download() as info:
            page.locator(".export-menu a[data-export-format=xlsx]").click()
        download = info.value
        assert download.suggested_filename.endswith(".xlsx")
        path = tmp_path / "deals.xlsx"
        download.save_as(path)
        assert _titles_xlsx(path, header) == ["Сделка b1"]
    finally:
        context.close()
