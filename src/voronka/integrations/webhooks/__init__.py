"""Outgoing webhooks (decision 0016): endpoints, the `webhook` automation action's queue, the
delivery worker (Standard Webhooks signatures, retries with backoff, a dead-letter state) and the
SSRF guard every request passes."""
