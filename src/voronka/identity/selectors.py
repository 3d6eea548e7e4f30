"""Reads of the organisation (departments) for screens."""

from __future__ import annotations

from voronka.identity.models import Department


def department_name(department_id: int | None) -> str:
    """The department's name for a filter chip ("" when there is none)."""
    if not department_id:
        return ""
    return Department.objects.filter(pk=department_id).values_list("name", flat=True).first() or ""
