"""Throughput of PostgreSQL's single ordering lock with 1, 2, 4 and 8 concurrent writer processes.

Every append is one durable single-event commit (synchronous_commit=on) through
`append_events`, which serialises on one transaction-scoped advisory lock. The figure shows how
far one database scales before that lock (and the WAL flush behind it) is the limit; see
docs/scaling.md.

    python benchmarks/bench_postgres_writers.py [--url postgresql://...] [--seconds 5] [--batch 1]

Without --url it uses $CHRONIK_BENCH_PG_URL, else postgresql://postgres@127.0.0.1:5432/postgres.
Each run uses a fresh schema and drops it afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import time
import uuid

import psycopg

import chronik
from chronik import NewEvent
from chronik.stores.postgres import split_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PAYLOAD = {"note": "x" * 440, "n": 0}  # ~500 bytes of canonical JSON per event


def _writer(url: str, index: int, seconds: float, batch: int, start_at: float, out) -> None:
    latencies: list[float] = []
    with chronik.open_ledger(url) as ledger:
        stream = f"writer{index}:bench"
        while time.time() < start_at:
            time.sleep(0.001)
        deadline = time.perf_counter() + seconds
        count = 0
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            ledger.append(stream, [NewEvent("wrote", {**PAYLOAD, "n": count + i}) for i in range(batch)])
            latencies.append(time.perf_counter() - began)
            count += batch
    out.put((count, latencies))


def run(url: str, writers: int, seconds: float, batch: int) -> dict:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    schema_url = f"{url}{'&' if '?' in url else '?'}schema={schema}"
    chronik.open_ledger(schema_url).close()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 0.5
    processes = [ctx.Process(target=_writer, args=(schema_url, i, seconds, batch, start_at, out))
                 for i in range(writers)]
    for process in processes:
        process.start()
    results = [out.get(timeout=seconds + 60) for _ in processes]
    for process in processes:
        process.join()
    with chronik.open_ledger(schema_url) as ledger:
        assert ledger.verify().ok
    with psycopg.connect(split_url(url)[0], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    events = sum(count for count, _ in results)
    latencies = sorted(lat for _, lats in results for lat in lats)
    return {
        "writers": writers,
        "events_per_s": events / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("CHRONIK_BENCH_PG_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=1, help="events per append")
    parser.add_argument("--writers", default="1,2,4,8")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with psycopg.connect(split_url(args.url)[0]) as conn:
        print("server:", conn.execute("SELECT version()").fetchone()[0].split(" on ")[0],
              "| synchronous_commit =", conn.execute("SHOW synchronous_commit").fetchone()[0],
              "| fsync =", conn.execute("SHOW fsync").fetchone()[0])
    print(f"{args.batch} event(s) per append, {args.seconds:.0f} s per run, durable commits\n")
    print(f"{'writers':>7} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for writers in (int(w) for w in args.writers.split(",")):
        row = run(args.url, writers, args.seconds, args.batch)
        print(f"{row['writers']:>7} {row['events_per_s']:>10.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}")


if __name__ == "__main__":
    main()
