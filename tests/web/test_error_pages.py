"""The product's 404/500 pages for HTML pages in every mode (issue 7, item 18): with DEBUG on
(`make run` in development) a signed-in user used to get Django's technical pages — the URL
patterns of the project, a traceback. Negative control: with the middleware taken out of
MIDDLEWARE the same requests show the technical pages, and the tests notice."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path

from voronka.config import urls as project_urls

pytestmark = pytest.mark.django_db

BOOM = "boom-marker-5e1d"


def _missing(request: HttpRequest) -> HttpResponse:
    raise Http404("no such record")


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"{BOOM}: internals")


# This module is the URLconf of the tests below: the project's URLs plus two failing views.
urlpatterns = [path("__missing__/", _missing), path("__boom__/", _boom), *project_urls.urlpatterns]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


@pytest.fixture
def debug_on(settings: Any) -> None:
    settings.DEBUG = True
    settings.ROOT_URLCONF = __name__


def is_product_page(resp: Any, heading: str) -> bool:
    html = resp.content.decode()
    return (
        'class="error-page"' in html
        and heading in html
        and 'href="/"' in html  # the way home
        and 'class="sidebar"' in html  # in the base layout of a signed-in user
    )


def technical(resp: Any) -> bool:
    html = resp.content.decode()
    return "URLconf" in html or "Traceback" in html or BOOM in html


def test_unknown_address_in_debug_is_the_product_404(web: Any, debug_on: None) -> None:
    resp = web("a1").get("/no-such-page/")
    assert resp.status_code == 404
    assert is_product_page(resp, "Страница не найдена")
    assert not technical(resp)


def test_the_404_page_speaks_the_users_language(web: Any, debug_on: None, personas: Any) -> None:
    user = personas["a1"].user
    user.language = "en"
    user.save(update_fields=["language"])
    resp = web("a1").get("/no-such-page/")
    assert resp.status_code == 404
    assert is_product_page(resp, "Page not found")


def test_http404_raised_by_a_view_in_debug_is_the_product_404(web: Any, debug_on: None) -> None:
    resp = web("a1").get("/__missing__/")
    assert resp.status_code == 404
    assert is_product_page(resp, "Страница не найдена")
    assert "no such record" not in resp.content.decode()


def test_an_error_in_debug_is_the_product_500_and_is_logged(
    web: Any, debug_on: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="django.request")
    resp = web("a1").get("/__boom__/")
    assert resp.status_code == 500
    assert is_product_page(resp, "Ошибка на сервере")
    assert not technical(resp)
    # The developer still gets the traceback — in the log, once.
    errors = [
        r for r in caplog.records if r.name == "django.request" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1 and errors[0].exc_info and BOOM in str(errors[0].exc_info[1])


def test_without_debug_the_pages_are_the_same(web: Any, settings: Any) -> None:
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__
    client = web("a1")
    client.raise_request_exception = False
    assert is_product_page(client.get("/no-such-page/"), "Страница не найдена")
    assert client.get("/no-such-page/").status_code == 404
    resp = client.get("/__boom__/")
    assert resp.status_code == 500 and is_product_page(resp, "Ошибка на сервере")


def test_missing_slash_still_redirects(web: Any, debug_on: None) -> None:
    resp = web("a1").get("/tasks")
    assert resp.status_code == 301 and resp["Location"] == "/tasks/"


def test_the_api_keeps_its_own_errors(web: Any, debug_on: None) -> None:
    resp = web("a1").get("/api/v1/no-such-endpoint")
    assert resp.status_code == 404
    assert 'class="error-page"' not in resp.content.decode()


def test_negative_control_without_the_middleware_debug_shows_technical_pages(
    web: Any, debug_on: None, settings: Any
) -> None:
    middleware = "voronka.web.error_pages.ProductErrorPagesMiddleware"
    assert middleware in settings.MIDDLEWARE
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != middleware]
    client = web("a1")
    client.raise_request_exception = False
    resp = client.get("/no-such-page/")
    assert resp.status_code == 404
    assert technical(resp) and not is_product_page(resp, "Страница не найдена")
    resp = client.get("/__boom__/")
    assert resp.status_code == 500 and technical(resp)
