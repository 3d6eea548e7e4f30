"""Where a phone number is and what time it is there, offline (seed 001: the phone widget — a
manager sees «Новосибирск, сейчас 21:40» and does not call at night).

`phone_info(e164, language)` reads the number's region and time zone from the `phonenumbers`
metadata (geocoder descriptions in the UI language; one time zone only when the number has
exactly one — a Russian mobile number covers eleven and gets none). Parsing costs ~20 µs, so
the answers are cached per (number, language). Never raises: a number it cannot read is
returned as it was, with no region and no time zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as phone_timezone

from voronka.kernel import phonegeo

# The geocoder's data one chunk at a time (kernel.phonegeo): not 0.4 s and 97 MB per process.
phonegeo.install()
from phonenumbers import geocoder  # noqa: E402 — after the stand-in is in place

# Night where the client is: from 21:00 to 09:00 (seed 001: no calls at night).
NIGHT_STARTS = dt.time(21, 0)
NIGHT_ENDS = dt.time(9, 0)
CACHE_SIZE = 100_000

# Moscow's own codes are described as «Московская обл.» by the geocoder; the two federal cities
# are shown by their names.
_CITY_CODES = {
    "7495": {"ru": "Москва", "en": "Moscow"},
    "7499": {"ru": "Москва", "en": "Moscow"},
    "7812": {"ru": "Санкт-Петербург", "en": "St Petersburg"},
}
_UNKNOWN_TZ = "Etc/Unknown"


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    value: str  # formatted for people: +7 383 212-34-56
    e164: str
    region: str  # city or region in the requested language, "" when unknown
    timezone: str | None  # an IANA name when the number has exactly one

    def as_dict(self) -> dict[str, str | None]:
        return {
            "value": self.value,
            "e164": self.e164,
            "region": self.region,
            "timezone": self.timezone,
        }


def _language(language: str | None) -> str:
    return (language or "ru").split("-")[0].lower() or "ru"


@functools.lru_cache(maxsize=CACHE_SIZE)
def phone_info(e164: str, language: str | None = "ru") -> PhoneInfo:
    """The region and time zone of a number (E.164 expected; anything else is tolerated)."""
    text = str(e164 or "")
    lang = _language(language)
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return PhoneInfo(value=text, e164=text, region="", timezone=None)
    except Exception:  # noqa: BLE001 — a widget must never break a card
        return PhoneInfo(value=text, e164=text, region="", timezone=None)
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    normalized = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if len(text) == 12 and text.startswith("+7") and text[1:].isdigit():  # our usual spacing
        formatted = f"+7 {text[2:5]} {text[5:8]}-{text[8:10]}-{text[10:12]}"
    region = ""
    zone: str | None = None
    if phonenumbers.is_valid_number(number):
        city = _CITY_CODES.get(normalized[1:5])
        if city is not None:
            region = city.get(lang, city["en"])
        else:
            region = geocoder.description_for_number(number, lang) or ""
            if region.startswith("г. "):
                region = region[3:]
        zones = [z for z in phone_timezone.time_zones_for_number(number) if z and z != _UNKNOWN_TZ]
        if len(zones) == 1 and _zone(zones[0]) is not None:
            zone = zones[0]
    return PhoneInfo(value=formatted, e164=normalized, region=region, timezone=zone)


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def local_time(info: PhoneInfo, now: dt.datetime) -> dt.datetime | None:
    """The client's wall-clock time at `now` (aware), or None when the zone is not known."""
    if info.timezone is None:
        return None
    zone = _zone(info.timezone)
    return now.astimezone(zone) if zone is not None else None


def is_night(moment: dt.datetime | dt.time) -> bool:
    """21:00–09:00 on the client's clock."""
    at = moment.time() if isinstance(moment, dt.datetime) else moment
    return at >= NIGHT_STARTS or at < NIGHT_ENDS
