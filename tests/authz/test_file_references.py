"""RELIABILITY rows 4 and 19 for file references (issue 7 item 1, decision 0009).

A file belongs to the record it was uploaded for. A file custom field may name only a file the
caller uploaded that is not attached anywhere yet, or the file already in that very field of
that very record. Every channel that accepts a file reference is sent the attacks of the issue —
a colleague's file, another department's file, one's own file attached to another record,
someone else's fresh upload, a file of a record the caller can see but does not hold — for every
entity with file fields (deals, companies, contacts), through every write (API create / patch /
move, HTML create / edit / move). Each must be a 422 naming the field with nothing written.
Downloads go by random token only and follow the scope of the record holding the file (checked
against the independent SQL oracle); a sequential id is a 404 for everyone.

Negative controls: with ``negative_controls.no_file_ownership`` every attack is accepted; with
the scope filter off downloads leak across scopes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from authz.harness import fingerprint, quiet_request_logs, record_figures
from authz.matrix import PRINCIPALS
from authz.oracle import visible_ids
from negative_controls import no_file_ownership, no_scope_filter

pytestmark = pytest.mark.django_db

FIELD = {"deal": "f_file", "company": "c_file", "contact": "p_file"}
FIELD_NAME = {"deal": "Поле file", "company": "Скан устава", "contact": "Скан паспорта"}
REFUSAL = "прикреплён к другой записи"  # the refusal's text (Russian UI)


# --- fixture ------------------------------------------------------------------------------------


@dataclass
class Env:
    records: Any
    pipeline: Any
    api: Callable[[str], Any]
    web: Callable[[str], Any]
    personas: Any

    def user(self, who: str) -> Any:
        return self.personas[who].user

    def record(self, who: str, entity: str) -> Any:
        """`who`'s record of `entity`, fresh from the database (current version)."""
        held = getattr(self.records[who], entity)
        return type(held).objects.get(pk=held.pk)

    def upload(self, who: str, entity: str, name: str = "договор.pdf") -> Any:
        """A fresh upload of `who` for `entity`, not attached anywhere yet."""
        from voronka.kernel.actor import Actor
        from voronka.kernel.files import file_store

        content = SimpleUploadedFile(name, b"%PDF-1.4 " + who.encode(), "application/pdf")
        return file_store(upload=content, entity=entity, actor=Actor.for_user(self.user(who)))

    def attach(self, who: str, entity: str, record: Any | None = None) -> Any:
        """Upload as `who` and put the file in `record` (default: `who`'s own) via the service."""
        from voronka.contacts.services import company_update, contact_update
        from voronka.deals.services import deal_update
        from voronka.kernel.actor import Actor

        record = record if record is not None else self.record(who, entity)
        stored = self.upload(who, entity)
        update = {"deal": deal_update, "company": company_update, "contact": contact_update}
        kwargs = {entity: type(record).objects.get(pk=record.pk)}  # current version
        update[entity](
            actor=Actor.for_user(self.user(who)),
            data={"custom": {FIELD[entity]: stored.token}},
            **kwargs,
        )
        stored.refresh_from_db()
        assert (stored.object_id, stored.field_key) == (record.pk, FIELD[entity])
        return stored


@pytest.fixture
def env(
    records: Any, pipeline: Any, api: Any, web: Any, personas: Any, settings: Any, tmp_path: Any
) -> Env:
    from voronka.customfields.services import custom_field_create
    from voronka.kernel.actor import Actor

    settings.MEDIA_ROOT = str(tmp_path / "media")
    for entity in ("company", "contact"):
        custom_field_create(
            actor=Actor.system(),
            data={
                "entity": entity,
                "key": FIELD[entity],
                "name": FIELD_NAME[entity],
                "type": "file",
            },
        )
    return Env(records=records, pipeline=pipeline, api=api, web=web, personas=personas)


def state(env: Env) -> tuple[Any, ...]:
    """Everything a file reference could change: row counts and versions, every record's custom
    values and every file's attachment."""
    from voronka.contacts.models import Company, Contact
    from voronka.deals.models import Deal
    from voronka.kernel.models import StoredFile

    return (
        fingerprint(),
        tuple(Deal.objects.order_by("pk").values_list("pk", "custom")),
        tuple(Company.objects.order_by("pk").values_list("pk", "custom")),
        tuple(Contact.objects.order_by("pk").values_list("pk", "custom")),
        tuple(StoredFile.objects.order_by("pk").values_list("pk", "object_id", "field_key")),
    )


# --- the writes that take a file reference ---------------------------------------------------------


@dataclass
class Channel:
    name: str
    entity: str
    kind: str  # "api" | "html"
    send: Callable[[Env, str, str], Any]  # (env, who, token) -> response


def _json(client: Any, method: str, path: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(path, json.dumps(body), content_type="application/json")


def _api(method: str, path: Callable[[Env, str], str], body: Callable[[Env, str, str], Any]) -> Any:
    return lambda env, who, token: _json(
        env.api(who), method, path(env, who), body(env, who, token)
    )


def _html(path: Callable[[Env, str], str], body: Callable[[Env, str, str], Any]) -> Any:
    return lambda env, who, token: env.web(who).post(path(env, who), body(env, who, token))


def _own(entity: str) -> Callable[[Env, str], Any]:
    return lambda env, who: env.record(who, entity)


def _custom(entity: str, token: str) -> dict[str, Any]:
    return {FIELD[entity]: token}


CHANNELS = [
    # deals
    Channel(
        "api patch deal",
        "deal",
        "api",
        _api(
            "patch",
            lambda e, w: f"/api/v1/deals/{e.record(w, 'deal').pk}",
            lambda e, w, t: {"custom": _custom("deal", t)},
        ),
    ),
    Channel(
        "api create deal",
        "deal",
        "api",
        _api(
            "post",
            lambda e, w: "/api/v1/deals",
            lambda e, w, t: {
                "title": "Чужой файл",
                "company": e.record(w, "company").pk,
                "custom": _custom("deal", t),
            },
        ),
    ),
    Channel(
        "api move deal",
        "deal",
        "api",
        _api(
            "post",
            lambda e, w: f"/api/v1/deals/{e.record(w, 'deal').pk}/move",
            lambda e, w, t: {
                "stage": e.pipeline.stages["talks"].pk,
                "fields": _custom("deal", t),
            },
        ),
    ),
    Channel(
        "html edit deal",
        "deal",
        "html",
        _html(
            lambda e, w: f"/deals/{e.record(w, 'deal').pk}/",
            lambda e, w, t: {
                "version": e.record(w, "deal").version,
                "title": e.record(w, "deal").title,
                "cf_f_file": t,
            },
        ),
    ),
    Channel(
        "html create deal",
        "deal",
        "html",
        _html(
            lambda e, w: "/deals/new/",
            lambda e, w, t: {
                "title": "Чужой файл",
                "company": e.record(w, "company").pk,
                "cf_f_file": t,
            },
        ),
    ),
    Channel(
        "html move deal",
        "deal",
        "html",
        _html(
            lambda e, w: f"/deals/{e.record(w, 'deal').pk}/move/",
            lambda e, w, t: {"stage": e.pipeline.stages["talks"].pk, "cf_f_file": t},
        ),
    ),
    # companies
    Channel(
        "api patch company",
        "company",
        "api",
        _api(
            "patch",
            lambda e, w: f"/api/v1/companies/{e.record(w, 'company').pk}",
            lambda e, w, t: {"custom": _custom("company", t)},
        ),
    ),
    Channel(
        "api create company",
        "company",
        "api",
        _api(
            "post",
            lambda e, w: "/api/v1/companies",
            lambda e, w, t: {"name": "ООО Чужой файл", "custom": _custom("company", t)},
        ),
    ),
    Channel(
        "html edit company",
        "company",
        "html",
        _html(
            lambda e, w: f"/companies/{e.record(w, 'company').pk}/edit/",
            lambda e, w, t: {
                "version": e.record(w, "company").version,
                "name": e.record(w, "company").name,
                "type": e.record(w, "company").type,
                "address_text": "Москва, ул. Тверская, 1",
                "address_kind": "legal",
                "cf_c_file": t,
            },
        ),
    ),
    Channel(
        "html create company",
        "company",
        "html",
        _html(
            lambda e, w: "/companies/new/",
            lambda e, w, t: {
                "name": "ООО Чужой файл",
                "type": "legal",
                "address_text": "Москва, ул. Тверская, 1",
                "address_kind": "legal",
                "cf_c_file": t,
            },
        ),
    ),
    # contacts
    Channel(
        "api patch contact",
        "contact",
        "api",
        _api(
            "patch",
            lambda e, w: f"/api/v1/contacts/{e.record(w, 'contact').pk}",
            lambda e, w, t: {"custom": _custom("contact", t)},
        ),
    ),
    Channel(
        "api create contact",
        "contact",
        "api",
        _api(
            "post",
            lambda e, w: "/api/v1/contacts",
            lambda e, w, t: {
                "first_name": "Чужой",
                "company": e.record(w, "company").pk,
                "custom": _custom("contact", t),
            },
        ),
    ),
    Channel(
        "html edit contact",
        "contact",
        "html",
        _html(
            lambda e, w: f"/contacts/{e.record(w, 'contact').pk}/edit/",
            lambda e, w, t: {
                "version": e.record(w, "contact").version,
                "first_name": e.record(w, "contact").first_name,
                "last_name": e.record(w, "contact").last_name,
                "cf_p_file": t,
            },
        ),
    ),
    Channel(
        "html create contact",
        "contact",
        "html",
        _html(
            lambda e, w: "/contacts/new/",
            lambda e, w, t: {
                "first_name": "Чужой",
                "company": e.record(w, "company").pk,
                "cf_p_file": t,
            },
        ),
    ),
]


@contextmanager
def forms_pass_file_values_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The shipped forms ignore a typed value of a file field (only an upload sets one). To prove
    the *service* guards the HTML channel too, let the form parser pass such a value on."""
    from voronka.contacts import views as contacts_views
    from voronka.deals import forms
    from voronka.deals import views as deals_views

    original = forms.custom_from_post

    def passing(fields: Any, post: Any, prefix: str = "cf_") -> dict[str, Any]:
        values = original(fields, post, prefix)
        for field in fields:
            if field.type == "file" and prefix + field.key in post:
                values[field.key] = post.get(prefix + field.key)
        return values

    with monkeypatch.context() as patch:
        patch.setattr(deals_views, "custom_from_post", passing)
        patch.setattr(contacts_views, "custom_from_post", passing)
        yield


# --- the attacks ------------------------------------------------------------------------------------


@dataclass
class Attack:
    name: str
    who: str
    victim_file: Callable[[Env, str], Any]  # (env, entity) -> a StoredFile `who` must not use


ATTACKS = [
    # manager1 and manager2 of one department (the case)
    Attack("colleague's file", "a1", lambda e, ent: e.attach("a2", ent)),
    # a manager of another department (through create as in the issue, and every other write)
    Attack("other department's file", "b1", lambda e, ent: e.attach("a1", ent)),
    # one's own file, already attached to another record of one's own
    Attack(
        "own file attached elsewhere",
        "a1",
        lambda e, ent: e.attach("a1", ent, record=_second_record(e, "a1", ent)),
    ),
    # someone else's upload that is not attached anywhere yet
    Attack("someone else's fresh upload", "a1", lambda e, ent: e.upload("a2", ent)),
    # a head who can see the record holding the file still may not move it to his own record
    Attack("visible record's file", "head_a", lambda e, ent: e.attach("a1", ent)),
]


def _second_record(env: Env, who: str, entity: str) -> Any:
    from factories import make_contact, make_deal

    user, rec = env.user(who), env.records[who]
    if entity == "deal":
        return make_deal(responsible=user, company=rec.company, title="Вторая сделка")
    if entity == "company":
        return rec.spare_company
    return make_contact(responsible=user, company=rec.company, first_name="Второй")


@contextmanager
def guard_off(switch_off: bool) -> Iterator[None]:
    """The negative control's switch, around the attacking request only (the victims' files are
    attached with the rule on)."""
    with pytest.MonkeyPatch.context() as patch:
        if switch_off:
            no_file_ownership(patch)
        yield


def run_attacks(env: Env, channels: list[Channel], *, switch_off: bool = False) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "cases": 0,
        "foreign_file_refs_accepted": 0,
        "field_not_named": 0,
        "unexpected_status": 0,
    }
    failures: list[str] = []
    with quiet_request_logs():
        for attack in ATTACKS:
            for channel in channels:
                with transaction.atomic():
                    stored = attack.victim_file(env, channel.entity)
                    before = state(env)
                    with guard_off(switch_off):
                        response = channel.send(env, attack.who, stored.token)
                    wrote = state(env) != before
                    transaction.set_rollback(True)
                figures["cases"] += 1
                label = f"{attack.name} / {channel.name}: {response.status_code} wrote={wrote}"
                if response.status_code < 400 or wrote:
                    figures["foreign_file_refs_accepted"] += 1
                    failures.append(label)
                    continue
                if response.status_code != 422:
                    figures["unexpected_status"] += 1
                    failures.append(label + f" {response.content[:200]!r}")
                    continue
                key = f"custom.{FIELD[channel.entity]}"
                if channel.kind == "api":
                    named = FIELD_NAME[channel.entity] in response.json()["errors"].get(key, "")
                else:
                    named = REFUSAL in response.content.decode()
                if not named:
                    figures["field_not_named"] += 1
                    failures.append(label + f" {response.content[:300]!r}")
    figures["failures"] = failures
    return figures


def test_foreign_file_references_are_refused_on_every_channel(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    with forms_pass_file_values_on(monkeypatch):
        figures = run_attacks(env, CHANNELS)
    failures = figures.pop("failures")
    record_figures("BOPLA file references", figures)
    assert figures["cases"] == len(ATTACKS) * len(CHANNELS) == 70
    assert not failures, "\n".join(failures)


def test_negative_control_guard_off_accepts_every_attack(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same cases with the ownership rule switched off: every attack must get through, so
    the test above can fail."""
    with forms_pass_file_values_on(monkeypatch):
        figures = run_attacks(env, CHANNELS, switch_off=True)
    figures.pop("failures")
    record_figures("BOPLA file references (negative control: guard off)", figures)
    assert figures["foreign_file_refs_accepted"] == figures["cases"] == 70


@pytest.mark.parametrize("entity", list(FIELD))
def test_shipped_forms_ignore_a_typed_file_value(env: Env, entity: str) -> None:
    """Without the test's pass-through the HTML forms take a file only as an upload: a typed
    token (even a foreign one) does not reach the record."""
    stored = env.attach("a2", entity)
    html = [c for c in CHANNELS if c.entity == entity and c.kind == "html"]
    for channel in html:
        with transaction.atomic():
            response = channel.send(env, "a1", stored.token)
            assert response.status_code in (200, 302), (channel.name, response.status_code)
            stored.refresh_from_db()
            assert stored.object_id == env.record("a2", entity).pk
            record = type(env.record("a1", entity)).objects.filter(
                **{f"custom__{FIELD[entity]}": stored.token}
            )
            assert list(record.values_list("pk", flat=True)) == [env.record("a2", entity).pk]
            transaction.set_rollback(True)


# --- what stays allowed --------------------------------------------------------------------------


@pytest.mark.parametrize("entity", list(FIELD))
def test_own_upload_attaches_and_the_same_file_may_stay(env: Env, entity: str) -> None:
    channel = next(c for c in CHANNELS if c.entity == entity and c.name.startswith("api patch"))
    fresh = env.upload("a1", entity)
    response = channel.send(env, "a1", fresh.token)
    assert response.status_code == 200, response.content
    assert response.json()["custom"][FIELD[entity]] == fresh.token  # the API shows the token
    fresh.refresh_from_db()
    assert (fresh.object_id, fresh.field_key) == (env.record("a1", entity).pk, FIELD[entity])
    again = channel.send(env, "a1", fresh.token)  # the same file in the same field: kept
    assert again.status_code == 200, again.content
    cleared = channel.send(env, "a1", None)
    assert cleared.status_code == 200 and FIELD[entity] not in cleared.json()["custom"]
    # Cleared, the file stays its record's: it cannot be taken to another record either.
    other = _second_record(env, "a1", entity)
    from voronka.kernel.actor import Actor
    from voronka.kernel.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        _service_update(entity, other, Actor.for_user(env.user("a1")), fresh.token)
    assert f"custom.{FIELD[entity]}" in info.value.errors


def _service_update(entity: str, record: Any, actor: Any, token: str) -> Any:
    from voronka.contacts.services import company_update, contact_update
    from voronka.deals.services import deal_update

    update = {"deal": deal_update, "company": company_update, "contact": contact_update}[entity]
    return update(actor=actor, data={"custom": {FIELD[entity]: token}}, **{entity: record})


def test_html_upload_attaches_and_an_edit_without_upload_keeps_it(env: Env) -> None:
    deal = env.record("a1", "deal")
    client = env.web("a1")
    upload = SimpleUploadedFile("счёт.pdf", b"%PDF-1.4 html", content_type="application/pdf")
    resp = client.post(
        f"/deals/{deal.pk}/", {"version": deal.version, "title": deal.title, "cf_f_file": upload}
    )
    assert resp.status_code == 302
    deal.refresh_from_db()
    token = deal.custom["f_file"]
    resp = client.post(f"/deals/{deal.pk}/", {"version": deal.version, "title": "Переименована"})
    assert resp.status_code == 302
    deal.refresh_from_db()
    assert deal.custom["f_file"] == token and deal.title == "Переименована"
    assert client.get(f"/files/{token}/").status_code == 200


def test_two_records_racing_for_one_upload_only_one_wins(env: Env) -> None:
    """The claim is a conditional UPDATE: the second save that names the same fresh upload finds
    it attached and is refused."""
    fresh = env.upload("a1", "deal")
    first = _json(
        env.api("a1"),
        "patch",
        f"/api/v1/deals/{env.record('a1', 'deal').pk}",
        {"custom": {"f_file": fresh.token}},
    )
    second = _json(
        env.api("a1"),
        "post",
        "/api/v1/deals",
        {
            "title": "Гонка",
            "company": env.record("a1", "company").pk,
            "custom": {"f_file": fresh.token},
        },
    )
    assert (first.status_code, second.status_code) == (200, 422)


@pytest.mark.parametrize("value", ["sequential id", "unknown token", "int", "bool"])
def test_guessable_or_unknown_values_are_refused(env: Env, value: str) -> None:
    own = env.attach("a1", "deal")
    raw = {
        "sequential id": str(own.pk),
        "unknown token": "A" * 32,
        "int": own.pk,
        "bool": True,
    }[value]
    resp = _json(
        env.api("a1"),
        "patch",
        f"/api/v1/deals/{env.record('a1', 'deal').pk}",
        {"custom": {"f_file": raw}},
    )
    assert resp.status_code == 422 and "custom.f_file" in resp.json()["errors"]


# --- downloads ---------------------------------------------------------------------------------------

OWNERS = ["a1", "a2", "a11", "b1", "head_a"]


def download_table(env: Env) -> dict[str, Any]:
    """Every principal × a file on the records of several owners × every entity, compared with
    the independent SQL oracle of who may see the record."""
    files = {(owner, entity): env.attach(owner, entity) for owner in OWNERS for entity in FIELD}
    figures = {"cells": 0, "leaked": 0, "wrongly_denied": 0}
    failures = []
    with quiet_request_logs():
        for principal in PRINCIPALS:
            client = env.web(principal)
            user = env.personas[principal].user
            active = principal not in ("anonymous", "integration", "deact")
            for (owner, entity), stored in files.items():
                expected = active and stored.object_id in visible_ids(user.pk, entity)
                resp = client.get(f"/files/{stored.token}/")
                figures["cells"] += 1
                got = resp.status_code == 200
                if got != expected:
                    figures["leaked" if got else "wrongly_denied"] += 1
                    failures.append(f"{principal} → {owner}'s {entity} file: {resp.status_code}")
                elif not got and active:
                    assert resp.status_code == 404, (principal, owner, entity, resp.status_code)
    figures["failures"] = failures
    return figures


def test_downloads_follow_the_scope_of_the_record(env: Env) -> None:
    figures = download_table(env)
    failures = figures.pop("failures")
    record_figures("UPLOAD-ABUSE downloads across scopes", figures)
    assert figures["cells"] == len(PRINCIPALS) * len(OWNERS) * len(FIELD)
    assert not failures, "\n".join(failures)


def test_negative_control_scope_filter_off_downloads_leak(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_scope_filter(monkeypatch)
    figures = download_table(env)
    figures.pop("failures")
    record_figures("UPLOAD-ABUSE downloads (negative control: scope filter off)", figures)
    assert figures["leaked"] > 0


def test_sequential_id_no_longer_serves_a_file(env: Env) -> None:
    stored = env.attach("a1", "deal")
    client = env.web("owner")  # sees everything
    assert client.get(f"/files/{stored.token}/").status_code == 200
    for path in (f"/files/{stored.pk}/", f"/files/{stored.pk:020d}/"):
        assert client.get(path).status_code == 404
    assert len(stored.token) >= 32 and not stored.token.isdigit()


def test_unattached_file_only_for_its_uploader(env: Env) -> None:
    fresh = env.upload("a1", "deal")
    assert env.web("a1").get(f"/files/{fresh.token}/").status_code == 200
    for other in ("a2", "head_a", "owner", "admin"):
        assert env.web(other).get(f"/files/{fresh.token}/").status_code == 404


def test_a_file_taken_off_its_record_is_no_longer_served(env: Env) -> None:
    stored = env.attach("a1", "deal")
    deal = env.record("a1", "deal")
    from voronka.kernel.actor import Actor

    _service_update("deal", type(deal).objects.get(pk=deal.pk), Actor.for_user(env.user("a1")), "")
    assert env.web("a1").get(f"/files/{stored.token}/").status_code == 404


@pytest.mark.parametrize(
    ("name", "content_type", "served_as"),
    [
        ("договор №5.pdf", "application/pdf", "application/pdf"),
        ('a"b;c.txt', "text/plain", "text/plain"),
        ("page.pdf", "text/html", "application/octet-stream"),
    ],
)
def test_download_headers(env: Env, name: str, content_type: str, served_as: str) -> None:
    from urllib.parse import quote

    from voronka.kernel.models import StoredFile

    stored = env.attach("a1", "deal")
    StoredFile.objects.filter(pk=stored.pk).update(name=name, content_type=content_type)
    resp = env.web("a1").get(f"/files/{stored.token}/")
    assert resp.status_code == 200
    disposition = resp["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    assert disposition.count('"') == 2  # the ASCII fallback cannot break out of its quotes
    assert resp["Content-Type"].split(";")[0] == served_as
    assert resp["X-Content-Type-Options"] == "nosniff"
    assert resp["Content-Security-Policy"].startswith("sandbox")
    assert "no-store" in resp["Cache-Control"]


# --- the backfill of existing data (kernel migration 0004) ----------------------------------------


def test_backfill_turns_ids_into_tokens_and_attaches_each_file_to_one_record(env: Env) -> None:
    """Data from before decision 0009: values are sequential ids, and one file is already held by
    two deals (the attack done). The backfill writes tokens, attaches each file to one record —
    the one whose responsible uploaded it — and the other holder can no longer download it."""
    import importlib

    from django.apps import apps

    from voronka.contacts.models import Company, Contact
    from voronka.deals.models import Deal

    backfill = importlib.import_module("voronka.kernel.migrations.0004_storedfile_backfill")
    a1_deal, a2_deal = env.record("a1", "deal"), env.record("a2", "deal")
    shared = env.upload("a2", "deal")
    company_file = env.upload("a1", "company")
    Deal.objects.filter(pk__in=[a1_deal.pk, a2_deal.pk]).update(custom={"f_file": shared.pk})
    Company.objects.filter(pk=env.record("a1", "company").pk).update(
        custom={"c_file": company_file.pk, "industry": "Опт"}
    )
    Contact.objects.filter(pk=env.record("a1", "contact").pk).update(custom={"p_file": 10**9})

    backfill.forward(apps, None)

    shared.refresh_from_db()
    company_file.refresh_from_db()
    assert env.record("a1", "deal").custom == {"f_file": shared.token}
    assert env.record("a2", "deal").custom == {"f_file": shared.token}
    assert (shared.object_id, shared.field_key) == (a2_deal.pk, "f_file")  # its uploader's deal
    assert env.record("a1", "company").custom == {"c_file": company_file.token, "industry": "Опт"}
    assert (company_file.object_id, company_file.field_key) == (
        env.record("a1", "company").pk,
        "c_file",
    )
    assert env.record("a1", "contact").custom == {"p_file": 10**9}  # dangling: left alone
    assert env.web("a2").get(f"/files/{shared.token}/").status_code == 200
    assert env.web("a1").get(f"/files/{shared.token}/").status_code == 404
    card = env.web("a1").get(f"/deals/{a1_deal.pk}/").content.decode()
    assert shared.token not in card and "Файл недоступен" in card

    backfill.backward(apps, None)
    assert env.record("a1", "deal").custom == {"f_file": shared.pk}


def test_every_writer_of_custom_values_applies_the_file_rule() -> None:
    """A new service that stores custom values (an importer, a merge, a facade) must call
    kernel.files.files_attach as well: each module calls it as often as it cleans custom values."""
    import re
    from pathlib import Path

    import voronka

    root = Path(voronka.__file__).parent
    writers = {}
    for path in root.rglob("*.py"):
        if "migrations" in path.parts or path.name == "customfields.py":
            continue
        text = path.read_text(encoding="utf-8")
        cleans = len(re.findall(r"\bclean_custom\(", text))
        if cleans:
            writers[str(path.relative_to(root))] = (
                cleans,
                len(re.findall(r"\bfiles_attach\(", text)),
            )
    assert {"deals/services/deal.py", "contacts/services.py"} <= set(writers)
    assert all(c == a for c, a in writers.values()), writers
