"""Running an import: the rows of a read table, mapped, found again or created through the
contacts and deals services, a batch per transaction.

Every row goes through the services (contacts.services.contact_create_many /
company_create_many, deals.services.deal_create), so validation, the audit rows, the events
and the duplicate keys are those of the UI. Duplicate control on every row: a row imported
before is found by its fingerprint (ImportFingerprint); a contact or company by an exact key
(phone, e-mail, INN — contacts.dedup's keys); two rows of one new client in the same batch make
one client (an in-memory index of the batch's keys). A row refused by a service is reported
(row, column, message) and the others go on; an unexpected failure of a batch replays it row by
row, each in its own transaction, so one bad row never takes good ones down with it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from voronka.contacts.dedup import company_keys, key_owners
from voronka.contacts.keys import company_name_key, email_key
from voronka.contacts.models import ClientEntity, Company, Contact, KeyKind
from voronka.contacts.services import company_create_many, contact_create_many
from voronka.deals.models import Deal, Pipeline, Stage
from voronka.deals.services import deal_create
from voronka.identity.models import User
from voronka.kernel.actor import Actor
from voronka.kernel.bulk import commit_without_waiting_for_disk, insert_rows
from voronka.kernel.errors import ApplicationError, ValidationError
from voronka.kernel.normalize import normalize_email, normalize_phone
from voronka.transfer.mapping import CUSTOM_PREFIX, SKIP, fold
from voronka.transfer.models import ImportFingerprint, ImportRowError
from voronka.transfer.readers import Row

BATCH = 1000
DEAL_BATCH = 200
Key = tuple[str, str]

_CURRENCIES = {
    "рубль": "RUB",
    "руб": "RUB",
    "руб.": "RUB",
    "₽": "RUB",
    "российский рубль": "RUB",
    "евро": "EUR",
    "euro": "EUR",
    "€": "EUR",
    "доллар": "USD",
    "доллар сша": "USD",
    "us dollar": "USD",
    "$": "USD",
    "юань": "CNY",
    "тенге": "KZT",
}
# A deal row's company and contact fields → their columns' targets (for the error report).
_DEAL_CLIENT_FIELDS = {
    "name": "company_name",
    "inn": "company_inn",
    "phone": "company_phone",
    "email": "company_email",
    "phones": "contact_phone",
    "emails": "contact_email",
    "first_name": "contact_full_name",
    "last_name": "contact_full_name",
    "position": "contact_position",
}
_DATE_RU = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:\s.*)?$")
_SPLIT = re.compile(r"[;,\n]+")


@dataclass
class Stats:
    created: int = 0
    found: int = 0
    failed: int = 0
    errors: list[ImportRowError] = field(default_factory=list)

    def add(self, other: Stats) -> None:
        self.created += other.created
        self.found += other.found
        self.failed += other.failed
        self.errors += other.errors


@dataclass
class _Client:
    """A contact or company a row asks for: its service input, its exact keys and fingerprint;
    once resolved, its id (found or created) or the refusal."""

    data: dict[str, Any]
    keys: list[Key]
    fingerprint: str
    row: int
    id: int | None = None
    created: bool = False
    error: ValidationError | None = None
    leader: _Client | None = None


def fingerprint(entity: str, cells: Sequence[str]) -> str:
    """The identity of a row: its entity and every cell, as the file has them."""
    digest = hashlib.sha256(entity.encode())
    for cell in cells:
        digest.update(b"\x1f" + cell.strip().encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _ru_date(text: str) -> str:
    m = _DATE_RU.match(text.strip())
    return f"{m[3]}-{int(m[2]):02d}-{int(m[1]):02d}" if m else text.strip()


def split_person(full: str) -> dict[str, str]:
    """ "Иванов Иван Иванович" (a patronymic last: the Russian order) or "Иван Иванов"."""
    words = full.split()
    if not words:
        return {}
    if len(words) == 1:
        return {"first_name": words[0]}
    if len(words) >= 3 and re.search(r"(вич|вна|чна|ична|кызы|оглы)$", words[2].lower()):
        return {"last_name": words[0], "first_name": words[1], "middle_name": " ".join(words[2:])}
    return {"first_name": words[0], "last_name": " ".join(words[1:])}


class Users:
    """Responsible users by login, e-mail or name ("Иван Петров", "Петров Иван")."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        for pk, username, email, first, last in User.objects.filter(is_active=True).values_list(
            "id", "username", "email", "first_name", "last_name"
        ):
            for key in (username, email, f"{first} {last}", f"{last} {first}"):
                if key and key.strip():
                    self.index.setdefault(fold(key), pk)

    def find(self, raw: str) -> int | None:
        return self.index.get(fold(raw))


class Importer:
    """One job's rows into one entity. `report(stats)` is called after each committed batch."""

    def __init__(
        self,
        *,
        entity: str,
        actor: Actor,
        headers: Sequence[str],
        mapping: Sequence[str],
        job_id: int,
    ) -> None:
        self.entity, self.actor, self.headers, self.job_id = entity, actor, list(headers), job_id
        self.columns: dict[str, list[int]] = {}
        for i, target in enumerate(mapping):
            if target and target != SKIP:
                self.columns.setdefault(target, []).append(i)
        self.users = Users()
        self._pipelines: dict[str, Pipeline] | None = None
        self._stages: dict[tuple[int, str], int] = {}

    # --- a row's values ---------------------------------------------------------------------

    def _values(self, row: Row, target: str) -> list[tuple[int, str]]:
        return [
            (i, row.cells[i].strip()) for i in self.columns.get(target, ()) if row.cells[i].strip()
        ]

    def _one(self, row: Row, target: str) -> str:
        values = self._values(row, target)
        return values[0][1] if values else ""

    def _header(self, target: str) -> str:
        cols = self.columns.get(target)
        return self.headers[cols[0]] if cols else ""

    def _error(self, stats: Stats, row: int, column: str, message: str) -> None:
        stats.errors.append(
            ImportRowError(job_id=self.job_id, row=row, column=column[:200], message=message[:500])
        )

    def _refusal(
        self, stats: Stats, row: int, exc: ApplicationError, fields: dict[str, str]
    ) -> None:
        """A service's refusal, a line per field, each under its column where there is one."""
        if not exc.errors:
            self._error(stats, row, "", exc.message)
            return
        for key, message in exc.errors.items():
            target = fields.get(key, key)
            if key.startswith("custom."):
                target = CUSTOM_PREFIX + key.removeprefix("custom.")
            self._error(stats, row, self._header(target), message)

    def _list(
        self, stats: Stats, row: Row, target: str, normalizer: Callable[[str], str]
    ) -> list[str]:
        """The phones or e-mails of a row (a cell may hold several, `;`- or `,`-separated),
        normalized; a bad one is reported under its column and left out."""
        result: list[str] = []
        for i, cell in self._values(row, target):
            for part in _SPLIT.split(cell):
                part = part.strip()
                if not part:
                    continue
                try:
                    value = normalizer(part)
                except ValueError as exc:
                    self._error(stats, row.number, self.headers[i], f"{part[:50]}: {exc}")
                    continue
                if value not in result:
                    result.append(value)
        return result[:20]

    def _comment(self, row: Row, target: str = "comment") -> str:
        return "\n\n".join(v for _i, v in self._values(row, target))

    def _custom(self, row: Row) -> dict[str, str]:
        custom = {}
        for target in self.columns:
            if target.startswith(CUSTOM_PREFIX):
                value = self._one(row, target)
                if value:
                    custom[target.removeprefix(CUSTOM_PREFIX)] = value
        return custom

    def _responsible(self, stats: Stats, row: Row, target: str = "responsible") -> int | None:
        raw = self._one(row, target)
        if not raw:
            return None
        found = self.users.find(raw)
        if found is None:
            self._error(
                stats,
                row.number,
                self._header(target),
                _("Пользователь «%(name)s» не найден — назначен тот, кто импортирует")
                % {"name": raw[:80]},
            )
        return found

    # --- running -----------------------------------------------------------------------------

    def run(self, rows: Iterable[Row], report: Callable[[Stats, int], None]) -> Stats:
        total = Stats()
        size = DEAL_BATCH if self.entity == "deal" else BATCH
        batch: list[Row] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= size:
                total.add(self._committed(batch, report))
                batch = []
        if batch:
            total.add(self._committed(batch, report))
        return total

    def _committed(self, batch: list[Row], report: Callable[[Stats, int], None]) -> Stats:
        """The batch in one transaction; if it fails unexpectedly, row by row."""
        try:
            with transaction.atomic():
                commit_without_waiting_for_disk()
                stats = self._batch(batch)
                self._write(stats)
                report(stats, len(batch))
            return stats
        except Exception:
            if len(batch) == 1:
                stats = Stats(failed=1)
                self._error(stats, batch[0].number, "", _("Строку не удалось записать"))
                with transaction.atomic():
                    self._write(stats)
                    report(stats, 1)
                return stats
        total = Stats()
        for row in batch:
            total.add(self._committed([row], report))
        return total

    def _write(self, stats: Stats) -> None:
        insert_rows(stats.errors)

    def _batch(self, batch: list[Row]) -> Stats:
        stats = Stats()
        good = []
        for row in batch:
            if row.error:
                stats.failed += 1
                self._error(stats, row.number, "", row.error)
            else:
                good.append(row)
        handler = {"contact": self._contacts, "company": self._companies, "deal": self._deals}
        handler[self.entity](good, stats)
        return stats

    # --- companies ---------------------------------------------------------------------------

    def _company_data(self, stats: Stats, row: Row, prefix: str = "") -> dict[str, Any]:
        """The company_create input of a row (a deal row's company: the company_* columns)."""
        name_target = f"{prefix}name"
        data: dict[str, Any] = {}
        name = self._one(row, name_target)
        if name:
            data["name"] = name
        for target in ("inn", "kpp", "ogrn", "bank_bik", "bank_account", "bank_name", "website"):
            value = self._one(row, prefix + target)
            if value:
                data[target] = value
        phones = self._list(stats, row, prefix + "phone", normalize_phone)
        emails = self._list(stats, row, prefix + "email", normalize_email)
        if phones:
            data["phone"] = phones[0]
        if emails:
            data["email"] = emails[0]
        if prefix:
            return data
        comment = [self._comment(row)]
        extra = [*phones[1:], *emails[1:]]
        if extra:  # a company keeps one phone and one e-mail; the others stay in the comment
            comment.append(", ".join(extra))
        if any(comment):
            data["comment"] = "\n\n".join(c for c in comment if c)
        addresses = [{"kind": "actual", "text": v} for _i, v in self._values(row, "address")]
        addresses += [{"kind": "legal", "text": v} for _i, v in self._values(row, "address_legal")]
        if addresses:
            data["addresses"] = addresses
        responsible = self._responsible(stats, row)
        if responsible is not None:
            data["responsible"] = responsible
        custom = self._custom(row)
        if custom:
            data["custom"] = custom
        return data

    @staticmethod
    def _company_keys(data: dict[str, Any]) -> list[Key]:
        """The exact keys of a company input (INN, phone, e-mail as contacts.dedup makes them)."""
        keys = company_keys(
            name="",
            inn=re.sub(r"\D", "", str(data.get("inn", ""))),
            phone=data.get("phone", ""),
            email=data.get("email", ""),
        )
        return [k for k in keys if k[0] in (KeyKind.INN, KeyKind.PHONE, KeyKind.EMAIL)]

    def _companies(self, rows: list[Row], stats: Stats) -> None:
        items = []
        for row in rows:
            data = self._company_data(stats, row)
            fp = fingerprint("company", row.cells)
            items.append(_Client(data, self._company_keys(data), fp, row.number))
        self._resolve(ClientEntity.COMPANY, items, by_name=False)
        self._count(items, stats, {"phone": "phone", "email": "email", "addresses": "address"})

    def _count(self, items: list[_Client], stats: Stats, fields: dict[str, str]) -> None:
        for item in items:
            if item.error is not None:
                stats.failed += 1
                self._refusal(stats, item.row, item.error, fields)
            elif item.created:
                stats.created += 1
            else:
                stats.found += 1

    # --- contacts ----------------------------------------------------------------------------

    def _contact_data(self, stats: Stats, row: Row) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for target in ("last_name", "first_name", "middle_name", "position"):
            value = self._one(row, target)
            if value:
                data[target] = value
        full = self._one(row, "full_name")
        if full and "first_name" not in data:
            data.update({k: v for k, v in split_person(full).items() if k not in data})
        birthday = self._one(row, "birthday")
        if birthday:
            data["birthday"] = _ru_date(birthday)
        phones = self._list(stats, row, "phone", normalize_phone)
        emails = self._list(stats, row, "email", normalize_email)
        if phones:
            data["phones"] = phones
        if emails:
            data["emails"] = emails
        messengers = {self.headers[i][:30]: v[:200] for i, v in self._values(row, "messenger")}
        if messengers:
            data["messengers"] = dict(list(messengers.items())[:10])
        comment = self._comment(row)
        if comment:
            data["comment"] = comment
        responsible = self._responsible(stats, row)
        if responsible is not None:
            data["responsible"] = responsible
        custom = self._custom(row)
        if custom:
            data["custom"] = custom
        return data

    @staticmethod
    def _contact_keys(data: dict[str, Any]) -> list[Key]:
        keys: list[Key] = [(KeyKind.PHONE, p) for p in data.get("phones", ())]
        keys += [(KeyKind.EMAIL, email_key(e)) for e in data.get("emails", ())]
        return keys

    def _contacts(self, rows: list[Row], stats: Stats) -> None:
        items = []
        company_of: dict[int, _Client] = {}
        companies = []
        for row in rows:
            data = self._contact_data(stats, row)
            items.append(
                _Client(
                    data, self._contact_keys(data), fingerprint("contact", row.cells), row.number
                )
            )
            name = self._one(row, "company_name")
            if name:
                company = _Client({"name": name}, [], "", row.number)
                if "responsible" in data:
                    company.data["responsible"] = data["responsible"]
                companies.append(company)
                company_of[len(items) - 1] = company
        self._resolve(ClientEntity.COMPANY, companies, by_name=True)
        for index, company in company_of.items():
            if company.id is not None:
                items[index].data["company"] = company.id
        self._resolve(ClientEntity.CONTACT, items, by_name=False)
        for company in company_of.values():  # the contact is still made (a family company)
            if company.error is not None:
                self._refusal(stats, company.row, company.error, {"name": "company_name"})
        fields = {
            "phones": "phone",
            "emails": "email",
            "company": "company_name",
            "first_name": "first_name" if "first_name" in self.columns else "full_name",
            "last_name": "last_name" if "last_name" in self.columns else "full_name",
            "messengers": "messenger",
        }
        self._count(items, stats, fields)

    # --- resolving clients ---------------------------------------------------------------------

    def _resolve(self, entity: str, items: list[_Client], *, by_name: bool) -> None:
        """Set each item's id: a row imported before (its fingerprint), an existing record with
        an exact key (or, for a company named in a contact/deal row, its name key), an earlier
        item of the batch with a shared key, or a record created now."""
        if not items:
            return
        model: type[Company] | type[Contact] = (
            Company if entity == ClientEntity.COMPANY else Contact
        )
        fps = {i.fingerprint for i in items if i.fingerprint}
        known: dict[str, int] = {}
        if fps:
            known = dict(
                ImportFingerprint.objects.filter(entity=entity, fingerprint__in=fps).values_list(
                    "fingerprint", "object_id"
                )
            )
            alive = set(
                model.objects.filter(pk__in=set(known.values())).values_list("pk", flat=True)
            )
            known = {k: v for k, v in known.items() if v in alive}
        if by_name:
            for item in items:
                key = company_name_key(item.data.get("name", ""))
                if key:
                    item.keys = [*item.keys, (KeyKind.NAME, key)]
        wanted = {k for i in items if i.fingerprint not in known for k in i.keys}
        existing: dict[Key, int] = key_owners(entity, wanted)
        leaders: dict[object, _Client] = {}
        new: list[_Client] = []
        for item in items:
            if item.fingerprint in known:
                item.id = known[item.fingerprint]
                continue
            hit = next((existing[k] for k in item.keys if k in existing), None)
            if hit is not None:
                item.id = hit
                continue
            marks: list[object] = (
                [*item.keys, ("fp", item.fingerprint)] if item.fingerprint else [*item.keys]
            )
            leader = next((leaders[m] for m in marks if m in leaders), None)
            if leader is not None:
                item.leader = leader
                for mark in marks:
                    leaders.setdefault(mark, leader)
                continue
            for mark in marks:
                leaders[mark] = item
            new.append(item)
        if new:
            create = company_create_many if entity == ClientEntity.COMPANY else contact_create_many
            results = create(actor=self.actor, items=[i.data for i in new])
            for item, result in zip(new, results, strict=True):
                if isinstance(result, ValidationError):
                    item.error = result
                else:
                    item.id, item.created = result.pk, True
        for item in items:
            if item.leader is not None:
                item.id = item.leader.id
                if item.id is None:
                    item.error = ValidationError(
                        {"body": _("Как в строке %(n)s") % {"n": item.leader.row}}
                    )
        insert_rows(
            [
                ImportFingerprint(entity=entity, fingerprint=i.fingerprint, object_id=i.id)
                for i in items
                if i.fingerprint and i.id is not None and i.fingerprint not in known
            ],
            ignore_conflicts=True,
        )

    # --- deals -------------------------------------------------------------------------------

    def _pipeline_and_stage(self, stats: Stats, row: Row) -> tuple[int | None, int | None, bool]:
        if self._pipelines is None:
            self._pipelines = {fold(p.name): p for p in Pipeline.objects.filter(is_active=True)}
            for stage_id, pipeline_id, name in Stage.objects.values_list(
                "id", "pipeline_id", "name"
            ):
                self._stages.setdefault((pipeline_id, fold(name)), stage_id)
        pipeline_name, stage_name = self._one(row, "pipeline"), self._one(row, "stage")
        pipeline: Pipeline | None = None
        if pipeline_name:
            pipeline = self._pipelines.get(fold(pipeline_name))
            if pipeline is None:
                self._error(
                    stats,
                    row.number,
                    self._header("pipeline"),
                    _("Нет воронки «%(name)s»") % {"name": pipeline_name[:80]},
                )
                return None, None, False
        if not stage_name:
            return (pipeline.pk if pipeline else None), None, True
        pipelines = [pipeline] if pipeline else list(self._pipelines.values())
        for candidate in pipelines:
            found = self._stages.get((candidate.pk, fold(stage_name)))
            if found is not None:
                return candidate.pk, found, True
        self._error(
            stats,
            row.number,
            self._header("stage"),
            _("Нет стадии «%(name)s»") % {"name": stage_name[:80]},
        )
        return None, None, False

    def _deals(self, rows: list[Row], stats: Stats) -> None:
        fps = {row.number: fingerprint("deal", row.cells) for row in rows}
        known = dict(
            ImportFingerprint.objects.filter(
                entity="deal", fingerprint__in=fps.values()
            ).values_list("fingerprint", "object_id")
        )
        alive = set(Deal.objects.filter(pk__in=set(known.values())).values_list("pk", flat=True))
        todo = []
        for row in rows:
            if known.get(fps[row.number]) in alive:
                stats.found += 1
            else:
                todo.append(row)
        companies: dict[int, _Client] = {}
        contacts: dict[int, _Client] = {}
        for row in todo:
            company = self._company_data(stats, row, prefix="company_")
            responsible = self._responsible(stats, row)
            if responsible is not None:
                company["responsible"] = responsible
            if company.get("name"):
                companies[row.number] = _Client(
                    company, self._company_keys(company), "", row.number
                )
            contact: dict[str, Any] = dict(split_person(self._one(row, "contact_full_name")))
            for part in ("first_name", "last_name"):
                if self._one(row, f"contact_{part}"):
                    contact[part] = self._one(row, f"contact_{part}")
            phones = self._list(stats, row, "contact_phone", normalize_phone)
            emails = self._list(stats, row, "contact_email", normalize_email)
            if phones:
                contact["phones"] = phones
            if emails:
                contact["emails"] = emails
            position = self._one(row, "contact_position")
            if position:
                contact["position"] = position
            if contact:
                if responsible is not None:
                    contact["responsible"] = responsible
                contact.setdefault("first_name", _("Без имени"))
                fp = fingerprint(
                    "deal-contact",
                    [company.get("name", ""), *map(str, contact.values())],
                )
                contacts[row.number] = _Client(contact, self._contact_keys(contact), fp, row.number)
        self._resolve(ClientEntity.COMPANY, list(companies.values()), by_name=True)
        for number, person in contacts.items():
            firm = companies.get(number)
            if firm is not None and firm.id is not None:
                person.data["company"] = firm.id
        self._resolve(ClientEntity.CONTACT, list(contacts.values()), by_name=False)
        contact_company = dict(
            Contact.objects.filter(
                pk__in={c.id for c in contacts.values() if c.id is not None}
            ).values_list("pk", "company_id")
        )
        new_fps = []
        for row in todo:
            company_item: _Client | None = companies.get(row.number)
            contact_item: _Client | None = contacts.get(row.number)
            refused = next(
                (x for x in (company_item, contact_item) if x is not None and x.error is not None),
                None,
            )
            if refused is not None:
                stats.failed += 1
                assert refused.error is not None
                self._refusal(stats, row.number, refused.error, _DEAL_CLIENT_FIELDS)
                continue
            company_id = company_item.id if company_item is not None else None
            contact_id = contact_item.id if contact_item is not None else None
            if company_id is None and contact_id is not None:
                company_id = contact_company.get(contact_id)
            if company_id is None:
                stats.failed += 1
                self._error(stats, row.number, "", _("Нет ни компании, ни контакта сделки"))
                continue
            pipeline_id, stage_id, ok = self._pipeline_and_stage(stats, row)
            if not ok:
                stats.failed += 1
                continue
            data: dict[str, Any] = {"company": company_id}
            title = self._one(row, "title")
            if not title:
                name = company_item.data.get("name") if company_item else ""
                title = _("Сделка: %(name)s") % {"name": name or _("импорт")}
            data["title"] = title
            if contact_id is not None:
                data["contacts"] = [contact_id]
            if stage_id is not None:
                data["stage"] = stage_id
            elif pipeline_id is not None:
                data["pipeline"] = pipeline_id
            amount = self._one(row, "amount")
            if amount:
                data["amount"] = amount
            currency = self._one(row, "currency")
            if currency:
                data["currency"] = _CURRENCIES.get(currency.strip().lower(), currency.strip())
            responsible = self._responsible(Stats(), row)  # reported with the company above
            if responsible is not None:
                data["responsible"] = responsible
            for target in (
                "source",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_content",
                "utm_term",
            ):
                value = self._one(row, target)
                if value:
                    data[target] = value
            comment = self._comment(row)
            if comment:
                data["comment"] = comment
            custom = self._custom(row)
            if custom:
                data["custom"] = custom
            try:
                with transaction.atomic():
                    deal = deal_create(actor=self.actor, data=data)
            except ApplicationError as exc:
                stats.failed += 1
                self._refusal(
                    stats,
                    row.number,
                    exc,
                    {"company": "company_name", "contacts": "contact_full_name"},
                )
                continue
            stats.created += 1
            new_fps.append(
                ImportFingerprint(entity="deal", fingerprint=fps[row.number], object_id=deal.pk)
            )
        insert_rows(new_fps, ignore_conflicts=True)
