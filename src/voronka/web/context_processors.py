from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from voronka.deals.selectors import pipelines_nav
    from voronka.identity.models import Scope
    from voronka.identity.scopes import effective_scope, has_flag

    return {
        "nav_pipelines": pipelines_nav(),
        "nav_can_configure": has_flag(user, "can_configure"),
        "nav_is_head": effective_scope(user, "task") in (Scope.DEPARTMENT, Scope.ALL),
    }
