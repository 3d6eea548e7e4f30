"""What an actor may do, for the services: every write service asks here before it acts, so a
robot, a webhook or an API facade calling a service meets the same rules as the UI
(decision 0014). Scope itself is computed in `scopes.py`; this module maps an `Actor` onto it.

The rule by actor kind:
* user, api, automation — the rights of `actor.user` (the signed-in user, the token's user, the
  automation rule's owner): their scope and role flags. Without a user, or with a deactivated
  one, the actor may do nothing.
* import, pbx — their user's rights when they carry one; without a user they act as system.
* system — trusted (worker jobs, the demo, the CLI): no scope, every flag; a user on a system
  actor only names who is recorded in the audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.db import models
from django.utils.translation import gettext as _

from voronka.identity import scopes
from voronka.kernel.actor import ActorKind
from voronka.kernel.errors import ApplicationError, ErrorCode, NotFound

if TYPE_CHECKING:
    from voronka.identity.models import User
    from voronka.kernel.actor import Actor

M = TypeVar("M", bound=models.Model)

# Kinds that always act as a person: no user means no rights.
PERSON_KINDS = frozenset({ActorKind.USER, ActorKind.API, ActorKind.AUTOMATION})

# Model name -> the scoped entity its rows belong to (responsible_id).
SCOPED_MODELS = {"deal": "deal", "company": "company", "contact": "contact", "task": "task"}


def forbidden() -> ApplicationError:
    return ApplicationError(_("Недостаточно прав"), code=ErrorCode.FORBIDDEN)


def acting_user(actor: Actor) -> User | None:
    """The user whose rights bound the call, or None for a trusted (system) actor. Refuses an
    actor that should be a person but has no active user."""
    if actor.kind == ActorKind.SYSTEM:
        return None
    user = actor.user
    if user is None:
        if actor.kind in PERSON_KINDS:
            raise forbidden()
        return None
    if not user.is_active:
        raise forbidden()
    return user


def require_active(actor: Actor) -> None:
    """For services that create: the actor may act at all (a deactivated user may not)."""
    acting_user(actor)


def actor_has_flag(actor: Actor, flag: str) -> bool:
    """can_configure / can_export / can_delete for the actor (system: every flag; an actor
    without rights at all: none)."""
    try:
        user = acting_user(actor)
    except ApplicationError:
        return False
    return user is None or scopes.has_flag(user, flag)


def require_actor_flag(actor: Actor, flag: str) -> None:
    if not actor_has_flag(actor, flag):
        raise forbidden()


def scope_for_write(qs: models.QuerySet[M], *, actor: Actor, entity: str) -> models.QuerySet[M]:
    """`qs` narrowed to the rows of `entity` the actor may act on."""
    user = acting_user(actor)
    return qs if user is None else scopes.scope_filter(qs, user, entity)


def get_for_write(qs: models.QuerySet[M], *, actor: Actor, entity: str, pk: int, message: str) -> M:
    """Lock one row the actor may act on, or NotFound: outside the scope it does not exist (404,
    never 403, so its existence is not disclosed)."""
    obj = scope_for_write(qs.select_for_update().filter(pk=pk), actor=actor, entity=entity).first()
    if obj is None:
        raise NotFound(message)
    return obj


def require_visible(obj: models.Model, *, actor: Actor) -> None:
    """An object passed to a service (a comment's subject): the actor must see it, else
    NotFound. Models without a scope (pipelines, …) are visible to every active actor."""
    entity = SCOPED_MODELS.get(obj._meta.model_name or "")
    if entity is None:
        acting_user(actor)
        return
    qs = type(obj)._default_manager.filter(pk=obj.pk)
    if not scope_for_write(qs, actor=actor, entity=entity).exists():
        raise NotFound()
