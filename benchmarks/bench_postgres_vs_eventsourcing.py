"""chronik on PostgreSQL against the `eventsourcing` library (9.5.x) on the same PostgreSQL server.

    python benchmarks/bench_postgres_vs_eventsourcing.py            # full run (a few minutes)
    python benchmarks/bench_postgres_vs_eventsourcing.py --quick    # smaller sizes, about a minute

Built exactly like benchmarks/bench_sqlite_vs_eventsourcing.py (whose workload, aggregate, fold and
measuring helpers it imports, so both measure the same thing): three contenders in one process, each
figure on a fresh schema of one database, open side by side and taking turns operation by operation
in a rotating order, each figure the median over rounds.

- chronik:            chronik.open_ledger("postgresql://...?schema=...") (every append one round
                      trip to the append_events function, one durable COMMIT).
- eventsourcing app:  an Application and an Aggregate with @event methods,
                      PERSISTENCE_MODULE=eventsourcing.postgres, POSTGRES_SCHEMA=a fresh schema.
- eventsourcing rec:  its PostgresApplicationRecorder directly (insert_events / select_events /
                      select_notifications) with its own JSON transcoder.

Same durability: both sides run at synchronous_commit=on (read back from a connection of each and
printed; the run stops if either differs), fsync=on. Plus a chronik-only figure: COPY import
(Store.import_events) of 100,000 events into a fresh schema.

Without --url it uses $CHRONIK_BENCH_PG_URL, else postgresql://postgres@127.0.0.1:5432/postgres.
Every schema is dropped after use. docs/performance.md records a full run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg

import chronik
from chronik import NewEvent
from chronik.stores.postgres import split_url

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_sqlite_vs_eventsourcing as common  # noqa: E402  (the shared workload and helpers)
from bench_sqlite_vs_eventsourcing import (  # noqa: E402
    DATA,
    EVENT_DATA_BYTES,
    ROWS,
    ChronikSide,
    LibraryAppSide,
    LibraryRecorderSide,
    Orders,
    OrdersApp,
    Sizes,
    fmt,
    machine_info,
    ratio,
)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
URL = DEFAULT_URL
TARGETS = {"single_rate": (4.0, "ge"), "batch_rate": (3.0, "ge"), "replay_rate": (6.0, "ge"),
           "read_rate": (3.5, "ge")}
COPY_TARGET_EVENTS_PER_S = 100_000
SETTINGS = ("synchronous_commit", "fsync", "wal_sync_method", "full_page_writes", "commit_delay",
            "shared_buffers", "wal_level", "jit")


def admin() -> psycopg.Connection:
    return psycopg.connect(split_url(URL)[0], autocommit=True)


def library_env(schema: str) -> dict[str, str]:
    parts = urlsplit(split_url(URL)[0])
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1", "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""), "POSTGRES_SCHEMA": schema}


# ---------------------------------------------------------------- contenders (PostgreSQL openings)
# The SQLite contenders' methods (append, fill_stream, replay, fill_log, read_log) are backend-neutral:
# only how each side opens its storage and reads its durability differ.


class ChronikPG(ChronikSide):
    def __init__(self, schema: str) -> None:
        self.ledger = chronik.open_ledger(f"{URL}{'&' if '?' in URL else '?'}schema={schema}")

    def durability(self) -> str:
        with self.ledger.store._pool.connection() as conn:  # the store's own pool: its settings
            return conn.execute("SHOW synchronous_commit").fetchone()[0]


class LibraryAppPG(LibraryAppSide):
    def __init__(self, schema: str) -> None:
        with admin() as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')  # the library creates tables, not schemas
        self.app = OrdersApp(env=library_env(schema))

    def durability(self) -> str:
        with self.app.recorder.datastore.get_connection() as conn:
            return conn.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"]

    def fill_stream(self, count: int) -> uuid.UUID:
        """As on SQLite, but saved every 1,000 events (as chronik fills its stream): one
        10,000-event save sends a ~6 MB parameter through the library's pipeline, which hung
        (client and server both waiting to read) in one of our runs. Filling is not timed."""
        orders = Orders()
        for i in range(count - 1):
            orders.record(DATA[i % 1000])
            if (i + 2) % 1_000 == 0:
                self.app.save(orders)
        self.app.save(orders)
        return orders.id


class LibraryRecorderPG(LibraryRecorderSide):
    def __init__(self, schema: str) -> None:
        LibraryAppPG.__init__(self, schema)
        self.recorder = self.app.recorder
        self.transcoder = self.app.mapper.transcoder
        self.topic = "bench:line_added"


for _side, _base in ((ChronikPG, ChronikSide), (LibraryAppPG, LibraryAppSide),
                     (LibraryRecorderPG, LibraryRecorderSide)):
    _side.name = _base.name
SIDES = [ChronikPG, LibraryAppPG, LibraryRecorderPG]


class PostgresFloor:
    """Reference, not a contender: the least a durable PostgreSQL append can be here: one prepared
    INSERT of the same 500 bytes into a one-table schema (bigint primary key), autocommit, so one
    round trip and one WAL flush."""

    name = "floor: minimal PostgreSQL commit"

    def __init__(self, schema: str) -> None:
        self.conn = admin()
        self.conn.execute(f'CREATE SCHEMA "{schema}"')
        self.conn.execute(f'CREATE TABLE "{schema}".events (position bigint PRIMARY KEY, data text NOT NULL)')
        self.sql = f'INSERT INTO "{schema}".events (position, data) VALUES (%s, %s)'
        self.texts = [json.dumps(data, separators=(",", ":"), sort_keys=True) for data in DATA]
        self.position = 0

    def start_appends(self) -> None:
        pass

    def append(self, first: int, count: int) -> None:
        self.position += 1
        self.conn.execute(self.sql, (self.position, self.texts[first % 1000]), prepare=True)

    def close(self) -> None:
        self.conn.close()


class PostgresLockedFloor(PostgresFloor):
    """The floor of issue 11's PostgreSQL single-append target: the same one-row INSERT holding a
    transaction-scoped advisory lock until COMMIT, as chronik's ordering lock is held: one
    statement (the lock taken in a CTE), autocommit, one round trip, one WAL flush."""

    name = "floor: INSERT + COMMIT holding a lock"

    def __init__(self, schema: str) -> None:
        super().__init__(schema)
        self.sql = (f'WITH locked AS (SELECT pg_advisory_xact_lock(4242)) INSERT INTO "{schema}".events '
                    f'(position, data) SELECT %s, %s FROM locked')


FLOORS = [PostgresFloor, PostgresLockedFloor]


class Workspace:
    """A fresh schema for every (round, figure, contender), dropped as soon as it is used."""

    def __init__(self) -> None:
        self.prefix = f"bench_{uuid.uuid4().hex[:6]}"
        self.serial = 0

    def open(self, side_class: type) -> Any:
        self.serial += 1
        schema = f"{self.prefix}_{self.serial:04d}"
        side = side_class(schema)
        side.schema = schema
        return side

    def discard(self, side: Any) -> None:
        side.close()
        with admin() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{side.schema}" CASCADE')

    def cleanup(self) -> None:
        with admin() as conn:
            for (schema,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                          (self.prefix + "%",)).fetchall():
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ---------------------------------------------------------------- measuring


FULL = Sizes(rounds=5, single_appends=1_000, batches=30, batch_size=100, replay_events=10_000,
             replay_repeats=3, log_streams=100, log_per_stream=1_000)
QUICK = Sizes(rounds=3, single_appends=300, batches=10, batch_size=100, replay_events=10_000,
              replay_repeats=1, log_streams=30, log_per_stream=1_000)
COPY_EVENTS, COPY_CHUNK = 100_000, 10_000


def copy_source(count: int) -> list[chronik.Event]:
    """`count` recorded events (the benchmark's 500-byte order lines in 1,000-event streams), made
    once in memory so only the COPY is timed."""
    ledger = chronik.open_ledger("memory:")
    for start in range(0, count, 1_000):
        ledger.append(f"order:copy-{start // 1_000}",
                      [NewEvent("line_added", DATA[i % 1000]) for i in range(min(1_000, count - start))])
    return list(ledger.read_all())


def timed_copy_import(space: Workspace, events: list[chronik.Event], text_index: bool) -> float:
    side = space.open(ChronikPG)
    try:
        store = side.ledger.store
        store.set_text_index(text_index)  # off: the bulk-import workflow of ADR 0018
        gc.collect()
        started = time.perf_counter()
        for start in range(0, len(events), COPY_CHUNK):
            store.import_events(events[start:start + COPY_CHUNK])
        return len(events) / (time.perf_counter() - started)
    finally:
        space.discard(side)


def run_round(round_no: int, sizes: Sizes, space: Workspace, results: dict, expected: dict,
              copy_events: list[chronik.Event]) -> None:
    """The SQLite benchmark's round (same order, same rotation), on fresh schemas."""
    common.SIDES, common.FLOORS = SIDES, FLOORS   # its run_round reads these module globals
    common.run_round(round_no, sizes, space, results, expected)
    results["chronik"]["copy_rate"].append(timed_copy_import(space, copy_events, text_index=True))
    results["chronik"]["copy_rate_index_off"].append(timed_copy_import(space, copy_events, text_index=False))


# ---------------------------------------------------------------- reporting


def verdict(key: str, value: float) -> str:
    if key not in TARGETS:
        return ""
    target, _ = TARGETS[key]
    return f"{'met' if value >= target else 'MISSED'} (>={target:g})"


def server_info() -> dict[str, str]:
    with admin() as conn:
        info = {"version": conn.execute("SELECT version()").fetchone()[0]}
        for name in SETTINGS:
            info[name] = conn.execute(f"SHOW {name}").fetchone()[0]
    return info


def summarise(results: dict) -> dict[str, dict[str, float]]:
    summary = common.summarise(results)
    for key in ("copy_rate", "copy_rate_index_off"):
        summary["chronik"][key] = common.statistics.median(results["chronik"][key])
    return summary


def print_report(info: dict, server: dict, sizes: Sizes, summary: dict, durability: dict, quick: bool) -> None:
    print()
    print("chronik vs eventsourcing on PostgreSQL" + (" (--quick: smaller sizes)" if quick else ""))
    print(f"machine : {info['cpu']}, {info['cores']} cores; {info['platform']}")
    print(f"software: Python {info['python']}, eventsourcing {info['eventsourcing']}, chronik "
          f"{info['chronik']}, psycopg {psycopg.__version__} ({psycopg.pq.__impl__})")
    print(f"server  : {server['version'].split(' on ')[0]} at {split_url(URL)[0].split('@')[-1]} (same machine)")
    print("settings: " + ", ".join(f"{k}={server[k]}" for k in SETTINGS))
    for name, sync in durability.items():
        print(f"durable : {name}: synchronous_commit={sync} (read back on its own connection)")
    print(f"workload: {sizes.rounds} interleaved rounds; events of {EVENT_DATA_BYTES} bytes of JSON data; "
          f"{sizes.single_appends} single appends, {sizes.batches} x {sizes.batch_size}-event batches, "
          f"a {sizes.replay_events:,}-event stream (replayed {sizes.replay_repeats}x per round), "
          f"{sizes.log_streams * sizes.log_per_stream:,} events read per round; COPY import of "
          f"{COPY_EVENTS:,} events in {COPY_CHUNK:,}-event calls")
    print("figures : medians over rounds; latency percentiles over every append of every round; "
          "memory = tracemalloc peak growth")
    print()
    chron, app, rec = (summary[s.name] for s in SIDES)
    header = (f"{'figure':30s} {'unit':>8s} {'chronik':>11s} {'es app':>11s} {'ratio':>7s} "
              f"{'target':>16s} {'es recorder':>12s} {'ratio':>7s}")
    print(header)
    print("-" * len(header))
    for key, label, unit, _ in ROWS:
        r_app, r_rec = ratio(key, chron[key], app[key]), ratio(key, chron[key], rec[key])
        print(f"{label:30s} {unit:>8s} {fmt(key, chron[key]):>11s} {fmt(key, app[key]):>11s} "
              f"{r_app:>6.2f}x {verdict(key, r_app):>16s} {fmt(key, rec[key]):>12s} {r_rec:>6.2f}x")
    for key, label in (("copy_rate", "COPY import, text index on"),
                       ("copy_rate_index_off", "COPY import, text index off")):
        copy_rate = chron[key]
        met = "met" if copy_rate >= COPY_TARGET_EVENTS_PER_S else "MISSED"
        print(f"{label:30s} {'events/s':>8s} {copy_rate:>11,.0f} {'':>11s} {'':>7s} "
              f"{met + ' (>=100k/s)':>16s}")
    print()
    floor = summary[FLOORS[0].name]
    print("floor, measured in the same interleaved loop as the single appends:")
    for floor_class in FLOORS:
        measured = summary[floor_class.name]
        print(f"  {floor_class.name:38s} {measured['single_rate']:>8,.0f} /s   p50 {measured['single_p50_us']:>7,.0f} us"
              f"   p99 {measured['single_p99_us']:>8,.0f} us")
    locked = summary[PostgresLockedFloor.name]
    above = chron["single_p50_us"] / locked["single_p50_us"] - 1
    print(f"  => chronik's single append p50 is {above:+.0%} against the locked floor "
          f"({'met' if above <= 0.20 else 'MISSED'}: <= +20%)")
    print(f"  => an append costing exactly one minimal PostgreSQL commit would be "
          f"{floor['single_rate'] / app['single_rate']:.2f}x the library's single-append rate")
    print()
    print("ratio = chronik / library for rates, library / chronik for latencies (higher is better "
          "for chronik), chronik / library for memory (lower is better). Targets apply to the "
          "recommended library path (Application + Aggregate).")


def main(argv: list[str] | None = None) -> int:
    global URL
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("CHRONIK_BENCH_PG_URL", DEFAULT_URL))
    parser.add_argument("--quick", action="store_true", help="smaller sizes and 3 rounds")
    parser.add_argument("--rounds", type=int, help="override the number of interleaved rounds")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    args = parser.parse_args(argv)
    URL = args.url
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(**{**sizes.__dict__, "rounds": args.rounds})

    space = Workspace()
    started = time.perf_counter()
    try:
        info = machine_info(os.environ.get("TMPDIR", "/tmp"))
        server = server_info()
        durability = {}
        for side_class in SIDES[:2]:
            side = space.open(side_class)
            durability[side.name] = side.durability()
            space.discard(side)
        if any(sync != "on" for sync in durability.values()) or server["fsync"] != "on":
            print(f"durability differs: {durability}, fsync={server['fsync']}", file=sys.stderr)
            return 1
        copy_events = copy_source(COPY_EVENTS)
        results = {side.name: {k: [] for k in ("single_rate", "single_latencies", "batch_rate", "replay_rate",
                                                "read_rate", "replay_peak", "copy_rate", "copy_rate_index_off")}
                   for side in [*SIDES, *FLOORS]}
        expected: dict = {}
        for round_no in range(sizes.rounds):
            round_started = time.perf_counter()
            run_round(round_no, sizes, space, results, expected, copy_events)
            print(f"round {round_no + 1}/{sizes.rounds} done in {time.perf_counter() - round_started:.1f} s",
                  file=sys.stderr, flush=True)
        counts = expected["read_count"]
        if len(set(counts.values())) != 1:
            print(f"the contenders read different data: {counts}", file=sys.stderr)
            return 1
        summary = summarise(results)
        print_report(info, server, sizes, summary, durability, args.quick)
        print(f"\ntotal time {time.perf_counter() - started:.0f} s")
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": info, "server": server, "sizes": sizes.__dict__,
                                                   "quick": args.quick, "summary": summary,
                                                   "durability": durability,
                                                   "replay_state": expected["replay_state"]}, indent=2))
    finally:
        space.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
