"""kernel.phonegeo: the geocoder's prefix data one chunk at a time.

The stand-in answers `in` and `[]` — all the geocoder asks of GEOCODE_DATA — exactly as the
full dictionary would: every key of every chunk is found in the chunk the stand-in looks in. A
fresh process that imports the URLconf (what every web process and worker does) loads none of
the data, and a Russian number's look-up loads one or two chunks, not the world."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from voronka.kernel import phonegeo

ROOT = Path(__file__).resolve().parents[2]


WALK = """
import json
from pathlib import Path

import phonenumbers

from voronka.kernel import phonegeo

root = Path(phonenumbers.__file__).parent / "geodata"
layout = phonegeo._layout(root)
assert layout is not None, "phonenumbers' geodata layout changed: phonegeo does nothing"
chunks, starts, _longest = layout
assert sorted(chunks) == sorted(p.stem for p in root.glob("data*.py"))


def misplaced(lazy):
    # Keys the stand-in would not find: looked up in another chunk than the one holding them.
    wrong = 0
    for index in range(len(chunks)):
        for key, names in good._chunk(index).items():
            if key not in lazy or lazy[key] is not names:
                wrong += 1
    return wrong


good = phonegeo.LazyPrefixes(chunks, starts)
# Negative control: the chunk starts moved by one chunk.
shifted = phonegeo.LazyPrefixes(chunks, [starts[0], *starts[2:], "999"])
print(json.dumps({
    "keys": len(good),
    "misplaced": misplaced(good),
    "misplaced_shifted": misplaced(shifted),
    "novosibirsk": good["7383"].get("ru", ""),
    "absent": ["0" in good, 7383 in good, "" in good],
}))
"""


def _run(code: str) -> dict[str, Any]:
    """In a process of its own: the whole world's prefixes (~100 MB) must not stay in this one."""
    env = {
        "DJANGO_SETTINGS_MODULE": "voronka.config.settings",
        "VORONKA_ENV": "test",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_every_prefix_is_found_where_the_stand_in_looks_and_a_shifted_boundary_is_seen() -> None:
    figures = _run(WALK)
    assert figures["misplaced"] == 0, figures
    assert figures["keys"] > 100_000, figures  # the whole world was walked
    assert figures["novosibirsk"].startswith("Новосибирск"), figures
    assert figures["absent"] == [False, False, False], figures
    # Negative control: with the boundaries off by one chunk the same walk finds keys missing.
    assert figures["misplaced_shifted"] > 1000, figures


def test_a_fresh_process_loads_no_geodata_until_a_lookup() -> None:
    code = """
import json, sys
import django
django.setup()
import voronka.config.urls  # what every web process and worker imports
chunks = lambda: sorted(m for m in sys.modules if m.startswith("phonenumbers.geodata.data"))
before = chunks()
from voronka.kernel.phoneinfo import phone_info
info = phone_info("+73832123456", "ru")
print(json.dumps({"before": before, "after": chunks(), "region": info.region,
                  "zone": info.timezone}))
"""
    figures = _run(code)
    assert figures["before"] == []
    assert 1 <= len(figures["after"]) <= 2, figures
    assert figures["region"].startswith("Новосибирск")
    assert figures["zone"] == "Asia/Novosibirsk"


@pytest.mark.parametrize(
    ("e164", "language", "region"),
    [
        ("+74951234567", "ru", "Москва"),
        ("+73432123456", "en", "Ekaterinburg"),
        ("+79131234567", "ru", "Россия"),  # a mobile number: the country
        ("+12015550123", "en", "New Jersey"),
        ("+442079460000", "ru", "London"),  # no Russian name there: the geocoder's fall-back
    ],
)
def test_regions_through_the_stand_in(e164: str, language: str, region: str) -> None:
    from voronka.kernel.phoneinfo import phone_info

    assert phonegeo.install()  # phoneinfo put it in place; the real package was never imported
    assert phone_info(e164, language).region.startswith(region)
