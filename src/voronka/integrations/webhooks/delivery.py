"""The delivery worker of outgoing webhooks (decision 0016).

`webhooks_deliver(limit)` claims due deliveries one at a time under a lease (SELECT … FOR UPDATE
SKIP LOCKED on PostgreSQL; on SQLite the IMMEDIATE transaction's write lock), sends each outside
any transaction, and records the outcome fenced by the lease token — so N workers never send a
delivery twice at once, a worker killed mid-send leaves the delivery to be claimed again when its
lease runs out, and a late result of a stalled worker is not applied.

One attempt: the SSRF guard resolves the URL once and pins the checked address (ssrf.py); a POST
with the Standard Webhooks headers (signing.py; the same webhook-id on every attempt), 10 s
timeout, no redirects followed, no proxy from the environment, at most 64 KB of the answer read.
  2xx       delivered.
  410 Gone  the endpoint is disabled, this and its other pending deliveries are cancelled, and its
            owner and the administrators are told.
  429/503   retried after Retry-After when the answer has one (capped at 24 h), else as below.
  anything else (3xx, 4xx, 5xx, timeout, refused connection, DNS failure): retried on SCHEDULE
            with ±JITTER; after MAX_ATTEMPTS attempts the delivery is dead (failed), and the
            endpoint's owner and the administrators get an in-app notification. A URL the SSRF
            guard refuses is dead at once (no retry can make it allowed).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from voronka.activities.models import NotificationKind
from voronka.activities.notifications import notify
from voronka.deals.models import Deal
from voronka.identity.models import User
from voronka.integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from voronka.integrations.webhooks import signing, ssrf
from voronka.integrations.webhooks.selectors import configurers
from voronka.kernel import clock
from voronka.kernel.actor import Actor
from voronka.kernel.audit import audit

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
MAX_BODY_BYTES = 64 * 1024
# Longer than the worst single attempt (connect, write and read timeouts in a row).
LEASE = dt.timedelta(seconds=120)
# The wait after the 1st, 2nd, … failed attempt (Standard Webhooks' suggested schedule).
SCHEDULE: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
)
MAX_ATTEMPTS = len(SCHEDULE) + 1
JITTER = 0.1  # each wait is SCHEDULE[n] × a uniform factor in [1 − JITTER, 1 + JITTER]
MAX_RETRY_AFTER = dt.timedelta(hours=24)
RETRY_AFTER_CODES = frozenset({429, 503})
USER_AGENT = "Voronka-Webhooks/1"
ERROR_MAX = 500

_rng = random.SystemRandom()


@dataclass
class Outcome:
    """What one attempt got: an HTTP status, or an error without one."""

    status_code: int | None = None
    error: str = ""
    retry_after: dt.timedelta | None = None
    permanent: bool = False  # refused by the SSRF guard: no retry


@dataclass
class DeliverReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    cancelled: int = 0
    fenced: int = 0

    def add(self, result: str) -> None:
        setattr(self, result, getattr(self, result) + 1)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# --- the schedule ----------------------------------------------------------------------------


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after `attempts` failed attempts (1 … MAX_ATTEMPTS − 1), with jitter."""
    base = SCHEDULE[min(attempts, len(SCHEDULE)) - 1]
    return base * _rng.uniform(1 - JITTER, 1 + JITTER)


def parse_retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """Retry-After as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = dt.timedelta(seconds=int(value[:9]))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        delay = when - now
    return max(dt.timedelta(seconds=1), min(delay, MAX_RETRY_AFTER))


# --- one attempt -----------------------------------------------------------------------------


def http_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """No redirects followed (a 3xx is a failed attempt: a redirect could lead past the SSRF
    guard), no proxy or certificates from the environment, no connection kept for another
    host."""
    return httpx.Client(
        transport=transport,
        follow_redirects=False,
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def _read_capped(response: httpx.Response, deadline: float) -> bytes:
    """At most MAX_BODY_BYTES of the answer, raw (a compressed bomb is not inflated), and not
    past the attempt's deadline."""
    if response.is_stream_consumed:  # an answer already in memory (a test transport)
        return response.content[:MAX_BODY_BYTES]
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES or time.monotonic() > deadline:
            break
    return b"".join(chunks)[:MAX_BODY_BYTES]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _snippet(body: bytes, limit: int = 200) -> str:
    return _CONTROL.sub(" ", body[:limit].decode("utf-8", errors="replace")).strip()


def send(
    delivery: WebhookDelivery, *, at: dt.datetime, transport: httpx.BaseTransport | None = None
) -> Outcome:
    """One signed POST of `delivery` to its endpoint."""
    endpoint = delivery.endpoint
    try:
        target = ssrf.safe_target(endpoint.url)
    except ssrf.UnsafeTarget as exc:
        return Outcome(error=f"refused by the SSRF guard: {exc}", permanent=True)
    except ssrf.ResolveFailed as exc:
        return Outcome(error=str(exc))
    body = signing.body_bytes(delivery.payload)
    headers = {
        **signing.signed_headers(
            secret=endpoint.secret, webhook_id=delivery.webhook_id, at=at, body=body
        ),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "accept-encoding": "identity",  # the answer is read raw: keep its snippet readable
        "host": target.host_header,
    }
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        with (
            http_client(transport) as client,
            client.stream(
                "POST", target.url, content=body, headers=headers, extensions=target.extensions
            ) as response,
        ):
            received = _read_capped(response, deadline)
            code = response.status_code
            retry_after = parse_retry_after(response.headers.get("retry-after"), at)
            location = response.headers.get("location", "")
    except httpx.TimeoutException:
        return Outcome(error=f"timeout after {TIMEOUT_SECONDS:g} s")
    except httpx.HTTPError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:ERROR_MAX])
    if 200 <= code < 300:
        return Outcome(status_code=code)
    if 300 <= code < 400:
        error = f"HTTP {code}: redirect not followed ({location[:200]})"
    else:
        error = f"HTTP {code}: {_snippet(received)}"
    return Outcome(status_code=code, error=error[:ERROR_MAX], retry_after=retry_after)


# --- claims and results ----------------------------------------------------------------------

LOST = "lost"


def _claim(now: dt.datetime) -> tuple[WebhookDelivery, int] | str | None:
    """The next due delivery with its new lease token; None when nothing is due; LOST when
    another worker took the row first."""
    with transaction.atomic():
        qs = WebhookDelivery.objects.due(now).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        row = qs.values_list("pk", "lease_token").first()
        if row is None:
            return None
        pk, token = row
        claimed = WebhookDelivery.objects.filter(
            pk=pk, lease_token=token, status=DeliveryStatus.PENDING
        ).update(
            lease_token=token + 1,
            leased_until=now + LEASE,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
        )
        if not claimed:
            return LOST
    return WebhookDelivery.objects.select_related("endpoint").get(pk=pk), token + 1


def _recipients(endpoint: WebhookEndpoint) -> list[User]:
    people = list(configurers())
    owner = endpoint.created_by
    if owner is not None and owner.is_active and owner.pk not in {u.pk for u in people}:
        people.insert(0, owner)
    return people


def alert_people(
    endpoint: WebhookEndpoint, delivery: WebhookDelivery, message: str, values: dict[str, Any]
) -> int:
    """In-app notification to the endpoint's owner and the administrators, in each one's
    language (the text is stored: a notification of kind automation shows its text)."""
    data = delivery.payload.get("data") if isinstance(delivery.payload, dict) else None
    deal = data.get("deal") if isinstance(data, dict) else None
    deal_id = deal.get("id") if isinstance(deal, dict) else None
    if not isinstance(deal_id, int) or not Deal.objects.filter(pk=deal_id).exists():
        deal_id = None  # the deal may be gone since the message was queued
    sent = 0
    for user in _recipients(endpoint):
        with translation.override(user.language or settings.LANGUAGE_CODE):
            text = _(message) % values
        made = notify(
            user=user,
            kind=NotificationKind.AUTOMATION,
            task=None,
            message="rule_text",
            values={"text": text},
            key=f"webhook:{delivery.webhook_id}:{delivery.attempts}"[:64],
            deal_id=deal_id,
            email=False,
        )
        sent += made is not None
    return sent


DEAD_MESSAGE = gettext_noop(
    "Вебхук «%(name)s»: сообщение %(id)s не доставлено после %(n)s попыток (%(error)s)"
)
GONE_MESSAGE = gettext_noop("Вебхук «%(name)s» отключён: получатель ответил 410 Gone")


def endpoint_gone(endpoint: WebhookEndpoint, delivery: WebhookDelivery, now: dt.datetime) -> int:
    """410 Gone: the receiver says the endpoint is no more. Disable it, cancel what is queued
    for it, tell the people. Returns the number of other deliveries cancelled."""
    reason = _("Получатель ответил 410 Gone")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason=reason, disabled_at=now
    )
    audit(
        actor=Actor.system(),
        obj=endpoint,
        action="webhook_endpoint.disabled",
        changes={"enabled": [endpoint.enabled, False], "disabled_reason": ["", reason]},
    )
    cancelled = WebhookDelivery.objects.filter(
        endpoint_id=endpoint.pk, status=DeliveryStatus.PENDING
    ).update(status=DeliveryStatus.CANCELLED, leased_until=None, last_error="endpoint gone (410)")
    alert_people(endpoint, delivery, GONE_MESSAGE, {"name": endpoint.name})
    return cancelled


def _record(delivery: WebhookDelivery, token: int, outcome: Outcome, now: dt.datetime) -> str:
    """Apply one attempt's outcome if the lease is still ours (else "fenced")."""
    with transaction.atomic():
        fence = WebhookDelivery.objects.filter(
            pk=delivery.pk, lease_token=token, status=DeliveryStatus.PENDING
        )
        common: dict[str, Any] = {
            "leased_until": None,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error[:ERROR_MAX],
        }
        code = outcome.status_code
        if code is not None and 200 <= code < 300:
            done = fence.update(status=DeliveryStatus.DELIVERED, delivered_at=now, **common)
            return "delivered" if done else "fenced"
        if code == 410:
            if not fence.update(status=DeliveryStatus.CANCELLED, **common):
                return "fenced"
            endpoint_gone(delivery.endpoint, delivery, now)
            return "cancelled"
        if outcome.permanent or delivery.attempts >= MAX_ATTEMPTS:
            if not fence.update(status=DeliveryStatus.FAILED, **common):
                return "fenced"
            endpoint = delivery.endpoint
            alert_people(
                endpoint,
                delivery,
                DEAD_MESSAGE,
                {
                    "name": endpoint.name,
                    "id": delivery.webhook_id,
                    "n": delivery.attempts,
                    "error": outcome.error[:200],
                },
            )
            return "dead"
        if code in RETRY_AFTER_CODES and outcome.retry_after is not None:
            delay = outcome.retry_after
        else:
            delay = retry_delay(delivery.attempts)
        return "retried" if fence.update(next_attempt_at=now + delay, **common) else "fenced"


def webhooks_deliver(
    limit: int = 100,
    *,
    now: dt.datetime | None = None,
    transport: httpx.BaseTransport | None = None,
    max_seconds: float | None = None,
) -> DeliverReport:
    """Send up to `limit` due deliveries, one after another; stop early when nothing is due or
    after `max_seconds`. `now` fixes the clock (tests); `transport` replaces the network (tests).
    Safe to run in any number of processes at once."""
    report = DeliverReport()
    started = time.monotonic()
    for _i in range(max(0, limit)):
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            break
        claimed = _claim(now or clock.now())
        if claimed is None:
            break
        if claimed == LOST:
            continue
        assert not isinstance(claimed, str)
        delivery, token = claimed
        report.claimed += 1
        outcome = send(delivery, at=now or clock.now(), transport=transport)
        report.add(_record(delivery, token, outcome, now or clock.now()))
    return report


def webhooks_loop(stop: threading.Event, *, interval: float = 2.0, limit: int = 100) -> None:
    """For a worker thread: deliver what is due about every `interval` seconds (at once again
    after a full batch) until `stop` is set."""
    while not stop.is_set():
        busy = False
        try:
            close_old_connections()
            busy = webhooks_deliver(limit).claimed >= limit
        except Exception:  # a failed round must not kill the worker; the next one retries
            logger.exception("webhook delivery round failed")
        finally:
            close_old_connections()
        if not busy:
            stop.wait(interval)


def webhooks_prune(*, older_than: dt.datetime) -> int:
    """Delete finished deliveries created before `older_than`."""
    return (
        WebhookDelivery.objects.filter(created_at__lt=older_than)
        .exclude(status=DeliveryStatus.PENDING)
        .delete()[0]
    )
