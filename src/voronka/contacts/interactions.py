"""The client's last interaction (seed 002: «когда мы последний раз говорили с клиентом»).

One function every interaction goes through: a task done (a call, a meeting, an e-mail or any
other), a comment on the client or on one of its deals — and, when they come, the calls and the
e-mails of the communications app. It runs inside the caller's transaction and only ever moves
`Company.last_interaction_at` forward (a late or replayed event never moves it back)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from voronka.contacts.models import Company, Contact
from voronka.kernel import clock


def client_interaction_record(
    *,
    company_id: int | None = None,
    contact_id: int | None = None,
    at: dt.datetime | None = None,
) -> int:
    """Note an interaction with a company (or a contact's company) at `at` (now by default).
    Returns the number of companies moved forward (0 or 1)."""
    if company_id is None and contact_id is not None:
        company_id = (
            Contact.objects.filter(pk=contact_id).values_list("company_id", flat=True).first()
        )
    if company_id is None:
        return 0
    moment = at or clock.now()
    return (
        Company.objects.filter(pk=company_id)
        .filter(Q(last_interaction_at__isnull=True) | Q(last_interaction_at__lt=moment))
        .update(last_interaction_at=moment)
    )
