"""The words the demo company and the benchmark seed are made of: people, companies, streets,
stages, loss reasons, sources, and the generators of valid requisites (INN, OGRN, accounts)."""

from __future__ import annotations

import datetime as dt
import functools
import random
from typing import Any

PASSWORD = "demo"
USERS = [
    # username, first, last, role
    ("owner", "Андрей", "Соколов", "owner"),
    ("head", "Елена", "Морозова", "head"),
    ("manager1", "Иван", "Петров", "manager"),
    ("manager2", "Мария", "Смирнова", "manager"),
]

DEAL_FIELDS = [
    ("contract_no", "Номер договора", "string", []),
    ("delivery_date", "Дата первой доставки", "date", []),
    ("payment_type", "Способ оплаты", "list", ["Наличные", "Безналичный расчёт", "Карта курьеру"]),
    ("bottles", "Бутылей 19 л в месяц", "number", []),
    ("delivery_address", "Адрес доставки", "address", []),
    ("extras", "Доп. оборудование", "multi", ["Кулер", "Помпа", "Стаканчики", "Подставка"]),
    ("prepayment", "Предоплата", "money", []),
    ("callback_at", "Перезвонить", "datetime", []),
    ("needs_invoice", "Нужен счёт", "boolean", []),
    ("client_site", "Сайт клиента", "link", []),
    ("contract_file", "Скан договора", "file", []),
]

SALES_STAGES: list[dict[str, Any]] = [
    dict(name="Новое обращение", semantic="open", color="#64748b", sla_days=2),
    dict(name="Выявление потребности", semantic="open", color="#3b82f6", sla_days=7),
    dict(name="КП отправлено", semantic="open", color="#8b5cf6", sla_days=10),
    dict(
        name="Оформление заказа",
        semantic="open",
        color="#f59e0b",
        sla_days=5,
        required_fields=["contract_no", "delivery_date", "payment_type"],
    ),
    dict(
        name="Оплата и доставка",
        semantic="open",
        color="#06b6d4",
        sla_days=7,
        required_fields=["amount"],
    ),
    dict(name="Успешно", semantic="won", color="#16a34a"),
    dict(name="Отказ", semantic="lost", color="#dc2626"),
]
CALLS_STAGES: list[dict[str, Any]] = [
    dict(name="Запланирован звонок", semantic="open", color="#64748b", sla_days=14),
    dict(name="Дозвонились", semantic="open", color="#3b82f6", sla_days=2),
    dict(name="Договорились о заказе", semantic="open", color="#f59e0b", sla_days=1),
    dict(name="Заказ оформлен", semantic="won", color="#16a34a"),
    dict(name="Не актуально", semantic="lost", color="#dc2626"),
]
LOSS_REASONS = [
    "Дорого",
    "Выбрали конкурента",
    "Нет потребности сейчас",
    "Не дозвонились",
    "Не устроило качество",
]
WARMING_STAGES: list[dict[str, Any]] = [
    *[
        dict(name=r, semantic="open", color=c, sla_days=30)
        for r, c in zip(
            LOSS_REASONS, ["#f97316", "#ef4444", "#a855f7", "#64748b", "#eab308"], strict=True
        )
    ],
    dict(name="Реанимирован", semantic="won", color="#16a34a"),
    dict(name="Окончательный отказ", semantic="lost", color="#991b1b"),
]

LAST = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
]
FIRST_M = [
    "Александр",
    "Дмитрий",
    "Максим",
    "Сергей",
    "Андрей",
    "Алексей",
    "Артём",
    "Илья",
    "Кирилл",
    "Михаил",
    "Никита",
    "Матвей",
    "Роман",
    "Егор",
    "Олег",
    "Павел",
]
FIRST_F = [
    "Анна",
    "Мария",
    "Елена",
    "Дарья",
    "Алина",
    "Ирина",
    "Екатерина",
    "Ольга",
    "Татьяна",
    "Наталья",
    "Юлия",
    "Светлана",
    "Ксения",
    "Виктория",
]
MIDDLE_M = ["Александрович", "Сергеевич", "Дмитриевич", "Андреевич", "Игоревич", "Викторович"]
MIDDLE_F = ["Александровна", "Сергеевна", "Дмитриевна", "Андреевна", "Игоревна", "Викторовна"]
ORG_WORDS = [
    "Альфа",
    "Вектор",
    "Гранит",
    "Меридиан",
    "Ресурс",
    "Светоч",
    "Прогресс",
    "Эталон",
    "Северстрой",
    "Техносфера",
    "Логистик",
    "Медиа Групп",
    "Бизнес Центр",
    "Стоматология",
    "Фитнес",
    "Автосервис",
    "Пекарня",
    "Детский сад",
    "Клиника",
    "Офис-Сервис",
    "Инжиниринг",
    "Консалтинг",
    "Торговый дом",
    "Кофейня",
    "Салон красоты",
    "Школа",
]
ORG_TAIL = ["Плюс", "Про", "М", "Сити", "Экспресс", "Север", "Юг", "24", "Групп", "Трейд", "Лайн"]
STREETS = [
    "ул. Ленина",
    "пр-т Мира",
    "ул. Гагарина",
    "ул. Садовая",
    "Ленинградский пр-т",
    "ул. Профсоюзная",
    "ул. Новослободская",
    "Варшавское ш.",
    "ул. Тверская",
    "ул. Лесная",
]
CITIES = ["Москва", "Москва", "Москва", "Химки", "Мытищи", "Красногорск", "Одинцово", "Люберцы"]
MOBILE = ["903", "905", "910", "915", "916", "917", "925", "926", "977", "985", "999"]
SOURCES = ["Звонок", "Сайт", "Яндекс.Директ", "ВКонтакте", "Telegram", "Рекомендация", "Авито"]


def random_inn10(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(9)]
    digits[0], digits[1] = 7, 7
    weights = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    return "".join(map(str, digits)) + str(
        sum(d * w for d, w in zip(digits, weights, strict=True)) % 11 % 10
    )


def random_inn12(rng: random.Random) -> str:
    digits = [7, 7] + [rng.randint(0, 9) for _ in range(8)]
    w11 = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
    digits.append(sum(d * w for d, w in zip(digits, w11, strict=True)) % 11 % 10)
    w12 = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
    digits.append(sum(d * w for d, w in zip(digits, w12, strict=True)) % 11 % 10)
    return "".join(map(str, digits))


def random_ogrn(rng: random.Random) -> str:
    body = "1" + "".join(str(rng.randint(0, 9)) for _ in range(11))
    return body + str(int(body) % 11 % 10)


def random_account(rng: random.Random, bik: str) -> str:
    digits = list("40702810") + ["0"] + [str(rng.randint(0, 9)) for _ in range(11)]
    weights = [7, 1, 3] * 8
    key = bik[-3:] + "".join(digits)
    total = sum(int(d) * w for d, w in zip(key, weights, strict=False))
    for k in range(10):
        if (total + k * weights[11]) % 10 == 0:
            digits[8] = str(k)
            break
    return "".join(digits)


def random_phone(rng: random.Random) -> str:
    return f"+7{rng.choice(MOBILE)}{rng.randint(1000000, 9999999)}"


@functools.cache
def translit(text: str) -> str:
    table = str.maketrans(
        {
            "а": "a",
            "б": "b",
            "в": "v",
            "г": "g",
            "д": "d",
            "е": "e",
            "ё": "e",
            "ж": "zh",
            "з": "z",
            "и": "i",
            "й": "y",
            "к": "k",
            "л": "l",
            "м": "m",
            "н": "n",
            "о": "o",
            "п": "p",
            "р": "r",
            "с": "s",
            "т": "t",
            "у": "u",
            "ф": "f",
            "х": "h",
            "ц": "ts",
            "ч": "ch",
            "ш": "sh",
            "щ": "sch",
            "ъ": "",
            "ы": "y",
            "ь": "",
            "э": "e",
            "ю": "yu",
            "я": "ya",
        }
    )
    return "".join(ch for ch in text.lower().translate(table) if ch.isalnum())


# --- working time ---------------------------------------------------------------------------
# The demo team works 9:00–19:00 in the product's zone (Moscow time), Monday to Friday.
# Deadlines fall on the quarter hour between 9:00 and 18:45 of a working day — except today's,

UTC = dt.UTC
DAY = 86400.0
HISTORY_DAYS = 365
BIG_PIPELINE_SHARE = 0.55  # of all deals; with 55 % of them open: ~30 % of all deals
BIG_OPEN_TARGET = 0.30  # open deals of the big pipeline / all deals
OTHER_OPEN = 0.30  # open share in the other pipelines
WON_OF_CLOSED = 0.45
FLUSH_DEALS = 20000  # deals per bulk write (with their companies, contacts, history, tasks)

PRODUCTS = [
    "Доставка воды",
    "Вода + кулер",
    "Договор поставки",
    "Разовый заказ",
    "Абонемент на воду",
    "Аренда кулера",
    "Поставка для офиса",
    "Обслуживание кулеров",
]
AMOUNTS = [3500, 5600, 8900, 12400, 18000, 24500, 36000, 52000, 78000, 120000, 185000, 260000]
# Deals in another currency: every 40th deal id in USD, every 100th in EUR (~3.5 %), with the
# amount in that currency (≈ the rouble amount / rate).
FOREIGN = (("EUR", 100, 100), ("USD", 40, 90))  # (currency, every n-th deal id, rate)
ORG_FORMS = ["ООО", "ООО", "ООО", "АО", "ПАО", "ЗАО"]
ORG_FIRST = [
    "Альфа",
    "Вектор",
    "Гранит",
    "Меридиан",
    "Ресурс",
    "Светоч",
    "Прогресс",
    "Эталон",
    "Северный",
    "Техно",
    "Логистик",
    "Медиа",
    "Бизнес",
    "Дента",
    "Фитнес",
    "Авто",
    "Хлебный",
    "Детский",
    "Мед",
    "Офис",
    "Инжиниринг",
    "Консалт",
    "Торговый",
    "Кофе",
    "Стиль",
    "Школьный",
    "Строй",
    "Агро",
    "Транс",
    "Энерго",
    "Финанс",
    "Сервис",
]
ORG_SECOND = [
    "Плюс",
    "Про",
    "М",
    "Сити",
    "Экспресс",
    "Север",
    "Юг",
    "24",
    "Групп",
    "Трейд",
    "Лайн",
    "Дом",
    "Центр",
    "Мир",
    "Сфера",
    "Холдинг",
    "Партнёр",
    "Маркет",
    "Альянс",
    "Регион",
    "Стандарт",
    "Комплект",
    "Снаб",
    "Систем",
]
UTM = ["yandex", "vk", "google", "telegram", "", "", ""]
POSITIONS = [
    "Директор",
    "Офис-менеджер",
    "Бухгалтер",
    "Администратор",
    "Завхоз",
    "Генеральный директор",
    "Закупщик",
    "Секретарь",
]
DOMAINS = ["mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru"]
TASK_TYPES = ["call"] * 11 + ["meeting"] * 2 + ["email"] * 4 + ["other"] * 3
TASK_COMMENTS = {
    "call": [
        "Позвонить, уточнить потребность и объём",
        "Перезвонить по КП, ответить на вопросы",
        "Согласовать дату первой доставки",
        "Напомнить об оплате счёта",
        "Уточнить, получили ли воду",
        "Предложить абонемент на квартал",
    ],
    "meeting": [
        "Встреча в офисе клиента, презентация кулеров",
        "Подписание договора",
        "Дегустация воды в офисе",
    ],
    "email": [
        "Отправить КП и прайс на почту",
        "Выставить счёт на предоплату",
        "Отправить скан договора",
        "Отправить акт сверки",
    ],
    "other": [
        "Подготовить договор поставки",
        "Проверить оплату в банке",
        "Согласовать скидку с руководителем",
    ],
}
RESULTS = [
    "Дозвонился, договорились",
    "КП отправлено",
    "Клиент подтвердил",
    "Счёт отправлен",
    "Встреча прошла, интерес есть",
    "Договор подписан",
    "Не дозвонился, перезвоню",
    "Клиент думает, вернётся на следующей неделе",
    "Оплата поступила",
]
LOSS_COMMENTS = [
    "",
    "",
    "Нашли дешевле",
    "Переехали",
    "Не отвечает на звонки",
    "Закрыли офис",
    "Решили пить из-под крана",
]
TEAM_DEPARTMENTS = [("Отдел продаж №1", 20), ("Отдел продаж №2", 5)]
