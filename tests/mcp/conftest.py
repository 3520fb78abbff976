"""tests/mcp on sys.path, so the tests share `mcp_testing` (as tests/cli share cli_testing)."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def seed() -> int:
    """The random seed of a test (printed; CHRONIK_TEST_SEED replays it)."""
    value = int(os.environ.get("CHRONIK_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"CHRONIK_TEST_SEED={value}")
    return value
