"""Fixtures of the agent-session tests: a memory ledger on a clock the test drives, and the
random seed (printed; replay a run with CHRONIK_TEST_SEED)."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import chronik
from chronik.stores import open_store

sys.path.insert(0, str(Path(__file__).parent))

from session_testing import Clock  # noqa: E402


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(clock: Clock) -> Iterator[chronik.Ledger]:
    with chronik.Ledger(open_store("memory:"), clock=clock) as opened:
        yield opened


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("CHRONIK_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"CHRONIK_TEST_SEED={value}")
    return value
