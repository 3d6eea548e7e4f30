"""Optimistic concurrency: the one check every versioned write makes before it changes a row."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from voronka.kernel.errors import Conflict, ValidationError
from voronka.kernel.fields import to_int


def check_version(current: int, given: Any) -> None:
    """Refuse a write made against another version of the row (409 with the current one).

    `given` None means the caller did not send a version (a blind write: allowed, as the API
    documents); anything else must be an integer equal to the stored version."""
    if given is None:
        return
    try:
        expected = to_int(given)
    except ValueError:
        raise ValidationError({"version": _("Ожидается целое число")}) from None
    if expected != current:
        raise Conflict(current_version=current)
