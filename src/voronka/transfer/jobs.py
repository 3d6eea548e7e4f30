"""The import's background jobs (run by `voronka worker`): one import, loaded by id (a job
already claimed is not run again); and the periodic sweep that queues again an import whose
worker died, to go on after its last committed batch."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from voronka.kernel.jobs import periodic
from voronka.transfer.services import import_run, imports_resume


@task()
def run_import(job_id: int) -> dict[str, int] | None:
    """Run one queued import."""
    job = import_run(job_id=job_id)
    if job is None:
        return None
    return {"created": job.created, "found": job.found, "failed": job.failed}


@periodic("imports_resume", every=dt.timedelta(minutes=1))
@task()
def resume_imports() -> list[int]:
    """Queue again the imports whose worker died mid-file (no batch for 5 minutes)."""
    return imports_resume()
