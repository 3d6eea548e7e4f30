"""A big export streams with bounded memory (decision 0022; tier B, `-m battery`, both databases —
the figure that counts is PostgreSQL's: `scripts/battery.sh` runs it there too).

50,000 deals are exported by `voronka export` in a subprocess (CSV and XLSX); its peak RSS
(its own VmHWM, sampled until it exits) is compared with the same export of 5,000 of them. Bar: the tenfold list
costs less than 24 MB more. Negative control: the same command with the walk's chunk as large
as the list (every row read at once) must break the bar — so the bar measures the streaming."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from factories import report_figures
from workers import ROOT, VORONKA, worker_env

pytestmark = [pytest.mark.battery, pytest.mark.django_db(transaction=True)]

ROWS = 50_000
SMALL = 5_000
BAR_MB = 24
GREEDY = (  # `voronka export …` with the whole list as one chunk
    "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
    "'voronka.config.settings'); django.setup(); from voronka.transfer import export; "
    "export.CHUNK = 10**9; from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['voronka', 'voronka_export', *sys.argv[2:]])"
)


def _seed(org: Any, pipeline: Any) -> None:
    from factories import make_company
    from voronka.deals.models import Deal

    owner = org.personas["owner"].user
    company = make_company(responsible=owner, name="ООО Большой список")
    stage = pipeline.stages["new"]
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    batch = []
    for i in range(ROWS):
        batch.append(
            Deal(
                title=f"Сделка номер {i} — окна, двери, потолки",
                pipeline_id=stage.pipeline_id,
                stage=stage,
                amount=Decimal(i),
                responsible=owner,
                company=company,
                comment="Комментарий к сделке " * 5,
                custom={"contract_no": f"Д-{i}"},
                opened_at=now,
                stage_entered_at=now,
            )
        )
        if len(batch) == 5_000:
            Deal.objects.bulk_create(batch)
            batch = []


def _peak_rss_mb(args: list[str], out: Path, greedy: bool = False) -> tuple[float, float]:
    """Peak RSS (MB) and wall time (s) of one export subprocess."""
    env = worker_env(out.parent / "data")
    (out.parent / "data").mkdir(exist_ok=True)
    command = (
        [sys.executable, "-c", GREEDY, "export", *args]
        if greedy
        else [str(VORONKA), "export", *args]
    )
    started = time.monotonic()
    errors = out.with_suffix(".stderr")
    with out.open("wb") as sink, errors.open("wb") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=err)
        peak = _own_peak_kb(process)
    assert process.returncode == 0, errors.read_text()[-2000:]
    return peak / 1024, time.monotonic() - started


def _own_peak_kb(process: subprocess.Popen[bytes]) -> int:
    """The child's high-water RSS (VmHWM), sampled every 10 ms until it exits, counted only once
    it runs the export (its command line): `wait4`'s ru_maxrss would also hold the size of the
    test process it was forked from (Linux keeps the pre-exec image's high-water mark), and a
    test process grown past the export's peak would hide it."""
    peak = 0
    proc = Path(f"/proc/{process.pid}")
    while process.poll() is None:
        try:
            cmdline = (proc / "cmdline").read_bytes()
            status = (proc / "status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        if b"export" in cmdline and found:
            peak = max(peak, int(found.group(1)))
        time.sleep(0.01)
    assert peak, "the export's memory was never sampled"
    return peak


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\r\n")


def test_big_export_streams_with_bounded_memory(org: Any, pipeline: Any, tmp_path: Path) -> None:
    from django.db import connection

    _seed(org, pipeline)
    for fmt in ("csv", "xlsx"):
        small, _seconds = _peak_rss_mb(
            ["deals", "--format", fmt, f"amount_max={SMALL - 1}"], tmp_path / f"small.{fmt}"
        )
        big, seconds = _peak_rss_mb(["deals", "--format", fmt], tmp_path / f"big.{fmt}")
        if fmt == "csv":
            assert _lines(tmp_path / "small.csv") == SMALL + 1
            assert _lines(tmp_path / "big.csv") == ROWS + 1
        figures = (
            f"EXPORT-MEMORY {connection.vendor} {fmt}: {SMALL} rows {small:.0f} MB, "
            f"{ROWS} rows {big:.0f} MB peak RSS (+{big - small:.1f} MB; bar {BAR_MB} MB), "
            f"{seconds:.1f} s ({ROWS / seconds:,.0f} rows/s)"
        )
        report_figures(figures)
        assert big - small < BAR_MB, figures
        if fmt == "csv":  # the negative control: every row read at once breaks the bar
            greedy, _seconds = _peak_rss_mb(
                ["deals", "--format", fmt], tmp_path / "greedy.csv", greedy=True
            )
            report_figures(
                f"EXPORT-MEMORY negative control (one chunk): {ROWS} rows {greedy:.0f} MB"
            )
            assert greedy - small >= BAR_MB, (greedy, small)
