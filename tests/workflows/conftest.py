"""Fixtures of the workflow pack's tests: a memory ledger with a stepping clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from workflow_testing import SteppingClock

import chronik
from chronik.stores import open_store


@pytest.fixture
def ledger() -> Iterator[chronik.Ledger]:
    with chronik.Ledger(open_store("memory:"), clock=SteppingClock()) as opened:
        yield opened
