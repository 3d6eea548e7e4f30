"""Permissions in the services (decision 0014): every write service, called directly (no HTTP),
as each kind of actor, on records inside and outside its scope — the same answers a robot, a
webhook or an API facade gets as the UI.

``EXPECTED`` is the table, written out. Targets: ``a1`` — the records of manager a1 (department
A), ``b1`` — those of manager b1 (department B); ``-`` — configuration, no record. Columns:

    owner, admin         — company-wide scope, may configure and delete
    head                 — head_a: department A's tree, may delete
    manager              — a1: own records only
    other                — b1: the other department's manager
    deact                — the deactivated manager: may do nothing (403 before any lookup)
    system               — Actor.system(): trusted (worker, CLI, demo)
    automation           — an automation actor whose rule belongs to a1: a1's rights
    automation_no_owner  — an automation actor without a rule owner: may do nothing

Outcomes: ``ok``; ``403`` (the role lacks the flag, or the actor may not act at all); ``404``
(the record is outside the actor's scope: it does not exist for them); ``422`` (a create naming
a responsible or a company outside the actor's scope). A refused call writes no audit row and no
event.

``test_every_service_declares_its_rule`` enumerates every public function of the service
modules: a new one fails until it is in ``EXPECTED`` or in ``NOT_WRITES`` with the reason it
needs no rule. The negative controls patch a check out of one service and expect the table to
turn red."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.errors import ApplicationError

ACTORS = (
    "owner",
    "admin",
    "head",
    "manager",
    "other",
    "deact",
    "system",
    "automation",
    "automation_no_owner",
)

EXPECTED_TEXT = """
# service                   target owner admin head manager other deact system automation automation_no_owner
deal_get_for_write          a1     ok    ok    ok   ok      404   403   ok     ok         403
deal_get_for_write          b1     ok    ok    404  404     ok    403   ok     404        403
deal_create                 a1     ok    ok    ok   ok      422   403   ok     ok         403
deal_create                 b1     ok    ok    422  422     ok    403   ok     422        403
deal_update                 a1     ok    ok    ok   ok      404   403   ok     ok         403
deal_update                 b1     ok    ok    404  404     ok    403   ok     404        403
deal_move_to_stage          a1     ok    ok    ok   ok      404   403   ok     ok         403
deal_move_to_stage          b1     ok    ok    404  404     ok    403   ok     404        403
deal_delete                 a1     ok    ok    ok   403     404   403   ok     403        403
deal_delete                 b1     ok    ok    404  404     403   403   ok     404        403
pipeline_get_for_write      -      ok    ok    403  403     403   403   ok     403        403
stage_get_for_write         -      ok    ok    403  403     403   403   ok     403        403
pipeline_create             -      ok    ok    403  403     403   403   ok     403        403
pipeline_rename             -      ok    ok    403  403     403   403   ok     403        403
stage_create                -      ok    ok    403  403     403   403   ok     403        403
stage_update                -      ok    ok    403  403     403   403   ok     403        403
stages_reorder              -      ok    ok    403  403     403   403   ok     403        403
stage_delete                -      ok    ok    403  403     403   403   ok     403        403
pipeline_settings_save      -      ok    ok    403  403     403   403   ok     403        403
custom_field_get_for_write  -      ok    ok    403  403     403   403   ok     403        403
custom_field_create         -      ok    ok    403  403     403   403   ok     403        403
custom_field_update         -      ok    ok    403  403     403   403   ok     403        403
company_get_for_write       a1     ok    ok    ok   ok      404   403   ok     ok         403
company_get_for_write       b1     ok    ok    404  404     ok    403   ok     404        403
company_create              a1     ok    ok    ok   ok      422   403   ok     ok         403
company_create              b1     ok    ok    422  422     ok    403   ok     422        403
company_update              a1     ok    ok    ok   ok      404   403   ok     ok         403
company_update              b1     ok    ok    404  404     ok    403   ok     404        403
company_delete              a1     ok    ok    ok   403     404   403   ok     403        403
company_delete              b1     ok    ok    404  404     403   403   ok     404        403
family_company_for          a1     ok    ok    ok   ok      422   403   ok     ok         403
family_company_for          b1     ok    ok    422  422     ok    403   ok     422        403
contact_get_for_write       a1     ok    ok    ok   ok      404   403   ok     ok         403
contact_get_for_write       b1     ok    ok    404  404     ok    403   ok     404        403
contact_create              a1     ok    ok    ok   ok      422   403   ok     ok         403
contact_create              b1     ok    ok    422  422     ok    403   ok     422        403
company_create_many         a1     ok    ok    ok   ok      422   403   ok     ok         403
company_create_many         b1     ok    ok    422  422     ok    403   ok     422        403
contact_create_many         a1     ok    ok    ok   ok      422   403   ok     ok         403
contact_create_many         b1     ok    ok    422  422     ok    403   ok     422        403
import_upload               -      ok    ok    ok   ok      ok    403   422    ok         403
contact_find_or_create      a1     ok    ok    ok   ok      422   403   ok     ok         403
contact_find_or_create      b1     ok    ok    422  422     ok    403   ok     422        403
duplicate_group_dismiss     a1     ok    ok    ok   ok      404   403   ok     ok         403
duplicate_group_dismiss     b1     ok    ok    404  404     ok    403   ok     404        403
duplicates_scan_request     -      ok    ok    ok   ok      ok    403   ok     ok         403
contact_update              a1     ok    ok    ok   ok      404   403   ok     ok         403
contact_update              b1     ok    ok    404  404     ok    403   ok     404        403
contact_delete              a1     ok    ok    ok   403     404   403   ok     403        403
contact_delete              b1     ok    ok    404  404     403   403   ok     404        403
contact_merge               a1     ok    ok    ok   403     404   403   ok     403        403
contact_merge               b1     ok    ok    404  404     403   403   ok     404        403
company_merge               a1     ok    ok    ok   403     404   403   ok     403        403
company_merge               b1     ok    ok    404  404     403   403   ok     404        403
merge_undo                  a1     ok    ok    ok   403     404   403   ok     403        403
merge_undo                  b1     ok    ok    404  404     403   403   ok     404        403
family_merge                a1     ok    ok    ok   ok      404   403   ok     ok         403
family_merge                b1     ok    ok    404  404     ok    403   ok     404        403
task_get_for_write          a1     ok    ok    ok   ok      404   403   ok     ok         403
task_get_for_write          b1     ok    ok    404  404     ok    403   ok     404        403
task_create                 a1     ok    ok    ok   ok      422   403   ok     ok         403
task_create                 b1     ok    ok    422  422     ok    403   ok     422        403
tasks_create                a1     ok    ok    ok   ok      422   403   ok     ok         403
tasks_create                b1     ok    ok    422  422     ok    403   ok     422        403
task_complete               a1     ok    ok    ok   ok      404   403   ok     ok         403
task_complete               b1     ok    ok    404  404     ok    403   ok     404        403
task_reschedule             a1     ok    ok    ok   ok      404   403   ok     ok         403
task_reschedule             b1     ok    ok    404  404     ok    403   ok     404        403
task_update                 a1     ok    ok    ok   ok      404   403   ok     ok         403
task_update                 b1     ok    ok    404  404     ok    403   ok     404        403
comment_add                 a1     ok    ok    ok   ok      404   403   ok     ok         403
comment_add                 b1     ok    ok    404  404     ok    403   ok     404        403
user_set_language           a1     403   403   403  ok      403   403   ok     ok         403
user_set_language           b1     403   403   403  403     ok    403   ok     403        403
rule_get_for_write          -      ok    ok    403  403     403   403   ok     403        403
rule_create                 -      ok    ok    403  403     403   403   ok     403        403
rule_update                 -      ok    ok    403  403     403   403   ok     403        403
rule_move                   -      ok    ok    403  403     403   403   ok     403        403
rule_delete                 -      ok    ok    403  403     403   403   ok     403        403
rule_run_retry              -      ok    ok    403  403     403   403   ok     403        403
"""


def _parse(text: str) -> dict[tuple[str, str], dict[str, str]]:
    table: dict[tuple[str, str], dict[str, str]] = {}
    for line in text.strip().splitlines():
        if line.startswith("#"):
            continue
        service, target, *cells = line.split()
        assert len(cells) == len(ACTORS), line
        table[(service, target)] = dict(zip(ACTORS, cells, strict=True))
    return table


EXPECTED = _parse(EXPECTED_TEXT)

# Public functions of the service modules that are not write services, with the reason they
# need no rule of their own.
NOT_WRITES: dict[str, str] = {
    "stage_entry": "a pure rule (required fields, loss reason); writes nothing",
    "stage_missing_fields": "a pure check over given values",
    "required_field_labels": "labels for an error message",
    "stage_token": "the settings form's optimistic-lock token (pure)",
    "order_token": "the settings form's optimistic-lock token (pure)",
    "parse_deadline": "input parsing (pure)",
    "not_in_the_past": "input check (pure)",
    "visible_responsibles": "a read: the scope of tasks for a user",
    "notifications_mark_read": "takes the user, not an actor: only their own notifications",
    "tasks_overdue_emit": "the worker's sweep (a periodic job): the system emits task.overdue",
    "tasks_overdue_due": "a read: the open tasks owed task.overdue (the sweep's query)",
    "overdue_mark": "the sweep's idempotency marker, inside tasks_overdue_emit's transaction",
    "rule_clean": "validation of a rule's input (pure but for reference lookups); no write",
    "rule_input": "a stored rule as its input shape (pure)",
    "department_create": "bootstrap (demo, seed, CLI): trusted callers, no actor",
    "roles_ensure_defaults": "bootstrap (migrations, demo, seed): trusted callers, no actor",
    "api_token_create": "CLI `voronka_token`: a trusted caller, no actor",
    "api_token_authenticate": "authentication itself (who the actor is)",
    "api_token_revoke": "CLI `voronka_token`: a trusted caller, no actor",
    "import_set_mapping": "the actor's own import job only (another's is 404: tests/transfer); "
    "a new custom field goes through custom_field_create and its can_configure rule",
    "import_start": "the actor's own import job only (another's is 404: tests/transfer)",
    "import_run": "the worker's job: runs as the job's creator (actor kind import); every row "
    "goes through the contacts/deals services and their rules",
    "import_file": "the CLI: upload, map and run as the --as user, through the same services",
    "imports_resume": "the worker's periodic sweep: queues again a running import gone quiet "
    "(its rows then go through the services as the job's creator, as import_run)",
    "resume_offset": "pure: where a resumed import goes on",
    "custom_names": "a read: the custom fields a mapping may target",
    "max_upload_mb": "a setting (pure)",
    "read_upload": "reads an upload within the size limit; writes nothing",
    "merge_fields": "a read: the fields a merge chooses between (pure but for custom fields)",
    "merged_into": "a read: which records a merge took (the conflict message of a second one)",
    "default_source": "pure: whose value a merge keeps when nobody chose (the merge screen too)",
    "field_value": "pure: a record's value of a merge field",
    "company_values_check": "pure validation of values (a merge's combined ones); no write",
    "family_suggestions": "a read: the family groups the user sees (through the scope)",
    "client_interaction_record": "bookkeeping inside the caller's transaction (a task done, a "
    "comment): the caller checked the actor",
}

SERVICE_MODULES = (
    "voronka.deals.services.deal",
    "voronka.deals.services.moves",
    "voronka.deals.services.pipelines",
    "voronka.deals.services.pipeline_settings",
    "voronka.deals.services.stage_entry",
    "voronka.deals.services.fields",
    "voronka.customfields.services",
    "voronka.contacts.services",
    "voronka.contacts.merge",
    "voronka.contacts.families",
    "voronka.contacts.interactions",
    "voronka.activities.tasks_services",
    "voronka.activities.services",
    "voronka.identity.services",
    "voronka.automation.services",
    "voronka.transfer.services",
)


def public_service_functions() -> set[str]:
    names = set()
    for name in SERVICE_MODULES:
        module = importlib.import_module(name)
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not fname.startswith("_"):
                names.add(fname)
    return names


# --- the calls ---------------------------------------------------------------------------------


def _future() -> str:
    from voronka.kernel import clock

    return (clock.now() + dt.timedelta(days=5)).isoformat()


def _raise_refused(results: list[Any]) -> list[Any]:
    """A batch service answers each refused input in its place: the table reads it raised."""
    for result in results:
        if isinstance(result, ApplicationError):
            raise result
    return results


def _calls() -> dict[str, Callable[[Actor, Any, Any], Any]]:
    """service -> call(actor, target records or None, pipeline setup)."""
    from voronka.activities import services as comments
    from voronka.activities import tasks_services as tasks
    from voronka.automation import services as rules
    from voronka.contacts import families
    from voronka.contacts import merge as merges
    from voronka.contacts import services as contacts
    from voronka.customfields import services as fields
    from voronka.deals import services as deals
    from voronka.deals.services import deal as deal_module
    from voronka.deals.services import pipelines as pipelines_module
    from voronka.deals.services.pipeline_settings import pipeline_settings_save
    from voronka.identity import services as identity
    from voronka.transfer.services import import_upload

    def deal_data(t: Any, p: Any) -> dict[str, Any]:
        return {
            "title": "Новая",
            "company": t.company.pk,
            "responsible": t.user.pk,
            "pipeline": p.sales.pk,
            "stage": p.stages["new"].pk,
        }

    def robot_data(p: Any) -> dict[str, Any]:
        return {
            "kind": "robot",
            "name": "Перезвонить",
            "stage": p.stages["talks"].pk,
            "action": "create_task",
            "params": {"comment": "Перезвонить"},
        }

    def robot(p: Any) -> Any:
        """A stored robot (and one before it), made without audit rows or events: a refusal
        must leave their counts as they were."""
        from voronka.automation.models import Rule

        columns = rules.rule_clean(robot_data(p))
        Rule.objects.create(**{**columns, "sort": 1})
        return Rule.objects.create(**{**columns, "sort": 2})

    def failed_run(p: Any) -> Any:
        from voronka.automation.models import RuleRun, RunStatus

        return RuleRun.objects.create(
            rule=robot(p), object_type="deal", object_id=1, key="e1", status=RunStatus.FAILED
        )

    def twin_contact(t: Any) -> Any:
        """A second contact of the same responsible (made without audit rows or events)."""
        from voronka.contacts.models import Contact

        return Contact.objects.create(
            company=t.company, responsible=t.user, first_name="Дубль", last_name="Иванов"
        )

    def duplicate_group(t: Any) -> Any:
        """An open duplicate group of two of the target's contacts (no audit rows, no events)."""
        from voronka.contacts.models import DuplicateGroup
        from voronka.kernel import clock

        ids = sorted([t.contact.pk, twin_contact(t).pk])
        return DuplicateGroup.objects.create(
            entity="contact", signature=str(ids), ids=ids, score=0.9, found_at=clock.now()
        )

    def merged(t: Any) -> Any:
        """A merge of the spare company into the company, by the system (rolled back with the
        call's savepoint)."""
        record, _kept = merges.company_merge(
            actor=Actor.system(), keep_id=t.company.pk, merge_ids=[t.spare_company.pk]
        )
        return record

    def reordered(p: Any) -> list[int]:
        return list(reversed(list(p.other.stages.values_list("pk", flat=True))))

    return {
        "deal_get_for_write": lambda a, t, p: deal_module.deal_get_for_write(
            actor=a, deal_id=t.deal.pk
        ),
        "deal_create": lambda a, t, p: deals.deal_create(actor=a, data=deal_data(t, p)),
        "deal_update": lambda a, t, p: deals.deal_update(
            deal=t.deal, actor=a, data={"title": "Другая"}
        ),
        "deal_move_to_stage": lambda a, t, p: deals.deal_move_to_stage(
            deal=t.deal, stage=p.stages["talks"], actor=a
        ),
        "deal_delete": lambda a, t, p: deals.deal_delete(deal=t.deal, actor=a),
        "pipeline_get_for_write": lambda a, t, p: pipelines_module.pipeline_get_for_write(
            actor=a, pipeline_id=p.other.pk
        ),
        "stage_get_for_write": lambda a, t, p: pipelines_module.stage_get_for_write(
            actor=a, stage_id=p.other_stages["empty"].pk
        ),
        "pipeline_create": lambda a, t, p: deals.pipeline_create(actor=a, name="Ещё одна"),
        "pipeline_rename": lambda a, t, p: deals.pipeline_rename(
            pipeline=p.other, actor=a, name="Переименована"
        ),
        "stage_create": lambda a, t, p: deals.stage_create(
            pipeline=p.other, actor=a, data={"name": "Этап", "semantic": "open"}
        ),
        "stage_update": lambda a, t, p: deals.stage_update(
            stage=p.other_stages["empty"], actor=a, data={"name": "Пустая стадия"}
        ),
        "stages_reorder": lambda a, t, p: deals.stages_reorder(
            pipeline=p.other, actor=a, order=reordered(p)
        ),
        "stage_delete": lambda a, t, p: deals.stage_delete(stage=p.other_stages["empty"], actor=a),
        "pipeline_settings_save": lambda a, t, p: pipeline_settings_save(
            pipeline=p.other, actor=a, name="Из формы"
        ),
        "custom_field_get_for_write": lambda a, t, p: fields.custom_field_get_for_write(
            actor=a, field_id=p.fields["f_string"].pk
        ),
        "custom_field_create": lambda a, t, p: fields.custom_field_create(
            actor=a, data={"entity": "deal", "key": "authz_new", "name": "Новое", "type": "string"}
        ),
        "custom_field_update": lambda a, t, p: fields.custom_field_update(
            field=p.fields["f_string"], actor=a, data={"name": "Иное имя"}
        ),
        "company_get_for_write": lambda a, t, p: contacts.company_get_for_write(
            actor=a, company_id=t.company.pk
        ),
        "company_create": lambda a, t, p: contacts.company_create(
            actor=a, data={"name": "ООО Новая", "responsible": t.user.pk}
        ),
        "company_update": lambda a, t, p: contacts.company_update(
            company=t.company, actor=a, data={"name": "ООО Другая"}
        ),
        "company_delete": lambda a, t, p: contacts.company_delete(company=t.spare_company, actor=a),
        "family_company_for": lambda a, t, p: contacts.family_company_for(
            actor=a, last_name="Иванов", first_name="Иван", responsible=t.user
        ),
        "contact_get_for_write": lambda a, t, p: contacts.contact_get_for_write(
            actor=a, contact_id=t.contact.pk
        ),
        "contact_create": lambda a, t, p: contacts.contact_create(
            actor=a,
            data={"first_name": "Иван", "company": t.company.pk, "responsible": t.user.pk},
        ),
        "contact_find_or_create": lambda a, t, p: contacts.contact_find_or_create(
            actor=a,
            data={
                "first_name": "Иван",
                "company": t.company.pk,
                "responsible": t.user.pk,
                "phones": ["+79990001122"],
            },
        ),
        "duplicate_group_dismiss": lambda a, t, p: contacts.duplicate_group_dismiss(
            actor=a, group_id=duplicate_group(t).pk
        ),
        "duplicates_scan_request": lambda a, t, p: contacts.duplicates_scan_request(
            actor=a, entity="contact"
        ),
        "company_create_many": lambda a, t, p: _raise_refused(
            contacts.company_create_many(
                actor=a, items=[{"name": "ООО Новая", "responsible": t.user.pk}]
            )
        ),
        "contact_create_many": lambda a, t, p: _raise_refused(
            contacts.contact_create_many(
                actor=a,
                items=[{"first_name": "Иван", "company": t.company.pk, "responsible": t.user.pk}],
            )
        ),
        "import_upload": lambda a, t, p: import_upload(
            actor=a, entity="contact", filename="c.csv", data="Имя\nАнна\n".encode()
        ),
        "contact_update": lambda a, t, p: contacts.contact_update(
            contact=t.contact, actor=a, data={"first_name": "Пётр"}
        ),
        "contact_delete": lambda a, t, p: contacts.contact_delete(contact=t.contact, actor=a),
        "contact_merge": lambda a, t, p: merges.contact_merge(
            actor=a, keep_id=t.contact.pk, merge_ids=[twin_contact(t).pk]
        ),
        "company_merge": lambda a, t, p: merges.company_merge(
            actor=a, keep_id=t.company.pk, merge_ids=[t.spare_company.pk]
        ),
        "merge_undo": lambda a, t, p: merges.merge_undo(actor=a, merge_id=merged(t).pk),
        "family_merge": lambda a, t, p: families.family_merge(
            actor=a, contact_ids=[t.contact.pk], target="new", address="Тула, ул. Мира, 1"
        ),
        "task_get_for_write": lambda a, t, p: tasks.task_get_for_write(actor=a, task_id=t.task.pk),
        "task_create": lambda a, t, p: tasks.task_create(
            actor=a,
            data={
                "type": "call",
                "responsible": t.user.pk,
                "deadline": _future(),
                "comment": "Позвонить",
                "company": t.company.pk,
            },
        ),
        # The batch form (the automation's robots): the same checks, each task as its actor.
        "tasks_create": lambda a, t, p: tasks.tasks_create(
            [
                tasks.NewTask(
                    a,
                    {
                        "type": "call",
                        "responsible": t.user.pk,
                        "deadline": _future(),
                        "comment": "Позвонить",
                        "company": t.company.pk,
                    },
                )
            ]
        ),
        "task_complete": lambda a, t, p: tasks.task_complete(task=t.task, actor=a, result="Готово"),
        "task_reschedule": lambda a, t, p: tasks.task_reschedule(
            task=t.task, actor=a, deadline=_future(), reason="Попросили позже"
        ),
        "task_update": lambda a, t, p: tasks.task_update(
            task=t.task, actor=a, data={"comment": "Другой комментарий"}
        ),
        "comment_add": lambda a, t, p: comments.comment_add(obj=t.deal, actor=a, text="Привет"),
        "user_set_language": lambda a, t, p: identity.user_set_language(
            t.user, "en" if t.user.language != "en" else "ru", actor=a
        ),
        "rule_get_for_write": lambda a, t, p: rules.rule_get_for_write(
            actor=a, rule_id=robot(p).pk
        ),
        "rule_create": lambda a, t, p: rules.rule_create(actor=a, data=robot_data(p)),
        "rule_update": lambda a, t, p: rules.rule_update(
            actor=a, rule_id=robot(p).pk, data={"name": "Иначе"}
        ),
        "rule_move": lambda a, t, p: rules.rule_move(actor=a, rule_id=robot(p).pk, step=-1),
        "rule_delete": lambda a, t, p: rules.rule_delete(actor=a, rule_id=robot(p).pk),
        "rule_run_retry": lambda a, t, p: rules.rule_run_retry(actor=a, run_id=failed_run(p).pk),
    }


def _actors(personas: dict[str, Any]) -> dict[str, Actor]:
    from voronka.identity.models import User

    def fresh(key: str) -> User:
        # A fresh row per actor: the scope cache lives on the user object.
        return User.objects.get(pk=personas[key].user.pk)

    return {
        "owner": Actor.for_user(fresh("owner")),
        "admin": Actor.for_user(fresh("admin")),
        "head": Actor.for_user(fresh("head_a")),
        "manager": Actor.for_user(fresh("a1")),
        "other": Actor.for_user(fresh("b1")),
        "deact": Actor.for_user(fresh("deact")),
        "system": Actor.system(),
        "automation": Actor(kind=ActorKind.AUTOMATION, user=fresh("a1")),
        "automation_no_owner": Actor(kind=ActorKind.AUTOMATION),
    }


class _Rollback(Exception):
    pass


def _written() -> tuple[int, int]:
    from voronka.kernel.models import AuditEntry, DomainEvent

    return AuditEntry.objects.count(), DomainEvent.objects.count()


def _outcome(call: Callable[[], Any]) -> str:
    """Run one call in a savepoint that is always rolled back; its outcome, and for a refusal a
    check that it wrote nothing."""
    before = _written()
    outcome = "ok"
    try:
        with transaction.atomic():
            call()
            raise _Rollback
    except _Rollback:
        pass
    except ApplicationError as exc:
        outcome = str(exc.status)
        if _written() != before:
            outcome += "+wrote"
    return outcome


def run_table(
    services: list[str], personas: dict[str, Any], records: dict[str, Any], pipeline: Any
) -> list[str]:
    """Mismatches against EXPECTED for the given services (empty: the table holds)."""
    calls = _calls()
    actors = _actors(personas)
    mismatches = []
    for (service, target), row in EXPECTED.items():
        if service not in services:
            continue
        records_of = records[target] if target != "-" else None
        for actor_key, expected in row.items():
            actor = actors[actor_key]
            got = _outcome(lambda: calls[service](actor, records_of, pipeline))  # noqa: B023
            if got != expected:
                mismatches.append(
                    f"{service} on {target} as {actor_key}: {got}, expected {expected}"
                )
    return mismatches


GROUPS = {
    "deals": [s for s, _t in EXPECTED if s.startswith("deal_")],
    "config": [s for s, _t in EXPECTED if s.startswith(("pipeline", "stage", "custom_field"))],
    "contacts": [
        s
        for s, _t in EXPECTED
        if s.startswith(("company", "contact", "family", "merge", "import", "duplicate"))
    ],
    "tasks": [s for s, _t in EXPECTED if s.startswith(("task", "comment", "user_"))],
    "automation": [s for s, _t in EXPECTED if s.startswith("rule_")],
}


def test_groups_cover_the_table() -> None:
    grouped = {s for services in GROUPS.values() for s in services}
    assert grouped == {s for s, _t in EXPECTED}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_services_as_each_actor(
    group: str, personas: dict[str, Any], records: dict[str, Any], pipeline: Any
) -> None:
    mismatches = run_table(sorted(set(GROUPS[group])), personas, records, pipeline)
    assert mismatches == [], "\n".join(mismatches)


def test_every_service_declares_its_rule(db: None) -> None:
    """A public function of a service module is either in EXPECTED (called as every actor)
    or in NOT_WRITES with its reason; nothing stale is left in either."""
    found = public_service_functions()
    declared = {s for s, _t in EXPECTED} | set(NOT_WRITES)
    assert sorted(found - declared) == [], "service without a declared permission rule"
    assert sorted(declared - found) == [], "declared rule for a function that does not exist"
    assert set(_calls()) == {s for s, _t in EXPECTED}


# --- negative controls ---------------------------------------------------------------------------


def test_negative_control_flag_check_removed_is_detected(
    monkeypatch: pytest.MonkeyPatch,
    personas: dict[str, Any],
    records: dict[str, Any],
    pipeline: Any,
) -> None:
    """deal_delete without its can_delete check: the manager's delete of their own deal (and
    the automation acting for them) is no longer refused."""
    from voronka.deals.services import deal as deal_module

    monkeypatch.setattr(deal_module, "require_actor_flag", lambda actor, flag: None)
    mismatches = run_table(["deal_delete"], personas, records, pipeline)
    assert "deal_delete on a1 as manager: ok, expected 403" in mismatches
    assert "deal_delete on b1 as other: ok, expected 403" in mismatches


def test_negative_control_scope_check_removed_is_detected(
    monkeypatch: pytest.MonkeyPatch,
    personas: dict[str, Any],
    records: dict[str, Any],
    pipeline: Any,
) -> None:
    """get_for_write without the scope: a service called with an out-of-scope record acts on it
    — the table turns red for every scoped service."""
    from voronka.identity import permissions

    monkeypatch.setattr(permissions, "scope_for_write", lambda qs, *, actor, entity: qs)
    mismatches = run_table(
        ["deal_update", "company_update", "contact_update", "task_update", "comment_add"],
        personas,
        records,
        pipeline,
    )
    assert "deal_update on a1 as other: ok, expected 404" in mismatches
    assert "company_update on b1 as manager: ok, expected 404" in mismatches
    assert "contact_update on b1 as head: ok, expected 404" in mismatches
    assert "task_update on b1 as automation: ok, expected 404" in mismatches
    assert "comment_add on a1 as other: ok, expected 404" in mismatches


def test_negative_control_trusting_actors_without_a_user_is_detected(
    monkeypatch: pytest.MonkeyPatch,
    personas: dict[str, Any],
    records: dict[str, Any],
    pipeline: Any,
) -> None:
    """If an automation actor without an owner were trusted as system, the table would show it."""
    from voronka.identity import permissions

    monkeypatch.setattr(permissions, "PERSON_KINDS", frozenset())
    mismatches = run_table(["deal_update", "pipeline_create"], personas, records, pipeline)
    assert "deal_update on b1 as automation_no_owner: ok, expected 403" in mismatches
    assert "pipeline_create on - as automation_no_owner: ok, expected 403" in mismatches


def test_negative_control_rule_services_without_their_flag_check_are_detected(
    monkeypatch: pytest.MonkeyPatch,
    personas: dict[str, Any],
    records: dict[str, Any],
    pipeline: Any,
) -> None:
    """The rule services without their can_configure check (rule_move checks it through
    rule_get_for_write): a manager would reorder and change the robots."""
    from voronka.automation import services as rules

    monkeypatch.setattr(rules, "require_actor_flag", lambda actor, flag: None)
    mismatches = run_table(["rule_move", "rule_create"], personas, records, pipeline)
    assert "rule_move on - as manager: ok, expected 403" in mismatches
    assert "rule_create on - as head: ok, expected 403" in mismatches


def test_negative_control_merge_checks_removed_are_detected(
    monkeypatch: pytest.MonkeyPatch,
    personas: dict[str, Any],
    records: dict[str, Any],
    pipeline: Any,
) -> None:
    """The merge without its delete-right check lets the manager merge (and so delete) their
    records; without the write scope another department's manager merges a1's records."""
    from voronka.contacts import merge as merge_module

    monkeypatch.setattr(merge_module, "require_actor_flag", lambda actor, flag: None)
    mismatches = run_table(["company_merge", "merge_undo"], personas, records, pipeline)
    assert "company_merge on a1 as manager: ok, expected 403" in mismatches
    assert "merge_undo on a1 as manager: ok, expected 403" in mismatches
    monkeypatch.undo()
    monkeypatch.setattr(merge_module, "scope_for_write", lambda qs, *, actor, entity: qs)
    mismatches = run_table(["contact_merge"], personas, records, pipeline)
    assert "contact_merge on a1 as other: 403, expected 404" in mismatches
