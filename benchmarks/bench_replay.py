"""Replay benchmarks (issue 4): latency of replaying 1,000 events, memory growth replaying 10,000,
and replay from a snapshot against replay from scratch at 10,000 events.

    .venv/bin/python benchmarks/bench_replay.py [--runs 200] [--pg-url postgresql://...]

Targets: replay of 1,000 events p95 < 100 ms (spec), < 5 ms (aim); memory growth replaying
10,000 events < 50 MB (spec), < 10 MB (aim). Runs on SQLite (a temporary file, durability full),
and on PostgreSQL when --pg-url is given (a fresh schema, dropped at the end).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import chronik
from chronik import NewEvent, Reducer


class Account(Reducer):
    """A typical aggregate: a few counters, a bounded list, a dict per type."""

    name = "bench-account"
    version = 1

    def initial(self):
        return {"balance": 0, "count": 0, "recent": [], "by_type": {}}

    def apply(self, state, event):
        data = event.data
        by_type = dict(state["by_type"])
        by_type[event.type] = by_type.get(event.type, 0) + 1
        delta = data["amount"] if event.type == "deposited" else -data["amount"]
        return {"balance": state["balance"] + delta, "count": state["count"] + 1,
                "recent": [*state["recent"][-9:], data["ref"]], "by_type": by_type}


def fill(ledger: chronik.Ledger, stream: str, n: int) -> None:
    for start in range(0, n, 1000):
        ledger.append(stream, [NewEvent("deposited" if i % 3 else "withdrawn",
                                        {"amount": i % 97, "ref": f"r{i}", "note": "x" * 40})
                               for i in range(start, min(n, start + 1000))])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed_ms(function, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, chronik {chronik.__version__}")


def bench(label: str, ledger: chronik.Ledger, runs: int) -> None:
    reducer = Account()
    fill(ledger, "account:1k", 1_000)
    fill(ledger, "account:10k", 10_000)

    def scratch_1k():
        return ledger.replay("account:1k", reducer, include_snapshots=False)

    scratch_1k()  # warm caches
    samples = timed_ms(scratch_1k, runs)
    print(f"[{label}] replay 1,000 events from scratch ({runs} runs): p50 {statistics.median(samples):.2f} ms, "
          f"p95 {percentile(samples, 0.95):.2f} ms, max {max(samples):.2f} ms "
          f"(spec < 100 ms, aim < 5 ms)")
    events = list(ledger.read_stream("account:1k"))
    read = timed_ms(lambda: list(ledger.read_stream("account:1k")), runs // 2)

    def reducer_only():
        state = reducer.initial()
        for event in events:
            state = reducer.apply(state, event)

    folding = timed_ms(reducer_only, runs // 2)
    print(f"[{label}]   of which, p50: read_stream alone {statistics.median(read):.2f} ms, the reducer "
          f"alone {statistics.median(folding):.2f} ms")

    gc.collect()
    rss_before = rss_mib()
    tracemalloc.start()
    result = ledger.replay("account:10k", reducer, include_snapshots=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gc.collect()
    rss_after = rss_mib()
    assert result.version == 10_000
    print(f"[{label}] replay 10,000 events: memory peak (tracemalloc) {peak / 2**20:.2f} MiB, "
          f"RSS growth {rss_after - rss_before:.2f} MiB (spec < 50 MB, aim < 10 MB)")

    scratch = timed_ms(lambda: ledger.replay("account:10k", reducer, include_snapshots=False), max(5, runs // 20))
    ledger.snapshot("account:10k", reducer)
    at_head = timed_ms(lambda: ledger.replay("account:10k", reducer), max(5, runs // 20))
    ledger.snapshot("account:10k", reducer, to_version=9_000)
    ledger.store.aux_write([chronik.derive.snapshots.AuxChange(
        "snapshot", chronik.derive.snapshots.snapshot_key(reducer.reducer_name, "account:10k", 10_000), None)])
    tail = timed_ms(lambda: ledger.replay("account:10k", reducer), max(5, runs // 20))
    print(f"[{label}] 10,000 events, median: from scratch {statistics.median(scratch):.2f} ms; "
          f"from a snapshot at the head {statistics.median(at_head):.2f} ms; "
          f"from a snapshot at 9,000 + 1,000 events {statistics.median(tail):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--pg-url", help="also run on this PostgreSQL server (a fresh schema is used)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as directory, \
            chronik.open_ledger("sqlite:///" + str(Path(directory) / "bench.db").lstrip("/")) as ledger:
        bench("sqlite", ledger, args.runs)
    if args.pg_url:
        import psycopg

        schema = f"bench_replay_{uuid.uuid4().hex[:8]}"
        sep = "&" if "?" in args.pg_url else "?"
        try:
            with chronik.open_ledger(f"{args.pg_url}{sep}schema={schema}") as ledger:
                bench("postgres", ledger, args.runs)
        finally:
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
