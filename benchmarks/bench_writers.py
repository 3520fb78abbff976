"""W threads of one process appending single events at once: chronik (group commit, ADR 0012)
against the `eventsourcing` library's Application on the same database, interleaved.

    python benchmarks/bench_writers.py                 # SQLite, W = 1, 2, 4, 8, 16
    python benchmarks/bench_writers.py --postgres      # PostgreSQL too ($CHRONIK_BENCH_PG_URL)
    python benchmarks/bench_writers.py --seconds 2     # per cell (default 1.5)

Each thread appends to a stream (an aggregate) of its own: one durable single-event call each,
with the expected version (the library checks its aggregate's version the same way). Durability
is read back at run time: SQLite synchronous=FULL on both sides; PostgreSQL synchronous_commit=on.
Figures: events/s (sum over threads), p50/p99 latency per append, and chronik's mean group size.
Rounds are interleaved (chronik, library, chronik, ...) and medians reported.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_sqlite_vs_eventsourcing as sqlite_bench  # noqa: E402  (sets the library to FULL)
import chronik  # noqa: E402
from chronik import Expect, NewEvent  # noqa: E402

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
WRITERS = (1, 2, 4, 8, 16)
DATA = sqlite_bench.DATA  # the same ~500-byte order lines as the SQLite benchmark


class ChronikWriters:
    name = "chronik"

    def __init__(self, url: str) -> None:
        self.ledger = chronik.open_ledger(url)

    def writer(self, index: int) -> Callable[[int], None]:
        stream = f"writer:{uuid.uuid4().hex[:8]}-{index}"
        version = [0]

        def append(n: int) -> None:
            self.ledger.append(stream, [NewEvent("line_added", DATA[n % len(DATA)])],
                               expect=version[0] if version[0] else Expect.NO_STREAM)
            version[0] += 1

        return append

    def grouping(self) -> tuple[int, int]:
        group = getattr(self.ledger.store, "group_commit", None)
        return (group.requests, group.groups) if group is not None else (0, 0)

    def close(self) -> None:
        self.ledger.close()


class LibraryWriters:
    name = "eventsourcing"

    def __init__(self, env: dict[str, str]) -> None:
        self.app = sqlite_bench.OrdersApp(env=env)

    def writer(self, index: int) -> Callable[[int], None]:
        orders = sqlite_bench.Orders()
        self.app.save(orders)  # created: not timed

        def append(n: int) -> None:
            orders.record(DATA[n % len(DATA)])
            self.app.save(orders)

        return append

    def grouping(self) -> tuple[int, int]:
        return (0, 0)

    def close(self) -> None:
        self.app.close()


def run_cell(side, writers: int, seconds: float) -> dict:
    appends = [side.writer(i) for i in range(writers)]
    latencies: list[list[float]] = [[] for _ in range(writers)]
    before = side.grouping()
    start = threading.Barrier(writers + 1)
    stop_at = [0.0]

    def loop(index: int) -> None:
        append, mine = appends[index], latencies[index]
        start.wait()
        n = 0
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            append(n)
            mine.append(time.perf_counter() - began)
            n += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for mine in latencies for x in mine)
    after = side.grouping()
    requests, groups = after[0] - before[0], after[1] - before[1]
    return {"rate": len(every) / elapsed, "p50": every[len(every) // 2] * 1e6,
            "p99": every[min(len(every) - 1, int(len(every) * 0.99))] * 1e6,
            "group": requests / groups if groups else None}


def sqlite_sides(directory: str) -> tuple[Callable, Callable]:
    def chronik_side(name: str) -> ChronikWriters:
        return ChronikWriters("sqlite:///" + os.path.join(directory, f"{name}.db").lstrip("/"))

    def library_side(name: str) -> LibraryWriters:
        return LibraryWriters({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                               "SQLITE_DBNAME": os.path.join(directory, f"{name}-es.db")})

    return chronik_side, library_side


def postgres_sides(url: str, schemas: list[str]) -> tuple[Callable, Callable]:
    """Each side on a fresh schema, listed in `schemas` so the caller drops them."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)

    def chronik_side(name: str) -> ChronikWriters:
        schemas.append(f"bench_{uuid.uuid4().hex[:8]}")
        return ChronikWriters(f"{url}{'&' if '?' in url else '?'}schema={schemas[-1]}")

    def library_side(name: str) -> LibraryWriters:
        import psycopg

        schema = f"es_{uuid.uuid4().hex[:8]}"
        schemas.append(schema)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')  # the library creates tables, not schemas
        return LibraryWriters({"PERSISTENCE_MODULE": "eventsourcing.postgres",
                               "POSTGRES_DBNAME": info.get("dbname", "postgres"),
                               "POSTGRES_HOST": info.get("host", "127.0.0.1"),
                               "POSTGRES_PORT": str(info.get("port", 5432)),
                               "POSTGRES_USER": info.get("user", "postgres"),
                               "POSTGRES_PASSWORD": info.get("password", ""),
                               "POSTGRES_SCHEMA": schema,
                               "CREATE_TABLE": "y"})

    return chronik_side, library_side


def measure(title: str, sides: tuple[Callable, Callable], seconds: float, rounds: int) -> None:
    make_chronik, make_library = sides
    print(f"\n{title}: W threads, one stream each, single-event durable appends, {seconds} s per cell, "
          f"{rounds} interleaved rounds, medians")
    print(f"{'W':>3} {'chronik ev/s':>13} {'library ev/s':>13} {'ratio':>6} {'chronik p50/p99 us':>19} "
          f"{'library p50/p99 us':>19} {'per commit':>10}")
    single_chronik = None
    for writers in WRITERS:
        cells: dict[str, list[dict]] = {"chronik": [], "eventsourcing": []}
        for round_ in range(rounds):
            for make in (make_chronik, make_library):
                side = make(f"w{writers}-r{round_}")
                try:
                    result = run_cell(side, writers, seconds)
                finally:
                    side.close()
                cells[side.name].append(result)
        c = {k: statistics.median(r[k] for r in cells["chronik"]) for k in ("rate", "p50", "p99")}
        lib = {k: statistics.median(r[k] for r in cells["eventsourcing"]) for k in ("rate", "p50", "p99")}
        groups = [r["group"] for r in cells["chronik"] if r["group"]]
        single_chronik = single_chronik or c["rate"]
        print(f"{writers:>3} {c['rate']:>13,.0f} {lib['rate']:>13,.0f} {c['rate'] / lib['rate']:>5.2f}x "
              f"{c['p50']:>9,.0f}/{c['p99']:<9,.0f} {lib['p50']:>9,.0f}/{lib['p99']:<9,.0f} "
              f"{statistics.median(groups) if groups else 0:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--postgres-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as probe:
        cpu = sqlite_bench.machine_info(probe)["cpu"]
    print(f"machine : {cpu}, {os.cpu_count()} cores; {platform.platform()}")
    print(f"software: Python {platform.python_version()}, chronik {chronik.__version__}")
    if not args.postgres_only:
        with tempfile.TemporaryDirectory(prefix="chronik-bench-writers-") as directory:
            measure("SQLite (synchronous=FULL, WAL, both sides)", sqlite_sides(directory), args.seconds,
                    args.rounds)
    if args.postgres or args.postgres_only:
        import psycopg

        url = os.environ.get("CHRONIK_BENCH_PG_URL", DEFAULT_PG_URL)
        schemas: list[str] = []
        try:
            measure("PostgreSQL (synchronous_commit=on, both sides)", postgres_sides(url, schemas),
                    args.seconds, args.rounds)
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
