"""Writes for users, departments, roles and tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from voronka.identity.models import ApiToken, Department, Role, Scope, User

TOKEN_PREFIX = "vk_"


def department_create(*, name: str, parent: Department | None = None, head: User | None = None) -> Department:
    with transaction.atomic():
        dept = Department.objects.create(name=name, parent=parent, head=head)
        dept.path = f"{parent.path if parent else '/'}{dept.pk}/"
        dept.save(update_fields=["path"])
    return dept


DEFAULT_ROLES = {
    "owner": dict(name="Собственник", scope=Scope.ALL, can_configure=True, can_delete=True),
    "admin": dict(name="Администратор", scope=Scope.ALL, can_configure=True, can_delete=True),
    "head": dict(name="Руководитель отдела продаж", scope=Scope.DEPARTMENT, can_configure=False, can_delete=True),
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


def api_token_authenticate(raw: str) -> User | None:
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
