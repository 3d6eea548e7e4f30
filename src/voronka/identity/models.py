"""Users, the department tree, roles with per-entity scopes, hashed API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from voronka.kernel.models import TimeStampedModel


class Scope(models.TextChoices):
    NONE = "none", _("Нет доступа")
    OWN = "own", _("Свои")
    DEPARTMENT = "department", _("Отдел и подотделы")
    ALL = "all", _("Все")


SCOPE_RANK = {Scope.NONE: 0, Scope.OWN: 1, Scope.DEPARTMENT: 2, Scope.ALL: 3}

# Entities whose records are scoped by their responsible user.
SCOPED_ENTITIES = ("deal", "company", "contact", "task")


class Department(TimeStampedModel):
    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    head = models.ForeignKey(
        "identity.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Materialized path "/1/4/" so a subtree is one indexed prefix query.
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name


class Role(TimeStampedModel):
    """Per-entity scope. A user's effective scope is the widest over their roles (union)."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    deal_scope = models.CharField(max_length=12, choices=Scope.choices, default=Scope.OWN)
    company_scope = models.CharField(max_length=12, choices=Scope.choices, default=Scope.OWN)
    contact_scope = models.CharField(max_length=12, choices=Scope.choices, default=Scope.OWN)
    task_scope = models.CharField(max_length=12, choices=Scope.choices, default=Scope.OWN)
    can_configure = models.BooleanField(default=False, help_text="Pipelines, fields, users")
    can_export = models.BooleanField(default=True)
    can_delete = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


def person_name(first_name: str, last_name: str, username: str) -> str:
    """How a person is named on screen: «Имя Фамилия», or the login when both are empty."""
    full = " ".join(p for p in (first_name, last_name) if p)
    return full or username


class User(AbstractUser):
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    roles = models.ManyToManyField(Role, blank=True, related_name="users")
    patronymic = models.CharField(max_length=80, blank=True)
    language = models.CharField(
        max_length=8, default="ru", choices=[("ru", "Русский"), ("en", "English")]
    )
    timezone = models.CharField(max_length=64, default="Europe/Moscow")
    phone = models.CharField(max_length=20, blank=True)

    @property
    def display_name(self) -> str:
        return person_name(self.first_name, self.last_name, self.username)

    @property
    def initials(self) -> str:
        """What an avatar shows: the start of the first name ("Ив" for Иван Петров), not the
        initials of first and last name — "ИП" beside companies named "ИП …" read as a sole
        proprietor. The avatar's colour (per user) and title (full name) tell people apart."""
        name = (self.first_name or self.last_name or self.username).strip()
        letters = [ch for ch in name if ch.isalnum()][:2]
        return "".join(letters).capitalize() or "?"


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the clear text is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80, blank=True)
    prefix = models.CharField(max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


class TotpDevice(models.Model):
    """A user's authenticator app (RFC 6238 TOTP, 30 s steps, 6 digits).

    `last_step` is the time step of the last accepted code: a code of that step or an earlier
    one is refused, so an intercepted code cannot be replayed. `failures` and `locked_until`
    throttle guessing (identity.totp)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp")
    secret = models.CharField(max_length=64)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def is_active(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(models.Model):
    """A one-time code that stands in for the authenticator when the phone is lost.

    Only `sha256(salt + code)` is stored, with a salt of its own per code; the clear text is
    shown once, at enrolment or regeneration (identity.totp). A used code keeps its row with
    `used_at` set and is never accepted again."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    salt = models.CharField(max_length=32)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at"], name="recovery_code_user_idx")]
