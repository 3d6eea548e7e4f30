"""The provider interface of the requisites auto-fill and what it answers.

A provider (one folder per protocol, e.g. dadata/) turns an INN, a name or a BIK into
`Party` / `Bank` rows, or raises `ProviderError` with a message a person can act on («ключ
не подошёл», «сервис не ответил за 5 с»). The services (services.py) choose the configured
provider; nothing here touches the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Party:
    """A legal entity or a sole proprietor as the registry knows it."""

    inn: str
    kpp: str = ""
    ogrn: str = ""
    type: str = "legal"  # our CompanyType: legal | sole_proprietor
    name: str = ""  # short name with the legal form: ООО «Ромашка»
    full_name: str = ""
    address: str = ""
    postal_code: str = ""
    management_name: str = ""
    management_post: str = ""
    status: str = ""  # ACTIVE, LIQUIDATING, LIQUIDATED, …
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return data

    def company_fields(self) -> dict[str, Any]:
        """What fills the company form (the names the company services take)."""
        fields: dict[str, Any] = {
            "name": self.name or self.full_name,
            "type": self.type,
            "inn": self.inn,
            "kpp": self.kpp,
            "ogrn": self.ogrn,
        }
        if self.address:
            fields["addresses"] = [
                {"kind": "legal", "text": self.address, "postal_code": self.postal_code}
            ]
        return fields


@dataclass(frozen=True)
class Bank:
    bik: str
    name: str = ""
    correspondent_account: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProviderError(Exception):
    """The provider could not answer. `kind`: unauthorized (the key), timeout, unavailable
    (network, 5xx, refused), malformed (not the protocol). The message is for people."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class RequisitesSource(Protocol):
    def find_party(self, inn: str) -> list[Party]: ...

    def suggest_party(self, query: str) -> list[Party]: ...

    def find_bank(self, bik: str) -> list[Bank]: ...
