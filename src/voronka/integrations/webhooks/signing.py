"""Standard Webhooks (standardwebhooks.com): the secret, the message id and the three headers.

The signature is HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>` with the endpoint's
secret, computed by the `standardwebhooks` library — the same code a receiver verifies with. The
webhook-id of a delivery is fixed when it is queued and sent unchanged on every retry; the
timestamp is the moment of each attempt (a receiver refuses one older than 5 minutes)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes
ID_PREFIX = "msg_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_webhook_id() -> str:
    """`msg_` and 26 random base32 characters (130 bits): unique, opaque, URL-safe."""
    return ID_PREFIX + base64.b32encode(secrets.token_bytes(17)).decode().rstrip("=").lower()[:26]


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The JSON body as sent and signed (the same bytes on every attempt)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(*, secret: str, webhook_id: str, at: dt.datetime, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id=webhook_id, timestamp=at, data=body)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
