"""Strings translated at run time that makemessages cannot see (keys of dictionaries passed
through gettext by their value). Kept in the English catalogue; tests/web/test_i18n.py checks
this list covers activities.selectors.FIELD_LABELS and KIND_TITLES. Not a template library."""

from django.utils.translation import gettext_noop

RUNTIME_MESSAGES = [
    # units of the duration filter (inside f-strings, which xgettext does not read)
    gettext_noop("дн."),
    gettext_noop("ч"),
    gettext_noop("мин"),
    gettext_noop("Название"),
    gettext_noop("Сумма"),
    gettext_noop("Валюта"),
    gettext_noop("Ответственный"),
    gettext_noop("Компания"),
    gettext_noop("Контакты"),
    gettext_noop("Комментарий"),
    gettext_noop("Источник"),
    gettext_noop("Тип"),
    gettext_noop("ИНН"),
    gettext_noop("КПП"),
    gettext_noop("ОГРН"),
    gettext_noop("БИК"),
    gettext_noop("Расчётный счёт"),
    gettext_noop("Телефон"),
    gettext_noop("E-mail"),
    gettext_noop("Телефоны"),
    gettext_noop("Адреса"),
    gettext_noop("День рождения"),
    gettext_noop("Имя"),
    gettext_noop("Фамилия"),
    gettext_noop("Причина отказа"),
    gettext_noop("Задача"),
    gettext_noop("Срок задачи"),
    gettext_noop("Причина"),
    gettext_noop("Срок"),
    gettext_noop("Статус"),
    gettext_noop("Результат"),
    gettext_noop("Отчество"),
    gettext_noop("Должность"),
    gettext_noop("Поставлена задача"),
    gettext_noop("Задача выполнена"),
    gettext_noop("Срок задачи перенесён"),
    gettext_noop("Изменения"),
    gettext_noop("Удалено"),
]
