"""Events of companies and contacts (the catalogue: kernel.events, docs/events.md)."""

from __future__ import annotations

from typing import Any

from voronka.kernel.events import EventPayload, declare

SERVICES = "contacts.services"


class CompanyNamePayload(EventPayload):
    name: str


class ChangesPayload(EventPayload):
    # field → [old, new], as in the audit row
    changes: dict[str, list[Any]]


class ContactPayload(EventPayload):
    company: int | None


COMPANY_CREATED = declare(
    "company.created",
    CompanyNamePayload,
    description="A company was created.",
    emitted_by=f"{SERVICES}.company_create",
)
COMPANY_UPDATED = declare(
    "company.updated",
    ChangesPayload,
    description="A company's fields changed (only when something did).",
    emitted_by=f"{SERVICES}.company_update",
)
COMPANY_DELETED = declare(
    "company.deleted",
    CompanyNamePayload,
    description="A company was deleted (the row is gone; the name stays in the event).",
    emitted_by=f"{SERVICES}.company_delete",
)
CONTACT_CREATED = declare(
    "contact.created",
    ContactPayload,
    description="A contact was created (company: the one it belongs to).",
    emitted_by=f"{SERVICES}.contact_create",
)
CONTACT_UPDATED = declare(
    "contact.updated",
    ChangesPayload,
    description="A contact's fields changed (only when something did).",
    emitted_by=f"{SERVICES}.contact_update",
)
CONTACT_DELETED = declare(
    "contact.deleted",
    ContactPayload,
    description="A contact was deleted.",
    emitted_by=f"{SERVICES}.contact_delete",
)


class MergePayload(EventPayload):
    kept: int
    merged: list[int]
    merge: int  # the contacts.Merge row (its undo)


MERGE = "contacts.merge"

CONTACT_MERGED = declare(
    "contact.merged",
    MergePayload,
    description="Contacts were merged into the kept one (the merged ones are gone; undoable).",
    emitted_by=f"{MERGE}.contact_merge",
)
COMPANY_MERGED = declare(
    "company.merged",
    MergePayload,
    description="Companies were merged into the kept one (the merged ones are gone; undoable).",
    emitted_by=f"{MERGE}.company_merge",
)
CONTACT_MERGE_UNDONE = declare(
    "contact.merge_undone",
    MergePayload,
    description="A merge of contacts was undone: the merged contacts and their links are back.",
    emitted_by=f"{MERGE}.merge_undo",
)
COMPANY_MERGE_UNDONE = declare(
    "company.merge_undone",
    MergePayload,
    description="A merge of companies was undone: the merged companies and their links are back.",
    emitted_by=f"{MERGE}.merge_undo",
)
