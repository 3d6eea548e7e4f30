"""An import whose worker dies mid-file goes on where its committed batches stopped: the
periodic sweep (transfer.jobs.resume_imports → imports_resume) queues a job that went quiet
again, and the run skips the rows its committed batches counted — every row counted once, no
client twice. Negative control: a resume that starts the file again counts rows twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from voronka.contacts.models import Contact
from voronka.kernel import clock
from voronka.kernel.actor import Actor, ActorKind
from voronka.kernel.models import AuditEntry
from voronka.transfer import importer, services
from voronka.transfer.models import ImportJob, ImportStatus
from voronka.transfer.services import STALE, import_run, import_upload, imports_resume

pytestmark = pytest.mark.django_db
ROWS = 250


class Killed(BaseException):
    """The worker's death inside a batch (not an Exception: nothing in the import catches it)."""


def _csv() -> bytes:
    lines = ["Имя;Фамилия;Мобильный телефон"]
    lines += [
        f"Клиент{i};Импортов{i};+7 916 {i // 10000:03d}-{i % 10000 // 100:02d}-{i % 100:02d}"
        for i in range(ROWS)
    ]
    return ("\n".join(lines) + "\n").encode()


def _killed_in_third_batch(personas: Any, monkeypatch: Any) -> ImportJob:
    monkeypatch.setattr(importer, "BATCH", 100)
    actor = Actor(kind=ActorKind.IMPORT, user=personas["owner"].user)
    job = import_upload(actor=actor, entity="contact", filename="big.csv", data=_csv())
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    batches = []
    real_write = importer.Importer._write

    def write(self: Any, stats: Any) -> None:
        batches.append(1)
        if len(batches) == 3:
            raise Killed  # inside the third batch's transaction: it rolls back
        real_write(self, stats)

    with monkeypatch.context() as patched:
        patched.setattr(importer.Importer, "_write", write)
        with pytest.raises(Killed):
            import_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_a_killed_import_is_resumed_after_its_last_committed_batch(
    personas: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    job = _killed_in_third_batch(personas, monkeypatch)
    assert job.status == ImportStatus.RUNNING
    assert (job.processed, job.created, Contact.objects.count()) == (200, 200, 200)
    now = clock.now()
    assert imports_resume(now=now + dt.timedelta(minutes=1)) == []  # not quiet long enough
    with django_capture_on_commit_callbacks(execute=True):
        assert imports_resume(now=now + STALE + dt.timedelta(seconds=1)) == [job.pk]
    assert imports_resume(now=now + STALE + dt.timedelta(seconds=2)) == []  # queued once
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    assert AuditEntry.objects.filter(object_id=job.pk, action="resumed").count() == 1
    queued = DBTaskResult.objects.filter(task_path__endswith="run_import")
    assert [r.args_kwargs["args"] for r in queued] == [[job.pk]]
    done = import_run(job_id=job.pk)  # what the worker does with it
    assert done is not None and done.status == ImportStatus.DONE
    assert (done.processed, done.created, done.found, done.failed) == (ROWS, ROWS, 0, 0)
    assert Contact.objects.count() == ROWS


def test_negative_control_a_resume_from_the_start_counts_rows_twice(
    personas: Any, monkeypatch: Any
) -> None:
    job = _killed_in_third_batch(personas, monkeypatch)
    monkeypatch.setattr(services, "resume_offset", lambda job: 0)
    imports_resume(now=clock.now() + STALE + dt.timedelta(seconds=1))
    done = import_run(job_id=job.pk)
    assert done is not None
    assert done.processed > ROWS and done.found == 200  # the first 200 rows counted again
    assert Contact.objects.count() == ROWS  # (the fingerprints still keep clients single)
