"""The API token lookup reads the user's role scopes in the same query (made for the list API's
throughput, docs/benchmarks.md): the primed scopes must be exactly what `effective_scope`
computes from the roles, for every combination of roles, and the request must not query the
roles again."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from voronka.identity import services
from voronka.identity.models import SCOPE_RANK, SCOPED_ENTITIES, Scope, User
from voronka.identity.scopes import effective_scope
from voronka.identity.services import (
    api_token_authenticate,
    api_token_create,
    roles_ensure_defaults,
)

pytestmark = pytest.mark.django_db


def primed_vs_computed() -> list[tuple[Any, ...]]:
    """Every (roles, entity) where the token lookup's scope differs from a fresh computation."""
    roles = roles_ensure_defaults()
    user = User.objects.create(username="hot-path")
    _token, raw = api_token_create(user=user)
    mismatches = []
    combos = [c for n in range(len(roles) + 1) for c in itertools.combinations(sorted(roles), n)]
    for combo in combos:
        user.roles.set([roles[code] for code in combo])
        authenticated = api_token_authenticate(raw)
        assert authenticated is not None and authenticated.pk == user.pk
        fresh = User.objects.get(pk=user.pk)
        for entity in SCOPED_ENTITIES:
            with CaptureQueriesContext(connection) as queries:
                primed = effective_scope(authenticated, entity)
            if primed != effective_scope(fresh, entity) or queries.captured_queries:
                mismatches.append((combo, entity, primed, effective_scope(fresh, entity)))
    return mismatches


def test_token_lookup_primes_exactly_the_effective_scopes() -> None:
    assert primed_vs_computed() == []


def test_negative_control_wrong_priming_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    def narrowest(user: User, roles: list[dict[str, str | None]]) -> None:
        """The bug to catch: the narrowest scope of the roles instead of the widest."""
        user.__dict__["_voronka_scopes"] = {
            e: min(
                (Scope(r[e]) for r in roles if r[e]), key=SCOPE_RANK.__getitem__, default=Scope.NONE
            )
            for e in SCOPED_ENTITIES
        }

    monkeypatch.setattr(services, "prime_scopes", narrowest)
    assert primed_vs_computed() != []
