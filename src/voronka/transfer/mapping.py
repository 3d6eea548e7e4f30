"""Where each column of an imported file goes: the targets of each entity, and the automatic
mapping of the export formats of Bitrix24 (field codes such as NAME, PHONE_WORK and the Russian
captions of its list export) and amoCRM (Russian captions, " (контакт)" suffixes).

A mapping is a list with one target per column: a field ("first_name", "phone", …), "comment"
(several comment columns are joined), "custom:<key>" (an existing custom field), or "skip"
(reported as skipped)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _lazy

SKIP = "skip"
NEW_CUSTOM = "new_custom"  # the mapping screen's "create a custom field" choice
CUSTOM_PREFIX = "custom:"

ENTITIES = ("contact", "company", "deal")

# target → label, per entity, in the order the mapping screen offers them.
CONTACT_TARGETS: dict[str, Promise] = {
    "full_name": _lazy("ФИО целиком"),
    "last_name": _lazy("Фамилия"),
    "first_name": _lazy("Имя"),
    "middle_name": _lazy("Отчество"),
    "phone": _lazy("Телефон"),
    "email": _lazy("E-mail"),
    "position": _lazy("Должность"),
    "birthday": _lazy("День рождения"),
    "company_name": _lazy("Компания"),
    "responsible": _lazy("Ответственный"),
    "messenger": _lazy("Мессенджер"),
    "comment": _lazy("Комментарий"),
}
COMPANY_TARGETS: dict[str, Promise] = {
    "name": _lazy("Название компании"),
    "inn": _lazy("ИНН"),
    "kpp": _lazy("КПП"),
    "ogrn": _lazy("ОГРН"),
    "bank_bik": _lazy("БИК"),
    "bank_account": _lazy("Расчётный счёт"),
    "bank_name": _lazy("Банк"),
    "phone": _lazy("Телефон"),
    "email": _lazy("E-mail"),
    "website": _lazy("Сайт"),
    "address": _lazy("Адрес"),
    "address_legal": _lazy("Юридический адрес"),
    "responsible": _lazy("Ответственный"),
    "comment": _lazy("Комментарий"),
}
DEAL_TARGETS: dict[str, Promise] = {
    "title": _lazy("Название сделки"),
    "amount": _lazy("Сумма"),
    "currency": _lazy("Валюта"),
    "pipeline": _lazy("Воронка"),
    "stage": _lazy("Стадия"),
    "responsible": _lazy("Ответственный"),
    "source": _lazy("Источник"),
    "utm_source": _lazy("UTM source"),
    "utm_medium": _lazy("UTM medium"),
    "utm_campaign": _lazy("UTM campaign"),
    "utm_content": _lazy("UTM content"),
    "utm_term": _lazy("UTM term"),
    "comment": _lazy("Комментарий"),
    "company_name": _lazy("Компания: название"),
    "company_inn": _lazy("Компания: ИНН"),
    "company_phone": _lazy("Компания: телефон"),
    "company_email": _lazy("Компания: e-mail"),
    "contact_full_name": _lazy("Контакт: ФИО"),
    "contact_first_name": _lazy("Контакт: имя"),
    "contact_last_name": _lazy("Контакт: фамилия"),
    "contact_phone": _lazy("Контакт: телефон"),
    "contact_email": _lazy("Контакт: e-mail"),
    "contact_position": _lazy("Контакт: должность"),
}
TARGETS: dict[str, dict[str, Promise]] = {
    "contact": CONTACT_TARGETS,
    "company": COMPANY_TARGETS,
    "deal": DEAL_TARGETS,
}
# Targets that take several columns (values are joined or listed); the others take one.
MULTI = {"phone", "email", "comment", "messenger", "contact_phone", "contact_email"}

# Bitrix24 field codes (its import samples' headers) → target, per entity.
_BITRIX_CODES: dict[str, dict[str, str]] = {
    "contact": {
        "NAME": "first_name",
        "LAST_NAME": "last_name",
        "SECOND_NAME": "middle_name",
        "POST": "position",
        "BIRTHDATE": "birthday",
        "COMMENTS": "comment",
        "ASSIGNED_BY": "responsible",
        "COMPANY_TITLE": "company_name",
        "COMPANY_ID": "company_name",
    },
    "company": {
        "TITLE": "name",
        "COMMENTS": "comment",
        "ADDRESS": "address",
        "ADDRESS_LEGAL": "address_legal",
        "REG_ADDRESS": "address_legal",
        "BANKING_DETAILS": "comment",
        "ASSIGNED_BY": "responsible",
    },
    "deal": {
        "TITLE": "title",
        "OPPORTUNITY": "amount",
        "CURRENCY_ID": "currency",
        "STAGE_ID": "stage",
        "STATUS_ID": "stage",
        "CATEGORY_ID": "pipeline",
        "ASSIGNED_BY": "responsible",
        "COMMENTS": "comment",
        "SOURCE_ID": "source",
        "COMPANY_TITLE": "company_name",
        "COMPANY_ID": "company_name",
        "CONTACT_ID": "contact_full_name",
        "NAME": "contact_first_name",
        "LAST_NAME": "contact_last_name",
        "POST": "contact_position",
        "UTM_SOURCE": "utm_source",
        "UTM_MEDIUM": "utm_medium",
        "UTM_CAMPAIGN": "utm_campaign",
        "UTM_CONTENT": "utm_content",
        "UTM_TERM": "utm_term",
    },
}
_BITRIX_CODE_PREFIXES = {  # PHONE_WORK, EMAIL_HOME, IM_SKYPE, WEB_WORK …
    "contact": {"PHONE_": "phone", "EMAIL_": "email", "IM_": "messenger"},
    "company": {"PHONE_": "phone", "EMAIL_": "email", "WEB_": "website"},
    "deal": {"PHONE_": "contact_phone", "EMAIL_": "contact_email"},
}

# Russian captions (Bitrix24 list export and import samples, amoCRM export), folded.
_CAPTIONS: dict[str, dict[str, str]] = {
    "contact": {
        "имя": "first_name",
        "фамилия": "last_name",
        "отчество": "middle_name",
        "полное имя контакта": "full_name",
        "фио": "full_name",
        "контакт": "full_name",
        "должность": "position",
        "дата рождения": "birthday",
        "день рождения": "birthday",
        "компания": "company_name",
        "название компании": "company_name",
        "компания контакта": "company_name",
        "ответственный": "responsible",
        "ответственный за контакт": "responsible",
        "телефон": "phone",
        "e-mail": "email",
        "email": "email",
        "мессенджер": "messenger",
        "skype": "messenger",
        "комментарий": "comment",
        "примечание": "comment",
    },
    "company": {
        "название компании": "name",
        "компания": "name",
        "название": "name",
        "инн": "inn",
        "кпп": "kpp",
        "огрн": "ogrn",
        "бик": "bank_bik",
        "расчетный счет": "bank_account",
        "банк": "bank_name",
        "телефон": "phone",
        "e-mail": "email",
        "email": "email",
        "сайт": "website",
        "web": "website",
        "фактический адрес": "address",
        "адрес": "address",
        "юридический адрес": "address_legal",
        "банковские реквизиты": "comment",
        "ответственный": "responsible",
        "комментарий": "comment",
        "примечание": "comment",
    },
    "deal": {
        "название сделки": "title",
        "название": "title",
        "сделка": "title",
        "сумма": "amount",
        "бюджет": "amount",
        "валюта": "currency",
        "воронка": "pipeline",
        "направление": "pipeline",
        "стадия сделки": "stage",
        "стадия": "stage",
        "этап сделки": "stage",
        "ответственный": "responsible",
        "источник": "source",
        "комментарий": "comment",
        "примечание": "comment",
        "компания": "company_name",
        "компания контакта": "company_name",
        "название компании": "company_name",
        "инн": "company_inn",
        "контакт": "contact_full_name",
        "полное имя контакта": "contact_full_name",
        "должность": "contact_position",
        "utm_source": "utm_source",
        "utm_medium": "utm_medium",
        "utm_campaign": "utm_campaign",
        "utm_content": "utm_content",
        "utm_term": "utm_term",
    },
}
# Any caption with these words: phones, e-mails and messengers of every kind ("Рабочий
# телефон", "Частный e-mail", "Контакт Skype", "Личный email", "Мобильный телефон" …).
_WORDS: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "contact": [
        (re.compile(r"телефон|факс|пейджер"), "phone"),
        (re.compile(r"e-?mail"), "email"),
        (
            re.compile(r"icq|jabber|skype|msn|telegram|whatsapp|google talk|другой im|другой конт"),
            "messenger",
        ),
        (re.compile(r"^примечание( \d+)?$"), "comment"),
    ],
    "company": [
        (re.compile(r"телефон|факс|пейджер"), "phone"),
        (re.compile(r"e-?mail"), "email"),
        (re.compile(r"сайт|страница|микроблог"), "website"),
        (re.compile(r"^примечание( \d+)?$"), "comment"),
    ],
    "deal": [
        (re.compile(r"телефон"), "contact_phone"),
        (re.compile(r"e-?mail"), "contact_email"),
        (re.compile(r"^примечание( \d+)?$"), "comment"),
    ],
}


def fold(caption: str) -> str:
    """A caption compared: lower case, ё → е, the amoCRM " (контакт)"/" (компания)" suffix and
    trailing punctuation gone, spaces collapsed."""
    text = caption.lower().replace("ё", "е").strip()
    text = re.sub(r"\s*\((контакт|компания|сделка)\)$", "", text)
    return " ".join(text.strip(" :;*").split())


def auto_target(entity: str, header: str) -> str:
    """The target of one column by its caption, or SKIP."""
    code = header.strip().upper()
    if code in _BITRIX_CODES[entity]:
        return _BITRIX_CODES[entity][code]
    for prefix, target in _BITRIX_CODE_PREFIXES[entity].items():
        if code.startswith(prefix) and re.fullmatch(r"[A-Z_]+", code):
            return target
    folded = fold(header)
    if folded in _CAPTIONS[entity]:
        return _CAPTIONS[entity][folded]
    for pattern, target in _WORDS[entity]:
        if pattern.search(folded):
            return target
    return SKIP


def auto_mapping(entity: str, headers: Sequence[str], custom_keys: dict[str, str]) -> list[str]:
    """One target per column: the known captions, an existing custom field whose name is the
    caption, else SKIP. A single-value target goes to its first column only (a second "Сумма"
    is skipped, not merged)."""
    result: list[str] = []
    used: set[str] = set()
    by_name = {fold(name): key for key, name in custom_keys.items()}
    for header in headers:
        target = auto_target(entity, header)
        if target == SKIP and fold(header) in by_name:
            target = CUSTOM_PREFIX + by_name[fold(header)]
        if target != SKIP and target not in MULTI and target in used:
            target = SKIP
        used.add(target)
        result.append(target)
    return result


def valid_targets(entity: str, custom_keys: Sequence[str]) -> set[str]:
    return {SKIP, *TARGETS[entity], *(CUSTOM_PREFIX + k for k in custom_keys)}


def check_mapping(
    entity: str, mapping: Sequence[str], width: int, custom_keys: Sequence[str]
) -> dict[str, str]:
    """Errors of a mapping (column index → message): unknown targets, a single-value target on
    two columns, and the required one missing."""
    from django.utils.translation import gettext as _

    errors: dict[str, str] = {}
    if len(mapping) != width:
        return {"mapping": _("Нужна цель для каждой колонки")}
    allowed = valid_targets(entity, custom_keys)
    seen: dict[str, int] = {}
    for i, target in enumerate(mapping):
        if target not in allowed:
            errors[str(i)] = _("Неизвестное поле")
        elif target != SKIP and target not in MULTI and target in seen:
            errors[str(i)] = _("Это поле уже выбрано для другой колонки")
        seen.setdefault(target, i)
    required = {
        "contact": ({"first_name", "full_name"}, _("Нужна колонка с именем или ФИО")),
        "company": ({"name"}, _("Нужна колонка с названием компании")),
        "deal": (
            {"title", "company_name", "contact_full_name"},
            _("Нужна колонка с названием сделки, компанией или контактом"),
        ),
    }[entity]
    if not required[0] & set(mapping):
        errors["mapping"] = required[1]
    return errors
