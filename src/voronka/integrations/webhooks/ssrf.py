"""The SSRF guard: a webhook URL is a request the server makes on a user's behalf, so it must not
reach the server's own network (loopback, private ranges, link-local — the cloud metadata
address 169.254.169.254 —, multicast, reserved).

`safe_target(url)` resolves the host ONCE, refuses the URL if any address it resolves to is not
public, and returns a target that connects to the address it checked: the request goes to the IP
(with the original Host header and TLS server name), so a DNS answer that changes between the
check and the connect (DNS rebinding) cannot redirect it. VORONKA_WEBHOOK_ALLOW_PRIVATE lifts
the address rule (a receiver on the same machine or LAN), never the pinning.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = frozenset({"http", "https"})


class UnsafeTarget(Exception):
    """The URL may never be called (a refused address or a malformed URL): no retry helps."""


class ResolveFailed(Exception):
    """The host did not resolve now (a DNS failure): a later attempt may succeed."""


@dataclass(frozen=True)
class Target:
    url: str  # the URL with the checked IP in place of the host name
    host_header: str
    ip: str
    extensions: dict[str, Any] = field(default_factory=dict)


def is_public_address(ip: IPAddress) -> bool:
    """A globally routable unicast address. IPv4 inside IPv6 (::ffff:a.b.c.d, 6to4) is judged as
    the IPv4 address it carries."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is not None:
            return is_public_address(inner)
        if ip.teredo is not None:
            return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (the system resolver; tests stub this function)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolveFailed(f"DNS: {host}: {exc}") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a webhook URL, or UnsafeTarget: http(s), a host, no user name or
    password in it, a valid port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeTarget("malformed URL") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UnsafeTarget("only http and https URLs")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("credentials in the URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget("no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


def literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def allow_private() -> bool:
    return bool(getattr(settings, "VORONKA_WEBHOOK_ALLOW_PRIVATE", False))


def refused(addresses: list[IPAddress]) -> list[IPAddress]:
    """The addresses the guard refuses (none when private addresses are allowed)."""
    if allow_private():
        return []
    return [ip for ip in addresses if not is_public_address(ip)]


def pin(url: str, ip: IPAddress, *, scheme: str, host: str, port: int) -> Target:
    """The request to the checked address: the IP in the URL, the name in Host and in TLS (SNI
    and certificate check), so the connection goes where the guard looked."""
    parts = urlsplit(url)
    ip_text = f"[{ip}]" if ip.version == 6 else str(ip)
    default_port = 443 if scheme == "https" else 80
    netloc = ip_text if port == default_port else f"{ip_text}:{port}"
    host_text = f"[{host}]" if ":" in host else host
    host_header = host_text if port == default_port else f"{host_text}:{port}"
    extensions: dict[str, Any] = {}
    if scheme == "https" and literal_ip(host) is None:
        extensions["sni_hostname"] = host
    pinned = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return Target(url=pinned, host_header=host_header, ip=str(ip), extensions=extensions)


def safe_target(url: str) -> Target:
    """Check `url` and resolve it once: UnsafeTarget for a URL that may never be called,
    ResolveFailed when the name does not resolve now."""
    scheme, host, port = check_url(url)
    ip = literal_ip(host)
    addresses = [ip] if ip is not None else resolve(host, port)
    if not addresses:
        raise ResolveFailed(f"DNS: {host}: no address")
    bad = refused(addresses)
    if bad:
        raise UnsafeTarget(f"address not allowed: {bad[0]}")
    return pin(url, addresses[0], scheme=scheme, host=host, port=port)
