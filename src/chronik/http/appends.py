"""The one way the HTTP app appends: the seam for group commit.

Every append route goes through `append_many`, which awaits `Ledger.append_many_async`: the
event loop never blocks, and on stores with group commit (SQLite, PostgreSQL; ADR 0012)
appends from concurrent requests share one durable commit; the `chronik_commit_group_appends`
histogram observes each commit's size (on other stores each append is its own commit: 1).
Each request keeps the library's semantics: its own expectation check, idempotency,
positions, result and error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from chronik.errors import ChronikError
from chronik.http.metrics import Metrics
from chronik.ledger import Ledger
from chronik.model import AppendResult, Expectation, NewEvent

Batches = Mapping[str, tuple[Sequence[NewEvent], Expectation]]


class AppendPath:
    def __init__(self, ledger: Ledger, metrics: Metrics) -> None:
        self.ledger = ledger
        self.metrics = metrics
        group = ledger.store.group_commit
        if group is not None:
            group.observers.append(metrics.commit_group_appends.observe)

    @property
    def group_commit(self) -> bool:
        return self.ledger.store.group_commit is not None

    async def append_many(self, batches: Batches) -> dict[str, AppendResult]:
        started = time.perf_counter()
        events = sum(len(events) for events, _ in batches.values())
        try:
            results = await self.ledger.append_many_async(batches)
            if not self.group_commit:
                self.metrics.commit_group_appends.observe(1)  # one request, one commit
        except ChronikError as error:
            self.metrics.record_append(started, events, error)
            raise
        self.metrics.record_append(started, events)
        return results
