"""Writes for users, departments, roles and tokens."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from voronka.identity.models import SCOPED_ENTITIES, ApiToken, Department, Role, Scope, User
from voronka.identity.permissions import acting_user, forbidden
from voronka.identity.scopes import prime_scopes
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit

TOKEN_PREFIX = "vk_"


def user_set_language(user: User, language: str | None, *, actor: Actor) -> bool:
    """The interface language a user chose (the switch, or the one picked on the login page);
    an unknown code changes nothing. Audited like every write. Returns whether it changed.
    A person changes only their own language (system: anyone's)."""
    acting = acting_user(actor)
    if acting is not None and acting.pk != user.pk:
        raise forbidden()
    if language not in dict(settings.LANGUAGES) or user.language == language:
        return False
    before = user.language
    with transaction.atomic():
        user.language = language
        user.save(update_fields=["language"])
        audit(actor=actor, obj=user, action="updated", changes={"language": [before, language]})
    return True


def department_create(
    *, name: str, parent: Department | None = None, head: User | None = None
) -> Department:
    with transaction.atomic():
        dept = Department.objects.create(name=name, parent=parent, head=head)
        dept.path = f"{parent.path if parent else '/'}{dept.pk}/"
        dept.save(update_fields=["path"])
    return dept


DEFAULT_ROLES = {
    "owner": dict(name="Собственник", scope=Scope.ALL, can_configure=True, can_delete=True),
    "admin": dict(name="Администратор", scope=Scope.ALL, can_configure=True, can_delete=True),
    "head": dict(
        name="Руководитель отдела продаж",
        scope=Scope.DEPARTMENT,
        can_configure=False,
        can_delete=True,
    ),
    "manager": dict(name="Менеджер", scope=Scope.OWN, can_configure=False, can_delete=False),
}


def roles_ensure_defaults() -> dict[str, Role]:
    roles = {}
    for code, spec in DEFAULT_ROLES.items():
        scope = spec["scope"]
        role, _created = Role.objects.get_or_create(
            code=code,
            defaults=dict(
                name=spec["name"],
                deal_scope=scope,
                company_scope=scope,
                contact_scope=scope,
                task_scope=scope,
                can_configure=spec["can_configure"],
                can_delete=spec["can_delete"],
            ),
        )
        roles[code] = role
    return roles


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:10], digest=_digest(raw))
    return token, raw


@functools.cache
def _token_sql() -> str:
    """The token, its user and the scopes of the user's roles (one row per role) in one query."""
    qn = connection.ops.quote_name
    through = User.roles.through._meta
    scopes = ", ".join(f"r.{qn(f'{e}_scope')} AS {qn(f'vk_role_{e}')}" for e in SCOPED_ENTITIES)
    return (
        f"SELECT u.*, t.{qn('id')} AS {qn('vk_token_id')}, "
        f"CASE WHEN t.{qn('last_used_at')} IS NULL OR t.{qn('last_used_at')} < %s THEN 1 ELSE 0 END "
        f"AS {qn('vk_token_stale')}, {scopes} "
        f"FROM {qn(ApiToken._meta.db_table)} t JOIN {qn(User._meta.db_table)} u ON u.{qn('id')} = t.{qn('user_id')} "
        f"LEFT JOIN {qn(through.db_table)} ur ON ur.{qn('user_id')} = u.{qn('id')} "
        f"LEFT JOIN {qn(Role._meta.db_table)} r ON r.{qn('id')} = ur.{qn('role_id')} "
        f"WHERE t.{qn('digest')} = %s AND t.{qn('revoked_at')} IS NULL"
    )


def api_token_authenticate(raw: str) -> User | None:
    """The API's hot path: one query for the token, its user and the user's role scopes (the
    scopes are primed so the request's scope filter needs no query of its own; a separate roles
    query cost the deal list ~20 % of its throughput, docs/benchmarks.md)."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    now = timezone.now()
    stale_before = connection.ops.adapt_datetimefield_value(now - dt.timedelta(seconds=60))
    rows = list(User.objects.raw(_token_sql(), [stale_before, _digest(raw)]))
    if not rows or not rows[0].is_active:
        return None
    user = rows[0]
    prime_scopes(user, [{e: getattr(row, f"vk_role_{e}") for e in SCOPED_ENTITIES} for row in rows])
    # Columns of the raw query above, not model fields.
    if user.vk_token_stale:  # type: ignore[attr-defined]
        ApiToken.objects.filter(pk=user.vk_token_id).update(last_used_at=now)  # type: ignore[attr-defined]
    return user


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
