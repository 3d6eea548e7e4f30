"""Reads of the organisation (departments) for screens."""

from __future__ import annotations

from voronka.identity.models import Department, User


def department_name(department_id: int | None) -> str:
    """The department's name for a filter chip ("" when there is none)."""
    if not department_id:
        return ""
    return Department.objects.filter(pk=department_id).values_list("name", flat=True).first() or ""


def head_of(user: User) -> User | None:
    """The user's head: the head of their department, or of the parent department when they
    head it themselves (the escalation of overdue tasks, a robot's "the responsible's head")."""
    dept: Department | None = user.department
    while dept is not None:
        head = dept.head if dept.head_id and dept.head_id != user.pk else None
        if head is not None and head.is_active:
            return head
        dept = dept.parent
    return None
