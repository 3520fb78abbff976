"""Fixtures for the replay, snapshot and diff tests.

The store parametrisation is the contract suite's (tests/contract/conftest.py): `store_kind`,
`open_ledger`, `ledger` and `clock` run a test once per store, PostgreSQL included. Tests that
only need memory and SQLite (the hypothesis properties) use `fast_store_kind` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import chronik
from contract.conftest import STORE_KINDS, FakeClock, StoreKind, clock, ledger, open_ledger, store_kind  # noqa: F401

FAST_KINDS = [kind for kind in STORE_KINDS if kind.name in ("memory", "sqlite")]


@pytest.fixture(params=FAST_KINDS, ids=[kind.name for kind in FAST_KINDS])
def fast_store_kind(request: pytest.FixtureRequest) -> StoreKind:
    return request.param


@pytest.fixture
def fresh_ledger(fast_store_kind: StoreKind, tmp_path: Path) -> Iterator[Callable[..., chronik.Ledger]]:
    """fresh_ledger(clock) -> a new, empty ledger on memory or SQLite (relaxed durability: the
    properties open hundreds), closed at the end of the test."""
    opened: list[chronik.Ledger] = []
    counter = iter(range(1_000_000))

    def factory(fake_clock: Callable | None = None) -> chronik.Ledger:
        if fast_store_kind.name == "memory":
            url = "memory:"
        else:
            url = "sqlite:///" + str(tmp_path / f"ledger-{next(counter)}.db").lstrip("/") + "?durability=relaxed"
        opened.append(chronik.open_ledger(url, clock=fake_clock))
        return opened[-1]

    factory.kind = fast_store_kind  # type: ignore[attr-defined]
    yield factory
    for each in opened:
        each.close()
