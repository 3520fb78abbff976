"""Integrity tests never see the developer's keyring or ledger."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHRONIK_KEYS", "CHRONIK_KEYS_FILE", "CHRONIK_URL"):
        monkeypatch.delenv(name, raising=False)
