"""The demo's automation: the robots, trigger and monitors the seeds describe (seed 000: the NPS
task and the tunnel; seed 002: reanimation through «Подогрев»; seed 003: the call after
«КП отправлено»). Created after the history is loaded, so the history fires none of them
(a rule acts on events after it was switched on); the worker runs them from then on."""

from __future__ import annotations

from typing import Any

from voronka.automation.services import rule_create
from voronka.deals.models import Pipeline, Stage
from voronka.kernel.actor import Actor


def _stage(pipeline: str, name: str) -> Stage:
    return Stage.objects.get(pipeline__name=pipeline, name=name)


def _task(comment: str, amount: int, unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": extra.pop("type", "call"),
        "comment": comment,
        "deadline": {"kind": "after", "amount": amount, "unit": unit, **extra},
    }


def demo_rules(actor: Actor) -> int:
    """Create the demo's rules as `actor` (who may configure). Returns how many."""
    if not Pipeline.objects.filter(name="Продажа").exists():
        return 0
    proposal = _stage("Продажа", "КП отправлено")
    rules: list[dict[str, Any]] = [
        {
            "kind": "robot",
            "name": "Подтвердить получение КП",
            "stage": proposal.pk,
            "action": "create_task",
            "params": _task(
                "Позвонить: получил ли клиент КП по «{deal.title}», ответить на вопросы",
                1,
                "working_days",
                time="11:00",
            ),
        },
        {
            "kind": "robot",
            "name": "Ждём решение: перезвонить через 3 дня",
            "stage": proposal.pk,
            "sort": 1,
            "action": "create_task",
            "params": _task("Перезвонить: какое решение по КП «{deal.title}»", 3, "days"),
        },
        {
            "kind": "robot",
            "name": "Измерить NPS после покупки",
            "stage": _stage("Продажа", "Успешно").pk,
            "action": "create_task",
            "params": _task(
                "NPS: насколько «{company.name}» готовы рекомендовать нас (0–10)?",
                2,
                "working_days",
            ),
        },
        {
            "kind": "robot",
            "name": "Следующая покупка — в Обзвон",
            "stage": _stage("Продажа", "Успешно").pk,
            "sort": 1,
            "action": "create_deal",
            "params": {
                "stage": _stage("Обзвон", "Запланирован звонок").pk,
                "title": "Повторный заказ — {company.name}",
            },
        },
        {
            "kind": "robot",
            "name": "Отказ → Подогрев по причине",
            "stage": _stage("Продажа", "Отказ").pk,
            "action": "copy_to_pipeline",
            "params": {"title": "Подогрев — {company.name}"},
        },
        {
            "kind": "trigger",
            "name": "Встреча проведена → Выявление потребности",
            "event": "task.completed",
            "stage": _stage("Продажа", "Выявление потребности").pk,
            "conditions": [{"field": "task.type", "op": "eq", "value": "meeting"}],
        },
        {
            "kind": "monitor",
            "name": "Сделка дольше лимита стадии → задача руководителю",
            "monitor": "deal_over_sla",
            "action": "create_task",
            "params": {
                "type": "other",
                "comment": "Лимит стадии «{deal.stage}» превышен: «{deal.title}» ({responsible.name})",
                "responsible": {"kind": "head"},
                "deadline": {"kind": "after", "amount": 4, "unit": "hours"},
            },
        },
        {
            "kind": "monitor",
            "name": "Клиент без касаний 60 дней → реанимация",
            "enabled": False,
            "monitor": "company_no_interaction",
            "monitor_params": {"days": 60, "every_minutes": 1440},
            "action": "create_task",
            "params": _task(
                "Реанимация: позвонить «{company.name}» — давно не общались", 1, "working_days"
            ),
        },
        {
            "kind": "monitor",
            "name": "День рождения контакта → поздравить",
            "monitor": "contact_birthday",
            "monitor_params": {"every_minutes": 60},
            "action": "create_task",
            "params": _task("Поздравить с днём рождения", 4, "hours", type="call"),
        },
    ]
    for data in rules:
        rule_create(actor=actor, data=data)
    return len(rules)
