"""The one way the HTTP app appends: the seam for group commit.

Every append route goes through `append_many`. When the ledger offers an asyncio entry point
(`Ledger.append_many_async`, group commit: appends from concurrent requests share one durable
commit), it is used, so the event loop never blocks and concurrent requests are committed
together. Otherwise the blocking `Ledger.append_many` runs in a worker thread; each request is
then its own commit, which the `chronik_commit_group_appends` histogram shows as groups of one.
Either way the request's semantics are the library's: its own expectation check, idempotency,
positions, result and error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from chronik.errors import ChronikError
from chronik.http.metrics import Metrics
from chronik.ledger import Ledger
from chronik.model import AppendResult, Expectation, NewEvent

Batches = Mapping[str, tuple[Sequence[NewEvent], Expectation]]


class AppendPath:
    def __init__(self, ledger: Ledger, metrics: Metrics) -> None:
        self.ledger = ledger
        self.metrics = metrics
        # Group commit, where the ledger has it (issue 11); looked up once.
        self._append_async: Any = getattr(ledger, "append_many_async", None)

    @property
    def group_commit(self) -> bool:
        return self._append_async is not None

    async def append_many(self, batches: Batches) -> dict[str, AppendResult]:
        started = time.perf_counter()
        events = sum(len(events) for events, _ in batches.values())
        try:
            if self._append_async is not None:
                results: dict[str, AppendResult] = await self._append_async(batches)
            else:
                results = await run_in_threadpool(self.ledger.append_many, batches)
                self.metrics.commit_group_appends.observe(1)  # one request, one commit
        except ChronikError as error:
            self.metrics.record_append(started, events, error)
            raise
        self.metrics.record_append(started, events)
        return results
