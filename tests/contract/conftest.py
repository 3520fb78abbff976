"""The store parametrisation of the contract suite: every test in tests/contract/ runs once per
store kind below. A new store (PostgreSQL) is one more line in STORE_KINDS.

Fixtures:
  store_kind   the StoreKind under test
  open_ledger  open_ledger(clock=None, limits=None) -> Ledger on the store under test; calling it
               again reopens the same store (file-backed kinds) so tests can check persistence
  ledger       a ledger opened with the system clock and default limits
  clock        a FakeClock (set, advance, freeze, jump backwards)
  store_state  store_state(ledger) -> a value that changes whenever anything is written
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import chronik
from chronik.limits import DEFAULT_LIMITS, Limits


@dataclass(frozen=True)
class StoreKind:
    name: str
    # URL of a fresh store inside the given (empty, per-test) directory.
    make_url: Callable[[Path], str]
    # True when reopening the URL finds what was written before (a file or a server).
    persistent: bool


def _sqlite_url(directory: Path) -> str:
    return "sqlite:///" + str(directory / "ledger.db").lstrip("/")


def _jsonl_url(directory: Path) -> str:
    return "jsonl:///" + str(directory / "ledger.jsonl").lstrip("/")


def _postgres_url(_directory: Path) -> str:
    from support.postgres_server import shared_server

    return shared_server().schema_url("contract")


STORE_KINDS = [
    StoreKind("memory", lambda _directory: "memory:", persistent=False),
    StoreKind("sqlite", _sqlite_url, persistent=True),
    StoreKind("jsonl", _jsonl_url, persistent=True),
    StoreKind("postgres", _postgres_url, persistent=True),
]


@pytest.fixture(params=STORE_KINDS, ids=[kind.name for kind in STORE_KINDS])
def store_kind(request: pytest.FixtureRequest) -> StoreKind:
    return request.param


class FakeClock:
    """A clock the test drives: it returns `now` and then moves it by `step` (0 = frozen)."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start or datetime(2026, 11, 22, 1, 15, 9, 123456, tzinfo=UTC)
        self.step = step
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        current = self.now
        self.now = self.now + self.step
        return current

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, delta: timedelta) -> None:
        self.now = self.now + delta

    def freeze(self) -> None:
        self.step = timedelta(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_ledger(store_kind: StoreKind, tmp_path: Path) -> Iterator[Callable[..., chronik.Ledger]]:
    url = store_kind.make_url(tmp_path)
    opened: list[chronik.Ledger] = []
    memory_ledger: list[chronik.Ledger] = []

    def factory(clock: Callable[[], datetime] | None = None, limits: Limits | None = None) -> chronik.Ledger:
        limits = limits or DEFAULT_LIMITS
        if not store_kind.persistent:
            # A memory store lives in its ledger: "reopening" shares the same store object.
            if memory_ledger:
                ledger = chronik.Ledger(memory_ledger[0].store, clock=clock, limits=limits)
            else:
                ledger = chronik.open_ledger(url, clock=clock, limits=limits)
                memory_ledger.append(ledger)
        else:
            ledger = chronik.open_ledger(url, clock=clock, limits=limits)
        opened.append(ledger)
        return ledger

    factory.url = url  # type: ignore[attr-defined]
    factory.kind = store_kind  # type: ignore[attr-defined]
    yield factory
    for ledger in reversed(opened):
        try:
            ledger.close()
        except chronik.ChronikError:
            pass


@pytest.fixture
def ledger(open_ledger: Callable[..., chronik.Ledger]) -> chronik.Ledger:
    return open_ledger()


@pytest.fixture
def store_state(store_kind: StoreKind, tmp_path: Path) -> Callable[[chronik.Ledger], tuple]:
    """state(ledger) -> everything observable about the store; equal before and after a call
    means the call wrote nothing (for JSONL also the file's bytes)."""

    def state(ledger: chronik.Ledger) -> tuple:
        events = [event.to_dict() for event in ledger.read_all()]
        raw = None
        if store_kind.name == "jsonl":
            raw = (tmp_path / "ledger.jsonl").read_bytes()
        return events, ledger.head(), ledger.streams(), raw

    return state
