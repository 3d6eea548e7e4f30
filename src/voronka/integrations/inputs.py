"""The input fields of outgoing webhook endpoints: the one declaration the services clean by and
the API schema is checked against (kernel.inputs)."""

from __future__ import annotations

from voronka.kernel.inputs import EntityInput, In, Kind

ENDPOINT = EntityInput(
    "webhook_endpoint",
    {
        "name": In(Kind.TEXT, max_length=200, required=True),
        "url": In(Kind.CODE, max_length=2000, required=True),  # http(s), checked by the SSRF guard
    },
)
