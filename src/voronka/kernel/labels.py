"""Human labels of input fields, for messages that name a field (validation errors, the
timeline). One registry: a message never shows an internal key («reason», «loss_reason»)
in either language. `tests/domain/test_dom_input_rules.py` checks every key a service or
schema can name has a label here."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _lazy

FIELD_LABELS: dict[str, Promise] = {
    # request-level
    "body": _lazy("Запрос"),
    "version": _lazy("Версия записи"),
    "limit": _lazy("Количество на странице"),
    "offset": _lazy("Смещение"),
    "cursor": _lazy("Страница"),
    "q": _lazy("Поиск"),
    "sort": _lazy("Сортировка"),
    "format": _lazy("Формат"),
    "delimiter": _lazy("Разделитель"),
    "date": _lazy("Дата"),
    "days": _lazy("Дни"),
    "step": _lazy("Сдвиг"),
    "id": _lazy("Номер"),
    # deals
    "title": _lazy("Название"),
    "pipeline": _lazy("Воронка"),
    "stage": _lazy("Стадия"),
    "status": _lazy("Статус"),
    "amount": _lazy("Сумма"),
    "amount_min": _lazy("Сумма от"),
    "amount_max": _lazy("Сумма до"),
    "currency": _lazy("Валюта"),
    "responsible": _lazy("Ответственный"),
    "company": _lazy("Компания"),
    "contacts": _lazy("Контакты"),
    # merges (contacts.merge; "fields" there names the field itself in its message)
    "keep": _lazy("Оставляемая запись"),
    "merge": _lazy("Объединяемые записи"),
    "source": _lazy("Источник"),
    "utm_source": _lazy("UTM source"),
    "utm_medium": _lazy("UTM medium"),
    "utm_campaign": _lazy("UTM campaign"),
    "utm_content": _lazy("UTM content"),
    "utm_term": _lazy("UTM term"),
    "comment": _lazy("Комментарий"),
    "custom": _lazy("Дополнительные поля"),
    "fields": _lazy("Поля стадии"),
    "loss_reason": _lazy("Причина отказа"),
    "loss_comment": _lazy("Комментарий к отказу"),
    "opened_from": _lazy("Открыта с"),
    "opened_to": _lazy("Открыта по"),
    "closed_at": _lazy("Дата закрытия"),
    "created_by": _lazy("Автор"),
    "ltv": _lazy("LTV"),
    # automation
    "action": _lazy("Действие"),
    "builtin": _lazy("Встроенное правило"),
    "kind": _lazy("Вид правила"),
    "enabled": _lazy("Включено"),
    "delay_seconds": _lazy("Задержка"),
    "params": _lazy("Параметры действия"),
    "monitor_params": _lazy("Параметры монитора"),
    "since": _lazy("С даты"),
    "as": _lazy("От имени"),
    # integrations
    "endpoint": _lazy("Адрес получателя"),
    "url": _lazy("URL"),
    "query": _lazy("Название для поиска"),
    "bik": _lazy("БИК"),
    "provider": _lazy("Сервис"),
    "api_key": _lazy("Ключ API"),
    "base_url": _lazy("Адрес сервиса"),
    "timeout_seconds": _lazy("Время ожидания"),
    "conditions": _lazy("Условия"),
    "event": _lazy("Событие"),
    "field": _lazy("Поле"),
    "monitor": _lazy("Монитор"),
    "user": _lazy("Сотрудник"),
    "users": _lazy("Сотрудники"),
    # configuration
    "name": _lazy("Название"),
    "semantic": _lazy("Семантика"),
    "color": _lazy("Цвет"),
    "sla_days": _lazy("Лимит дней на стадии"),
    "required_fields": _lazy("Обязательные поля"),
    "order": _lazy("Порядок стадий"),
    "entity": _lazy("Сущность"),
    "key": _lazy("Ключ"),
    "type": _lazy("Тип"),
    "choices": _lazy("Варианты"),
    "is_active": _lazy("Активно"),
    # companies
    "ordering": _lazy("Сортировка"),
    "ltv_min": _lazy("LTV от"),
    "ltv_max": _lazy("LTV до"),
    "deals_min": _lazy("Сделок от"),
    "won_min": _lazy("Успешных сделок от"),
    "last_interaction_before": _lazy("Последний контакт до"),
    "last_interaction_after": _lazy("Последний контакт после"),
    "last_purchase_before": _lazy("Последняя покупка до"),
    "last_purchase_after": _lazy("Последняя покупка после"),
    "inn": _lazy("ИНН"),
    "kpp": _lazy("КПП"),
    "ogrn": _lazy("ОГРН"),
    "bank_bik": _lazy("БИК банка"),
    "bank_account": _lazy("Расчётный счёт"),
    "bank_name": _lazy("Банк"),
    "phone": _lazy("Телефон"),
    "email": _lazy("E-mail"),
    "website": _lazy("Сайт"),
    "addresses": _lazy("Адреса"),
    # contacts
    "e164": _lazy("Номер в формате E.164"),
    "value": _lazy("Значение"),
    "region": _lazy("Регион"),
    "timezone": _lazy("Часовой пояс"),
    "first_name": _lazy("Имя"),
    "last_name": _lazy("Фамилия"),
    "middle_name": _lazy("Отчество"),
    "position": _lazy("Должность"),
    "birthday": _lazy("День рождения"),
    "messengers": _lazy("Мессенджеры"),
    "consent_calls": _lazy("Согласие на звонки"),
    "consent_mailing": _lazy("Согласие на рассылки"),
    "phones": _lazy("Телефоны"),
    "emails": _lazy("E-mail"),
    # tasks, comments, files
    "deadline": _lazy("Срок"),
    "reason": _lazy("Причина переноса"),
    "result": _lazy("Результат"),
    "deal": _lazy("Сделка"),
    "contact": _lazy("Контакт"),
    "task": _lazy("Задача"),
    "task_deadline": _lazy("Срок задачи"),
    "next_task": _lazy("Следующая задача"),
    "overdue": _lazy("Просроченные"),
    "deadline_from": _lazy("Срок с"),
    "deadline_to": _lazy("Срок по"),
    "completed_on": _lazy("Выполнена"),
    "after": _lazy("Страница"),
    "text": _lazy("Текст"),
    "file": _lazy("Файл"),
    "mapping": _lazy("Сопоставление колонок"),
    "ids": _lazy("Уведомления"),
    "code": _lazy("Код"),
}


def field_label(key: str) -> str | None:
    """The label of an input key as the user sees it, or None when it is not known.

    `custom.<key>` is the custom field's own name (the key itself for a key the caller made up:
    it is theirs, not ours); `next_task.deadline` is «Следующая задача — Срок»."""
    if key in FIELD_LABELS:
        return str(FIELD_LABELS[key])
    head, dot, rest = key.partition(".")
    if not dot:
        return None
    if head == "custom":
        from voronka.kernel.models import CustomField

        name = CustomField.objects.filter(key=rest).values_list("name", flat=True).first()
        return str(name or rest)
    outer, inner = field_label(head), field_label(rest)
    if outer and inner:
        return f"{outer} — {inner}"
    return outer or inner
