"""Fixtures of the platform tests (RELIABILITY rows 5, 6, 7, 14): servers in subprocesses."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from platform_support import DatabaseFactory  # noqa: E402


@pytest.fixture(scope="session")
def server_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(root=tmp_path_factory.mktemp("server-dbs"))
    yield factory
    factory.close()
