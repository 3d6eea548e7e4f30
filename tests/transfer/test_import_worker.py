"""The import runs in the REAL worker (`voronka worker` subprocess on the test database): the
mapping screen's "Импортировать" queues it after commit, the worker claims it once, the
progress is committed batch by batch, and the result is the same as a direct run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voronka.contacts.models import Contact
from voronka.kernel.actor import Actor
from voronka.transfer.models import ImportJob
from voronka.transfer.services import import_start, import_upload
from workers import VORONKA, logs_of, start_worker, stop, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_runs_a_queued_import(personas: Any, tmp_path: Path) -> None:
    assert VORONKA.exists(), VORONKA
    owner = Actor.for_user(personas["owner"].user)
    rows = "".join(f'"Имя{i}";"Фамилия";"+7 999 {i:07d}";\n' for i in range(2500))
    data = b'"NAME";"LAST_NAME";"PHONE_MOBILE";\n' + rows.encode()
    job = import_upload(actor=owner, entity="contact", filename="b24.csv", data=data)
    import_start(actor=owner, job_id=job.pk)  # enqueued on commit (autocommit here)
    logs = tmp_path / "logs"
    logs.mkdir()
    worker = start_worker("w1", worker_env(tmp_path / "data"), logs)
    try:
        waited = wait_for(lambda: ImportJob.objects.get(pk=job.pk).is_finished, 120, [worker])
    finally:
        stop(worker)
    done = ImportJob.objects.get(pk=job.pk)
    assert done.status == "done", (waited, done.error, logs_of(logs))
    assert (done.total, done.processed, done.created, done.failed) == (2500, 2500, 2500, 0)
    assert Contact.objects.count() == 2500
    assert done.started_at is not None and done.finished_at is not None
    assert bytes(done.content) == b""  # the file is not kept once imported
