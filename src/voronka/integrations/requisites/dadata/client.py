"""DaData's suggestions protocol (https://dadata.ru/api/find-party/):

    POST {base}/suggestions/api/4_1/rs/findById/party   {"query": INN}
    POST {base}/suggestions/api/4_1/rs/suggest/party    {"query": name}
    POST {base}/suggestions/api/4_1/rs/findById/bank    {"query": BIK}
    Authorization: Token KEY

answered by {"suggestions": [{"value", "unrestricted_value", "data": {...}}]}. Everything the
answer carries is read defensively: a missing or mistyped field is "", a body that is not that
shape is a ProviderError("malformed")."""

from __future__ import annotations

from typing import Any

import httpx
from django.utils.translation import gettext as _

from voronka.integrations.requisites.base import Bank, Party, ProviderError

PATH = "/suggestions/api/4_1/rs"
MAX_RESULTS = 10


def _text(value: Any, limit: int = 500) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class DadataSource:
    def __init__(
        self, *, api_key: str, base_url: str, timeout: float = 5.0, transport: Any = None
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport

    # --- the protocol ---------------------------------------------------------------------

    def _post(self, method: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        url = f"{self.base_url}{PATH}/{method}"
        headers = {
            "Authorization": f"Token {self.api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            with httpx.Client(
                timeout=self.timeout, transport=self.transport, follow_redirects=False
            ) as client:
                response = client.post(url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise ProviderError(
                "timeout",
                _(
                    "Сервис реквизитов не ответил за %(s)s с — заполните вручную или попробуйте позже"
                )
                % {"s": f"{self.timeout:g}"},
            ) from None
        except httpx.HTTPError:
            raise ProviderError(
                "unavailable", _("Сервис реквизитов недоступен — заполните вручную")
            ) from None
        if response.status_code in (401, 403):
            raise ProviderError(
                "unauthorized",
                _("Сервис реквизитов не принял ключ API — проверьте его в Настройки → Реквизиты"),
            )
        if response.status_code == 429:
            raise ProviderError(
                "unavailable", _("Исчерпан лимит запросов к сервису реквизитов — попробуйте позже")
            )
        if response.status_code != 200:
            raise ProviderError(
                "unavailable",
                _("Сервис реквизитов ответил ошибкой (HTTP %(code)s) — заполните вручную")
                % {"code": response.status_code},
            )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        suggestions = payload.get("suggestions") if isinstance(payload, dict) else None
        if not isinstance(suggestions, list):
            raise ProviderError(
                "malformed", _("Сервис реквизитов ответил непонятно — заполните вручную")
            )
        return [s for s in suggestions[:MAX_RESULTS] if isinstance(s, dict)]

    def find_party(self, inn: str) -> list[Party]:
        return [p for p in map(party_of, self._post("findById/party", {"query": inn})) if p]

    def suggest_party(self, query: str) -> list[Party]:
        body = {"query": query, "count": MAX_RESULTS}
        return [p for p in map(party_of, self._post("suggest/party", body)) if p]

    def find_bank(self, bik: str) -> list[Bank]:
        return [b for b in map(bank_of, self._post("findById/bank", {"query": bik})) if b]


def party_of(suggestion: dict[str, Any]) -> Party | None:
    data = _obj(suggestion.get("data"))
    inn = _text(data.get("inn"), 12)
    if not inn.isdigit():
        return None
    name = _obj(data.get("name"))
    address = _obj(data.get("address"))
    management = _obj(data.get("management"))
    kind = _text(data.get("type"))
    return Party(
        inn=inn,
        kpp=_text(data.get("kpp"), 9),
        ogrn=_text(data.get("ogrn"), 15),
        type="sole_proprietor" if kind == "INDIVIDUAL" else "legal",
        name=_text(name.get("short_with_opf"), 255) or _text(suggestion.get("value"), 255),
        full_name=_text(name.get("full_with_opf"), 500)
        or _text(suggestion.get("unrestricted_value"), 500),
        address=_text(address.get("unrestricted_value")) or _text(address.get("value")),
        postal_code=_text(_obj(address.get("data")).get("postal_code"), 10),
        management_name=_text(management.get("name"), 255),
        management_post=_text(management.get("post"), 255),
        status=_text(_obj(data.get("state")).get("status"), 40),
    )


def bank_of(suggestion: dict[str, Any]) -> Bank | None:
    data = _obj(suggestion.get("data"))
    bik = _text(data.get("bic"), 9)
    if not bik.isdigit():
        return None
    name = _obj(data.get("name"))
    return Bank(
        bik=bik,
        name=_text(name.get("payment"), 255) or _text(suggestion.get("value"), 255),
        correspondent_account=_text(data.get("correspondent_account"), 20),
    )
