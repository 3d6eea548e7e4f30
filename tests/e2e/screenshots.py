"""Screenshots of the main screens in Russian and English (not a test; run by hand).

    VORONKA_DATA_DIR=/tmp/demo .venv/bin/voronka migrate && .venv/bin/voronka demo
    VORONKA_DATA_DIR=/tmp/demo .venv/bin/voronka runserver 127.0.0.1:8177 &
    .venv/bin/python tests/e2e/screenshots.py --base http://127.0.0.1:8177 --out /tmp/screens

Logs in as the demo owner, picks the first pipeline and its newest open deal, and writes
<screen>_<lang>.png (board, card, list, company, settings, modal, login) at 1440×900 with
Debian's Chromium (/usr/bin/chromium; Playwright never downloads a browser here). With
``--width 390`` the same screens as a phone shows them (844 px high, no drag modal), written as
<screen>_390_<lang>.png."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import pointer  # run as a script: tests/e2e is its first path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def login(page: Any, base: str, username: str, password: str, lang: str) -> None:
    page.goto(base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector(".sidebar", state="attached")  # a closed drawer on a phone
    page.click(f"button.lang-btn[value={lang}]")
    page.wait_for_load_state()


def drag(page: Any, source: str, target: str) -> None:
    pointer.drag(page, source, target, aim_y=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8177")
    parser.add_argument("--out", default="/tmp/screens")
    parser.add_argument("--user", default="owner")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--langs", default="ru,en")
    parser.add_argument("--width", type=int, default=1440)
    opts = parser.parse_args()
    size = {"width": opts.width, "height": 900 if opts.width >= 900 else 844}
    tag = "" if opts.width == 1440 else f"_{opts.width}"
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for lang in opts.langs.split(","):
            page = browser.new_page(viewport=size)
            login(page, opts.base, opts.user, opts.password, lang)
            board = page.url if "/board/" in page.url else None
            if board is None:
                page.goto(opts.base + "/")
                board = page.url
            page.wait_for_selector(".deal-card")
            page.wait_for_timeout(700)  # the navigation counters arrive by htmx
            page.screenshot(path=str(out / f"board{tag}_{lang}.png"))
            # The deal card: the first card of the last open column with cards (a deal well along).
            href = page.locator(".column--open .deal-card .deal-title").last.get_attribute("href")
            page.goto(opts.base + href)
            page.wait_for_timeout(700)  # the navigation counters arrive by htmx
            page.screenshot(path=str(out / f"card{tag}_{lang}.png"))
            page.goto(opts.base + "/deals/")
            page.wait_for_timeout(700)  # the navigation counters arrive by htmx
            page.screenshot(path=str(out / f"list{tag}_{lang}.png"))
            page.goto(opts.base + "/companies/")
            page.goto(
                opts.base
                + page.locator("#company-results .cell-title a").first.get_attribute("href")
            )
            page.wait_for_timeout(700)  # the navigation counters arrive by htmx
            page.screenshot(path=str(out / f"company{tag}_{lang}.png"))
            page.goto(opts.base + "/settings/pipelines/")
            page.wait_for_timeout(700)  # the navigation counters arrive by htmx
            page.screenshot(path=str(out / f"settings{tag}_{lang}.png"))
            # The required-fields modal: drag a card onto a column marked ✱ (a stage with required fields).
            page.goto(board)
            columns = page.locator(".column")
            for i in range(1, columns.count() if opts.width >= 900 else 0):
                if (
                    columns.nth(i).locator(".column-req").count()
                    and columns.nth(i - 1).locator(".deal-card").count()
                ):
                    card = (
                        columns.nth(i - 1).locator(".deal-card").first.get_attribute("data-deal-id")
                    )
                    stage = columns.nth(i).get_attribute("data-stage")
                    drag(
                        page,
                        f'.deal-card[data-deal-id="{card}"]',
                        f'.column-body[data-stage-id="{stage}"]',
                    )
                    page.wait_for_selector("#modal[open]")
                    page.wait_for_timeout(300)
                    page.wait_for_timeout(700)  # the navigation counters arrive by htmx
                    page.screenshot(path=str(out / f"modal{tag}_{lang}.png"))
                    page.click("#modal [data-modal-close]")
                    break
            page.close()
            anon = browser.new_page(viewport=size)
            anon.goto(opts.base + "/login/")
            if lang == "en":
                anon.click("button.lang-btn[value=en]")
                anon.wait_for_load_state()
            anon.screenshot(path=str(out / f"login{tag}_{lang}.png"))
            anon.close()
        browser.close()
    print(
        "\n".join(sorted(str(x) for x in out.glob("*.png") if re.search(r"_(ru|en)\.png$", x.name)))
    )


if __name__ == "__main__":
    main()
