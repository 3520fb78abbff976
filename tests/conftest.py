"""Session-wide test setup: the PostgreSQL server shared by every test that needs one."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

from support.postgres_server import shutdown_shared_server  # noqa: E402


@pytest.fixture(autouse=True)
def no_ambient_ledger_or_keys(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's ledger or keyring: the ambient variables are unset and HOME
    is a fresh folder, so the defaults ~/.chronik/ledger.db and ~/.chronik/keys.json are never
    the real ones (a real keyring would sign every event of every test)."""
    for name in ("CHRONIK_KEYS", "CHRONIK_KEYS_FILE", "CHRONIK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


def pytest_sessionfinish(session, exitstatus):
    shutdown_shared_server()
