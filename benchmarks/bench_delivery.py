"""Append-to-handler latency of a live subscription, on SQLite and on PostgreSQL.

    python benchmarks/bench_delivery.py [--events 300] [--interval-ms 10] [--pg-url URL]

A separate process appends single-event batches, one every --interval-ms, each carrying the
wall-clock time taken just before its `append` call. This process runs a subscription (caught
up, waiting live) whose handler records the receipt time. Latency = receipt - that time: the
append's own durable commit (fsync / COMMIT) plus change detection plus delivery. Without
--pg-url (or $CHRONIK_BENCH_PG_URL) a throwaway PostgreSQL server is started from the
machine's binaries (tests/support/postgres_server.py).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import chronik
from chronik import NewEvent


def _writer(url: str, events: int, interval_s: float, start_at: float) -> None:
    with chronik.open_ledger(url) as ledger:
        while time.time() < start_at:
            time.sleep(0.001)
        for n in range(events):
            ledger.append(f"bench:{n % 10}", [NewEvent("tick", {"n": n, "sent": time.time()})])
            time.sleep(interval_s)


def measure(url: str, events: int, interval_s: float) -> dict:
    latencies_ms: list[float] = []
    done = threading.Event()

    def handler(event: chronik.Event) -> None:
        latencies_ms.append((time.time() - event.data["sent"]) * 1000)
        if len(latencies_ms) == events:
            done.set()

    with chronik.open_ledger(url) as ledger:
        ledger.append("bench:warmup", [NewEvent("tick", {"n": -1, "sent": time.time()})])
        sub = ledger.subscribe(handler, after=ledger.head().position).start()
        writer = multiprocessing.get_context("spawn").Process(
            target=_writer, args=(url, events, interval_s, time.time() + 1.0))
        writer.start()
        finished = done.wait(60 + events * interval_s * 2)
        writer.join()
        sub.stop()
    assert finished, f"only {len(latencies_ms)} of {events} events arrived"
    latencies_ms.sort()
    return {"p50_ms": statistics.median(latencies_ms),
            "p99_ms": latencies_ms[min(len(latencies_ms) - 1, int(len(latencies_ms) * 0.99))],
            "max_ms": latencies_ms[-1], "events": len(latencies_ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--pg-url", default=os.environ.get("CHRONIK_BENCH_PG_URL"))
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    print(f"{args.events} single-event appends from another process, one every {args.interval_ms:g} ms, "
          f"durable commits\n")
    print(f"{'store':<10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    server = None
    with tempfile.TemporaryDirectory() as directory:
        urls = {"sqlite": "sqlite:///" + str(Path(directory) / "bench.db").lstrip("/")}
        pg_url = args.pg_url
        if pg_url is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
            from support.postgres_server import shared_server, shutdown_shared_server

            server = shutdown_shared_server
            pg_url = shared_server().schema_url("bench")
        urls["postgres"] = pg_url
        try:
            for name, url in urls.items():
                row = measure(url, args.events, args.interval_ms / 1000)
                print(f"{name:<10} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['max_ms']:>8.2f}")
        finally:
            if server is not None:
                server()


if __name__ == "__main__":
    main()
