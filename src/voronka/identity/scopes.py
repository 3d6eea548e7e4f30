"""The one place access scopes are computed. Every list, card, search, counter, export and
API call filters through `scope_filter` (records) or `can_see_user` (assignment targets)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from django.db.models import Q, QuerySet

from voronka.identity.models import (
    SCOPE_RANK,
    SCOPED_ENTITIES,
    Department,
    Role,
    Scope,
    User,
    person_name,
)
from voronka.kernel.prepared import prepared_rows

FLAGS = ("can_configure", "can_export", "can_delete")
_ROLE_COLUMNS = (*(f"{e}_scope" for e in SCOPED_ENTITIES), *FLAGS)


def _load_roles(user: User) -> None:
    """The user's roles in one query (compiled once, kernel.prepared: every page asks): every
    entity scope (the widest over the roles) and every flag (any role) cached on the user object
    for the request."""
    rows = [
        dict(zip(_ROLE_COLUMNS, row, strict=True))
        for row in prepared_rows(
            "user_roles",
            lambda user_id: Role.objects.filter(users=user_id).values_list(*_ROLE_COLUMNS),
            user_id=user.pk,
        )
    ]
    prime_scopes(user, [{e: row[f"{e}_scope"] for e in SCOPED_ENTITIES} for row in rows])
    user.__dict__["_voronka_flags"] = {flag: any(row[flag] for row in rows) for flag in FLAGS}


def effective_scope(user: User, entity: str) -> Scope:
    if user is None or not user.is_authenticated or not user.is_active:
        return Scope.NONE
    if user.is_superuser:
        return Scope.ALL
    if "_voronka_scopes" not in user.__dict__:
        _load_roles(user)
    return user.__dict__["_voronka_scopes"][entity]


def prime_scopes(user: User, roles: list[dict[str, str | None]]) -> None:
    """Fill `effective_scope`'s per-request cache from role scopes read elsewhere (the API token
    lookup reads them in its own query): per entity the widest over the roles, NONE without
    roles — the same answer `effective_scope` computes."""
    cache = {}
    for entity in SCOPED_ENTITIES:
        best = Scope.NONE
        for role in roles:
            value = role.get(entity)
            if value is not None and SCOPE_RANK[Scope(value)] > SCOPE_RANK[best]:
                best = Scope(value)
        cache[entity] = best
    user.__dict__["_voronka_scopes"] = cache


def has_flag(user: User, flag: str) -> bool:
    """can_configure / can_export / can_delete: true if any role grants it."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if "_voronka_flags" not in user.__dict__:
        _load_roles(user)
    return user.__dict__["_voronka_flags"][flag]


def visible_user_ids(user: User, entity: str) -> list[int] | None:
    """The responsible users whose records `user` may see; None means everyone. Every scope
    entry point (scope_q, scope_filter, can_see_user, assignable_users) asks this, so the
    negative controls open all of them by patching it (tests/negative_controls.py)."""
    scope = effective_scope(user, entity)
    if scope == Scope.ALL:
        return None
    if scope == Scope.NONE:
        return []
    if scope == Scope.OWN or user.department_id is None:
        return [user.pk]
    cache = user.__dict__.setdefault("_voronka_dept_users", None)
    if cache is None:
        department = user.department
        assert department is not None  # department_id was checked above
        path = department.path
        ids = list(
            User.objects.filter(department__path__startswith=path).values_list("pk", flat=True)
        )
        if user.pk not in ids:
            ids.append(user.pk)
        user.__dict__["_voronka_dept_users"] = ids
        cache = ids
    return cache


def scope_q(user: User, entity: str, field: str = "responsible_id") -> Q:
    ids = visible_user_ids(user, entity)
    if ids is None:
        return Q()
    if not ids:
        return Q(pk__in=[])
    if len(ids) == 1:
        return Q(**{field: ids[0]})
    return Q(**{f"{field}__in": ids})


def scope_filter(qs: QuerySet, user: User, entity: str, field: str = "responsible_id") -> QuerySet:
    return qs.filter(scope_q(user, entity, field))


def scope_key(user: User, entity: str) -> tuple[int, ...] | None:
    """All that `scope_q` / `scope_filter` depend on, as a cache key (kernel.prepared): the
    visible user ids, None for everyone."""
    ids = visible_user_ids(user, entity)
    return None if ids is None else tuple(ids)


def can_see_user(user: User, entity: str, target: User) -> bool:
    """May `user` assign a record of `entity` to `target` (make them responsible)?"""
    ids = visible_user_ids(user, entity)
    return target.is_active and (ids is None or target.pk in ids)


def users_who_see(users: Iterable[User], entity: str, responsible_id: int | None) -> list[User]:
    """Of `users`, those whose scope of `entity` covers a record with this responsible — the
    rule of `scope_q`, for many readers of one record (a notification to a role). Roles
    prefetched on a user (`prefetch_related("roles")`) are used instead of a query each."""
    out = []
    for user in users:
        cache = getattr(user, "_prefetched_objects_cache", {})
        if "roles" in cache and "_voronka_scopes" not in user.__dict__:
            prime_scopes(
                user,
                [{e: getattr(r, f"{e}_scope") for e in SCOPED_ENTITIES} for r in cache["roles"]],
            )
        ids = visible_user_ids(user, entity)
        if ids is None or (responsible_id is not None and responsible_id in ids):
            out.append(user)
    return out


def assignable_users(user: User, entity: str) -> QuerySet[User]:
    ids = visible_user_ids(user, entity)
    qs = User.objects.filter(is_active=True).order_by("last_name", "first_name", "username")
    return qs if ids is None else qs.filter(pk__in=ids)


class PersonRef(NamedTuple):
    pk: int
    display_name: str


def assignable_people(user: User, entity: str) -> list[PersonRef]:
    """`assignable_users` as (pk, display name) pairs, compiled once per scope (kernel.prepared):
    the responsible filter of a page, which needs the names only."""
    rows = prepared_rows(
        ("assignable_people", entity, scope_key(user, entity)),
        lambda: assignable_users(user, entity).values_list(
            "pk", "first_name", "last_name", "username"
        ),
    )
    return [PersonRef(pk, person_name(first, last, login)) for pk, first, last, login in rows]


def resolve_responsible(user: User | None, entity: str, raw: object) -> User:
    """Turn an input user id into a User the acting user may assign records of `entity` to."""
    from django.utils.translation import gettext as _

    from voronka.kernel.errors import ValidationError

    if isinstance(raw, User):
        target: User | None = raw
    else:
        from voronka.kernel.fields import to_id

        try:
            target_id = to_id(raw)
        except ValueError:
            raise ValidationError({"responsible": _("Укажите ответственного")}) from None
        target = User.objects.filter(pk=target_id, is_active=True).first()
    if target is None or not target.is_active:
        raise ValidationError({"responsible": _("Нет такого активного пользователя")})
    if user is not None and not can_see_user(user, entity, target):
        raise ValidationError({"responsible": _("Этот пользователь вне вашей зоны доступа")})
    return target


def in_department_q(department_id: int, field: str = "responsible") -> Q:
    """A filter, not a grant: records whose responsible works in the department or one of its
    sub-departments (the control screen's department, as the lists' filter). An unknown
    department matches nothing."""
    path = Department.objects.filter(pk=department_id).values_list("path", flat=True).first()
    if path is None:
        return Q(pk__in=[])
    return Q(**{f"{field}__department__path__startswith": path})
