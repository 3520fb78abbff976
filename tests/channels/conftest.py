"""Fixtures of the channels pack's tests: a memory ledger, the four stores, a SQLite URL, and
tests/channels on sys.path for the helpers (channel_events.py: payloads, golden vectors)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from channel_events import store_url  # noqa: E402

from chronik.ledger import open_ledger  # noqa: E402

STORES = ["memory", "sqlite", "jsonl", "postgres"]


@pytest.fixture(params=STORES)
def any_ledger(request, tmp_path):
    with open_ledger(store_url(request.param, tmp_path)) as ledger:
        yield ledger


@pytest.fixture
def ledger():
    with open_ledger("memory:") as ledger:
        yield ledger


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'ledger.db'}"
