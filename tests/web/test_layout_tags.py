"""Two template tags the layout and the board use instead of slower template code (issue 8,
"thin in time"): `{% url_of name %}` — `{% url name %}` for a URL without arguments, reversed
once per process — and `{% person_options people selected %}` — the options of a responsible
filter.

What must hold: `url_of` answers what `reverse` answers, also after the script prefix or the
URLconf changed (its cache is keyed on both); `person_options` escapes names and marks exactly the
selected person. Negative control: a cache that forgets the script prefix answers stale URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.template import engines
from django.urls import get_script_prefix, include, path, reverse, set_script_prefix

from voronka.config import urls as project_urls
from voronka.identity.scopes import PersonRef
from voronka.web.templatetags import voronka as tags

BASE = "src/voronka/web/templates/web/base.html"


def _layout_names() -> list[str]:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return sorted(set(re.findall(r"\{% url_of '([^']+)' %\}", (root / BASE).read_text())))


@pytest.fixture
def prefix() -> Iterator[None]:
    before = get_script_prefix()
    yield
    set_script_prefix(before)


def _check(names: list[str]) -> None:
    for script_prefix in ("/", "/crm/", "/"):
        set_script_prefix(script_prefix)
        for name in names:
            assert tags.url_of(name) == reverse(name), name


def test_url_of_is_reverse_under_any_script_prefix(prefix: None) -> None:
    names = _layout_names()
    assert len(names) >= 10  # the layout does use it
    _check(names)


# This module is also a URLconf: the project's URLs moved under /elsewhere/.
urlpatterns = [path("elsewhere/", include(project_urls))]


def test_url_of_follows_the_urlconf(settings: Any) -> None:
    assert tags.url_of("deals:deal-list") == reverse("deals:deal-list")
    settings.ROOT_URLCONF = __name__
    assert tags.url_of("deals:deal-list") == reverse("deals:deal-list")
    assert tags.url_of("deals:deal-list").startswith("/elsewhere/")


def test_control_a_cache_without_the_prefix_is_caught(
    prefix: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tags, "get_script_prefix", lambda: "/")
    with pytest.raises(AssertionError):
        _check(["deals:deal-list"])


def test_person_options_escape_and_select() -> None:
    people = [PersonRef(3, "Анна <b>"), PersonRef(7, 'O"Neil')]
    html = (
        engines["django"]
        .from_string("{% load voronka %}{% person_options people selected %}")
        .render({"people": people, "selected": 7})
    )
    assert html == (
        '<option value="3">Анна &lt;b&gt;</option><option value="7" selected>O&quot;Neil</option>'
    )
    none = engines["django"].from_string("{% load voronka %}{% person_options people %}")
    assert "selected" not in none.render({"people": people})
