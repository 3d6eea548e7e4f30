"""The import's background job (run by `voronka worker`): load by id, call the service.
Idempotent: a job already claimed is not run again."""

from __future__ import annotations

from django_tasks import task

from voronka.transfer.services import import_run


@task()
def run_import(job_id: int) -> dict[str, int] | None:
    """Run one queued import."""
    job = import_run(job_id=job_id)
    if job is None:
        return None
    return {"created": job.created, "found": job.found, "failed": job.failed}
