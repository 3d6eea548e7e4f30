"""Builders for test data. Everything goes through the services (so audit rows, events and the
maintained counters are real), acting as ``Actor.system()`` unless told otherwise.

Also: valid Russian requisites, ``table_counts()`` for "a failed call wrote nothing", the audit
lock primitive and ``ApiClient`` (a ``django.test.Client`` with JSON helpers).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import connection
from django.test import Client

# Valid requisites (checksums verified by python-stdnum / the BIK key).
INN_LEGAL = "7707083893"  # 10 digits: a legal entity
INN_PERSON = "500100732259"  # 12 digits: a person / ИП
OGRN_LEGAL = "1027700132195"
OGRN_IP = "304500116000157"
KPP = "773601001"
BIK = "044525225"
ACCOUNT = "40702810938000000001"  # matches BIK's control key

PROJECT_APPS = ("kernel", "identity", "contacts", "deals", "activities", "automation")

DEAL_CUSTOM_TYPES = [
    "string",
    "number",
    "money",
    "list",
    "multi",
    "date",
    "datetime",
    "boolean",
    "address",
    "link",
    "file",
]


# --- infrastructure ---------------------------------------------------------------------------

# Lines of reliability figures recorded by the running test; tests/conftest.py moves them into
# the test report (so they survive xdist) and prints them all in the terminal summary.
FIGURES: list[str] = []


def report_figures(line: str) -> None:
    print(f"\n[figures] {line}")
    FIGURES.append(line)


def set_audit_lock(*, locked: bool) -> None:
    """Lock (no row) or unlock (one row) the append-only trigger on kernel_auditentry."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM kernel_audit_unlock")
        if not locked:
            cursor.execute("INSERT INTO kernel_audit_unlock (reason) VALUES ('tests')")


def table_counts() -> dict[str, int]:
    """Row counts of every table of the project's apps (models and auto-created M2M tables)."""
    counts: dict[str, int] = {}
    for label in PROJECT_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            counts[model._meta.db_table] = model._base_manager.count()
    return counts


class ApiClient(Client):
    """A test client with JSON helpers; ``HTTP_AUTHORIZATION`` etc. are passed as defaults."""

    def get_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.get(path, data, **extra)

    def post_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        body = (
            data if isinstance(data, str | bytes) else json.dumps(data if data is not None else {})
        )
        return self.post(path, body, content_type="application/json", **extra)

    def patch_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        body = (
            data if isinstance(data, str | bytes) else json.dumps(data if data is not None else {})
        )
        return self.patch(path, body, content_type="application/json", **extra)


@contextmanager
def while_active(user: Any) -> Iterator[Any]:
    """Give a deactivated user records: active for the block, inactive again afterwards."""
    from voronka.identity.models import User

    was = User.objects.filter(pk=user.pk).values_list("is_active", flat=True).get()
    User.objects.filter(pk=user.pk).update(is_active=True)
    user.is_active = True
    try:
        yield user
    finally:
        User.objects.filter(pk=user.pk).update(is_active=was)
        user.is_active = was


def system() -> Any:
    from voronka.kernel.actor import Actor

    return Actor.system()


# --- configuration ----------------------------------------------------------------------------


@dataclass
class PipelineSetup:
    """The configuration fixture. ``stages`` of "Продажа" by key: new, talks, contract (requires
    ``contract_no``), won, lost; ``other_stages`` of "Обзвон": new, call, won, lost, empty."""

    sales: Any
    other: Any
    stages: dict[str, Any]
    other_stages: dict[str, Any]
    loss_reasons: list[Any]
    fields: dict[str, Any]  # deal custom fields by key
    company_fields: dict[str, Any]
    contact_fields: dict[str, Any]
    stored_file: Any  # a StoredFile usable as a deal "file" custom-field value


def build_pipeline() -> PipelineSetup:
    from voronka.customfields.services import custom_field_create
    from voronka.deals.models import LossReason
    from voronka.deals.services import pipeline_create
    from voronka.kernel.models import StoredFile

    actor = system()
    fields: dict[str, Any] = {}
    fields["contract_no"] = custom_field_create(
        actor=actor,
        data={"entity": "deal", "key": "contract_no", "name": "Номер договора", "type": "string"},
    )
    for ftype in DEAL_CUSTOM_TYPES:
        data: dict[str, Any] = {
            "entity": "deal",
            "key": f"f_{ftype}",
            "name": f"Поле {ftype}",
            "type": ftype,
        }
        if ftype in ("list", "multi"):
            data["choices"] = ["Альфа", "Бета", "Гамма"]
        fields[f"f_{ftype}"] = custom_field_create(actor=actor, data=data)
    company_fields = {
        "industry": custom_field_create(
            actor=actor,
            data={"entity": "company", "key": "industry", "name": "Отрасль", "type": "string"},
        ),
        "staff": custom_field_create(
            actor=actor,
            data={"entity": "company", "key": "staff", "name": "Сотрудников", "type": "number"},
        ),
    }
    contact_fields = {
        "vip": custom_field_create(
            actor=actor, data={"entity": "contact", "key": "vip", "name": "VIP", "type": "boolean"}
        ),
    }
    sales = pipeline_create(
        actor=actor,
        name="Продажа",
        stages=[
            {"name": "Новая", "semantic": "open", "sla_days": 3},
            {"name": "Переговоры", "semantic": "open", "sla_days": 7},
            {"name": "Договор", "semantic": "open", "required_fields": ["contract_no"]},
            {"name": "Успешно", "semantic": "won", "color": "#16a34a"},
            {"name": "Отказ", "semantic": "lost", "color": "#dc2626"},
        ],
    )
    other = pipeline_create(
        actor=actor,
        name="Обзвон",
        stages=[
            {"name": "Новый", "semantic": "open"},
            {"name": "Звонок", "semantic": "open"},
            {"name": "Заказ", "semantic": "won"},
            {"name": "Не дозвонились", "semantic": "lost"},
            {"name": "Пустая", "semantic": "open"},
        ],
    )
    stages = dict(
        zip(
            ["new", "talks", "contract", "won", "lost"],
            sales.stages.order_by("sort", "id"),
            strict=True,
        )
    )
    other_stages = dict(
        zip(
            ["new", "call", "won", "lost", "empty"],
            other.stages.order_by("sort", "id"),
            strict=True,
        )
    )
    reasons = [
        LossReason.objects.create(name="Дорого", sort=1),
        LossReason.objects.create(name="Выбрали конкурента", sort=2),
    ]
    stored = StoredFile.objects.create(
        file="uploads/test/contract.pdf",
        name="contract.pdf",
        size=10,
        content_type="application/pdf",
        sha256="0" * 64,
        entity="deal",
    )
    return PipelineSetup(
        sales=sales,
        other=other,
        stages=stages,
        other_stages=other_stages,
        loss_reasons=reasons,
        fields=fields,
        company_fields=company_fields,
        contact_fields=contact_fields,
        stored_file=stored,
    )


# --- records ----------------------------------------------------------------------------------


@dataclass
class Records:
    """One responsible user's records (see conftest ``records``)."""

    key: str
    user: Any
    company: Any
    spare_company: Any
    contact: Any
    deal: Any
    task: Any
    extra: dict[str, Any] = field(default_factory=dict)


def make_company(*, responsible: Any, name: str, actor: Any = None, **data: Any) -> Any:
    from voronka.contacts.services import company_create

    payload = {"name": name, "responsible": responsible.pk, **data}
    return company_create(actor=actor or system(), data=payload)


def make_contact(
    *, responsible: Any, company: Any, first_name: str, actor: Any = None, **data: Any
) -> Any:
    from voronka.contacts.services import contact_create

    payload = {
        "first_name": first_name,
        "company": company.pk,
        "responsible": responsible.pk,
        **data,
    }
    return contact_create(actor=actor or system(), data=payload)


def make_deal(
    *,
    responsible: Any,
    company: Any,
    title: str,
    stage: Any = None,
    amount: Any = "1000",
    actor: Any = None,
    **data: Any,
) -> Any:
    from voronka.deals.services import deal_create

    payload: dict[str, Any] = {
        "title": title,
        "company": company.pk,
        "responsible": responsible.pk,
        "amount": str(amount),
        **data,
    }
    if stage is not None:
        payload["stage"] = stage.pk
    return deal_create(actor=actor or system(), data=payload)


def make_call_robot(*, owner: Any, stage: Any, name: str = "Позвонить") -> Any:
    """A robot of `stage`, set up by the user `owner`: a call task "Позвонить" for the deal."""
    from voronka.automation.services import rule_create
    from voronka.kernel.actor import Actor

    return rule_create(
        actor=Actor.for_user(owner),
        data={
            "kind": "robot",
            "name": name,
            "stage": stage.pk,
            "action": "create_task",
            "params": {"type": "call", "comment": "Позвонить"},
        },
    )


def make_task(*, responsible: Any, actor: Any = None, days: int = 3, **links: Any) -> Any:
    from voronka.activities.tasks_services import task_create
    from voronka.kernel import clock

    deadline = clock.now() + dt.timedelta(days=days)
    payload = {
        "type": "call",
        "responsible": responsible.pk,
        "deadline": deadline.isoformat(),
        "comment": f"Позвонить ({responsible.username})",
        **{k: v.pk for k, v in links.items()},
    }
    return task_create(actor=actor or system(), data=payload)


def build_records(users: dict[str, Any], setup: PipelineSetup) -> dict[str, Records]:
    result: dict[str, Records] = {}
    for index, (key, user) in enumerate(users.items(), start=1):
        company = make_company(
            responsible=user,
            name=f"ООО Компания {key}",
            addresses=[{"kind": "legal", "text": f"Москва, ул. {key}, 1"}],
        )
        spare = make_company(responsible=user, name=f"ООО Запасная {key}")
        contact = make_contact(
            responsible=user,
            company=company,
            first_name=f"Контакт {key}",
            last_name="Иванов",
            phones=[f"+7 916 000-{index:02d}-{index:02d}"],
            emails=[f"Contact.{key}@Example.test"],
        )
        deal = make_deal(
            responsible=user,
            company=company,
            title=f"Сделка {key}",
            stage=setup.stages["new"],
            amount=Decimal(1000 * index),
            contacts=[contact.pk],
        )
        task = make_task(responsible=user, company=company)
        result[key] = Records(
            key=key,
            user=user,
            company=company,
            spare_company=spare,
            contact=contact,
            deal=deal,
            task=task,
        )
    return result


def run_monitors(now: Any = None) -> int:
    """One sweep of the monitor rules and their runs, as the worker does them; returns the
    notifications written."""
    from voronka.activities.models import Notification
    from voronka.automation.executor import run_until_idle
    from voronka.automation.sweeps import monitors_sweep
    from voronka.kernel import clock

    before = Notification.objects.count()
    now = now or clock.now()
    monitors_sweep(now=now)
    run_until_idle(now=now)
    return Notification.objects.count() - before


def set_overdue_grace(hours: float) -> None:
    """The built-in "overdue task → head" monitor's grace period (automation.defaults)."""
    from voronka.automation.models import Rule

    rule = Rule.objects.get(builtin="overdue_head")
    rule.monitor_params = {**rule.monitor_params, "after_minutes": int(hours * 60)}
    rule.save(update_fields=["monitor_params"])
