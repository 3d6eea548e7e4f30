"""Two people entering the same client at the same moment (RELIABILITY row 11 applied to
duplicate control): 8 threads create a contact with the same phone, typed 8 ways, through
contact_create(check_duplicates=True). Exactly one is created; the others get DuplicateFound
naming it. On PostgreSQL the guard is the advisory lock on the exact keys (dedup.lock_keys);
its negative control switches the lock off and widens the window between the check and the
insert: several contacts appear. SQLite takes the write lock at BEGIN (IMMEDIATE), so there the
check and the insert are serialized already and the negative control does not apply."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.db import connection

from authz.test_lost_update import run_threads
from factories import report_figures
from voronka.contacts import dedup
from voronka.contacts.models import Contact, ContactPhone
from voronka.contacts.services import DuplicateFound, contact_create
from voronka.kernel.actor import Actor

FORMATS = [
    "+79161234567",
    "8 916 123-45-67",
    "8 (916) 123 45 67",
    "+7 (916) 1234567",
    "89161234567",
    "+7 916 123 45 67",
    "8-916-123-45-67",
    "7 916 1234567",
]


def race(owner: Any) -> Counter:
    stats: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(FORMATS))

    def enter(i: int) -> None:
        start.wait(timeout=30)
        try:
            contact_create(
                actor=Actor.system(),
                data={
                    "first_name": f"Клиент {i}",
                    "phones": [FORMATS[i]],
                    "responsible": owner.pk,
                },
                check_duplicates=True,
            )
            outcome = "created"
        except DuplicateFound:
            outcome = "duplicate"
        with lock:
            stats[outcome] += 1

    errors = run_threads(len(FORMATS), enter)
    assert not errors, errors
    return stats


@pytest.mark.django_db(transaction=True)
def test_one_client_entered_at_once_by_eight_people_is_created_once(org: Any) -> None:
    stats = race(org.personas["owner"].user)
    report_figures(
        f"duplicate race ({connection.vendor}): {stats['created']} created, "
        f"{stats['duplicate']} refused of {len(FORMATS)}"
    )
    assert stats == Counter(created=1, duplicate=len(FORMATS) - 1)
    assert ContactPhone.objects.filter(number="+79161234567").count() == 1


@pytest.mark.django_db(transaction=True)
def test_negative_control_without_the_lock_the_race_doubles_the_client(
    org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writers at BEGIN IMMEDIATE: no window to race in")
    check = dedup.find_candidates

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        found = check(*args, **kwargs)
        time.sleep(0.3)  # the window between the check and the insert
        return found

    monkeypatch.setattr(dedup, "lock_keys", lambda entity, keys: None)
    monkeypatch.setattr(dedup, "find_candidates", slow_check)
    stats = race(org.personas["owner"].user)
    assert stats["created"] > 1, stats
    assert Contact.objects.count() > 1
