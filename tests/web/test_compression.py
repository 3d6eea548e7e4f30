"""Compressed answers (issue 8, "thin in time"): HTML pages and /api/ JSON are gzip-compressed
for a client that accepts gzip (Django's GZipMiddleware, with its BREACH padding), tiny answers
are not, and every compressible answer says `Vary: Accept-Encoding` so caches keep both forms.
Static files: the collected copies (with the `.gz` twins collectstatic writes) win over the
finders' (voronka.web.static_files).

Negative controls: without the middleware the same probes see plain bodies; an /api/ error page
replaced by its JSON twin must not keep the original's `Content-Encoding`; plain WhiteNoise serves
the finders' uncompressed copy.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

import voronka.config.api_errors as api_errors

pytestmark = pytest.mark.django_db

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}
GZIP_MIDDLEWARE = "django.middleware.gzip.GZipMiddleware"


def body_of(response: Any) -> bytes:
    """The body as the client gets it after decoding; a body that claims gzip must be gzip."""
    if response.get("Content-Encoding") == "gzip":
        return gzip.decompress(response.content)
    return response.content


def assert_compressed(response: Any) -> bytes:
    assert response.status_code == 200
    assert response.get("Content-Encoding") == "gzip", "answer not compressed"
    assert "Accept-Encoding" in response.get("Vary", ""), "no Vary: Accept-Encoding"
    plain = gzip.decompress(response.content)
    assert len(response.content) < len(plain) / 2
    return plain


def without_gzip() -> Any:
    return override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != GZIP_MIDDLEWARE])


def test_board_html_is_compressed(web: Any, pipeline: Any, records: Any) -> None:
    client = web("owner")
    url = f"/pipelines/{pipeline.sales.pk}/board/"
    plain = assert_compressed(client.get(url, **GZIP)).decode()
    assert 'id="board"' in plain and "Сделка a1" in plain
    # A client that does not ask for gzip gets the plain page.
    assert "Content-Encoding" not in client.get(url)


def test_api_json_is_compressed(api: Any, records: Any) -> None:
    plain = assert_compressed(api("owner").get("/api/v1/deals?limit=50", **GZIP))
    assert len(json.loads(plain)["items"]) >= 5


def test_tiny_answers_are_not_compressed(api: Any, web: Any, records: Any) -> None:
    # Under 200 bytes gzip would add more than it saves.
    tiny = api("owner").get("/api/v1/deals/999999999", **GZIP)
    assert tiny.status_code == 404 and len(tiny.content) < 200
    assert "Content-Encoding" not in tiny
    assert json.loads(tiny.content)["code"]


@override_settings(DEBUG=True)  # Django's 404 page for an unknown path is then a big HTML page
def test_api_error_replaced_by_json_is_not_marked_compressed(api: Any, personas: Any) -> None:
    response = api("owner").get("/api/v1/no-such-thing/" + "x" * 50, **GZIP)
    assert response.status_code == 404
    assert json.loads(body_of(response))["code"] == "not_found"


def test_negative_control_without_the_middleware_answers_are_plain(
    web: Any, api: Any, pipeline: Any, records: Any
) -> None:
    with without_gzip():
        page = web("owner").get(f"/pipelines/{pipeline.sales.pk}/board/", **GZIP)
        listing = api("owner").get("/api/v1/deals?limit=50", **GZIP)
    for response in (page, listing):
        with pytest.raises(AssertionError, match="not compressed"):
            assert_compressed(response)


@override_settings(DEBUG=True)
def test_negative_control_json_twin_keeping_the_encoding_is_detected(
    api: Any, personas: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_errors, "_SKIP_HEADERS", {"content-type", "content-length"})
    response = api("owner").get("/api/v1/no-such-thing/" + "x" * 50, **GZIP)
    with pytest.raises(gzip.BadGzipFile):
        body_of(response)


# --- static files ---------------------------------------------------------------------------


def _collected(root: Path) -> bytes:
    """What collectstatic leaves for web/app.css: the copy and its .gz twin."""
    css = (Path(settings.SRC_DIR) / "web" / "static" / "web" / "app.css").read_bytes()
    (root / "web").mkdir(parents=True)
    (root / "web" / "app.css").write_bytes(css)
    (root / "web" / "app.css.gz").write_bytes(gzip.compress(css))
    return css


def _static(middleware_class: type, root: Path) -> Any:
    with override_settings(STATIC_ROOT=root, WHITENOISE_AUTOREFRESH=False):
        middleware = middleware_class(lambda request: HttpResponse(status=404))
    request = RequestFactory().get("/static/web/app.css", **GZIP)
    return middleware(request)


def test_static_files_are_served_compressed_once_collected(tmp_path: Path) -> None:
    from django.contrib.staticfiles.storage import staticfiles_storage
    from whitenoise.storage import CompressedStaticFilesStorage

    from voronka.web.static_files import CollectedFirstWhiteNoiseMiddleware

    assert isinstance(staticfiles_storage, CompressedStaticFilesStorage)  # collectstatic → .gz
    css = _collected(tmp_path)
    response = _static(CollectedFirstWhiteNoiseMiddleware, tmp_path)
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    assert gzip.decompress(b"".join(response.streaming_content)) == css


def test_negative_control_plain_whitenoise_serves_the_finders_copy(tmp_path: Path) -> None:
    from whitenoise.middleware import WhiteNoiseMiddleware

    _collected(tmp_path)
    response = _static(WhiteNoiseMiddleware, tmp_path)
    assert response.status_code == 200 and "Content-Encoding" not in response
