"""Small things the lifecycle tests share (imported as `lifecycle_testing`; tests/lifecycle is on
sys.path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import chronik
from chronik import NewEvent

STORE_KINDS = ("memory", "sqlite", "jsonl", "postgres")


class StepClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 1, 15, 9, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def fill(ledger: chronik.Ledger, commits: int = 12) -> None:
    """A small ledger: several streams and categories, multi-event and multi-stream commits, data
    with non-ASCII, escapes and nesting, and meta."""
    writer = chronik.Ledger(ledger.store, clock=StepClock())
    for i in range(commits):
        writer.append(f"order:{i % 3}", [NewEvent("created" if i < 3 else "item_added",
                                                  {"n": i, "note": "café \\ \"q\"\t", "nested": {"b": [1, 2.5]}},
                                                  {"actor": "ada"} if i % 2 else {})])
        if i % 4 == 0:
            writer.append_many({f"extension:ext-{i}": ([NewEvent("install_started", {"v": i}),
                                                         NewEvent("install_failed", {"error": "x"})],
                                                        chronik.Expect.ANY),
                                "order:0": ([NewEvent("noted", {"i": i})], chronik.Expect.ANY)})
