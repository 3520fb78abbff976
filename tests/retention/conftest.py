"""Fixtures of the retention tests (helpers: retention_testing.py). Every randomised test prints
its seed; set CHRONIK_TEST_SEED to repeat a run."""

from __future__ import annotations

import os
import random

import pytest


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("CHRONIK_TEST_SEED", random.randrange(2**32)))
    print(f"seed={value}")
    return value
