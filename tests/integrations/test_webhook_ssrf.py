"""RELIABILITY row 10 — the SSRF guard of outgoing webhooks, with a STUBBED resolver (no DNS, no
network: httpx's MockTransport stands where the connection would be and records every request
that got that far).

For every refused range — 10/8, 172.16/12, 192.168/16, 169.254/16 (cloud metadata), 127/8,
0.0.0.0, multicast, broadcast, CGNAT, ::1, ::, fc00::/7, fe80::/10, IPv4-mapped and 6to4 IPv6 —
a webhook whose host resolves there must fail BEFORE any connect; so must a literal IP, a name
resolving to one public and one private address, and a URL with credentials. DNS rebinding: a
resolver answering a public address first and 127.0.0.1 afterwards — the request must go to the
address that was checked, and the name is resolved once.

Negative controls: with the address rule off every private case reaches the transport; with the
pinning off the rebinding request goes to the name (a second resolution)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

import httpx
import pytest

import negative_controls as controls
from factories import report_figures

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PUBLIC = "93.184.216.34"

REFUSED = [
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "192.168.255.254",
    "169.254.169.254",
    "169.254.0.1",
    "127.0.0.1",
    "127.10.20.30",
    "0.0.0.0",
    "224.0.0.251",
    "255.255.255.255",
    "100.64.0.1",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "2002:a00:1::1",  # 6to4 around 10.0.0.1
]


class Resolver:
    """A stub of ssrf.resolve: answers from a script, counts the questions."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[Any]:
        self.calls.append(host)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [ipaddress.ip_address(a) for a in answer]


class Wire:
    """Where the connection would be: records every request that reached it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return httpx.Response(200)

        return httpx.MockTransport(handle)


@pytest.fixture
def guard_on(settings: Any) -> None:
    settings.VORONKA_WEBHOOK_ALLOW_PRIVATE = False


@pytest.fixture
def endpoint(configurer: Any, guard_on: None) -> Any:
    from voronka.integrations.models import WebhookEndpoint
    from voronka.integrations.webhooks.signing import new_secret

    # Created directly: the service refuses literal private IPs at once (tested below).
    return WebhookEndpoint.objects.create(
        name="Внешний", url="https://hooks.example.test/in", secret=new_secret()
    )


def attempt(
    endpoint: Any, url: str, resolver: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Wire]:
    from django.db import transaction

    from voronka.integrations.webhooks import ssrf
    from voronka.integrations.webhooks.delivery import webhooks_deliver
    from voronka.integrations.webhooks.services import delivery_enqueue

    monkeypatch.setattr(ssrf, "resolve", resolver)
    endpoint.url = url
    endpoint.save(update_fields=["url"])
    with transaction.atomic():
        delivery = delivery_enqueue(endpoint=endpoint, event_type="deal.won", data={}, now=T0)
    wire = Wire()
    webhooks_deliver(5, now=T0, transport=wire.transport())
    delivery.refresh_from_db()
    return delivery, wire


def bypasses(endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The refused addresses whose request reached the wire."""
    found = []
    for address in REFUSED:
        delivery, wire = attempt(
            endpoint, "https://evil.example.test/x", Resolver([address]), monkeypatch
        )
        if wire.requests:
            found.append(address)
        elif not (delivery.status == "failed" and "SSRF" in delivery.last_error):
            found.append(f"{address}: {delivery.status} {delivery.last_error}")
    return found


def test_every_private_range_is_refused_before_any_connect(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = bypasses(endpoint, monkeypatch)
    report_figures(f"OUTBOUND-WEBHOOKS SSRF: bypasses {len(found)} of {len(REFUSED)} ranges")
    assert found == []


def test_control_the_address_rule_off_is_caught(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls.no_ssrf_guard(monkeypatch)
    assert len(bypasses(endpoint, monkeypatch)) == len(REFUSED)


def test_a_public_address_is_called_at_the_checked_ip(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The positive control of the stub and the wire: a public answer gets through, to its IP,
    with the name in Host and as the TLS server name."""
    resolver = Resolver([PUBLIC])
    delivery, wire = attempt(
        endpoint, "https://hooks.example.test:8443/in?a=1", resolver, monkeypatch
    )
    [request] = wire.requests
    assert request.url.host == PUBLIC and request.url.port == 8443
    assert request.url.path == "/in" and request.url.query == b"a=1"
    assert request.headers["host"] == "hooks.example.test:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.test"
    assert delivery.status == "delivered"
    assert resolver.calls == ["hooks.example.test"]


@pytest.mark.parametrize(
    "answer", [[PUBLIC, "10.0.0.5"], ["127.0.0.1", PUBLIC], [PUBLIC, "::1"]], ids=str
)
def test_one_private_answer_among_public_ones_is_refused(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch, answer: list[str]
) -> None:
    delivery, wire = attempt(endpoint, "https://mixed.example.test/", Resolver(answer), monkeypatch)
    assert wire.requests == [] and delivery.status == "failed"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/",  # and in hex shorthand
    ],
)
def test_literal_addresses_are_refused(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """No resolver asked for an IP literal; the odd spellings of 127.0.0.1 that some resolvers
    accept are refused or resolved (stub: to 127.0.0.1) and refused."""
    resolver = Resolver(["127.0.0.1"])
    delivery, wire = attempt(endpoint, url, resolver, monkeypatch)
    assert wire.requests == [] and delivery.status == "failed", delivery.last_error


def _rebinding(endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Resolver, Wire]:
    resolver = Resolver([PUBLIC], ["127.0.0.1"])  # then 127.0.0.1 for every later question
    _delivery, wire = attempt(endpoint, "https://rebind.example.test/hook", resolver, monkeypatch)
    return resolver, wire


def test_dns_rebinding_connects_to_the_checked_address(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver, wire = _rebinding(endpoint, monkeypatch)
    [request] = wire.requests
    assert request.url.host == PUBLIC  # not the name: no second resolution at connect time
    assert resolver.calls == ["rebind.example.test"]


def test_control_no_pinning_is_caught(endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    controls.no_address_pinning(monkeypatch)
    _resolver, wire = _rebinding(endpoint, monkeypatch)
    [request] = wire.requests
    assert request.url.host == "rebind.example.test"  # a connect would resolve again


def test_a_dns_failure_is_retried_not_dead(endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from voronka.integrations.webhooks import ssrf

    def nxdomain(host: str, port: int) -> list[Any]:
        raise ssrf.ResolveFailed(f"DNS: {host}: no such name")

    delivery, wire = attempt(endpoint, "https://gone.example.test/", nxdomain, monkeypatch)
    assert wire.requests == [] and delivery.status == "pending" and "DNS" in delivery.last_error


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pw@hooks.example.test/",
        "ftp://hooks.example.test/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:25/",
        "http:///nohost",
        "http://hooks.example.test:99999/",
    ],
)
def test_urls_that_may_never_be_called(url: str, guard_on: None) -> None:
    from voronka.integrations.webhooks import ssrf

    with pytest.raises(ssrf.UnsafeTarget):
        ssrf.safe_target(url)


def test_the_form_refuses_a_private_literal_address(configurer: Any, guard_on: None) -> None:
    from voronka.integrations.webhooks.services import endpoint_create
    from voronka.kernel.actor import Actor
    from voronka.kernel.errors import ValidationError

    for url in ("http://127.0.0.1:9000/", "http://[fe80::1]/", "http://192.168.1.10/hook"):
        with pytest.raises(ValidationError) as refused:
            endpoint_create(
                actor=Actor.for_user(configurer["owner"]), data={"name": "x", "url": url}
            )
        assert "url" in refused.value.errors
