"""Background jobs of the contacts app: the nightly duplicate scan and the one a person asks for."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from voronka.contacts.dedup import duplicates_scan
from voronka.contacts.models import ClientEntity, DuplicateScan
from voronka.kernel.jobs import periodic


@periodic("duplicates_scan", every=dt.timedelta(days=1))
@task()
def scan_duplicates_nightly() -> dict[str, int]:
    """Find the duplicate groups of contacts and of companies (the review screen lists them)."""
    return {entity: duplicates_scan(entity).groups for entity in ClientEntity.values}


@task()
def scan_duplicates(scan_id: int) -> int:
    """The scan a person started (contacts.services.duplicates_scan_request made its row)."""
    run = DuplicateScan.objects.filter(pk=scan_id).first()
    if run is None:
        return 0
    return duplicates_scan(run.entity, run=run).groups
