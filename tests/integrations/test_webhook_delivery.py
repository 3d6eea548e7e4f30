"""RELIABILITY row 10 — OUTBOUND-WEBHOOKS, the delivery half: a scripted receiver on 127.0.0.1
answers 500, times out, 429 with Retry-After, 410, redirects, or 2xx after k failures, and the
worker (`webhooks_deliver`, on the product's fake clock: `now=`) must

  * sign every attempt the Standard Webhooks way (verified with the `standardwebhooks` library)
    and send the same webhook-id on every retry;
  * wait between attempts inside the schedule envelope (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h,
    each ±10 %), never before, honouring Retry-After on 429;
  * after 8 attempts mark the delivery dead and tell the endpoint's owner and the administrators;
  * disable the endpoint on 410 Gone and cancel what is queued for it;
  * never follow a redirect; give up an attempt after the timeout; read at most 64 KB.

Each guard has its negative control (tests/negative_controls.py): the guard switched off, the
same check must report the failure."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import negative_controls as controls
from factories import report_figures
from integrations.conftest import Receiver, Reply

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
# The envelope, written out here (not read from the implementation).
SCHEDULE = [
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
]
JITTER = 0.10
MAX_ATTEMPTS = 8


def enqueue(endpoint: Any, *, now: dt.datetime = T0, event: str = "deal.won") -> Any:
    from django.db import transaction

    from voronka.integrations.webhooks.services import delivery_enqueue

    with transaction.atomic():
        return delivery_enqueue(
            endpoint=endpoint,
            event_type=event,
            data={"deal": {"id": 7, "title": "Поставка", "amount": "1500.00"}},
            now=now,
        )


def deliver(now: dt.datetime, **kw: Any) -> Any:
    from voronka.integrations.webhooks.delivery import webhooks_deliver

    return webhooks_deliver(50, now=now, **kw)


def drive(delivery: Any, *, start: dt.datetime = T0, max_rounds: int = 20) -> list[dict[str, Any]]:
    """Run the worker at each due moment until the delivery settles; probe one second before
    each due moment that nothing is sent early. Returns one line per attempt."""
    log: list[dict[str, Any]] = []
    now = start
    for _ in range(max_rounds):
        delivery.refresh_from_db()
        if delivery.status != "pending":
            break
        due = max(now, delivery.next_attempt_at)
        if due > now:
            early = deliver(due - dt.timedelta(seconds=1))
            log.append({"early": early.claimed})
        now = due
        deliver(now)
        delivery.refresh_from_db()
        log.append(
            {
                "at": now,
                "attempts": delivery.attempts,
                "status": delivery.status,
                "code": delivery.last_status_code,
                "error": delivery.last_error,
                "next": delivery.next_attempt_at,
            }
        )
    return log


def attempts_of(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in log if "at" in line]


def schedule_deviations(log: list[dict[str, Any]]) -> list[str]:
    """Waits outside SCHEDULE[n] ± JITTER after the n-th failed attempt, and early sends."""
    found = [f"sent early ({line['early']})" for line in log if line.get("early")]
    for line in attempts_of(log):
        if line["status"] != "pending":
            continue
        n = line["attempts"]
        wait = line["next"] - line["at"]
        low, high = SCHEDULE[n - 1] * (1 - JITTER), SCHEDULE[n - 1] * (1 + JITTER)
        if not low <= wait <= high:
            found.append(f"after attempt {n}: waited {wait}, envelope {low}–{high}")
    return found


def signature_failures(requests: list[Any], secret: str, *, check_time: bool) -> int:
    """Requests whose Standard Webhooks signature does not verify with the library (with the
    timestamp tolerance when `check_time`, else the HMAC alone)."""
    wh = Webhook(secret)
    bad = 0
    for r in requests:
        headers = {k.lower(): v for k, v in r.headers.items()}
        try:
            if check_time:
                wh.verify(r.body, headers)
            else:
                at = dt.datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=dt.UTC)
                expected = wh.sign(headers["webhook-id"], at, r.body)
                if expected not in headers["webhook-signature"].split(" "):
                    raise WebhookVerificationError("mismatch")
        except (WebhookVerificationError, KeyError, ValueError):
            bad += 1
    return bad


# --- signature and identity --------------------------------------------------------------------


def test_signed_with_standard_webhooks_headers(
    receiver: Receiver, allow_private: None, make_endpoint: Any
) -> None:
    from django.utils import timezone

    endpoint = make_endpoint(receiver.url + "/hook?src=voronka")
    assert endpoint.secret.startswith("whsec_")
    now = timezone.now()
    delivery = enqueue(endpoint, now=now)
    assert delivery.webhook_id.startswith("msg_")
    report = deliver(now)
    assert report.delivered == 1
    [request] = receiver.posts()
    assert request.method == "POST" and request.path == "/hook?src=voronka"
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["webhook-id"] == delivery.webhook_id
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["host"] == receiver.url.removeprefix("http://")
    payload = Webhook(endpoint.secret).verify(request.body, headers)  # the library's own check
    assert payload["type"] == "deal.won" and payload["data"]["deal"]["amount"] == "1500.00"
    assert signature_failures(receiver.posts(), endpoint.secret, check_time=True) == 0
    # The raw bytes are signed: the same JSON re-serialised does not verify.
    reserialised = json.dumps(json.loads(request.body), indent=1).encode()
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(reserialised, headers)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.delivered_at == now


def test_control_a_wrong_key_is_caught(
    receiver: Receiver, allow_private: None, make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import timezone

    controls.wrong_signing_key(monkeypatch)
    endpoint = make_endpoint(receiver.url + "/hook")
    now = timezone.now()
    enqueue(endpoint, now=now)
    deliver(now)
    assert signature_failures(receiver.posts(), endpoint.secret, check_time=True) == 1


def _retry_then_succeed(receiver: Receiver, endpoint: Any) -> tuple[Any, list[dict[str, Any]]]:
    receiver.script = [Reply(500), Reply(503, body=b"busy"), Reply(500), Reply(200)]
    delivery = enqueue(endpoint)
    return delivery, drive(delivery)


def test_same_webhook_id_on_every_retry_and_delivered_after_k_failures(
    receiver: Receiver, allow_private: None, make_endpoint: Any
) -> None:
    endpoint = make_endpoint(receiver.url + "/hook")
    delivery, log = _retry_then_succeed(receiver, endpoint)
    posts = receiver.posts()
    assert len(posts) == 4
    ids = {p.headers["webhook-id"] for p in posts}
    assert ids == {delivery.webhook_id}
    assert len({p.body for p in posts}) == 1  # the same bytes every time
    assert len({p.headers["webhook-timestamp"] for p in posts}) == 4  # each attempt's own time
    assert signature_failures(posts, endpoint.secret, check_time=False) == 0
    assert delivery.status == "delivered" and delivery.attempts == 4
    assert schedule_deviations(log) == []
    # Delivered means done: a month later nothing is sent again.
    deliver(T0 + dt.timedelta(days=30))
    assert len(receiver.posts()) == 4
    report_figures(
        "OUTBOUND-WEBHOOKS retries: 2xx after 3 failures → delivered in 4 attempts, "
        f"distinct webhook-ids 1 of {len(posts)}, bad signatures 0 of {len(posts)}"
    )


def test_control_a_fresh_id_per_attempt_is_caught(
    receiver: Receiver, allow_private: None, make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls.fresh_webhook_id_per_attempt(monkeypatch)
    endpoint = make_endpoint(receiver.url + "/hook")
    _retry_then_succeed(receiver, endpoint)
    assert len({p.headers["webhook-id"] for p in receiver.posts()}) == 4


# --- schedule, dead letter, alert --------------------------------------------------------------


def _always_failing(receiver: Receiver, endpoint: Any) -> tuple[Any, list[dict[str, Any]]]:
    receiver.default = Reply(500, body=b"boom")
    delivery = enqueue(endpoint)
    return delivery, drive(delivery)


def _alerts(endpoint: Any) -> list[Any]:
    from voronka.activities.models import Notification

    return list(Notification.objects.filter(kind="automation", text__contains=endpoint.name))


def test_backoff_in_the_envelope_then_dead_letter_and_alert(
    receiver: Receiver, allow_private: None, make_endpoint: Any, configurer: Any
) -> None:
    endpoint = make_endpoint(receiver.url + "/hook", name="Склад")
    delivery, log = _always_failing(receiver, endpoint)
    attempts = attempts_of(log)
    assert [a["attempts"] for a in attempts] == list(range(1, MAX_ATTEMPTS + 1))
    assert len(receiver.posts()) == MAX_ATTEMPTS
    deviations = schedule_deviations(log)
    assert deviations == [], deviations
    waits = [a["next"] - a["at"] for a in attempts if a["status"] == "pending"]
    assert len(waits) == MAX_ATTEMPTS - 1
    assert any(w != s for w, s in zip(waits, SCHEDULE, strict=True)), "no jitter at all"
    assert delivery.status == "failed"  # dead: the DLQ of the screen and the API
    assert delivery.last_status_code == 500 and "boom" in delivery.last_error
    alerted = {n.user_id for n in _alerts(endpoint)}
    assert alerted == {configurer["owner"].pk, configurer["admin"].pk}
    assert configurer["manager"].pk not in alerted
    deliver(T0 + dt.timedelta(days=30))  # dead means no more attempts
    assert len(receiver.posts()) == MAX_ATTEMPTS
    report_figures(
        "OUTBOUND-WEBHOOKS schedule: "
        + json.dumps(
            {
                "attempts": MAX_ATTEMPTS,
                "schedule_deviations": len(deviations),
                "waits_checked": len(waits),
                "neither_delivered_nor_dlq": int(delivery.status == "pending"),
                "alerts": len(alerted),
            }
        )
    )


def test_control_no_backoff_is_caught(
    receiver: Receiver, allow_private: None, make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls.no_backoff(monkeypatch)
    endpoint = make_endpoint(receiver.url + "/hook")
    _delivery, log = _always_failing(receiver, endpoint)
    assert len(schedule_deviations(log)) == MAX_ATTEMPTS - 1


def test_control_no_dead_letter_is_caught(
    receiver: Receiver, allow_private: None, make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls.no_dead_letter(monkeypatch)
    endpoint = make_endpoint(receiver.url + "/hook")
    delivery, _log = _always_failing(receiver, endpoint)
    assert delivery.status == "pending" and delivery.attempts > MAX_ATTEMPTS
    assert _alerts(endpoint) == []


def test_control_no_alert_is_caught(
    receiver: Receiver, allow_private: None, make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls.no_alert(monkeypatch)
    endpoint = make_endpoint(receiver.url + "/hook")
    delivery, _log = _always_failing(receiver, endpoint)
    assert delivery.status == "failed" and _alerts(endpoint) == []


def test_429_waits_for_retry_after(
    receiver: Receiver, allow_private: None, make_endpoint: Any
) -> None:
    endpoint = make_endpoint(receiver.url + "/hook")
    when = T0 + dt.timedelta(hours=1)
    http_date = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    receiver.script = [
        Reply(429, headers={"Retry-After": "120"}),
        Reply(429, headers={"Retry-After": http_date}),
        Reply(429),  # no Retry-After: the schedule
        Reply(204),
    ]
    delivery = enqueue(endpoint)
    deliver(T0)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == T0 + dt.timedelta(seconds=120)
    assert deliver(T0 + dt.timedelta(seconds=119)).claimed == 0  # not before
    at = T0 + dt.timedelta(seconds=120)
    deliver(at)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == when
    deliver(when)
    delivery.refresh_from_db()
    wait = delivery.next_attempt_at - when
    assert SCHEDULE[2] * (1 - JITTER) <= wait <= SCHEDULE[2] * (1 + JITTER)
    deliver(delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 4


# --- 410 Gone ----------------------------------------------------------------------------------


def _gone(receiver: Receiver, make_endpoint: Any) -> tuple[Any, Any, Any]:
    endpoint = make_endpoint(receiver.url + "/hook", name="Старый CRM")
    receiver.script = [Reply(410)]
    first = enqueue(endpoint)
    second = enqueue(endpoint, now=T0 + dt.timedelta(minutes=1))
    deliver(T0)  # only the first is due
    endpoint.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    return endpoint, first, second


def test_410_disables_the_endpoint_and_cancels_its_queue(
    receiver: Receiver, allow_private: None, make_endpoint: Any, configurer: Any
) -> None:
    from voronka.integrations.webhooks.services import endpoint_for_action
    from voronka.kernel.errors import ValidationError

    endpoint, first, second = _gone(receiver, make_endpoint)
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert first.status == "cancelled" and first.last_status_code == 410
    assert second.status == "cancelled"
    deliver(T0 + dt.timedelta(days=1))
    assert len(receiver.posts()) == 1  # nothing more goes to a gone endpoint
    with pytest.raises(ValidationError):
        endpoint_for_action(endpoint.pk)  # a rule naming it fails its run, visibly
    assert {n.user_id for n in _alerts(endpoint)} == {
        configurer["owner"].pk,
        configurer["admin"].pk,
    }


def test_control_410_ignored_is_caught(
    receiver: Receiver, allow_private: None, make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls.gone_ignored(monkeypatch)
    endpoint, _first, second = _gone(receiver, make_endpoint)
    assert endpoint.enabled and second.status == "pending"


# --- redirects, timeouts, long answers -----------------------------------------------------------


def _redirected(receiver: Receiver, make_endpoint: Any) -> Any:
    endpoint = make_endpoint(receiver.url + "/hook")
    receiver.script = [Reply(307, headers={"Location": receiver.url + "/elsewhere"})]
    delivery = enqueue(endpoint)
    deliver(T0)
    delivery.refresh_from_db()
    return delivery


def test_redirects_are_not_followed(
    receiver: Receiver, allow_private: None, make_endpoint: Any
) -> None:
    delivery = _redirected(receiver, make_endpoint)
    assert receiver.posts("/elsewhere") == []
    assert [r.path for r in receiver.requests] == ["/hook"]
    assert delivery.status == "pending" and delivery.last_status_code == 307
    assert "redirect not followed" in delivery.last_error


def test_control_followed_redirect_is_caught(
    receiver: Receiver, allow_private: None, make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls.redirects_followed(monkeypatch)
    _redirected(receiver, make_endpoint)
    assert len(receiver.posts("/elsewhere")) == 1


def test_a_receiver_that_hangs_is_a_timeout_then_retried(
    receiver: Receiver, allow_private: None, make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voronka.integrations.webhooks import delivery as worker

    assert worker.TIMEOUT_SECONDS == 10.0  # the product's timeout; shortened for the test
    monkeypatch.setattr(worker, "TIMEOUT_SECONDS", 0.3)
    endpoint = make_endpoint(receiver.url + "/hook")
    receiver.script = [Reply(200, sleep=2.0), Reply(200)]
    delivery = enqueue(endpoint)
    started = time.monotonic()
    deliver(T0)
    elapsed = time.monotonic() - started
    delivery.refresh_from_db()
    assert elapsed < 1.5, elapsed
    assert delivery.status == "pending" and "timeout" in delivery.last_error
    assert delivery.last_status_code is None
    log = drive(delivery, start=T0)
    assert delivery.status == "delivered" and schedule_deviations(log) == []


def test_a_long_answer_is_read_up_to_64_kb(
    receiver: Receiver, allow_private: None, make_endpoint: Any
) -> None:
    endpoint = make_endpoint(receiver.url + "/hook")
    receiver.script = [Reply(500, huge=True)]
    delivery = enqueue(endpoint)
    started = time.monotonic()
    deliver(T0)
    assert time.monotonic() - started < 5
    delivery.refresh_from_db()
    assert delivery.last_status_code == 500 and len(delivery.last_error) <= 500


def _consumed(monkeypatch: pytest.MonkeyPatch, *, cap_off: bool) -> tuple[int, int]:
    """(bytes returned, chunks pulled) by the capped reader from a 100 × 32 KB answer."""
    from voronka.integrations.webhooks import delivery as worker

    if cap_off:
        controls.no_body_cap(monkeypatch)
    pulled = 0

    def chunks() -> Any:
        nonlocal pulled
        for _ in range(100):
            pulled += 1
            yield b"y" * 32768

    response = httpx.Response(200, content=chunks())
    return len(worker._read_capped(response, deadline=time.monotonic() + 10)), pulled


def test_the_reader_stops_at_64_kb(monkeypatch: pytest.MonkeyPatch) -> None:
    size, pulled = _consumed(monkeypatch, cap_off=False)
    assert size == 64 * 1024 and pulled == 2


def test_control_no_body_cap_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    size, pulled = _consumed(monkeypatch, cap_off=True)
    assert size > 64 * 1024 and pulled == 100


# --- several workers -----------------------------------------------------------------------------


def _two_workers(receiver: Receiver, make_endpoint: Any) -> tuple[list[Any], list[str], int]:
    """Two threads run the worker over 30 due deliveries; (deliveries, webhook-ids received,
    deliveries marked delivered)."""
    from django.db import close_old_connections

    from voronka.integrations.models import WebhookDelivery

    endpoint = make_endpoint(receiver.url + "/hook")
    receiver.default = Reply(200, sleep=0.02)
    deliveries = [enqueue(endpoint) for _ in range(30)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            deliver(T0)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    ids = [p.headers["webhook-id"] for p in receiver.posts()]
    return deliveries, ids, WebhookDelivery.objects.filter(status="delivered").count()


@pytest.mark.django_db(transaction=True)
def test_two_workers_send_each_delivery_once(
    receiver: Receiver, allow_private: None, make_endpoint: Any
) -> None:
    deliveries, ids, delivered = _two_workers(receiver, make_endpoint)
    duplicates = len(ids) - len(set(ids))
    report_figures(
        f"OUTBOUND-WEBHOOKS two workers: sent {len(ids)} for {len(deliveries)} deliveries, "
        f"duplicates {duplicates}, delivered {delivered} of {len(deliveries)}"
    )
    assert duplicates == 0 and sorted(set(ids)) == sorted(d.webhook_id for d in deliveries)
    assert delivered == len(deliveries)


@pytest.mark.django_db(transaction=True)
def test_control_a_claim_without_lease_is_caught(
    receiver: Receiver, allow_private: None, make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls.no_lease(monkeypatch)
    _deliveries, ids, _delivered = _two_workers(receiver, make_endpoint)
    assert len(ids) > len(set(ids))  # the same message sent twice


# --- how the worker runs it ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_periodic_job_and_the_loop_deliver(
    receiver: Receiver, allow_private: None, make_endpoint: Any
) -> None:
    from voronka.integrations.jobs import deliver_webhooks
    from voronka.integrations.webhooks.delivery import webhooks_loop
    from voronka.kernel.jobs import PERIODIC

    assert PERIODIC["webhooks_deliver"].every == dt.timedelta(seconds=10)
    endpoint = make_endpoint(receiver.url + "/hook")
    from django.utils import timezone

    enqueue(endpoint, now=timezone.now())
    assert deliver_webhooks.call()["delivered"] == 1
    enqueue(endpoint, now=timezone.now())
    stop = threading.Event()
    thread = threading.Thread(target=webhooks_loop, args=(stop,), kwargs={"interval": 0.05})
    thread.start()
    deadline = time.monotonic() + 10
    while len(receiver.posts()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=10)
    assert len(receiver.posts()) == 2 and not thread.is_alive()
