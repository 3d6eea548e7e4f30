"""Every screen on a phone (390×844) and on a desktop (1440×900), in Russian and in English:
the page never scrolls sideways (the board and wide tables scroll inside their own box), no
text runs out of the window or out of a box that clips it, the header keeps the language switch
and "Log out" in reach, and the navigation is there — in the sidebar on a desktop, in a drawer
behind the header's menu button on a phone (aria-expanded, focus in and back, Escape, a tap
outside, its links work). Then the details the first users tripped on: the deal list shows its
last column at 1440 px; the sidebar's dark column runs the whole height of a long page; the
deal card's stage bar names the current stage on a phone; My day is one column on a phone.

Negative control: the same checks run against the stylesheet with its mobile block cut out
(served in place of app.css) and must report the old defects."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "e2e-owner-1234"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
APP_CSS = Path(__file__).resolve().parents[2] / "src/voronka/web/static/web/app.css"
MOBILE_BLOCK = re.compile(
    r"/\* === Mobile and narrow windows.*?/\* === end of the mobile block.*?\*/", re.S
)

# Text that sticks out of the window, or out of a box that clips it (overflow hidden/clip without
# an ellipsis), is "cut off". Text inside a box that scrolls sideways (the board, a wide table,
# the stage bar on a phone) is reachable by scrolling that box and is not counted; hidden
# elements (display: none, visibility: hidden — the closed drawer, aria-hidden, 1-px "visually
# hidden" text) are not counted either.
CUT_OFF_JS = """
() => {
  const W = document.documentElement.clientWidth;
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    if (!text) continue;
    const el = node.parentElement;
    if (!el || el.closest("script, style, template, noscript, select, option, dialog:not([open])")) continue;
    if (getComputedStyle(el).visibility !== "visible" || el.closest("[aria-hidden=true]")) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 && box.height <= 1) continue;  // visually hidden (screen readers only)
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
    if (!rects.length) continue;
    const left = Math.min(...rects.map((r) => r.left));
    const right = Math.max(...rects.map((r) => r.right));
    let scrolls = false;
    let clipped = false;
    for (let box = el; box && box !== document.body; box = box.parentElement) {
      const st = getComputedStyle(box);
      if (st.overflowX === "auto" || st.overflowX === "scroll") { scrolls = true; break; }
      if ((st.overflowX === "hidden" || st.overflowX === "clip") && st.textOverflow !== "ellipsis") {
        const b = box.getBoundingClientRect();
        if (right > b.right + 1 || left < b.left - 1) { clipped = true; break; }
      }
    }
    if (scrolls) continue;
    if (clipped || right > W + 1 || left < -1) found.push(text.slice(0, 40));
  }
  return found;
}
"""

IN_VIEW_JS = """
(el) => {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && r.left >= -1 && r.right <= document.documentElement.clientWidth + 1
    && getComputedStyle(el).visibility === "visible";
}
"""


@pytest.fixture
def owner(personas: Any, pipeline: Any, records: Any) -> Any:
    user = personas["owner"].user
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def long_names(owner: Any, records: Any) -> Any:
    """Names as long as real ones (the demo's): the list and the stage bar must hold them."""
    from factories import make_company, make_deal, make_task
    from voronka.deals.services import pipeline_create
    from voronka.kernel.actor import Actor

    actor = Actor.system()
    wholesale = pipeline_create(
        actor=actor,
        name="Оптовые продажи",
        stages=[
            {"name": "Новое обращение", "semantic": "open", "sla_days": 2},
            {"name": "Выявление потребности", "semantic": "open", "sla_days": 5},
            {"name": "Коммерческое предложение", "semantic": "open", "sla_days": 5},
            {"name": "Оформление заказа", "semantic": "open", "sla_days": 3},
            {"name": "Оплата и доставка", "semantic": "open", "sla_days": 7},
            {"name": "Успешно", "semantic": "won", "color": "#16a34a"},
            {"name": "Отказ", "semantic": "lost", "color": "#dc2626"},
        ],
    )
    stages = list(wholesale.stages.order_by("sort"))
    manager = records["a1"].user
    deals = []
    for i, client in enumerate(
        [
            "ООО «Консалтинг Экспресс Северо-Запад»",
            "ИП Григорьева Александра Владимировна",
            "Семья Константинопольских",
        ]
    ):
        company = make_company(responsible=manager, name=client)
        deal = make_deal(
            responsible=manager,
            company=company,
            title=f"Абонемент на воду и аренда кулеров — {client}",
            stage=stages[1 + i],
            amount=Decimal("1260000"),
        )
        if i == 0:
            make_task(responsible=manager, deal=deal, days=2)
        deals.append(deal)
    return {"pipeline": wholesale, "deals": deals, "stages": stages}


def screens(pipeline: Any, long_names: Any) -> list[str]:
    """Every screen of the product, as test_screens.py lists them (plus edit forms, search)."""
    from voronka.activities.models import Task
    from voronka.contacts.models import Company, Contact
    from voronka.deals.models import Deal

    deal = Deal.objects.order_by("pk").first()
    company = Company.objects.order_by("pk").first()
    contact = Contact.objects.order_by("pk").first()
    task = Task.objects.order_by("pk").first()
    return [
        f"/pipelines/{pipeline.sales.pk}/board/",
        f"/pipelines/{long_names['pipeline'].pk}/board/",
        "/deals/",
        "/deals/new/",
        f"/deals/{deal.pk}/",
        f"/deals/{deal.pk}/?edit=1",
        f"/deals/{long_names['deals'][1].pk}/",
        "/companies/",
        "/companies/new/",
        f"/companies/{company.pk}/",
        f"/companies/{company.pk}/edit/",
        "/contacts/",
        "/contacts/new/",
        f"/contacts/{contact.pk}/",
        f"/contacts/{contact.pk}/edit/",
        "/duplicates/",
        "/duplicates/?entity=company&status=dismissed",
        "/tasks/",
        "/tasks/list/",
        "/tasks/calendar/",
        "/tasks/new/",
        f"/tasks/{task.pk}/",
        "/control/",
        "/notifications/",
        "/settings/pipelines/",
        f"/settings/pipelines/{pipeline.sales.pk}/",
        "/settings/fields/",
        "/account/2fa/",
        "/search/?q=%D0%9E%D0%9E%D0%9E",
    ]


def new_page(browser: Any, live_server: Any, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(15000)
    page.base = live_server.url
    return page


def open_screen(page: Any, path: str) -> int:
    response = page.goto(page.base + path)
    page.wait_for_selector("h1, .auth-card")
    page.wait_for_load_state("networkidle")  # the navigation counters arrive by htmx
    return response.status


def layout_problems(page: Any) -> list[str]:
    """What is wrong with the page as laid out now (empty when nothing is)."""
    problems = []
    width = page.viewport_size["width"]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        problems.append(f"page is {scroll_width}px wide")
    cut = page.evaluate(CUT_OFF_JS)
    if cut:
        problems.append(f"text cut off: {cut[:6]}")
    return problems


def header_problems(page: Any) -> list[str]:
    """The language switch and "Log out" are in the header, whole and inside the window."""
    problems = []
    for name, selector in {
        "language switch": ".topbar form.lang",
        "logout": ".topbar form[action$='/logout/'] button",
        "search": ".topbar .search input",
        "notifications": ".topbar .bell",
    }.items():
        el = page.locator(selector)
        if el.count() != 1 or not el.is_visible() or not el.evaluate(IN_VIEW_JS):
            problems.append(f"{name} not in reach")
    return problems


def drawer_problems(page: Any) -> list[str]:
    """Phone: the sidebar is hidden; the menu button opens it as a drawer (aria-expanded, focus
    inside, a link in the window), Escape closes it and gives focus back to the button."""
    problems = []
    button = page.locator(".topbar [data-drawer-toggle]")
    link = page.locator("#sidebar .nav-link").first
    if not button.is_visible() or not button.evaluate(IN_VIEW_JS):
        return ["no menu button in the header"]
    if link.is_visible():
        return ["the sidebar shows without being opened"]
    if button.get_attribute("aria-expanded") != "false":
        problems.append("menu button: aria-expanded is not false")
    button.click()
    try:
        link.wait_for(state="visible", timeout=3000)
    except PlaywrightTimeout:
        return [*problems, "the menu button does not open the drawer"]
    page.wait_for_timeout(250)  # the slide-in
    if button.get_attribute("aria-expanded") != "true":
        problems.append("menu button: aria-expanded is not true when open")
    if not link.evaluate(IN_VIEW_JS):
        problems.append("a drawer link is outside the window")
    if not page.evaluate("!!document.activeElement.closest('#sidebar')"):
        problems.append("focus did not move into the drawer")
    page.keyboard.press("Escape")
    try:
        link.wait_for(state="hidden", timeout=3000)
    except PlaywrightTimeout:
        return [*problems, "Escape does not close the drawer"]
    if button.get_attribute("aria-expanded") != "false":
        problems.append("Escape: aria-expanded is not false")
    if not page.evaluate("document.activeElement.matches('[data-drawer-toggle]')"):
        problems.append("Escape: focus did not return to the menu button")
    return problems


def sidebar_problems(page: Any) -> list[str]:
    """Desktop: no menu button; the sidebar's links are on screen."""
    problems = []
    if page.locator(".topbar [data-drawer-toggle]").is_visible():
        problems.append("menu button shown on a desktop")
    if not page.locator("#sidebar .nav-link").first.is_visible():
        problems.append("sidebar links not visible")
    return problems


def switch_language(page: Any, lang: str) -> None:
    if lang == "en":
        page.locator("button.lang-btn[value=en]").click()
        page.wait_for_load_state()


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1440"])
def test_every_screen_fits_and_keeps_its_navigation(
    browser: Any,
    live_server: Any,
    owner: Any,
    pipeline: Any,
    long_names: Any,
    viewport: dict[str, int],
    lang: str,
) -> None:
    page = new_page(browser, live_server, viewport)
    phone = viewport["width"] < 900
    problems: dict[str, list[str]] = {}

    open_screen(page, "/login/")
    switch_language(page, lang)
    found = layout_problems(page)
    if not page.locator(".auth-card form.lang").evaluate(IN_VIEW_JS):
        found.append("language switch not in reach")
    if found:
        problems["/login/"] = found

    login(page, owner.username, PASSWORD)
    assert page.locator("html").get_attribute("lang") == lang
    for path in screens(pipeline, long_names):
        status = open_screen(page, path)
        found = [] if status == 200 else [f"HTTP {status}"]
        found += layout_problems(page)
        found += header_problems(page)
        found += drawer_problems(page) if phone else sidebar_problems(page)
        if found:
            problems[path] = found
    page.context.close()
    assert problems == {}


def test_drawer_closes_on_a_tap_outside_and_its_links_navigate(
    browser: Any, live_server: Any, owner: Any
) -> None:
    page = new_page(browser, live_server, PHONE)
    login(page, owner.username, PASSWORD)
    open_screen(page, "/deals/")
    button = page.locator("[data-drawer-toggle]")
    drawer_link = page.locator("#sidebar .nav-link[href='/companies/']")
    button.click()
    drawer_link.wait_for(state="visible")
    page.mouse.click(PHONE["width"] - 15, PHONE["height"] // 2)  # the page behind, dimmed
    drawer_link.wait_for(state="hidden")
    assert button.get_attribute("aria-expanded") == "false"
    assert page.url.endswith("/deals/")  # the tap closed the drawer and did nothing else
    # The page behind is inert while the drawer is open; the close button closes it too.
    button.click()
    drawer_link.wait_for(state="visible")
    assert page.evaluate("document.querySelector('.shell > .main').inert") is True
    page.locator("#sidebar [data-drawer-close]").click()
    drawer_link.wait_for(state="hidden")
    assert page.evaluate("document.querySelector('.shell > .main').inert") is False
    # A link in the drawer navigates; the next page starts with the drawer closed.
    button.click()
    drawer_link.click()
    page.wait_for_url("**/companies/")
    page.wait_for_selector("h1")
    assert page.locator("#sidebar .nav-link").first.is_hidden()
    assert page.locator("[data-drawer-toggle]").get_attribute("aria-expanded") == "false"
    # The header's language switch works from a phone.
    page.locator(".topbar button.lang-btn[value=en]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    page.context.close()


def deal_list_last_column(page: Any) -> dict[str, float]:
    return page.evaluate(
        """() => {
          const wrap = document.querySelector("#deal-results .table-wrap");
          const last = [...document.querySelectorAll("#deal-table thead th")].pop();
          return {scroll: wrap.scrollWidth, client: wrap.clientWidth,
                  right: last.getBoundingClientRect().right, edge: wrap.getBoundingClientRect().right};
        }"""
    )


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_deal_list_shows_its_last_column_at_1440(
    browser: Any, live_server: Any, owner: Any, long_names: Any, lang: str
) -> None:
    page = new_page(browser, live_server, DESKTOP)
    login(page, owner.username, PASSWORD)
    switch_language(page, lang)
    open_screen(page, "/deals/")
    m = deal_list_last_column(page)
    assert m["scroll"] <= m["client"], m  # nothing to scroll to
    assert m["right"] <= m["edge"] + 1, m
    assert page.locator("#deal-table thead th").last.is_visible()
    page.context.close()


def bottom_left_pixel_is_dark(page: Any, png: bytes) -> bool:
    """Decode a screenshot in the browser (no imaging library here) and read one pixel."""
    data = base64.b64encode(png).decode()
    scratch = page.context.new_page()
    rgb = scratch.evaluate(
        """async (src) => {
          const img = new Image();
          img.src = src;
          await img.decode();
          const c = document.createElement("canvas");
          c.width = img.width; c.height = img.height;
          const ctx = c.getContext("2d");
          ctx.drawImage(img, 0, 0);
          return [...ctx.getImageData(20, img.height - 4, 1, 1).data].slice(0, 3);
        }""",
        f"data:image/png;base64,{data}",
    )
    scratch.close()
    return sum(rgb) < 3 * 80


def test_sidebar_column_runs_the_whole_height_of_a_long_page(
    browser: Any, live_server: Any, owner: Any, long_names: Any
) -> None:
    page = new_page(browser, live_server, {"width": 1440, "height": 420})
    login(page, owner.username, PASSWORD)
    open_screen(page, "/deals/")
    assert page.evaluate("document.documentElement.scrollHeight") > 420 * 1.5
    assert bottom_left_pixel_is_dark(page, page.screenshot(full_page=True))
    page.context.close()


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_stage_bar_names_the_current_stage_on_a_phone(
    browser: Any, live_server: Any, owner: Any, long_names: Any, lang: str
) -> None:
    deal = long_names["deals"][1]  # third of five open stages: «Коммерческое предложение»
    page = new_page(browser, live_server, PHONE)
    login(page, owner.username, PASSWORD)
    switch_language(page, lang)
    open_screen(page, f"/deals/{deal.pk}/")
    current = page.locator(".stagebar .stage-step.is-current")
    assert current.is_visible()
    assert current.evaluate(IN_VIEW_JS), "the current stage is scrolled out of sight"
    assert "Коммерческое предложение" in current.inner_text()
    assert "3/5" in current.inner_text()
    # Every stage keeps its whole name (no single letters, no ellipsis); the bar scrolls.
    steps = page.locator(".stagebar .stage-step")
    for i in range(steps.count()):
        assert steps.nth(i).evaluate("el => el.scrollWidth <= el.clientWidth + 1"), i
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Won and lost stay in reach below the bar.
    for button in page.locator(".stagebar-closed .btn").all():
        assert button.evaluate(IN_VIEW_JS)
    page.context.close()


def test_my_day_is_one_column_on_a_phone_and_four_on_a_desktop(
    browser: Any, live_server: Any, owner: Any
) -> None:
    for viewport, columns in ((PHONE, 1), (DESKTOP, 4)):
        page = new_page(browser, live_server, viewport)
        login(page, owner.username, PASSWORD)
        open_screen(page, "/tasks/")
        lefts = page.eval_on_selector_all(
            ".day-columns .day-col",
            "els => els.map(e => Math.round(e.getBoundingClientRect().left))",
        )
        assert len(lefts) == 4
        assert len(set(lefts)) == columns, (viewport, lefts)
        page.context.close()


def test_negative_control_without_the_mobile_block_the_checks_fail(
    browser: Any, live_server: Any, owner: Any, long_names: Any
) -> None:
    """The stylesheet as it was before (the mobile block cut out): the page is wider than the
    phone, the header's controls fall off it, there is no menu button, the deal list's last
    column is clipped at 1440 — and the checks above say so."""
    css = APP_CSS.read_text(encoding="utf-8")
    assert MOBILE_BLOCK.search(css), "the mobile block's markers are gone from app.css"
    stripped = MOBILE_BLOCK.sub("", css)

    def serve_stripped(route: Any) -> None:
        route.fulfill(status=200, content_type="text/css", body=stripped)

    phone = new_page(browser, live_server, PHONE)
    phone.route("**/static/web/app.css*", serve_stripped)
    login(phone, owner.username, PASSWORD)
    open_screen(phone, "/deals/")
    assert any("page is" in p for p in layout_problems(phone))
    assert header_problems(phone)
    assert drawer_problems(phone)
    open_screen(phone, f"/deals/{long_names['deals'][1].pk}/")
    steps = phone.locator(".stagebar .stage-step")
    assert any(
        not steps.nth(i).evaluate("el => el.scrollWidth <= el.clientWidth + 1")
        for i in range(steps.count())
    ), "stage names were not cut without the mobile block"
    open_screen(phone, "/tasks/")
    lefts = phone.eval_on_selector_all(
        ".day-columns .day-col", "els => els.map(e => Math.round(e.getBoundingClientRect().left))"
    )
    assert len(set(lefts)) > 1
    phone.context.close()

    desktop = new_page(browser, live_server, DESKTOP)
    desktop.route("**/static/web/app.css*", serve_stripped)
    login(desktop, owner.username, PASSWORD)
    open_screen(desktop, "/deals/")
    m = deal_list_last_column(desktop)
    assert m["scroll"] > m["client"] and m["right"] > m["edge"], m
    desktop.context.close()

    tall = new_page(browser, live_server, {"width": 1440, "height": 420})
    tall.route("**/static/web/app.css*", serve_stripped)
    login(tall, owner.username, PASSWORD)
    open_screen(tall, "/deals/")
    assert not bottom_left_pixel_is_dark(tall, tall.screenshot(full_page=True))
    tall.context.close()
