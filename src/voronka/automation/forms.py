"""The rule form of the automation screens: an action's (or a monitor's) fields are rendered from
its `Params` model — a Literal is a select, a nested Params a group, an id a picker — and a
posted form is read back into the shape `services.rule_create` / `rule_update` take. The form
checks nothing itself: the service's one validation answers, its dotted error keys
("params.deadline.amount") land on the fields of the same path.

Also the small texts the screens show for a rule: its delay ("через 2 ч"), a monitor's
parameters ("просрочка > 24 ч"), the labels of events, operators and literal values."""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel

from voronka.activities.models import TaskType
from voronka.automation.actions.deals import SETTABLE
from voronka.automation.conditions import FIELDS as CONDITION_FIELDS
from voronka.automation.conditions import OP_SIGNS, OPS_BY_KIND, REF_KINDS, field_kind
from voronka.automation.models import Rule, RuleKind
from voronka.automation.registry import ACTIONS, MONITORS, Params
from voronka.automation.selectors import Choice, OptionGroup, RuleFormChoices, condition_names
from voronka.kernel.events import EVENTS

# --- labels ---------------------------------------------------------------------------------------

# Events a trigger (or a waiting robot) is usually built on, in words; others show their name.
EVENT_LABELS: dict[str, Promise] = {
    "task.completed": gettext_lazy("Задача выполнена"),
    "task.created": gettext_lazy("Задача создана"),
    "task.overdue": gettext_lazy("Задача просрочена"),
    "task.rescheduled": gettext_lazy("Срок задачи перенесён"),
    "task.updated": gettext_lazy("Задача изменена"),
    "deal.created": gettext_lazy("Сделка создана"),
    "deal.updated": gettext_lazy("Сделка изменена"),
    "deal.stage_changed": gettext_lazy("Сделка сменила стадию"),
    "deal.won": gettext_lazy("Сделка выиграна"),
    "deal.lost": gettext_lazy("Сделка проиграна"),
    "deal.reopened": gettext_lazy("Сделка снова открыта"),
    "deal.responsible_changed": gettext_lazy("Сменился ответственный"),
    "deal.commented": gettext_lazy("Комментарий к сделке"),
    "company.created": gettext_lazy("Компания создана"),
    "contact.created": gettext_lazy("Контакт создан"),
}

OPS: dict[str, Promise] = {
    "eq": gettext_lazy("равно"),
    "ne": gettext_lazy("не равно"),
    "gt": gettext_lazy("больше"),
    "gte": gettext_lazy("не меньше"),
    "lt": gettext_lazy("меньше"),
    "lte": gettext_lazy("не больше"),
    "contains": gettext_lazy("содержит"),
    "in": gettext_lazy("одно из (через запятую)"),
    "set": gettext_lazy("заполнено"),
    "not_set": gettext_lazy("не заполнено"),
}
VALUELESS_OPS = frozenset({"set", "not_set"})

# A parameter's label: (Params class, field) first, then the field name alone.
FIELD_LABELS: dict[str, Promise] = {
    "type": gettext_lazy("Тип задачи"),
    "comment": gettext_lazy("Текст задачи"),
    "responsible": gettext_lazy("Ответственный"),
    "deadline": gettext_lazy("Срок"),
    "to": gettext_lazy("Кому"),
    "text": gettext_lazy("Текст уведомления"),
    "channel": gettext_lazy("Канал"),
    "field": gettext_lazy("Поле"),
    "value": gettext_lazy("Значение"),
    "mode": gettext_lazy("Как распределять"),
    "department": gettext_lazy("Отдел"),
    "users": gettext_lazy("Сотрудники"),
    "stage": gettext_lazy("Стадия"),
    "title": gettext_lazy("Название новой сделки"),
    "endpoint": gettext_lazy("Вебхук"),
    "after_minutes": gettext_lazy("Через сколько минут после срока"),
    "within_days": gettext_lazy("Не старше, дней"),
    "after_hours": gettext_lazy("Без задачи дольше, часов"),
    "days": gettext_lazy("Дней без касаний"),
}
MODEL_FIELD_LABELS: dict[tuple[str, str], Promise] = {
    ("Who", "kind"): gettext_lazy("Кто"),
    ("Who", "user"): gettext_lazy("Сотрудник"),
    ("Recipients", "kind"): gettext_lazy("Кто"),
    ("Recipients", "user"): gettext_lazy("Сотрудник"),
    ("Recipients", "role"): gettext_lazy("Роль"),
    ("When", "kind"): gettext_lazy("Когда"),
    ("When", "amount"): gettext_lazy("Сколько"),
    ("When", "unit"): gettext_lazy("Единица"),
    ("When", "field"): gettext_lazy("Поле с датой"),
    ("When", "at"): gettext_lazy("Дата и время"),
    ("When", "time"): gettext_lazy("Время дня (необязательно)"),
    ("NotifyOverdue", "to"): gettext_lazy("Кому"),
    ("CopyDeal", "stage"): gettext_lazy("Стадия в воронке назначения"),
    ("CopyDeal", "responsible"): gettext_lazy("Ответственный новой сделки"),
    ("MoveStage", "stage"): gettext_lazy("Перевести в стадию"),
}
# A literal's label: (field, value) first, then the value alone.
LITERAL_LABELS: dict[Any, Promise] = {
    ("kind", "deal"): gettext_lazy("Ответственный сделки"),
    ("kind", "responsible"): gettext_lazy("Ответственный объекта"),
    ("kind", "head"): gettext_lazy("Руководитель ответственного"),
    ("kind", "user"): gettext_lazy("Выбранный сотрудник"),
    ("kind", "role"): gettext_lazy("Роль…"),
    ("kind", "after"): gettext_lazy("Через N после входа в стадию"),
    ("kind", "before_field"): gettext_lazy("За N дней до даты из поля"),
    ("kind", "fixed"): gettext_lazy("В фиксированную дату"),
    ("unit", "minutes"): gettext_lazy("минут"),
    ("unit", "hours"): gettext_lazy("часов"),
    ("unit", "days"): gettext_lazy("дней"),
    ("unit", "working_days"): gettext_lazy("рабочих дней"),
    ("channel", "in_app"): gettext_lazy("В приложении"),
    ("channel", "email"): gettext_lazy("В приложении и по e-mail"),
    ("mode", "round_robin"): gettext_lazy("По очереди"),
    ("mode", "least_loaded"): gettext_lazy("Наименее загруженному"),
    ("to", "responsible"): gettext_lazy("Ответственному задачи"),
    ("to", "head"): gettext_lazy("Руководителю ответственного"),
}
# The placeholders a text template may use (context.RunContext.values).
PLACEHOLDERS = (
    "{deal.title}",
    "{deal.amount}",
    "{deal.stage}",
    "{deal.pipeline}",
    "{company.name}",
    "{responsible.name}",
    "{task.comment}",
    "{rule.name}",
)
TEXTAREAS = frozenset({"comment", "text"})
# A field shown only while a sibling selector has one of these values (and read only then).
SHOWN_IF: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("Who", "user"): ("kind", frozenset({"user"})),
    ("Recipients", "user"): ("kind", frozenset({"user"})),
    ("Recipients", "role"): ("kind", frozenset({"role"})),
    ("When", "amount"): ("kind", frozenset({"after", "before_field"})),
    ("When", "unit"): ("kind", frozenset({"after"})),
    ("When", "field"): ("kind", frozenset({"before_field"})),
    ("When", "at"): ("kind", frozenset({"fixed"})),
    ("When", "time"): ("kind", frozenset({"after", "before_field"})),
}
DELAY_UNITS: list[tuple[str, int, Promise]] = [
    ("minutes", 60, gettext_lazy("минут")),
    ("hours", 3600, gettext_lazy("часов")),
    ("days", 86400, gettext_lazy("дней")),
]


def event_label(name: str) -> str:
    return str(EVENT_LABELS[name]) if name in EVENT_LABELS else name


def event_choices() -> list[Choice]:
    """The events a rule may listen to: labelled ones first, then the rest by name."""
    names = [n for n in EVENTS if not n.startswith("rule.")]
    names.sort(key=lambda n: (n not in EVENT_LABELS, n))
    return [Choice(n, event_label(n)) for n in names]


def action_label(name: str) -> str:
    action = ACTIONS.get(name)
    return str(action.label) if action is not None else name


def monitor_label(name: str) -> str:
    monitor = MONITORS.get(name)
    return str(monitor.label) if monitor is not None else name


def duration(seconds: int) -> str:
    """A short duration: "30 мин", "2 ч", "3 дн." (the largest unit that divides it)."""
    if seconds and seconds % 86400 == 0:
        return _("%(n)s дн.") % {"n": seconds // 86400}
    if seconds and seconds % 3600 == 0:
        return _("%(n)s ч") % {"n": seconds // 3600}
    if seconds % 60 == 0:
        return _("%(n)s мин") % {"n": seconds // 60}
    return _("%(n)s с") % {"n": seconds}


def delay_text(seconds: int) -> str:
    return _("через %(d)s") % {"d": duration(seconds)} if seconds else _("сразу")


def monitor_summary(rule: Rule) -> str:
    """A monitor's parameters in words: "просрочка > 24 ч · не старше 3 дн."."""
    p = rule.monitor_params or {}
    parts: list[str] = []
    if rule.monitor == "overdue_task":
        after = int(p.get("after_minutes") or 0)
        parts.append(
            _("просрочка > %(d)s") % {"d": duration(after * 60)}
            if after
            else _("сразу при просрочке")
        )
        parts.append(_("не старше %(n)s дн.") % {"n": p.get("within_days", 3)})
    elif rule.monitor == "deal_without_task":
        parts.append(
            _("без задачи > %(d)s") % {"d": duration(int(p.get("after_hours") or 0) * 3600)}
        )
    elif rule.monitor == "company_no_interaction":
        parts.append(_("нет касаний > %(n)s дн.") % {"n": p.get("days", 30)})
    elif rule.monitor == "deal_over_sla":
        parts.append(_("дольше лимита стадии"))
    if p.get("every_minutes"):
        parts.append(_("проверка каждые %(d)s") % {"d": duration(int(p["every_minutes"]) * 60)})
    return " · ".join(parts) or "—"


def split_delay(seconds: int) -> tuple[int, str]:
    """The delay as the form shows it: an amount of the largest unit that divides it."""
    for unit, size, _label in reversed(DELAY_UNITS):
        if seconds and seconds % size == 0:
            return seconds // size, unit
    return seconds // 60, "minutes"


# --- a Params model as widgets --------------------------------------------------------------------


@dataclass
class Widget:
    """One input (or a group of them) of a Params model, addressed by its dotted path."""

    path: str  # "deadline.amount"
    name: str  # the input's name: prefix + path
    label: str
    kind: str  # select, number, text, textarea, checkbox, datetime, time, users, group
    value: Any = None
    required: bool = False
    optional: bool = False  # may be left empty (None)
    choices: list[Choice] = field(default_factory=list)
    groups: list[Any] = field(default_factory=list)  # StageGroup: a grouped select of stages
    empty_label: str = ""
    children: list[Widget] = field(default_factory=list)
    error: str = ""
    shown_if: str = ""  # the input name of the sibling selector
    shown_values: str = ""  # space-separated values of it that show this field
    hint: str = ""
    note: str = ""  # a line under the input that explains it

    @property
    def input_id(self) -> str:
        return "f-" + self.name.replace(".", "-")

    @property
    def selected(self) -> set[str]:
        """A multi-choice's values as strings (the template compares strings)."""
        if isinstance(self.value, list):
            return {str(v) for v in self.value}
        return set()


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _shape(tp: Any) -> tuple[Any, bool]:
    """The type without Annotated and None, and whether None is allowed."""
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        args = [_unwrap(a) for a in get_args(tp)]
        optional = type(None) in args
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], optional
        return str, optional  # a union of scalars (set_field's value): typed as text
    return tp, False


def _is_params(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _literal_label(name: str, value: str) -> str:
    if name == "type" and value in TaskType.values:
        return str(TaskType(value).label)
    label = LITERAL_LABELS.get((name, value)) or LITERAL_LABELS.get(value)
    return str(label) if label is not None else value


def _label(model: type[BaseModel], name: str) -> str:
    label = MODEL_FIELD_LABELS.get((model.__name__, name)) or FIELD_LABELS.get(name)
    return str(label) if label is not None else name.replace("_", " ")


@dataclass
class Pickers:
    """The choices of the id fields: people, departments, stages, deal fields, endpoints."""

    choices: RuleFormChoices
    endpoints: list[Choice] = field(default_factory=list)


def _local_input(value: Any) -> str:
    """A stored ISO date-time as a datetime-local input's value (local time)."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%dT%H:%M")


def widgets(
    model: type[BaseModel],
    *,
    prefix: str,
    values: Mapping[str, Any] | None,
    errors: Mapping[str, str],
    pickers: Pickers,
    path: str = "",
) -> list[Widget]:
    """The inputs of `model`, filled from `values` (stored or posted), with the errors whose key
    is their path."""
    values = values if isinstance(values, Mapping) else {}
    out: list[Widget] = []
    for name, info in model.model_fields.items():
        tp, optional = _shape(info.annotation)
        here = f"{path}{name}"
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        value = values.get(name, default)
        w = Widget(
            path=here,
            name=prefix + here,
            label=_label(model, name),
            kind="text",
            value=value,
            required=info.is_required() and not optional,
            optional=optional,
            error=errors.get(here, ""),
        )
        if not w.error and not _is_params(tp):  # a list's item ("users.0"): on the list
            w.error = next((m for k, m in errors.items() if k.startswith(here + ".")), "")
        shown = SHOWN_IF.get((model.__name__, name))
        if shown is not None:
            w.shown_if = f"{prefix}{path}{shown[0]}"
            w.shown_values = " ".join(sorted(shown[1]))
        if _is_params(tp):
            w.kind = "group"
            w.children = widgets(
                tp,
                prefix=prefix,
                values=value if isinstance(value, Mapping) else {},
                errors=errors,
                pickers=pickers,
                path=here + ".",
            )
        elif get_origin(tp) is Literal:
            w.kind = "select"
            w.choices = [Choice(v, _literal_label(name, str(v))) for v in get_args(tp)]
        elif get_origin(tp) is list:
            w.kind = "users" if name == "users" else "text"
            if w.kind == "users":
                w.choices = pickers.choices.users
        elif name == "stage" and tp is int:
            w.kind = "stage"
            w.groups = pickers.choices.stages
            if optional:
                w.empty_label = _("Стадия подогрева по причине проигрыша")
        elif name == "user" and tp is int:
            w.kind, w.choices = "select", pickers.choices.users
            w.empty_label = "—"
        elif name == "role" and tp is int:
            w.kind, w.choices = "select", pickers.choices.roles
            w.empty_label = "—"
            w.note = _("Все активные сотрудники с этой ролью, которым видна сделка")
        elif name == "department" and tp is int:
            w.kind, w.choices = "select", pickers.choices.departments
            w.empty_label = _("— без отдела —")
        elif name == "endpoint" and tp is int and pickers.endpoints:
            w.kind, w.choices = "select", pickers.endpoints
            w.empty_label = "—"
        elif name == "field" and model.__name__ == "When":
            w.kind, w.choices = "select", pickers.choices.date_fields
            w.empty_label = "—"
        elif name == "field" and model.__name__ == "SetField":
            w.kind = "select"
            w.choices = [Choice(f, str(CONDITION_FIELDS.get(f, f))) for f in sorted(SETTABLE)] + [
                Choice(f"custom.{c.value}", c.label) for c in pickers.choices.deal_fields
            ]
            w.empty_label = "—"
        elif tp is bool:
            w.kind = "checkbox"
        elif tp in (int, float):
            w.kind = "number"
        elif tp is dt.datetime:
            w.kind, w.value = "datetime", _local_input(value)
        elif name == "time":
            w.kind = "time"
        elif name in TEXTAREAS:
            w.kind = "textarea"
            w.hint = " ".join(PLACEHOLDERS)
        out.append(w)
    return out


def _int_or_raw(raw: str) -> Any:
    """A whole number when it is one (bounded: an absurd one stays text for the service to
    name), else the text as typed."""
    text = raw.strip()
    if text.lstrip("-").isdigit() and len(text) <= 18:
        return int(text)
    return raw


def _number(raw: str) -> Any:
    text = raw.strip().replace(",", ".")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return raw


def read_params(
    model: type[BaseModel], post: Any, *, prefix: str, path: str = ""
) -> dict[str, Any]:
    """The posted inputs of `model` as its input dict. A field not posted (or hidden by its
    selector) is left out, so the model's default applies; an empty optional one is None."""
    out: dict[str, Any] = {}
    fields = model.model_fields
    for name, info in fields.items():
        tp, optional = _shape(info.annotation)
        here = f"{path}{name}"
        key = prefix + here
        shown = SHOWN_IF.get((model.__name__, name))
        if shown is not None:
            selector = post.get(f"{prefix}{path}{shown[0]}")
            if selector is not None and selector not in shown[1]:
                continue
        if _is_params(tp):
            nested = read_params(tp, post, prefix=prefix, path=here + ".")
            if nested or any(k.startswith(key + ".") for k in post):
                out[name] = nested
            continue
        if get_origin(tp) is list:
            if key in post or f"{key}__present" in post:
                out[name] = [_int_or_raw(v) for v in post.getlist(key) if str(v).strip()]
            continue
        if tp is bool:
            if f"{key}__present" in post or key in post:
                out[name] = post.get(key) in ("on", "1", "true")
            continue
        if key not in post:
            continue
        raw = str(post.get(key, ""))
        if not raw.strip():
            if optional:
                out[name] = None
            elif tp is str and get_origin(tp) is not Literal:
                out[name] = raw
            continue
        if tp is int:
            out[name] = _int_or_raw(raw)
        elif tp is float:
            out[name] = _number(raw)
        elif tp is dt.datetime:
            out[name] = _aware_iso(raw)
        else:
            out[name] = raw
    return out


def _aware_iso(raw: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        return raw
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment.isoformat()


# --- the rule form ------------------------------------------------------------------------------


@dataclass
class CondRow:
    """One condition row: its inputs are named `cond-<index>-…`; the value is picked by the
    widget of the field's kind (`cond-<index>-<kind>`: a select of people, stages, loss
    reasons, task types or a list field's options, the company picker; text otherwise)."""

    index: str = "__i__"
    values: list[str] = field(default_factory=list)  # the picked ids / options
    field: str = ""  # (after `values`: the name hides dataclasses.field below it)
    op: str = "eq"
    value: str = ""  # the text input's value
    kind: str = "text"
    label: str = ""  # the picked company's name
    error: str = ""

    def prefix(self) -> str:
        return f"cond-{self.index}-"

    @property
    def multiple(self) -> bool:
        return self.op == "in"


@dataclass(frozen=True)
class CondField:
    value: str
    label: str
    kind: str
    key: str = ""  # a list field's key (its options' select)
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class CondOp:
    value: str
    label: str
    kinds: str  # space-separated kinds it fits


def condition_text(condition: Mapping[str, Any], names: Mapping[tuple[str, str], str]) -> str:
    """A condition in words for a robot's card: "Ответственный = Анна Иванова"."""
    name = str(condition.get("field") or "")
    if name.startswith("custom."):
        label = names.get(("custom", name[7:]), name[7:])
    else:
        label = str(CONDITION_FIELDS.get(name, name))
    op = str(condition.get("op") or "eq")
    if op in VALUELESS_OPS:
        return f"{label}: {OPS[op]}"
    kind = field_kind(name)
    value = condition.get("value")

    def shown(item: Any) -> str:
        if kind == "task_type" and str(item) in TaskType.values:
            return str(TaskType(str(item)).label)
        return names.get((kind, str(item)), str(item))

    text = ", ".join(shown(v) for v in value) if isinstance(value, list) else shown(value)
    return f"{label} {OP_SIGNS.get(op, op)} {text}"


@dataclass
class Section:
    """One action's (or monitor's) fieldset: shown while it is the selected one."""

    name: str
    label: str
    widgets: list[Widget]
    objects: str = ""
    error: str = ""  # the whole parameters refused (a rule across fields)


@dataclass
class RuleForm:
    kind: str
    rule: Rule | None
    data: dict[str, Any]
    errors: dict[str, str]
    actions: list[Section]
    monitors: list[Section]
    events: list[Choice]
    condition_fields: list[Choice]
    conditions: list[CondRow]
    stages: list[Any]
    delay_amount: int
    delay_unit: str
    delay_units: list[Choice]
    message: str = ""
    cond_fields: list[CondField] = field(default_factory=list)
    cond_ops: list[CondOp] = field(default_factory=list)
    cond_stages: list[Any] = field(default_factory=list)  # the rule's pipeline's (or all)
    choices: RuleFormChoices | None = None
    blank_row: CondRow = field(default_factory=CondRow)  # the template of an added row
    new_row: CondRow = field(default_factory=CondRow)  # the empty row after the stored ones

    @property
    def task_types(self) -> list[tuple[str, str]]:
        return [(str(v), str(label)) for v, label in TaskType.choices]

    @property
    def is_robot(self) -> bool:
        return self.kind == RuleKind.ROBOT

    @property
    def is_trigger(self) -> bool:
        return self.kind == RuleKind.TRIGGER

    @property
    def is_monitor(self) -> bool:
        return self.kind == RuleKind.MONITOR

    @property
    def every_error(self) -> str:
        return self.errors.get("monitor_params.every_minutes", "")

    @property
    def ops(self) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in OPS.items()]

    @property
    def general_errors(self) -> list[tuple[str, str]]:
        """Errors no field of the form shows (e.g. a refused stage), with their key."""
        shown = {"name", "stage", "event", "monitor", "action", "delay_seconds", "conditions"}
        out = []
        for key, message in self.errors.items():
            head = key.split(".", 1)[0]
            if head in ("params", "monitor_params") or key.startswith("conditions"):
                continue
            if key not in shown:
                out.append((key, message))
        return out

    @property
    def conditions_error(self) -> str:
        return next(
            (m for k, m in self.errors.items() if k.startswith("conditions") and "." not in k), ""
        ) or next((m for k, m in self.errors.items() if k.startswith("conditions.")), "")


def _sub_errors(errors: Mapping[str, str], head: str) -> dict[str, str]:
    return {k[len(head) + 1 :]: v for k, v in errors.items() if k.startswith(head + ".")}


def _whole(errors: Mapping[str, str], head: str, sub: Mapping[str, str]) -> str:
    """An error about the parameters as a whole ("department or users: whom to distribute
    among"): its key is the object's own or its "body"."""
    return errors.get(head) or sub.get("body") or sub.get("") or ""


def rule_form(
    *,
    kind: str,
    data: Mapping[str, Any],
    errors: Mapping[str, str],
    pickers: Pickers,
    rule: Rule | None = None,
    message: str = "",
) -> RuleForm:
    """The form of a rule from its input shape (a stored rule's `rule_input`, or what was
    posted), with the service's errors."""
    errors = dict(errors)
    action = str(data.get("action") or "")
    monitor = str(data.get("monitor") or "")
    params_errors = _sub_errors(errors, "params")
    monitor_errors = _sub_errors(errors, "monitor_params")
    actions = []
    for name, spec in ACTIONS.items():
        if kind != RuleKind.MONITOR and "deal" not in spec.objects:
            continue
        mine = name == action
        actions.append(
            Section(
                name,
                str(spec.label),
                widgets(
                    spec.params,
                    prefix=f"p-{name}-",
                    values=data.get("params") if mine else None,
                    errors=params_errors if mine else {},
                    pickers=pickers,
                ),
                " ".join(sorted(spec.objects)),
                _whole(errors, "params", params_errors) if mine else "",
            )
        )
    monitors = []
    for name, mon in MONITORS.items():
        mine = name == monitor
        monitors.append(
            Section(
                name,
                str(mon.label),
                widgets(
                    mon.params,
                    prefix=f"m-{name}-",
                    values=data.get("monitor_params") if mine else None,
                    errors=monitor_errors if mine else {},
                    pickers=pickers,
                ),
                mon.object_type,
                _whole(errors, "monitor_params", monitor_errors) if mine else "",
            )
        )
    choices = pickers.choices
    cond_fields = [CondField(k, str(v), field_kind(k)) for k, v in CONDITION_FIELDS.items()] + [
        CondField(
            f"custom.{c.value}",
            c.label,
            _custom_kind(str(c.value), choices),
            str(c.value),
            tuple(choices.field_options.get(str(c.value), ())),
        )
        for c in choices.deal_fields
    ]
    kinds = {f.value: f.kind for f in cond_fields}
    stored = [raw for raw in data.get("conditions") or [] if isinstance(raw, Mapping)]
    names = condition_names(stored) if stored else {}
    conditions = []
    for i, raw in enumerate(stored):
        name = str(raw.get("field") or "")
        value = raw.get("value")
        items = [str(v) for v in value] if isinstance(value, list) else []
        if not isinstance(value, list) and value not in (None, ""):
            items = [str(value)]
        kind = kinds.get(name, field_kind(name))
        conditions.append(
            CondRow(
                index=str(i),
                field=name,
                op=str(raw.get("op") or "eq"),
                value=", ".join(items),
                values=items,
                kind=kind,
                label=names.get(("company", items[0]), "") if kind == "company" and items else "",
                error=next((m for k, m in errors.items() if k.startswith(f"conditions.{i}")), ""),
            )
        )
    # A picked value the lists do not offer (a dismissed person, a retired reason): offered too.
    offered = {str(o.value) for g in choices.people for o in g.options}
    gone = sorted(
        {v for row in conditions if row.kind == "user" for v in row.values if v not in offered}
    )
    if gone:
        choices = replace(
            choices,
            people=[
                *choices.people,
                OptionGroup(_("Неактивные"), [Choice(v, names.get(("user", v), v)) for v in gone]),
            ],
        )
    pipeline_id = data.get("pipeline") or next(
        (
            g.pipeline.value
            for g in choices.stages
            if any(s.value == data.get("stage") for s in g.stages)
        ),
        None,
    )
    cond_stages = [
        g for g in choices.stages if pipeline_id is None or g.pipeline.value == pipeline_id
    ]
    amount, unit = split_delay(int(data.get("delay_seconds") or 0))
    condition_fields = [Choice(k, str(v)) for k, v in CONDITION_FIELDS.items()] + [
        Choice(f"custom.{c.value}", c.label) for c in pickers.choices.deal_fields
    ]
    return RuleForm(
        kind=kind,
        rule=rule,
        data=dict(data),
        errors=errors,
        actions=actions,
        monitors=monitors,
        events=event_choices(),
        condition_fields=condition_fields,
        conditions=conditions,
        stages=pickers.choices.stages,
        cond_fields=cond_fields,
        cond_ops=[
            CondOp(op, str(OPS[op]), " ".join(k for k, ops in OPS_BY_KIND.items() if op in ops))
            for op in OPS
        ],
        cond_stages=cond_stages,
        choices=choices,
        blank_row=CondRow(index="__i__"),
        new_row=CondRow(index=str(len(conditions))),
        delay_amount=amount,
        delay_unit=unit,
        delay_units=[Choice(u, str(label)) for u, _size, label in DELAY_UNITS],
        message=message,
    )


def _custom_kind(key: str, choices: RuleFormChoices) -> str:
    return field_kind(f"custom.{key}", choices.field_types)


def _conditions(post: Any) -> list[dict[str, Any]]:
    """The posted condition rows (`cond-<i>-field`, `-op`, and the value of the widget of the
    field's kind), in their order on the page; an empty row is left out. The form posts each
    row's kind as `cond-<i>-kind` (the field's, as the page knew it)."""
    if "cond_field" in post:
        return _legacy_conditions(post)
    rows = sorted(
        {
            int(k.split("-")[1])
            for k in post
            if k.startswith("cond-") and k.endswith("-field") and k.split("-")[1].isdigit()
        }
    )
    out: list[dict[str, Any]] = []
    for i in rows:
        prefix = f"cond-{i}-"
        name = str(post.get(prefix + "field", ""))
        if not name:
            continue
        op = str(post.get(prefix + "op", "eq"))
        row: dict[str, Any] = {"field": name, "op": op}
        if op not in VALUELESS_OPS:
            kind = str(post.get(prefix + "kind", "") or field_kind(name))
            if kind in ("text", "number"):
                raw = str(post.get(prefix + "text", ""))
                row["value"] = (
                    [v.strip() for v in raw.split(",") if v.strip()] if op == "in" else raw.strip()
                )
            else:
                widget = prefix + (f"choice-{name[7:]}" if kind == "choice" else kind)
                picked = [str(v) for v in post.getlist(widget) if str(v).strip()]
                if op == "in":
                    row["value"] = [_int_or_raw(v) if kind in REF_KINDS else v for v in picked]
                else:
                    one = picked[0] if picked else ""
                    row["value"] = _int_or_raw(one) if kind in REF_KINDS and one else one
        out.append(row)
    return out


def _legacy_conditions(post: Any) -> list[dict[str, Any]]:
    """Rows posted as parallel lists (`cond_field`, `cond_op`, `cond_value`), values as text."""
    fields, ops, values = (post.getlist(k) for k in ("cond_field", "cond_op", "cond_value"))
    out: list[dict[str, Any]] = []
    for i, name in enumerate(fields):
        if not name:
            continue
        op = ops[i] if i < len(ops) else "eq"
        raw = values[i] if i < len(values) else ""
        row: dict[str, Any] = {"field": name, "op": op}
        if op == "in":
            row["value"] = [v.strip() for v in raw.split(",") if v.strip()]
        elif op not in VALUELESS_OPS:
            row["value"] = raw.strip()
        out.append(row)
    return out


def _delay(post: Any) -> Any:
    raw = str(post.get("delay_amount", "") or "0").strip()
    size = dict((u, s) for u, s, _label in DELAY_UNITS).get(post.get("delay_unit", ""), 60)
    if not raw.isdigit():
        return raw  # the service names it ("delay_seconds")
    return int(raw) * size


def read_rule(post: Any, *, kind: str) -> dict[str, Any]:
    """A posted rule form as the services' input (RuleIn's shape)."""
    data: dict[str, Any] = {
        "kind": kind,
        "name": post.get("name", ""),
        "enabled": post.get("enabled") in ("on", "1", "true"),
        "conditions": _conditions(post),
        "delay_seconds": _delay(post),
    }
    if kind != RuleKind.MONITOR:
        data["stage"] = _int_or_raw(str(post.get("stage", ""))) if post.get("stage") else None
        data["event"] = post.get("event", "")
    if kind != RuleKind.TRIGGER:
        action = str(post.get("action", ""))
        data["action"] = action
        spec = ACTIONS.get(action)
        data["params"] = read_params(spec.params, post, prefix=f"p-{action}-") if spec else {}
    if kind == RuleKind.MONITOR:
        monitor = str(post.get("monitor", ""))
        data["monitor"] = monitor
        mon = MONITORS.get(monitor)
        params = read_params(mon.params, post, prefix=f"m-{monitor}-") if mon else {}
        every = str(post.get("every_minutes", "")).strip()
        if every:
            params["every_minutes"] = _int_or_raw(every)
        data["monitor_params"] = params
    return data


__all__ = ["Params", "RuleForm", "Widget", "read_rule", "rule_form"]
