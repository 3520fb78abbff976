"""Group commit keeps every append's own semantics (ADR 0012), on every store.

Many threads append at once with random expectations (some stale) and some repeated ids; each
append must keep its own expectation check, idempotency, positions and error: every
acknowledged append is present exactly once where its result says, every rejected one is
absent, positions are gap-free, stream versions contiguous, and verify passes. On the stores
with group commit (SQLite, PostgreSQL) the appends must really have shared commits. The random
seed is printed; CHRONIK_GROUP_SEED replays a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections import Counter

import pytest

import chronik
from chronik import ConcurrencyError, Expect, NewEvent

GROUPING_STORES = ("sqlite", "postgres")
STREAMS = [f"acct:{n}" for n in range(8)]


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("CHRONIK_GROUP_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\ngroup commit seed: {value} (rerun with CHRONIK_GROUP_SEED={value})")
    return value


def _writer(ledger: chronik.Ledger, rng: random.Random, appends: int, tag: str,
            acknowledged: dict, rejected: set, lock: threading.Lock, errors: list) -> None:
    sent: list[tuple[str, list[NewEvent], object, object]] = []
    for n in range(appends):
        if sent and rng.random() < 0.1:  # a retry of an earlier call: the same result again
            stream, events, expect, first = rng.choice(sent)
        else:
            stream = rng.choice(STREAMS)
            known = max((info.version for info in ledger.streams() if info.stream == stream), default=0) \
                if rng.random() < 0.05 else None
            expect = rng.choice([Expect.ANY, Expect.ANY, Expect.EXISTS, Expect.NO_STREAM,
                                 known if known is not None else rng.randrange(0, 40)])
            events = [NewEvent("moved", {"n": n, "by": tag}, id=f"{tag}-{n}-{k}")
                      for k in range(rng.choice([1, 1, 2]))]
            first = None
        try:
            result = ledger.append(stream, events, expect)
        except ConcurrencyError:
            if first is not None:
                errors.append(f"a retry of {events[0].id} was rejected, the original was not")
            with lock:
                rejected.update(e.id for e in events)
            continue
        except Exception as exc:  # any other error is a failure of the test
            errors.append(f"{events[0].id}: {type(exc).__name__}: {exc}")
            continue
        if first is not None and result != first:
            errors.append(f"a retry of {events[0].id} returned {result}, the original {first}")
        with lock:
            acknowledged[events[0].id] = (stream, result, [e.id for e in events])
        if first is None:
            sent.append((stream, events, expect, result))


def _check_ledger(ledger: chronik.Ledger, acknowledged: dict, rejected: set) -> None:
    events = list(ledger.read_all())
    assert [e.position for e in events] == list(range(1, len(events) + 1)), "positions are gap-free"
    versions: dict[str, int] = {}
    for event in events:
        assert event.version == versions.get(event.stream, 0) + 1, f"versions of {event.stream} contiguous"
        versions[event.stream] = event.version
    by_id = Counter(e.id for e in events)
    assert all(count == 1 for count in by_id.values()), "no event is recorded twice"
    where = {e.id: e for e in events}
    for stream, result, ids in acknowledged.values():
        placed = [where[i] for i in ids]
        assert [e.position for e in placed] == list(range(result.first_position, result.last_position + 1))
        assert all(e.stream == stream for e in placed) and placed[-1].version == result.version
    assert not (rejected - {i for _, _, ids in acknowledged.values() for i in ids}) & set(by_id)
    assert len(events) == sum(len(ids) for _, _, ids in acknowledged.values())
    assert ledger.verify().ok


def test_concurrent_appends_keep_their_own_semantics(open_ledger, seed):
    ledger = open_ledger()
    kind = open_ledger.kind.name
    threads_n, appends = (16, 500) if kind in GROUPING_STORES else (8, 100)
    acknowledged: dict = {}
    rejected: set = set()
    errors: list[str] = []
    lock = threading.Lock()
    rngs = [random.Random(seed + t) for t in range(threads_n)]
    observed: list[int] = []
    if kind in GROUPING_STORES:
        ledger.store.group_commit.observers.append(observed.append)  # what /metrics observes
    threads = [threading.Thread(target=_writer, args=(ledger, rngs[t], appends, f"t{t}", acknowledged,
                                                      rejected, lock, errors))
               for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert acknowledged and rejected, "the run had both successes and stale expectations"
    _check_ledger(ledger, acknowledged, rejected)
    if kind in GROUPING_STORES:
        group = ledger.store.group_commit
        print(f"{kind}: {group.requests} appends in {group.groups} commits "
              f"({group.requests / group.groups:.2f} per commit)")
        assert group.requests > group.groups, "concurrent appends shared commits"
        assert sum(observed) == group.requests and len(observed) == group.groups


def test_a_thousand_asyncio_tasks_share_commits(open_ledger, seed):
    ledger = open_ledger()
    rng = random.Random(seed)

    async def main() -> list:
        async def one(n: int):
            stream = rng.choice(STREAMS)
            return stream, await ledger.append_async(stream, [NewEvent("moved", {"n": n}, id=f"task-{n}")])

        return await asyncio.gather(*(one(n) for n in range(1_000)))

    results = asyncio.run(main())
    assert sorted(r.first_position for _, r in results) == list(range(1, 1_001))
    acknowledged = {f"task-{n}": (stream, result, [f"task-{n}"]) for n, (stream, result) in enumerate(results)}
    _check_ledger(ledger, acknowledged, set())
    if open_ledger.kind.name in GROUPING_STORES:
        group = ledger.store.group_commit
        assert group.groups < 1_000 / 4, f"1,000 tasks in {group.groups} commits"


def test_a_stale_expectation_fails_alone_in_its_group(open_ledger):
    ledger = open_ledger()
    ledger.append("acct:0", [NewEvent("opened")])
    store = ledger.store
    outcomes: list = [None] * 3
    barrier = threading.Barrier(3)

    def run(index: int, expect) -> None:
        barrier.wait()
        try:
            outcomes[index] = ledger.append("acct:0", [NewEvent("moved", {"i": index})], expect)
        except ConcurrencyError as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, expect))
               for i, expect in enumerate([Expect.ANY, 0, Expect.EXISTS])]  # 0: stale (the stream exists)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(outcomes[1], ConcurrencyError) and "acct:0" in str(outcomes[1])
    assert all(isinstance(outcomes[i], chronik.AppendResult) for i in (0, 2))
    assert [e.data for e in ledger.read_stream("acct:0")][1:] in ([{"i": 0}, {"i": 2}], [{"i": 2}, {"i": 0}])
    assert store.head().position == 3 and ledger.verify().ok
