"""What a rule can do (actions) and what a monitor can look for (monitors): two registries, so a
later capability (SMS, documents, NPS, outgoing webhooks, telephony) plugs in an action or a
sweep from its own app without the engine knowing it (decision 0015).

An action is one function, `run(ctx, params) -> dict`, that computes what it will do and, unless
`ctx.dry` (the dry run), does it through the services as `ctx.actor`. The returned dict is the
run's result (and the dry run's report line): keep it small and JSON.

A monitor is `find(params, now) -> QuerySet`: the objects it finds now, each annotated with the
occurrence key (`OCCURRENCE`, an SQL expression) that makes it act once per occurrence (a task's
deadline, a deal's stage entry, a day). The sweep turns them into runs of the rule's action in
one `INSERT … SELECT` (sweeps.py); `MonitorType.pairs` reads them as (object id, key) pairs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.utils.functional import Promise

    from voronka.automation.context import RunContext


class Params(BaseModel):
    """Base of every action's and monitor's parameters: no unknown keys, immutable; whole numbers
    and ids are strict integers (`true` is not user 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=Params)
ActionFn = Callable[["RunContext", Any], dict[str, Any]]
# The batch form of an action: [(context, params)] → their results, in order, all or none.
ActionManyFn = Callable[[list[tuple["RunContext", Any]]], list[dict[str, Any]]]
FindFn = Callable[[Any, dt.datetime], "QuerySet[Any]"]
# The annotation of a finder's QuerySet that holds the occurrence key (text, at most 96 chars).
OCCURRENCE = "occurrence_key"


@dataclass(frozen=True, eq=False)
class ActionType:
    name: str
    label: Promise | str
    params: type[Params]
    run: ActionFn
    # The objects it can act on; a robot or a trigger acts on a deal, a monitor on what it finds.
    objects: frozenset[str]
    module: str
    many: ActionManyFn | None = None


@dataclass(frozen=True, eq=False)
class MonitorType:
    name: str
    label: Promise | str
    params: type[Params]
    find: FindFn
    object_type: str
    every: dt.timedelta
    module: str

    def pairs(self, params: Params, now: dt.datetime) -> Iterator[tuple[int, str]]:
        """What the finder finds now as (object id, occurrence key), in its order, streamed."""
        rows = self.find(params, now).values_list("pk", OCCURRENCE)
        return iter(rows.iterator(chunk_size=2000))


ACTIONS: dict[str, ActionType] = {}
MONITORS: dict[str, MonitorType] = {}


def action(
    name: str,
    params: type[P],
    *,
    label: Promise | str,
    objects: Iterable[str] = ("deal",),
) -> Callable[
    [Callable[[RunContext, P], dict[str, Any]]], Callable[[RunContext, P], dict[str, Any]]
]:
    """Register an action (in an app's `actions.py` or `automation_actions.py`)."""

    def register(
        fn: Callable[[RunContext, P], dict[str, Any]],
    ) -> Callable[[RunContext, P], dict[str, Any]]:
        if name in ACTIONS:
            raise ImproperlyConfigured(f"action {name!r} is registered twice")
        if not (isinstance(params, type) and issubclass(params, Params)):
            raise ImproperlyConfigured(f"action {name!r}: params must subclass Params")
        ACTIONS[name] = ActionType(
            name, label, params, fn, frozenset(objects), getattr(fn, "__module__", "")
        )
        return fn

    return register


def action_many(name: str) -> Callable[[ActionManyFn], ActionManyFn]:
    """Register the batch form of an action (the executor runs a batch's runs of it in one
    call): the same effects as calling the action on each, with fewer statements."""

    def register(fn: ActionManyFn) -> ActionManyFn:
        single = ACTIONS.get(name)
        if single is None:
            raise ImproperlyConfigured(f"action {name!r}: register it before its batch form")
        ACTIONS[name] = replace(single, many=fn)
        return fn

    return register


def monitor(
    name: str,
    params: type[P],
    *,
    label: Promise | str,
    object_type: str,
    every: dt.timedelta = dt.timedelta(minutes=1),
) -> Callable[
    [Callable[[P, dt.datetime], QuerySet[Any]]],
    Callable[[P, dt.datetime], QuerySet[Any]],
]:
    """Register a monitor's finder: a QuerySet of the objects annotated with `OCCURRENCE`."""

    def register(
        fn: Callable[[P, dt.datetime], QuerySet[Any]],
    ) -> Callable[[P, dt.datetime], QuerySet[Any]]:
        if name in MONITORS:
            raise ImproperlyConfigured(f"monitor {name!r} is registered twice")
        MONITORS[name] = MonitorType(
            name, label, params, fn, object_type, every, getattr(fn, "__module__", "")
        )
        return fn

    return register
