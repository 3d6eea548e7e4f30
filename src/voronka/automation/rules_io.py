"""Automation as code (issue 9; decision 0015, "Automation as code"): the rules as a YAML file
that moves between installations — `voronka automation export > rules.yaml`,
`voronka automation import rules.yaml [--replace]`, and the file `voronka automation dry-run`
replays.

The file names what a rule refers to, never by id: pipelines and stages by name, users by
username, departments by name, roles by code, loss reasons by name. A stage in the rule's own pipeline is its name; a stage elsewhere
is `{pipeline: …, stage: …}`. Ids are resolved on import, against this installation::

    version: 1
    rules:
    - kind: robot
      name: Подтвердить получение КП
      pipeline: Продажа
      stage: КП отправлено
      action: create_task
      params:
        type: call
        comment: 'Позвонить: получено ли КП по «{deal.title}»'
        responsible: {kind: user, user: ivanova}
        deadline: {kind: after, amount: 1, unit: working_days}
    - kind: trigger
      name: Встреча проведена → Переговоры
      pipeline: Продажа
      stage: Переговоры
      event: task.completed
      conditions:
      - {field: task.type, op: eq, value: meeting}

A rule's input is validated in one place, `services.rule_create` (its `rule_clean`): import calls it
for every rule in one transaction, so a bad file is rejected whole, with every error on the line
of its key ("rules.yaml:14: params.comment: …"; `yaml.compose` keeps the node marks).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.db import transaction
from django.utils.translation import gettext as _
from pydantic import ValidationError as PydanticValidationError

from voronka.automation import services as rule_services
from voronka.automation.conditions import Condition
from voronka.automation.models import Rule, RuleKind
from voronka.automation.registry import ACTIONS
from voronka.automation.services import (
    CONFIGURE,
    FIELDS,
    RuleIn,
    rule_create,
    rule_delete,
    rule_input,
    rule_update,
)
from voronka.deals.models import LossReason, Pipeline, Stage
from voronka.identity.models import Department, Role, User
from voronka.identity.permissions import require_actor_flag
from voronka.identity.scopes import has_flag
from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.errors import ValidationError

VERSION = 1
HEADER = "# Voronka automation rules: voronka automation import FILE [--replace]\n"

# Where a rule's parameters refer to configuration: path inside `params` → what it names.
PARAM_REFS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("stage",), "stage"),
    (("responsible", "user"), "user"),
    (("to", "user"), "user"),
    (("to", "role"), "role"),
    (("users",), "users"),
    (("department",), "department"),
)
# Conditions whose value is an id: the field → what it names (a company stays an id: it is
# data, not configuration).
CONDITION_REFS = {
    "responsible": "user",
    "task.responsible": "user",
    "stage": "stage",
    "loss_reason": "loss_reason",
}


# --- errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    line: int
    path: str
    message: str

    def text(self, filename: str) -> str:
        where = f"{filename}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class RulesFileError(ValidationError):
    """The file is rejected whole: every problem with its line."""

    def __init__(self, filename: str, problems: Iterable[Problem]) -> None:
        self.filename = filename
        self.problems = sorted(problems, key=lambda p: (p.line, p.path))
        super().__init__(
            {f"{filename}:{p.line}: {p.path}": p.message for p in self.problems},
            message=_("Файл правил отклонён, ошибок: %(count)d") % {"count": len(self.problems)},
        )

    def lines(self) -> list[str]:
        return [p.text(self.filename) for p in self.problems]


class Unresolved(Exception):
    """A name in the file that this installation does not have (or has twice)."""


# --- names <-> ids --------------------------------------------------------------------------------


class Names:
    """Ids and names of the configuration rules refer to (each table read once)."""

    def __init__(self) -> None:
        self.pipelines: dict[int, str] = dict(Pipeline.objects.values_list("pk", "name"))
        self.stages: dict[int, tuple[int, str]] = {
            pk: (pipeline_id, name)
            for pk, pipeline_id, name in Stage.objects.values_list("pk", "pipeline_id", "name")
        }
        self.users: dict[int, str] = dict(User.objects.values_list("pk", "username"))
        self.departments: dict[int, str] = dict(Department.objects.values_list("pk", "name"))
        self.roles: dict[int, str] = dict(Role.objects.values_list("pk", "code"))
        self.loss_reasons: dict[int, str] = dict(LossReason.objects.values_list("pk", "name"))

    # id -> name (export) ------------------------------------------------------------------------

    def name_of(self, kind: str, value: Any, pipeline: int | None) -> Any:
        """The file's form of an id; an id this installation lacks stays as it is."""
        pk = _as_id(value)
        if pk is None:
            return value
        if kind == "pipeline":
            return self.pipelines.get(pk, value)
        if kind == "stage":
            if pk not in self.stages:
                return value
            stage_pipeline, name = self.stages[pk]
            if stage_pipeline == pipeline:
                return name
            return {"pipeline": self.pipelines[stage_pipeline], "stage": name}
        if kind == "user":
            return self.users.get(pk, value)
        if kind == "department":
            return self.departments.get(pk, value)
        if kind == "role":
            return self.roles.get(pk, value)
        if kind == "loss_reason":
            return self.loss_reasons.get(pk, value)
        raise KeyError(kind)

    # name -> id (import) ------------------------------------------------------------------------

    def id_of(self, kind: str, value: Any, pipeline: int | None) -> int:
        if kind == "pipeline":
            return self._one(
                self.pipelines, value, _("Нет воронки «%s»"), _("Воронок «%s» несколько")
            )
        if kind == "stage":
            return self._stage(value, pipeline)
        if kind == "user":
            return self._one(self.users, value, _("Нет пользователя «%s»"), "")
        if kind == "department":
            return self._one(
                self.departments, value, _("Нет отдела «%s»"), _("Отделов «%s» несколько")
            )
        if kind == "role":
            return self._one(self.roles, value, _("Нет роли «%s»"), "")
        if kind == "loss_reason":
            return self._one(self.loss_reasons, value, _("Нет причины проигрыша «%s»"), "")
        raise KeyError(kind)

    def _one(self, table: Mapping[int, str], value: Any, missing: str, twice: str) -> int:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise Unresolved(_("Укажите название"))
        name = str(value)
        found = [pk for pk, known in table.items() if known == name]
        if not found:
            raise Unresolved(missing % name)
        if len(found) > 1:
            raise Unresolved(twice % name)
        return found[0]

    def _stage(self, value: Any, pipeline: int | None) -> int:
        if isinstance(value, Mapping):
            unknown = set(value) - {"pipeline", "stage"}
            if unknown or "stage" not in value or "pipeline" not in value:
                raise Unresolved(_("Стадия: название или {pipeline: …, stage: …}"))
            pipeline = self.id_of("pipeline", value["pipeline"], None)
            value = value["stage"]
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise Unresolved(_("Стадия: название или {pipeline: …, stage: …}"))
        name = str(value)
        found = [
            pk
            for pk, (in_pipeline, known) in self.stages.items()
            if known == name and pipeline in (None, in_pipeline)
        ]
        if not found:
            if pipeline is None:
                raise Unresolved(_("Нет стадии «%s»") % name)
            raise Unresolved(
                _("Нет стадии «%(stage)s» в воронке «%(pipeline)s»")
                % {"stage": name, "pipeline": self.pipelines[pipeline]}
            )
        if len(found) > 1:
            raise Unresolved(_("Стадий «%s» несколько: укажите воронку") % name)
        return found[0]


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


Convert = Callable[[str, Any, "int | None"], Any]


def _refs(
    data: dict[str, Any], convert: Convert, pipeline: int | None, errors: dict[str, str]
) -> None:
    """Convert, in place, every reference inside `params` and `conditions` (not the rule's own
    pipeline and stage); a failure is recorded under its path and the value left as written."""

    def one(kind: str, value: Any, path: str) -> Any:
        try:
            return convert(kind, value, pipeline)
        except Unresolved as exc:
            errors[path] = str(exc)
            return value

    params = data.get("params")
    if isinstance(params, dict):
        for path, kind in PARAM_REFS:
            holder: Any = params
            for part in path[:-1]:
                holder = holder.get(part) if isinstance(holder, dict) else None
            key = path[-1]
            if not isinstance(holder, dict) or holder.get(key) is None:
                continue
            where = ".".join(("params", *path))
            if kind == "users":
                if isinstance(holder[key], list):
                    holder[key] = [
                        one("user", v, f"{where}.{i}") for i, v in enumerate(holder[key])
                    ]
            else:
                holder[key] = one(kind, holder[key], where)
    conditions = data.get("conditions")
    if isinstance(conditions, list):
        for index, condition in enumerate(conditions):
            if not isinstance(condition, dict):
                continue
            names = CONDITION_REFS.get(str(condition.get("field")))
            value = condition.get("value")
            if names is None or value is None:
                continue
            where = f"conditions.{index}.value"
            if isinstance(value, list):
                condition["value"] = [one(names, v, f"{where}.{i}") for i, v in enumerate(value)]
            else:
                condition["value"] = one(names, value, where)


# --- export -------------------------------------------------------------------------------------

DEFAULTS = {
    name: info.get_default(call_default_factory=True)
    for name, info in RuleIn.model_fields.items()
    if not info.is_required()
}


def _compact(action: str, params: Any) -> Any:
    """An action's parameters without their defaults (import fills them in again)."""
    kind = ACTIONS.get(action)
    if kind is None or not isinstance(params, dict):
        return params
    try:
        return kind.params.model_validate(params).model_dump(mode="json", exclude_defaults=True)
    except PydanticValidationError:
        return params  # stored before its action changed: written as it is


def rule_document(rule: Rule, names: Names) -> dict[str, Any]:
    """One rule as the file writes it: names for ids, defaults left out."""
    data = copy.deepcopy(rule_input(rule))
    data["params"] = _compact(rule.action, data["params"])
    pipeline = data.get("pipeline")
    _refs(data, names.name_of, pipeline, {})
    if data.get("stage") is not None:
        data["stage"] = names.name_of("stage", data["stage"], pipeline)
        if isinstance(data["stage"], dict):  # the rule's stage is always in its pipeline
            data["stage"] = data["stage"]["stage"]
    if pipeline is not None:
        data["pipeline"] = names.name_of("pipeline", pipeline, None)
    if rule.kind == RuleKind.TRIGGER:  # its action is the move to its stage
        data.pop("action", None)
        data.pop("params", None)
    # A built-in rule (automation.defaults) is named by its slug: importing the file retunes it.
    out: dict[str, Any] = {"builtin": rule.builtin} if rule.builtin else {}
    for name in FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name in DEFAULTS and value == DEFAULTS[name]:
            continue
        out[name] = value
    return out


def rules_export(rules: Iterable[Rule] | None = None) -> str:
    """The rules (all of them by default) as the YAML file."""
    names = Names()
    chosen = list(Rule.objects.all() if rules is None else rules)
    body = {"version": VERSION, "rules": [rule_document(rule, names) for rule in chosen]}
    return HEADER + yaml.safe_dump(
        body, allow_unicode=True, sort_keys=False, default_flow_style=False, width=100
    )


# --- reading ------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One rule of the file: its node (for lines), its data with ids, the names it lacked."""

    index: int
    node: yaml.Node
    data: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    def problems(self, errors: Mapping[str, str]) -> list[Problem]:
        out = []
        for path, message in errors.items():
            where = self._condition_path(path)
            out.append(Problem(line_of(self.node, where), where, message))
        return out

    def _condition_path(self, path: str) -> str:
        """The services name a bad condition without its place ("conditions.field"): the
        first condition that does not validate is the one."""
        head, _dot, rest = path.partition(".")
        conditions = self.data.get("conditions")
        if head != "conditions" or not isinstance(conditions, list):
            return path
        if rest.split(".", 1)[0].isdigit():
            return path
        for index, item in enumerate(conditions):
            try:
                Condition.model_validate(item)
            except PydanticValidationError:
                return f"conditions.{index}.{rest}" if rest else f"conditions.{index}"
        return path


def line_of(node: yaml.Node, path: str) -> int:
    """The line of the deepest key of `path` ("params.deadline.at", "conditions.0.value") the
    node has; the node's own line when it has none of it."""
    line = node.start_mark.line + 1
    for part in path.split("."):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _duplicate_keys(node: yaml.Node, path: str = "") -> list[Problem]:
    """YAML keeps the last of two equal keys silently: the file says one thing twice."""
    found: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            where = f"{path}.{name}" if path else name
            if name in seen:
                found.append(Problem(key.start_mark.line + 1, where, _("Ключ повторяется")))
            seen.add(name)
            found.extend(_duplicate_keys(value, where))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, f"{path}.{index}" if path else str(index)))
    return found


def _parse(text: str, filename: str) -> tuple[yaml.Node, Any]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise RulesFileError(filename, [Problem(line, "", f"YAML: {message}")]) from None
    except yaml.YAMLError as exc:
        raise RulesFileError(filename, [Problem(1, "", f"YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if node is None:
        raise RulesFileError(filename, [Problem(1, "", _("Файл пуст: ожидается rules: […]"))])
    return node, data


def rules_read(
    text: str, *, filename: str = "rules.yaml", names: Names | None = None
) -> list[Entry]:
    """The file's rules with names resolved to ids. Syntax and shape errors reject the file at
    once (RulesFileError); a name this installation lacks is kept in `Entry.errors`, so it is
    reported together with the rule's validation errors."""
    root, data = _parse(text, filename)
    problems = _duplicate_keys(root)
    items_node: yaml.Node | None = root
    items: Any = data
    if isinstance(root, yaml.MappingNode):
        assert isinstance(data, dict)
        for key in data:
            if key not in ("version", "rules"):
                problems.append(Problem(line_of(root, str(key)), str(key), _("Неизвестный ключ")))
        if data.get("version", VERSION) != VERSION:
            problems.append(
                Problem(
                    line_of(root, "version"), "version", _("Поддерживается версия %d") % VERSION
                )
            )
        items_node = next(
            (v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "rules"),
            None,
        )
        items = data.get("rules")
    if items_node is None or not isinstance(items_node, yaml.SequenceNode):
        where = root if items_node is None else items_node
        problems.append(Problem(where.start_mark.line + 1, "rules", _("Ожидается список правил")))
        raise RulesFileError(filename, problems)
    entries: list[Entry] = []
    names = names or Names()
    for index, (node, raw) in enumerate(zip(items_node.value, items, strict=True)):
        if not isinstance(raw, dict):
            problems.append(Problem(node.start_mark.line + 1, "", _("Правило — это словарь полей")))
            continue
        entries.append(_resolve(Entry(index, node, copy.deepcopy(raw)), names))
    if problems:
        raise RulesFileError(filename, problems)
    return entries


def _resolve(entry: Entry, names: Names) -> Entry:
    data, errors = entry.data, entry.errors
    pipeline: int | None = None
    if data.get("pipeline") is not None:
        try:
            pipeline = names.id_of("pipeline", data["pipeline"], None)
        except Unresolved as exc:
            errors["pipeline"] = str(exc)
        data["pipeline"] = pipeline
    if data.get("stage") is not None:
        stage: int | None = None
        if "pipeline" not in errors:
            try:
                stage = names.id_of("stage", data["stage"], pipeline)
            except Unresolved as exc:
                errors["stage"] = str(exc)
        data["stage"] = stage
        if stage is not None and pipeline is None:
            pipeline = names.stages[stage][0]
    _refs(data, names.id_of, pipeline, errors)
    return entry


def _merged(entry: Entry, clean_errors: Mapping[str, str]) -> dict[str, str]:
    """The rule's errors: a name the installation lacks explains more than what follows from
    it (a robot without its stage because the stage's name was unknown)."""
    errors = dict(clean_errors)
    if "pipeline" in entry.errors or "stage" in entry.errors:
        errors.pop("stage", None)
        errors.pop("pipeline", None)
    errors.update(entry.errors)
    return errors


# --- import -------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    created: list[Rule]
    deleted: int


def configuring_user(username: str | None = None) -> User:
    """Who imports (and owns the imported rules, decision 0014): the named user, or the first
    active user (by id) who may configure."""
    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise ValidationError({"as": _("Нет активного пользователя «%s»") % username})
        if not has_flag(user, CONFIGURE):
            raise ValidationError({"as": _("У пользователя «%s» нет права настройки") % username})
        return user
    for user in User.objects.filter(is_active=True).order_by("pk").iterator():
        if has_flag(user, CONFIGURE):
            return user
    raise ValidationError({"as": _("Нет активного пользователя с правом настройки")})


def import_actor(user: User) -> Actor:
    return Actor.for_user(user, kind=ActorKind.IMPORT)


def _defaults() -> dict[str, Any]:
    return {
        name: info.get_default(call_default_factory=True)
        for name, info in RuleIn.model_fields.items()
        if not info.is_required()
    }


def rules_import(
    *, actor: Actor, text: str, filename: str = "rules.yaml", replace: bool = False
) -> ImportResult:
    """Create the file's rules (with `replace`: instead of every existing rule) through
    `rule_create`, in one transaction: all of them, or — with any error — none."""
    require_actor_flag(actor, CONFIGURE)
    entries = rules_read(text, filename=filename)
    problems: list[Problem] = []
    created: list[Rule] = []
    deleted = 0
    with transaction.atomic():
        if replace:  # the built-in rules stay (they are retuned by their entries, not deleted)
            mine = Rule.objects.filter(builtin="").order_by("pk").values_list("pk", flat=True)
            for rule_id in list(mine):
                rule_delete(actor=actor, rule_id=rule_id)
                deleted += 1
        for entry in entries:
            clean_errors: dict[str, str] = {}
            data = dict(entry.data)
            builtin = data.pop("builtin", None)
            try:
                if builtin is None:
                    created.append(rule_create(actor=actor, data=data))
                else:
                    target = Rule.objects.filter(builtin=str(builtin)).first()
                    if target is None:
                        raise ValidationError({"builtin": _("Нет такого встроенного правила")})
                    # The entry is the whole rule: what it leaves out takes its default.
                    rule_update(actor=actor, rule_id=target.pk, data={**_defaults(), **data})
            except ValidationError as exc:
                clean_errors = exc.errors
            problems.extend(entry.problems(_merged(entry, clean_errors)))
        if problems:
            raise RulesFileError(filename, problems)  # rolls the whole import back
    return ImportResult(created=created, deleted=deleted)


@dataclass
class LoadedRule:
    rule: Rule  # not saved: pk None
    line: int


def rules_load(*, text: str, owner: User, filename: str = "rules.yaml") -> list[LoadedRule]:
    """The file's rules validated as import validates them, built but not saved (the dry run)."""
    problems: list[Problem] = []
    loaded: list[LoadedRule] = []
    for entry in rules_read(text, filename=filename):
        clean_errors: dict[str, str] = {}
        try:
            data = {k: v for k, v in entry.data.items() if k != "builtin"}
            columns = rule_services.rule_clean(data)
        except ValidationError as exc:
            clean_errors = exc.errors
        else:
            loaded.append(LoadedRule(Rule(owner=owner, **columns), entry.line))
        problems.extend(entry.problems(_merged(entry, clean_errors)))
    if problems:
        raise RulesFileError(filename, problems)
    return loaded
