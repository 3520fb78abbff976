"""Session-wide test setup: the PostgreSQL server shared by every test that needs one."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from support.postgres_server import shutdown_shared_server  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    shutdown_shared_server()
