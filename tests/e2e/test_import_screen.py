"""Import in Chromium at 1440 px and 390 px, in Russian and English: the list's "Импорт" button →
upload a Bitrix24-format file → the mapping screen filled in automatically (one column set to
"create a custom field") → the progress screen (htmx polls it while the job runs) → the result
with the error report. The page never scrolls sideways on a phone; no JavaScript error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import OWNER_PASSWORD, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
SHOTS = Path("/tmp/import_shots")
FILE = (
    '"NAME";"LAST_NAME";"PHONE_MOBILE";"EMAIL_WORK";"UF_CRM_CONTRACT";"COMMENTS";\n'
    '"Анна";"Иванова";"+7 999 111-22-33";"anna@example.com";"Д-17";"Постоянный клиент";\n'
    '"Пётр";"Петров";"8 (999) 111-22-34";"";"Д-18";"";\n'
    '"";"Безымянный";"";"";"";"";\n'
)
TEXT = {
    "ru": {"button": "Импорт", "upload": "Загрузить", "run": "Импортировать", "done": "Готово"},
    "en": {"button": "Import", "upload": "Upload", "run": "Import", "done": "Done"},
}


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440", "390"])
def test_import_upload_mapping_progress_result(
    page: Any, owner: Any, size: dict[str, int], lang: str
) -> None:
    from voronka.contacts.models import Contact
    from voronka.kernel.models import CustomField
    from voronka.transfer.models import ImportJob
    from voronka.transfer.services import import_run

    owner.language = lang
    owner.save(update_fields=["language"])
    text = TEXT[lang]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size(size)
    login(page, owner.username, OWNER_PASSWORD)
    page.goto(page.base + "/contacts/")
    button = page.locator("#import-button")
    assert button.inner_text().strip() == text["button"]
    button.click()
    page.wait_for_selector("#import-upload")
    page.set_input_files(
        "input[name=file]",
        {"name": "bitrix24.csv", "mimeType": "text/csv", "buffer": FILE.encode()},
    )
    tag = f"{size['width']}_{lang}"
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"upload_{tag}.png"), full_page=True)
    page.get_by_role("button", name=text["upload"]).click()

    page.wait_for_selector("#import-mapping")
    assert page.locator("select[name=col0]").input_value() == "first_name"
    assert page.locator("select[name=col2]").input_value() == "phone"
    assert page.locator("select[name=col4]").input_value() == "skip"
    assert page.locator("input[name=name4]").is_hidden()
    page.select_option("select[name=col4]", "new_custom")
    assert page.locator("input[name=name4]").is_visible()
    page.fill("input[name=name4]", "Договор")
    assert page.evaluate(OVERFLOW_JS) <= 0
    page.screenshot(path=str(SHOTS / f"mapping_{tag}.png"), full_page=True)
    page.locator("#import-run").click()

    page.wait_for_selector("#import-progress")
    job = ImportJob.objects.get()
    assert job.status == "queued"
    page.screenshot(path=str(SHOTS / f"progress_{tag}.png"), full_page=True)
    import_run(job_id=job.pk)  # what the worker does (tests/transfer/test_import_worker.py)
    page.wait_for_selector("#import-errors", timeout=10000)  # the poll brought the result
    assert page.locator("#import-created").inner_text() == "2"
    assert page.locator("#import-failed").inner_text() == "1"
    assert text["done"] in page.locator("#import-status h2").inner_text()
    assert page.locator("#import-errors-csv").is_visible()
    assert page.evaluate(OVERFLOW_JS) <= 0
    page.screenshot(path=str(SHOTS / f"result_{tag}.png"), full_page=True)
    field = CustomField.objects.get(entity="contact", name="Договор")
    assert Contact.objects.get(first_name="Анна").custom == {field.key: "Д-17"}
    with page.expect_download() as download:
        page.locator("#import-errors-csv").click()
    assert download.value.suggested_filename == f"import-{job.pk}-errors.csv"
    assert errors == []
