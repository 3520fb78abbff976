"""Fixtures of the delivery tests: a ledger on each store kind, and virtual time."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import chronik

sys.path.insert(0, str(Path(__file__).parent))
from delivery_testing import store_url  # noqa: E402

STORE_KINDS = ["memory", "sqlite", "jsonl", "postgres"]


@pytest.fixture(params=STORE_KINDS)
def open_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], chronik.Ledger]]:
    """open_ledger() -> a Ledger; again -> the same store (memory: the same store object)."""
    url = store_url(request.param, tmp_path)
    opened: list[chronik.Ledger] = []

    def factory() -> chronik.Ledger:
        ledger = chronik.Ledger(opened[0].store) if url == "memory:" and opened else chronik.open_ledger(url)
        opened.append(ledger)
        return ledger

    factory.kind = request.param  # type: ignore[attr-defined]
    factory.url = url  # type: ignore[attr-defined]
    yield factory
    for ledger in reversed(opened):
        try:
            ledger.close()
        except chronik.ChronikError:
            pass


@pytest.fixture
def ledger(open_ledger: Callable[[], chronik.Ledger]) -> chronik.Ledger:
    return open_ledger()


class VirtualTime:
    """A clock and a sleep for deliveries: sleeping moves the clock, instantly."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def virtual_time() -> VirtualTime:
    return VirtualTime()
