"""Integrations: interfaces that map outside protocols onto the services (DESIGN §7). Outgoing
webhooks (`webhooks/`, decision 0016) first."""
