"""Shared fixtures: a temporary SQLite ledger and a runner that invokes `chronik` on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import chronik
from chronik.cli.main import cli

Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def no_ambient_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    # Never touch the developer's real ledger from a test.
    monkeypatch.delenv("CHRONIK_URL", raising=False)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def run(ledger_path: Path) -> Invoke:
    """run(*args, input=None, ledger=path) -> click Result (stdout and stderr kept apart)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None, ledger: str | Path | None = None) -> Result:
        target = str(ledger if ledger is not None else ledger_path)
        return runner.invoke(cli, ["--ledger", target, *args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def order_ledger(run: Invoke, ledger_path: Path) -> Path:
    """order:1 (created, item_added x2), extension:python (install_failed), order:2 (created)."""
    with chronik.open_ledger(str(ledger_path)) as ledger:
        ledger.append("order:1", [chronik.NewEvent("created", {"n": 1})])
        ledger.append("extension:python", [chronik.NewEvent("install_failed", {"error": "Checksum mismatch"})])
        ledger.append("order:1", [chronik.NewEvent("item_added", {"sku": "A"}),
                                  chronik.NewEvent("item_added", {"sku": "B"})])
        ledger.append("order:2", [chronik.NewEvent("created", {"n": 2})])
    return ledger_path
