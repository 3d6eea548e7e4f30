"""One declaration of each entity's input fields (issue 8, "service inputs are typed").

`<app>/inputs.py` declares, per entity, the keys a create and an update take, each field's kind,
its length limit and whether it is required. This file proves that nothing else keeps its own
copy that could drift:

* every ninja request schema has exactly the declared keys, the declared max lengths and the
  declared required fields;
* every form (template) limits a declared text by exactly the declared maxlength, and no
  domain form keeps a limit the declaration does not know;
* every create/update pair of services treats the same edge values of a shared key the same
  way (0001-01-01 / 9999-12-31, NUL, 1 MB strings, max+1 lengths, `true` for ids) — the class of
  `custom_field_update` storing what `custom_field_create` refuses.

Each check has its negative control: a drifted declaration, schema, template or cleaner is
shown to be caught."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from django.db import transaction

from voronka.activities import schemas as activity_schemas
from voronka.activities import tasks_services
from voronka.activities.inputs import COMMENT, TASK, TASK_COMPLETE, TASK_RESCHEDULE
from voronka.contacts import schemas as contact_schemas
from voronka.contacts import services as contact_services
from voronka.contacts.inputs import ADDRESS, COMPANY, CONTACT, CONTACT_ITEM
from voronka.customfields import services as customfield_services
from voronka.customfields.inputs import CUSTOM_FIELD, CUSTOM_VALUE
from voronka.deals import schemas as deal_schemas
from voronka.deals import services as deal_services
from voronka.deals.inputs import DEAL, DEAL_MOVE, PIPELINE, STAGE
from voronka.integrations import schemas as integration_schemas
from voronka.integrations.inputs import ENDPOINT
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.errors import ApplicationError
from voronka.kernel.inputs import EntityInput, In, Kind
from voronka.kernel.models import CustomField, CustomFieldType
from voronka.kernel.schemas import StrictIn

SRC = Path(deal_services.__file__).resolve().parents[2]  # src/voronka

# --- the API schemas -------------------------------------------------------------------------

# Every request schema: (declaration, "create" | "update" | "subset"). A new StrictIn schema
# fails `test_every_request_schema_is_declared` until it is listed here or in NOT_AN_ENTITY.
SCHEMAS: dict[type, tuple[EntityInput, str]] = {
    deal_schemas.DealIn: (DEAL, "create"),
    integration_schemas.EndpointIn: (ENDPOINT, "create"),
    deal_schemas.DealPatch: (DEAL, "update"),
    deal_schemas.DealMoveIn: (DEAL_MOVE, "create"),
    deal_schemas.PipelineIn: (PIPELINE, "create"),
    deal_schemas.StageIn: (STAGE, "create"),
    deal_schemas.StagePatch: (STAGE, "update"),
    deal_schemas.CustomFieldIn: (CUSTOM_FIELD, "create"),
    contact_schemas.CompanyIn: (COMPANY, "create"),
    contact_schemas.CompanyPatch: (COMPANY, "update"),
    contact_schemas.AddressSchema: (ADDRESS, "create"),
    contact_schemas.ContactIn: (CONTACT, "create"),
    contact_schemas.ContactPatch: (CONTACT, "update"),
    activity_schemas.TaskIn: (TASK, "create"),
    activity_schemas.TaskPatch: (TASK, "update"),
    activity_schemas.NextTaskIn: (TASK, "subset"),  # the next task given with a completion
    activity_schemas.TaskCompleteIn: (TASK_COMPLETE, "create"),
    activity_schemas.TaskRescheduleIn: (TASK_RESCHEDULE, "create"),
}
NOT_AN_ENTITY = {
    "NotificationsReadIn",  # a list of ids: no text, no entity
    # The automation's rule: the schema IS the declaration (automation.schemas), read by the
    # services' validation (automation.services._clean), the API and the YAML import.
    "RuleIn",
    "RulePatch",
    "MergeIn",  # ids and {field: id}: the merge service checks them (contacts.merge)
    "PhoneIn",  # one phone of a contact as the API answers it: only e164/value are read
    "RequisitesLookupIn",  # a query to the requisites provider, not a record
}


def _max_length(info: Any) -> int | None:
    return next(
        (m.max_length for m in info.metadata if isinstance(m, annotated_types.MaxLen)), None
    )


def schema_drift(schema: type, spec: EntityInput, mode: str) -> list[str]:
    """What `schema` says differently from the declaration (empty when they agree)."""
    fields = schema.model_fields  # type: ignore[attr-defined]
    declared = spec.keys(creating=mode != "update")
    problems: list[str] = []
    if mode == "subset":
        extra = set(fields) - declared
        if extra:
            problems.append(f"{schema.__name__}: keys not declared: {sorted(extra)}")
    elif set(fields) != declared:
        problems.append(
            f"{schema.__name__}: keys {sorted(set(fields) ^ declared)} differ from {spec.name}"
        )
    for key, info in fields.items():
        if key not in spec.fields:
            continue
        want = spec.fields[key]
        if want.kind in (Kind.TEXT, Kind.CODE) and _max_length(info) != want.max_length:
            problems.append(
                f"{schema.__name__}.{key}: max_length {_max_length(info)} != {want.max_length}"
            )
        required = want.required and mode != "update"
        if info.is_required() != required:
            problems.append(f"{schema.__name__}.{key}: required {info.is_required()} != {required}")
    return problems


def _request_schemas() -> set[type]:
    found: set[type] = set()
    pending = list(StrictIn.__subclasses__())
    while pending:
        schema = pending.pop()
        pending.extend(schema.__subclasses__())
        if schema.__module__.startswith("voronka."):
            found.add(schema)
    return found


def test_every_request_schema_is_declared() -> None:
    unmapped = sorted(
        s.__name__
        for s in _request_schemas()
        if s not in SCHEMAS and s.__name__ not in NOT_AN_ENTITY
    )
    assert not unmapped, f"map these request schemas to their declaration: {unmapped}"


def test_every_request_schema_agrees_with_the_declaration() -> None:
    problems = [
        p for schema, (spec, mode) in SCHEMAS.items() for p in schema_drift(schema, spec, mode)
    ]
    assert not problems, "\n".join(problems)


def test_negative_control_a_drifted_limit_or_key_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    title = DEAL.fields["title"]
    monkeypatch.setitem(DEAL.fields, "title", dataclasses.replace(title, max_length=256))  # type: ignore[arg-type]
    assert any(
        "DealIn.title: max_length 255 != 256" in p
        for p in schema_drift(deal_schemas.DealIn, DEAL, "create")
    )
    monkeypatch.setitem(DEAL.fields, "title", title)  # type: ignore[arg-type]
    monkeypatch.setitem(DEAL.fields, "rating", In(Kind.NUMBER))  # type: ignore[arg-type]
    assert any("rating" in p for p in schema_drift(deal_schemas.DealPatch, DEAL, "update"))
    monkeypatch.delitem(DEAL.fields, "rating")  # type: ignore[arg-type]
    monkeypatch.setitem(DEAL.fields, "company", In(Kind.ID))  # type: ignore[arg-type]
    assert any(
        "DealIn.company: required" in p for p in schema_drift(deal_schemas.DealIn, DEAL, "create")
    )


# --- the forms ---------------------------------------------------------------------------------

# Every text input of a domain form with a limit: (template, input name) -> (declaration, key).
FORMS: dict[tuple[str, str], tuple[EntityInput, str]] = {
    ("deals/templates/deals/create.html", "title"): (DEAL, "title"),
    ("contacts/templates/contacts/families.html", "name"): (COMPANY, "name"),  # the family
    ("deals/templates/deals/create.html", "source"): (DEAL, "source"),
    ("deals/templates/deals/create.html", "comment"): (DEAL, "comment"),
    ("deals/templates/deals/card.html", "title"): (DEAL, "title"),
    ("deals/templates/deals/card.html", "source"): (DEAL, "source"),
    ("deals/templates/deals/card.html", "{{ key }}"): (DEAL, "utm_source"),  # the utm_* loop
    ("deals/templates/deals/card.html", "comment"): (DEAL, "comment"),
    ("deals/templates/deals/_move_fields.html", "comment"): (DEAL, "comment"),
    ("deals/templates/deals/_move_fields.html", "loss_comment"): (DEAL_MOVE, "loss_comment"),
    ("deals/templates/deals/_create_stage.html", "loss_comment"): (DEAL, "loss_comment"),
    ("deals/templates/deals/_timeline.html", "text"): (COMMENT, "text"),
    ("deals/templates/deals/settings_pipelines.html", "name"): (PIPELINE, "name"),
    ("deals/templates/deals/settings_pipeline.html", "pipeline_name"): (PIPELINE, "name"),
    ("deals/templates/deals/_stage_fields.html", "{{ s.prefix }}name"): (STAGE, "name"),
    ("deals/templates/deals/settings_fields.html", "name"): (CUSTOM_FIELD, "name"),
    ("deals/templates/deals/settings_fields.html", "key"): (CUSTOM_FIELD, "key"),
    ("contacts/templates/contacts/company_form.html", "name"): (COMPANY, "name"),
    ("contacts/templates/contacts/company_form.html", "inn"): (COMPANY, "inn"),
    ("contacts/templates/contacts/company_form.html", "kpp"): (COMPANY, "kpp"),
    ("contacts/templates/contacts/company_form.html", "ogrn"): (COMPANY, "ogrn"),
    ("contacts/templates/contacts/company_form.html", "bank_bik"): (COMPANY, "bank_bik"),
    ("contacts/templates/contacts/company_form.html", "bank_account"): (COMPANY, "bank_account"),
    ("contacts/templates/contacts/company_form.html", "bank_name"): (COMPANY, "bank_name"),
    ("contacts/templates/contacts/company_form.html", "phone"): (COMPANY, "phone"),
    ("contacts/templates/contacts/company_form.html", "email"): (COMPANY, "email"),
    ("contacts/templates/contacts/company_form.html", "website"): (COMPANY, "website"),
    ("contacts/templates/contacts/company_form.html", "comment"): (COMPANY, "comment"),
    ("contacts/templates/contacts/company_form.html", "address_text"): (ADDRESS, "text"),
    ("contacts/templates/contacts/_company_quick_create.html", "new_company_name"): (
        COMPANY,
        "name",
    ),
    ("contacts/templates/contacts/contact_form.html", "last_name"): (CONTACT, "last_name"),
    ("contacts/templates/contacts/contact_form.html", "first_name"): (CONTACT, "first_name"),
    ("contacts/templates/contacts/contact_form.html", "middle_name"): (CONTACT, "middle_name"),
    ("contacts/templates/contacts/contact_form.html", "position"): (CONTACT, "position"),
    ("contacts/templates/contacts/contact_form.html", "comment"): (CONTACT, "comment"),
    ("contacts/templates/contacts/contact_form.html", "phone"): (CONTACT_ITEM, "phone"),
    ("contacts/templates/contacts/contact_form.html", "email"): (CONTACT_ITEM, "email"),
    ("contacts/templates/contacts/contact_form.html", "messenger_{{ key }}"): (
        CONTACT_ITEM,
        "messenger",
    ),
    ("activities/templates/activities/task_form.html", "comment"): (TASK, "comment"),
    ("activities/templates/activities/task_detail.html", "result"): (TASK_COMPLETE, "result"),
    ("activities/templates/activities/task_detail.html", "reason"): (TASK_RESCHEDULE, "reason"),
    ("activities/templates/activities/_task_move_form.html", "reason"): (
        TASK_RESCHEDULE,
        "reason",
    ),
    ("web/templates/web/_custom_input.html", "string"): (CUSTOM_VALUE, "string"),
    ("web/templates/web/_custom_input.html", "address"): (CUSTOM_VALUE, "address"),
    ("web/templates/web/_custom_input.html", "link"): (CUSTOM_VALUE, "link"),
}
# Search boxes: a query, not an entity's field.
SEARCH_INPUTS = {
    ("contacts/templates/contacts/_company_picker.html", "q"),
    # The company list's metric filters: numbers, parsed by contacts.selectors.CompanyMetrics.
    ("contacts/templates/contacts/company_list.html", "ltv_min"),
    ("contacts/templates/contacts/company_list.html", "deals_min"),
}
FORM_DIRS = ["deals/templates", "contacts/templates", "activities/templates"]
FIELD_INCLUDE_DEFAULT = 255  # contacts/_field.html: maxlength|default:255

_TAG = re.compile(r"<(?:input|textarea)\b[^>]*>", re.S)
_INCLUDE = re.compile(r'{%\s*include\s+"contacts/_field.html"\s+with\s+(.*?)%}', re.S)
_CUSTOM_TYPE = re.compile(r'field\.type == "(\w+)"')


def _attr(tag: str, name: str) -> str | None:
    found = re.search(rf'\b{name}="([^"]*)"', tag) or re.search(rf"\b{name}=(\d+)", tag)
    return found.group(1) if found else None


def form_limits(relpath: str, text: str) -> list[tuple[str, int | None]]:
    """(input name, maxlength or None) of every text input, textarea and `_field.html` include."""
    found: list[tuple[str, int | None]] = []
    for line in text.splitlines():
        custom_type = _CUSTOM_TYPE.search(line)
        for tag in _TAG.findall(line):
            name = _attr(tag, "name")
            if name is None or _attr(tag, "type") in ("hidden", "checkbox", "radio", "file"):
                continue
            if _attr(tag, "type") in ("date", "datetime-local", "time", "number", "color"):
                continue
            if relpath.endswith("_custom_input.html") and custom_type:
                name = custom_type.group(1)  # one input per custom-field type
            limit = _attr(tag, "maxlength")
            found.append((name, int(limit) if limit else None))
    for args in _INCLUDE.findall(text):
        name = _attr(args, "name")
        limit = _attr(args, "maxlength")
        if name:
            found.append((name, int(limit) if limit else FIELD_INCLUDE_DEFAULT))
    return found


def _templates() -> Iterable[tuple[str, str]]:
    for folder in FORM_DIRS:
        for path in sorted((SRC / folder).rglob("*.html")):
            if path.name == "_field.html":  # the include's own tag: checked at each include
                continue
            yield str(path.relative_to(SRC)), path.read_text(encoding="utf-8")
    path = SRC / "web/templates/web/_custom_input.html"
    yield str(path.relative_to(SRC)), path.read_text(encoding="utf-8")


def form_drift(templates: Iterable[tuple[str, str]]) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for relpath, text in templates:
        for name, limit in form_limits(relpath, text):
            key = (relpath, name)
            if key in SEARCH_INPUTS:
                continue
            if key not in FORMS:
                if limit is not None:
                    problems.append(f"{relpath}: {name} maxlength={limit} is in no declaration")
                continue
            seen.add(key)
            spec, field = FORMS[key]
            want = spec.max_length(field)
            if limit != want:
                problems.append(
                    f"{relpath}: {name} maxlength={limit}, declared {spec.name}.{field}={want}"
                )
    problems.extend(f"{t}: no input {n} (update FORMS)" for t, n in sorted(set(FORMS) - seen))
    return problems


def test_every_form_limit_is_the_declared_one() -> None:
    problems = form_drift(_templates())
    assert not problems, "\n".join(problems)


def test_utm_inputs_share_one_limit() -> None:
    """card.html renders utm_* in a loop with one maxlength: the declaration must agree."""
    assert (
        len(
            {
                DEAL.max_length(f"utm_{k}")
                for k in ("source", "medium", "campaign", "content", "term")
            }
        )
        == 1
    )


def test_negative_control_a_form_limit_that_drifted_is_caught() -> None:
    templates = dict(_templates())
    card = "deals/templates/deals/card.html"
    drifted = templates[card].replace(
        'name="title" required maxlength="255"', 'name="title" required maxlength="300"'
    )
    assert drifted != templates[card]
    assert any("title maxlength=300" in p for p in form_drift({**templates, card: drifted}.items()))
    missing = templates[card].replace(
        'name="comment" rows="3" maxlength="10000"', 'name="comment" rows="3"'
    )
    assert missing != templates[card]
    assert any(
        "comment maxlength=None" in p for p in form_drift({**templates, card: missing}.items())
    )
    unknown = templates[card] + '<input name="nickname" maxlength="30">'
    assert any(
        "nickname maxlength=30 is in no declaration" in p
        for p in form_drift({**templates, card: unknown}.items())
    )


# --- create and update: one cleaner per field ------------------------------------------------

MB = "x" * 1_000_000


def edge_values(spec: In) -> list[Any]:
    """The values every create/update pair must treat alike, by the field's kind."""
    common: list[Any] = [True, MB, "a\x00b"]
    m = spec.max_length
    if spec.kind == Kind.TEXT:
        assert m is not None
        return [*common, "x" * m, "x" * (m + 1), "   ", None, 5]
    if spec.kind == Kind.CODE:
        return [*common, "1" * (m + 1)] if m else common
    if spec.kind == Kind.ID:
        return [True, 0, -1, 2**63, "1.0", 1.5, MB]
    if spec.kind == Kind.IDS:
        return [True, [True], [0], MB, None]
    if spec.kind == Kind.MONEY:
        return [True, "-1", "1e20", MB, "0"]
    if spec.kind == Kind.DATE:
        return ["0001-01-01", "9999-12-31", True, MB, "1990-02-30"]
    if spec.kind == Kind.MOMENT:
        return ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00", True, MB, "\x00"]
    if spec.kind == Kind.BOOL:
        return [True, "true", "false", 1, None]
    if spec.kind == Kind.NUMBER:
        return [True, -1, 2**63, "1", MB]
    return [True, MB, None, 5]  # choice, list, object


class _Rollback(Exception):
    pass


def outcome(call: Callable[[], Any], read: Callable[[Any], Any]) -> Any:
    """("refused", error keys) or ("stored", what was stored) — then everything is undone, so
    each call starts from the same state."""
    result: Any = None
    try:
        with transaction.atomic():
            obj = call()
            obj.refresh_from_db()
            result = ("stored", read(obj))
            raise _Rollback
    except _Rollback:
        pass
    except ApplicationError as exc:
        result = ("refused", tuple(sorted(exc.errors)) or exc.code)
    return result


def _read(key: str) -> Callable[[Any], Any]:
    def read(obj: Any) -> Any:
        if key == "contacts":
            return sorted(obj.contacts.values_list("pk", flat=True))
        if key == "addresses":
            return sorted(obj.addresses.values_list("kind", "text", "postal_code"))
        if key in ("phones", "emails"):
            value = getattr(obj, key, None)
            return list(value) if value is not None else None
        if hasattr(obj, f"{key}_id"):
            return getattr(obj, f"{key}_id")
        return getattr(obj, key)

    return read


def pair_mismatches(
    spec: EntityInput,
    create: Callable[[str, Any], Any],
    update: Callable[[str, Any], Any],
    keys: Iterable[str] | None = None,
) -> list[str]:
    """Each key both writes take, each edge value: the create's outcome == the update's."""
    shared = keys or sorted((spec.create_keys & spec.update_keys) - {"version"})
    problems: list[str] = []
    for key in shared:
        for value in edge_values(spec.fields[key]):
            made = outcome(lambda k=key, v=value: create(k, v), _read(key))
            changed = outcome(lambda k=key, v=value: update(k, v), _read(key))
            if made != changed:
                shown = repr(value)[:40]
                problems.append(
                    f"{spec.name}.{key}={shown}: create {made!r:.120} / update {changed!r:.120}"
                )
    return problems


@pytest.mark.django_db
def test_deal_create_and_update_treat_every_shared_field_alike(records: Any) -> None:
    rec = records["a1"]
    actor = Actor.for_user(rec.user)

    def create(key: str, value: Any) -> Any:
        return deal_services.deal_create(
            actor=actor, data={"title": "Т", "company": rec.company.pk, key: value}
        )

    def update(key: str, value: Any) -> Any:
        return deal_services.deal_update(deal=rec.deal, actor=actor, data={key: value})

    problems = pair_mismatches(DEAL, create, update)
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_company_create_and_update_treat_every_shared_field_alike(records: Any) -> None:
    rec = records["a1"]
    actor = Actor.for_user(rec.user)

    def create(key: str, value: Any) -> Any:
        return contact_services.company_create(actor=actor, data={"name": "Н", **{key: value}})

    def update(key: str, value: Any) -> Any:
        return contact_services.company_update(
            company=rec.spare_company, actor=actor, data={key: value}
        )

    problems = pair_mismatches(COMPANY, create, update)
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_contact_create_and_update_treat_every_shared_field_alike(records: Any) -> None:
    rec = records["a1"]
    actor = Actor.for_user(rec.user)

    def create(key: str, value: Any) -> Any:
        data = {"first_name": "И", "company": rec.company.pk, key: value}
        return contact_services.contact_create(actor=actor, data=data)

    def update(key: str, value: Any) -> Any:
        return contact_services.contact_update(contact=rec.contact, actor=actor, data={key: value})

    problems = pair_mismatches(CONTACT, create, update)
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_task_create_update_and_reschedule_treat_every_shared_field_alike(records: Any) -> None:
    rec = records["a1"]
    actor = Actor.for_user(rec.user)
    tomorrow = (clock.now() + dt.timedelta(days=1)).isoformat()
    base = {
        "type": "call",
        "responsible": rec.user.pk,
        "deadline": tomorrow,
        "comment": "К",
        "deal": rec.deal.pk,
    }

    def create(key: str, value: Any) -> Any:
        return tasks_services.task_create(actor=actor, data={**base, key: value})

    def update(key: str, value: Any) -> Any:
        return tasks_services.task_update(task=rec.task, actor=actor, data={key: value})

    def reschedule(key: str, value: Any) -> Any:
        return tasks_services.task_reschedule(
            task=rec.task, actor=actor, deadline=value, reason="П"
        )

    problems = pair_mismatches(TASK, create, update)
    # The deadline is updated by a reschedule only: the same edge values, the same answer.
    problems += pair_mismatches(TASK, create, reschedule, keys=["deadline"])
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_stage_and_pipeline_create_and_update_treat_every_shared_field_alike(pipeline: Any) -> None:
    actor = Actor.system()
    fresh = deal_services.stage_create(
        pipeline=pipeline.other, actor=actor, data={"name": "Свежая"}
    )

    def create(key: str, value: Any) -> Any:
        return deal_services.stage_create(
            pipeline=pipeline.other, actor=actor, data={"name": "С", key: value}
        )

    def update(key: str, value: Any) -> Any:
        return deal_services.stage_update(stage=fresh, actor=actor, data={key: value})

    def pipeline_create(key: str, value: Any) -> Any:
        return deal_services.pipeline_create(actor=actor, name=value)

    def pipeline_rename(key: str, value: Any) -> Any:
        return deal_services.pipeline_rename(pipeline=pipeline.other, actor=actor, name=value)

    problems = pair_mismatches(STAGE, create, update)
    problems += pair_mismatches(PIPELINE, pipeline_create, pipeline_rename)
    assert not problems, "\n".join(problems)


def _list_field() -> CustomField:
    return CustomField.objects.filter(type=CustomFieldType.LIST, entity="deal").first()  # type: ignore[return-value]


def _custom_field_pair() -> tuple[Callable[[str, Any], Any], Callable[[str, Any], Any]]:
    actor = Actor.system()
    field = _list_field()
    base = {"entity": "deal", "key": "probe", "name": "П", "type": "list", "choices": ["а"]}

    def create(key: str, value: Any) -> Any:
        return customfield_services.custom_field_create(actor=actor, data={**base, key: value})

    def update(key: str, value: Any) -> Any:
        return customfield_services.custom_field_update(field=field, actor=actor, data={key: value})

    return create, update


@pytest.mark.django_db
def test_custom_field_create_and_update_treat_every_shared_field_alike(pipeline: Any) -> None:
    create, update = _custom_field_pair()
    problems = pair_mismatches(CUSTOM_FIELD, create, update)
    problems += [
        f"choices={v!r:.30}"
        for v in (["x" * 500], ["x" * 121], [], ["a\x00"], ["x"] * 501)
        if outcome(lambda v=v: create("choices", v), _read("choices"))
        != outcome(lambda v=v: update("choices", v), _read("choices"))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_custom_field_update_refuses_what_create_refuses(
    pipeline: Any, nothing_written: Any
) -> None:
    """The reported drift and its relatives: a 500-character variant, no variants for a list,
    `"false"` read as true — refused by the update as by the create, and nothing written."""
    field = _list_field()
    before = (list(field.choices), field.is_active)
    for data in (
        {"choices": ["x" * 500]},
        {"choices": []},
        {"choices": None},
        {"is_active": "false"},
        {"sort": 1},
    ):
        with nothing_written(), pytest.raises(ApplicationError):
            customfield_services.custom_field_update(field=field, actor=Actor.system(), data=data)
    field.refresh_from_db()
    assert (field.choices, field.is_active) == before


@pytest.mark.django_db
def test_negative_control_an_update_with_its_own_cleaning_is_caught(
    pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug as it was: the update keeps variants the create refuses."""
    original = customfield_services._clean_custom_field

    def drifted(data: Any, *, field: Any) -> Any:
        if field is None or "choices" not in data:
            return original(data, field=field)
        c = original({k: v for k, v in data.items() if k != "choices"}, field=field)
        raw = data["choices"]
        c.cleaned["choices"] = list(raw) if isinstance(raw, list) else []  # any list kept
        return c

    monkeypatch.setattr(customfield_services, "_clean_custom_field", drifted)
    create, update = _custom_field_pair()
    problems = pair_mismatches(CUSTOM_FIELD, create, update, keys=["choices"])
    assert problems, "a drifted update cleaner went unnoticed"
    assert outcome(lambda: update("choices", ["x" * 500]), _read("choices"))[0] == "stored"
