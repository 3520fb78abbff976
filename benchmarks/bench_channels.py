"""The channels pack against the plan's targets, each beside a peer measured in the same run.

    python benchmarks/bench_channels.py [--events 10000] [--batch 100] [--runs 30] [--quick]

1. Append throughput on SQLite (synchronous=FULL), the plan's 10,000 appends in batches of
   --batch: EventLog.append_many, i.e. schema validation + keccak256 + state checks + commit +
   the offset index (aim >= 20,000 events/s). Peer: the same payloads appended by the bare
   chronik Ledger.append_many (no validation, no content ids, no index).
2. Reconstruction of one channel from 1,000 events, p95 over --runs (plan < 100 ms, aim < 5 ms):
   without a snapshot, from a snapshot, and from the reconstructor's cache. Peer: the plan's
   reconstructor, which read the whole log and filtered it for the channel (here: a 10,000-event
   log read through EventLog.read_from(0), filtered by channel_id, then folded).
3. Memory growth (tracemalloc) for 10,000 events (plan < 50 MB, aim < 10 MB): appending them
   through EventLog, and reconstructing a 10,000-event channel with and without a snapshot.
   Peer: the plan's phase-1 store, an in-memory list holding the 10,000 events.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "channels"))

from channel_events import CHANNEL, created_channel, event, hexid  # noqa: E402

from chronik.domains.channels.eventlog import EventLog  # noqa: E402
from chronik.domains.channels.events import event_from_json, stream_of  # noqa: E402
from chronik.domains.channels.reconstruct import Reconstructor  # noqa: E402
from chronik.domains.channels.reducer import CHANNEL as CHANNEL_REDUCER  # noqa: E402
from chronik.domains.channels.reducer import apply_channel, channel_initial  # noqa: E402
from chronik.ledger import open_ledger  # noqa: E402
from chronik.model import NewEvent  # noqa: E402


def mixed_events(count: int, channels: int = 20) -> list[dict[str, Any]]:
    """Distinct events over `channels` channels: signed and received states, deposits, messages."""
    ids = [hexid(f"bench channel {c}") for c in range(channels)]
    out = [created_channel(c, channel=ids[c]) for c in range(channels)]
    n = 0
    while len(out) < count:
        channel = ids[n % channels]
        kind = n % 4
        if kind == 0:
            out.append(event("state-signed", n, channel=channel))
        elif kind == 1:
            out.append(event("state-received", n, channel=channel))
        elif kind == 2:
            out.append(event("deposit-detected", n, channel=channel, block_num=1_000 + n))
        else:
            out.append(event("message-sent", n, peer_id=f"peer-{n % 50}"))
        n += 1
    return out[:count]


def channel_events(count: int) -> list[dict[str, Any]]:
    """One channel's life: each turn signed, received and supported; a deposit every 10 turns."""
    out = [created_channel()]
    turn = 0
    while len(out) < count:
        turn += 1
        out += [event("state-signed", turn), event("state-received", turn), event("state-supported-updated", turn)]
        if turn % 10 == 0:
            out.append(event("deposit-detected", turn, block_num=1_000 + turn))
    return out[:count]


def per_second(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} events/s"


def p95_ms(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] * 1000 if len(samples) >= 2 else samples[0] * 1000


def time_pack_append(path: Path, events: list[dict[str, Any]], batch: int) -> float:
    with open_ledger(f"sqlite:///{path}") as ledger:
        log = EventLog(ledger)
        started = time.perf_counter()
        for start in range(0, len(events), batch):
            log.append_many(events[start:start + batch])
        elapsed = time.perf_counter() - started
        assert len(log) == len(events)
    return elapsed


def time_bare_append(path: Path, events: list[dict[str, Any]], batch: int) -> float:
    streams = [stream_of(event_from_json(item)) for item in events]
    with open_ledger(f"sqlite:///{path}") as ledger:
        started = time.perf_counter()
        for start in range(0, len(events), batch):
            batches: dict[str, list[NewEvent]] = {}
            for item, stream in zip(events[start:start + batch], streams[start:start + batch], strict=True):
                batches.setdefault(stream, []).append(NewEvent(item["event_name"], item["payload"]))
            ledger.append_many({stream: (new, _any()) for stream, new in batches.items()})
        return time.perf_counter() - started


def bench_append(folder: Path, events: list[dict[str, Any]], batch: int, rounds: int) -> None:
    print(f"1. append {len(events):,} events in batches of {batch} on SQLite (synchronous=FULL), "
          f"median of {rounds} alternating rounds")
    pack, bare = [], []
    for round_number in range(rounds):
        pack.append(time_pack_append(folder / f"pack{round_number}.db", events, batch))
        bare.append(time_bare_append(folder / f"bare{round_number}.db", events, batch))
    pack_s, bare_s = statistics.median(pack), statistics.median(bare)
    print(f"   channels EventLog: {per_second(len(events), pack_s)} (aim >= 20,000)")
    print(f"   bare chronik Ledger.append_many, same payloads and streams: {per_second(len(events), bare_s)}")
    print(f"   ratio EventLog / bare ledger throughput: {bare_s / pack_s:.2f} "
          f"(validation, keccak, state checks and offsets: {(pack_s - bare_s) / len(events) * 1e6:+.1f} us/event)")


def _any() -> Any:
    from chronik.model import Expect

    return Expect.ANY


def bench_reconstruct(folder: Path, runs: int) -> None:
    print("2. reconstruct one channel from 1,000 events, p95 over", runs, "runs (plan < 100 ms; aim < 5 ms)")
    with open_ledger(f"sqlite:///{folder / 'reconstruct.db'}") as ledger:
        log = EventLog(ledger)
        log.append_many(channel_events(1_000))
        log.append_many(mixed_events(9_000, channels=20))  # the rest of a 10,000-event log
        stream = f"channel:{CHANNEL}"
        cold, warm, cached, plan = [], [], [], []
        for _ in range(runs):
            started = time.perf_counter()
            result = ledger.replay(stream, CHANNEL_REDUCER, include_snapshots=False)
            cold.append(time.perf_counter() - started)
        assert result.events_applied == 1_000
        ledger.snapshot(stream, CHANNEL_REDUCER)
        for _ in range(runs):
            started = time.perf_counter()
            found = Reconstructor(ledger).channel(CHANNEL)
            warm.append(time.perf_counter() - started)
        assert found.from_snapshot == 1_000 and found.state == result.state
        reconstructor = Reconstructor(ledger)
        reconstructor.channel(CHANNEL)
        for _ in range(runs):
            started = time.perf_counter()
            reconstructor.channel(CHANNEL)
            cached.append(time.perf_counter() - started)
        for _ in range(max(3, runs // 5)):
            started = time.perf_counter()
            state, version = channel_initial(), 0
            for item in log.read_from(0):  # the plan: read everything, keep the channel's events
                if item.payload.get("channel_id", "").lower() == CHANNEL:
                    version += 1
                    state = apply_channel(state, item.event_name, item.payload, version)
            plan.append(time.perf_counter() - started)
        assert state == result.state
    print(f"   from its stream, no snapshot:   p95 {p95_ms(cold):7.2f} ms")
    print(f"   from a snapshot at 1,000:       p95 {p95_ms(warm):7.2f} ms")
    print(f"   from the cache (no new events): p95 {p95_ms(cached):7.3f} ms")
    print(f"   peer, the plan's filter of the whole 10,000-event log: p95 {p95_ms(plan):7.2f} ms "
          f"({p95_ms(plan) / p95_ms(cold):.0f}x the stream read)")


def traced_mb(action: Any) -> tuple[float, float]:
    """(growth kept, peak growth) in MB while `action()` runs; its result is kept alive."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = action()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return (current - before) / 1e6, (peak - before) / 1e6


def bench_memory(folder: Path, count: int, batch: int) -> None:
    print(f"3. memory growth for {count:,} events (plan < 50 MB; aim < 10 MB)")
    events = mixed_events(count)

    def append_all() -> Any:
        ledger = open_ledger(f"sqlite:///{folder / 'memory.db'}")
        log = EventLog(ledger)
        for start in range(0, count, batch):
            log.append_many(events[start:start + batch])
        return log

    kept, peak = traced_mb(append_all)
    print(f"   appending through EventLog (SQLite): kept {kept:6.2f} MB, peak {peak:6.2f} MB")
    with open_ledger(f"sqlite:///{folder / 'long.db'}") as ledger:
        EventLog(ledger).append_many(channel_events(count)[:5_000])
        EventLog(ledger).append_many(channel_events(count)[5_000:])
        stream = f"channel:{CHANNEL}"
        kept, peak = traced_mb(lambda: ledger.replay(stream, CHANNEL_REDUCER, include_snapshots=False))
        print(f"   reconstructing a {count:,}-event channel, no snapshot: kept {kept:6.2f} MB, peak {peak:6.2f} MB")
        ledger.snapshot(stream, CHANNEL_REDUCER)
        kept, peak = traced_mb(lambda: ledger.replay(stream, CHANNEL_REDUCER))
        print(f"   the same from a snapshot:                   kept {kept:6.2f} MB, peak {peak:6.2f} MB")
    kept, peak = traced_mb(lambda: [dict(item, payload=dict(item["payload"])) for item in events])
    print(f"   peer, the plan's in-memory list of {count:,} events: kept {kept:6.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="alternating append rounds (median)")
    parser.add_argument("--quick", action="store_true", help="2,000 events and 10 runs")
    args = parser.parse_args()
    if args.quick:
        args.events, args.runs, args.rounds = 2_000, 10, 1
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs (others' work shows here)")
    with tempfile.TemporaryDirectory(prefix="chronik-bench-channels-") as folder:
        bench_append(Path(folder), mixed_events(args.events), args.batch, args.rounds)
        bench_reconstruct(Path(folder), args.runs)
        bench_memory(Path(folder), args.events, args.batch)


if __name__ == "__main__":
    main()
