"""Fixtures of the lifecycle tests: a ledger URL of every store kind, PostgreSQL included.

PostgreSQL comes from tests/support/postgres_server.py ($CHRONIK_TEST_PG_URL, else a throwaway
server started for the session); it is never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import chronik

from support.postgres_server import PostgresServer, shared_server


@pytest.fixture(scope="session")
def lifecycle_pg_server() -> PostgresServer:
    # The session's shared server (tests/conftest.py stops it and drops its schemas).
    return shared_server()


@pytest.fixture
def make_url(tmp_path: Path, lifecycle_pg_server: PostgresServer) -> Callable[[str], str]:
    """make_url(kind) -> the URL of a new, empty ledger of that kind."""
    counter = iter(range(1_000_000))

    def make(kind: str) -> str:
        n = next(counter)
        if kind == "memory":
            return "memory:"
        if kind == "sqlite":
            return "sqlite:///" + str(tmp_path / f"ledger{n}.db").lstrip("/")
        if kind == "jsonl":
            return "jsonl:///" + str(tmp_path / f"ledger{n}.jsonl").lstrip("/")
        if kind == "postgres":
            return lifecycle_pg_server.schema_url("lc")
        raise AssertionError(kind)

    return make


@pytest.fixture
def open_ledger() -> Iterator[Callable[[str], chronik.Ledger]]:
    """open_ledger(url) -> a Ledger closed at the end of the test."""
    opened: list[chronik.Ledger] = []

    def open_(url: str) -> chronik.Ledger:
        ledger = chronik.open_ledger(url)
        opened.append(ledger)
        return ledger

    yield open_
    for ledger in opened:
        ledger.close()
