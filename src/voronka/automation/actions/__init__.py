"""The engine's own actions (decision 0015); other apps register theirs in their `actions.py`.
Imported by kernel.events.discover() with every app's `actions` module."""

from voronka.automation.actions import deals, notify, tasks

__all__ = ["deals", "notify", "tasks"]
