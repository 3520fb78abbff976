"""chronik on SQLite against the `eventsourcing` library (9.5.x) on SQLite, interleaved.

    python benchmarks/bench_sqlite_vs_eventsourcing.py            # full run (a few minutes)
    python benchmarks/bench_sqlite_vs_eventsourcing.py --quick    # smaller sizes, under a minute

Three contenders in one process, each figure on fresh temporary files, open side by side and
taking turns operation by operation (A/B/C, B/C/A, C/A/B, ...) so the shared disk's slow moments
fall on all of them alike; each figure is the median over rounds:

- chronik:            chronik.open_ledger("sqlite:///...") with the default durability=full
                      (WAL, synchronous=FULL, every append one BEGIN IMMEDIATE ... COMMIT).
- eventsourcing app:  the library as its documentation recommends: an Application and an
                      Aggregate with @event methods, PERSISTENCE_MODULE=eventsourcing.sqlite on
                      a file database (WAL; synchronous=FULL is SQLite's default and is set
                      explicitly on every library connection here, then verified).
- eventsourcing rec:  the library's lower-level path: its SQLiteApplicationRecorder directly
                      (insert_events / select_events / select_notifications) with the library's
                      own JSON transcoder, no aggregates or domain-event objects.

docs/performance.md explains the method and records the figures of a full run.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import eventsourcing.sqlite as es_sqlite
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent

import chronik
from chronik import Expect, NewEvent

EVENT_DATA_BYTES = 500          # canonical JSON size of every event's data
READ_PAGE_SIZE = 1_000          # chronik's page size; the library's log section size is set to match

# ---------------------------------------------------------------- the workload, shared by all


def make_filler() -> str:
    probe = json.dumps(event_data(0, ""), separators=(",", ":"), sort_keys=True)
    return "x" * (EVENT_DATA_BYTES - len(probe.encode()))


def event_data(i: int, filler: str) -> dict[str, Any]:
    """A realistic order-line event; every field is fixed-width, so every event is the same size."""
    return {
        "order_id": f"order-{i:08d}",
        "sku": f"SKU-{i % 97:05d}",
        "qty": i % 7 + 1,
        "price_cents": 1000 + i % 9000,
        "currency": "EUR",
        "customer": {"id": f"cust-{i % 100_000:06d}", "country": "DE", "tier": "gold"},
        "tags": ["web", "priority"],
        "note": filler,
    }


FILLER = make_filler()
DATA = [event_data(i, FILLER) for i in range(1_000)]   # reused cyclically; building dicts isn't timed


def apply(state: dict[str, Any], data: dict[str, Any]) -> None:
    """The fold both sides replay with: units per SKU, a count and the last order."""
    sku = data["sku"]
    state[sku] = state.get(sku, 0) + data["qty"]
    state["_count"] = state.get("_count", 0) + 1
    state["_last_order"] = data["order_id"]


# ---------------------------------------------------------------- durability of the library


SYNCHRONOUS = "FULL"   # --relaxed (a diagnostic, not a durable figure) sets NORMAL on both sides
CHRONIK_URL_OPTIONS = ""
_library_create_connection = es_sqlite.SQLiteConnectionPool._create_connection


def _create_connection_full(self: es_sqlite.SQLiteConnectionPool) -> es_sqlite.SQLiteConnection:
    """The library's own connection, plus the same explicit `synchronous` as chronik uses.
    SQLite's default is already FULL (2); setting it makes the comparison explicit."""
    connection = _library_create_connection(self)
    connection._sqlite_conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
    return connection


es_sqlite.SQLiteConnectionPool._create_connection = _create_connection_full


def library_default_synchronous(directory: str) -> int:
    """What `synchronous` a connection made by the library has without our explicit setting."""
    pool = es_sqlite.SQLiteConnectionPool(db_name=os.path.join(directory, "probe.db"))
    connection = _library_create_connection(pool)
    value = connection._sqlite_conn.execute("PRAGMA synchronous").fetchone()[0]
    connection.close()
    return value


# ---------------------------------------------------------------- contenders


class Orders(Aggregate):
    """The library's recommended style: an Aggregate whose @event method is its own mutator."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    @event("Recorded")
    def record(self, data: dict) -> None:
        apply(self.state, data)


class OrdersApp(Application):
    # The library pages its notification log in sections of 10 by default; match chronik's 1,000.
    log_section_size = READ_PAGE_SIZE


class ChronikSide:
    name = "chronik"

    def __init__(self, path: str) -> None:
        self.ledger = chronik.open_ledger(f"sqlite:///{path}{CHRONIK_URL_OPTIONS}")

    def durability(self) -> tuple[int, str]:
        conn = self.ledger.store._connection()
        return (conn.execute("PRAGMA synchronous").fetchone()[0],
                conn.execute("PRAGMA journal_mode").fetchone()[0])

    def start_appends(self) -> None:
        self.version = 0

    def append(self, first: int, count: int) -> None:
        """One durable call recording `count` events, with the expected version (as the library
        checks its aggregate's version)."""
        self.ledger.append("order:appends", [NewEvent("line_added", DATA[(first + i) % 1000]) for i in range(count)],
                           expect=self.version if self.version else Expect.NO_STREAM)
        self.version += count

    def fill_stream(self, count: int) -> str:
        stream = "order:replay"
        for start in range(0, count, 1_000):
            n = min(1_000, count - start)
            self.ledger.append(stream, [NewEvent("line_added", DATA[(start + i) % 1000]) for i in range(n)])
        return stream

    def replay(self, stream: str) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for recorded in self.ledger.read_stream(stream):
            apply(state, recorded.data)
        return state

    def fill_log(self, streams: int, per_stream: int) -> None:
        for s in range(streams):
            for start in range(0, per_stream, 1_000):
                n = min(1_000, per_stream - start)
                self.ledger.append(f"order:log-{s}",
                                   [NewEvent("line_added", DATA[(start + i) % 1000]) for i in range(n)])

    def read_log(self) -> int:
        count = 0
        for recorded in self.ledger.read_all():
            count += recorded.data is not None
        return count

    def close(self) -> None:
        self.ledger.close()


class LibraryAppSide:
    name = "eventsourcing app"

    def __init__(self, path: str) -> None:
        self.app = OrdersApp(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path})

    def durability(self) -> tuple[int, str]:
        with self.app.recorder.datastore.get_connection(commit=False) as connection:
            raw = connection._sqlite_conn
            return (raw.execute("PRAGMA synchronous").fetchone()[0],
                    raw.execute("PRAGMA journal_mode").fetchone()[0])

    def start_appends(self) -> None:
        self.orders = Orders()
        self.app.save(self.orders)  # the Created event: not timed

    def append(self, first: int, count: int) -> None:
        orders = self.orders
        for i in range(count):
            orders.record(DATA[(first + i) % 1000])
        self.app.save(orders)

    def fill_stream(self, count: int) -> uuid.UUID:
        orders = Orders()  # Created + (count - 1) Recorded = count events
        for i in range(count - 1):
            orders.record(DATA[i % 1000])
        self.app.save(orders)
        return orders.id

    def replay(self, aggregate_id: uuid.UUID) -> dict[str, Any]:
        return self.app.repository.get(aggregate_id).state

    def fill_log(self, streams: int, per_stream: int) -> None:
        for _ in range(streams):
            orders = Orders()
            for i in range(per_stream - 1):
                orders.record(DATA[i % 1000])
            self.app.save(orders)

    def read_log(self) -> int:
        log, mapper, count, start = self.app.notification_log, self.app.mapper, 0, 1
        while True:
            notifications = log.select(start=start, limit=READ_PAGE_SIZE)
            for notification in notifications:
                domain_event = mapper.to_domain_event(notification)
                count += domain_event is not None
            if len(notifications) < READ_PAGE_SIZE:
                return count
            start = notifications[-1].id + 1

    def close(self) -> None:
        self.app.close()


class LibraryRecorderSide(LibraryAppSide):
    """The same database and schema, driven through the recorder: no aggregates, no domain
    events, payloads encoded and decoded with the library's transcoder."""

    name = "eventsourcing recorder"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.recorder = self.app.recorder
        self.transcoder = self.app.mapper.transcoder
        self.topic = "bench:line_added"

    def _stored(self, originator_id: uuid.UUID, version: int, data: dict[str, Any]) -> StoredEvent:
        return StoredEvent(originator_id=originator_id, originator_version=version, topic=self.topic,
                           state=self.transcoder.encode({"data": data}))

    def start_appends(self) -> None:
        self.originator, self.version = uuid.uuid4(), 0

    def append(self, first: int, count: int) -> None:
        self.recorder.insert_events([self._stored(self.originator, self.version + i + 1, DATA[(first + i) % 1000])
                                     for i in range(count)])
        self.version += count

    def fill_stream(self, count: int) -> uuid.UUID:
        originator = uuid.uuid4()
        for start in range(0, count, 1_000):
            self.recorder.insert_events([self._stored(originator, start + i + 1, DATA[(start + i) % 1000])
                                         for i in range(min(1_000, count - start))])
        return originator

    def replay(self, originator: uuid.UUID) -> dict[str, Any]:
        state: dict[str, Any] = {}
        decode = self.transcoder.decode
        for stored in self.recorder.select_events(originator):
            apply(state, decode(stored.state)["data"])
        return state

    def fill_log(self, streams: int, per_stream: int) -> None:
        for _ in range(streams):
            self.fill_stream(per_stream)

    def read_log(self) -> int:
        decode, count, start = self.transcoder.decode, 0, 1
        while True:
            notifications = self.recorder.select_notifications(start=start, limit=READ_PAGE_SIZE)
            for notification in notifications:
                count += decode(notification.state) is not None
            if len(notifications) < READ_PAGE_SIZE:
                return count
            start = notifications[-1].id + 1


SIDES = [ChronikSide, LibraryAppSide, LibraryRecorderSide]


class FsyncFloor:
    """Reference, not a contender: append 4 KiB to a file and fdatasync it, in the same
    interleaved loop as the durable single appends, so it sees the same disk."""

    name = "floor: fdatasync 4 KiB"

    def __init__(self, path: str) -> None:
        self.fd = os.open(path + ".floor", os.O_RDWR | os.O_CREAT, 0o600)
        self.block, self.offset = os.urandom(4096), 0
        self.sync = getattr(os, "fdatasync", os.fsync)

    def start_appends(self) -> None:
        pass

    def append(self, first: int, count: int) -> None:
        os.pwrite(self.fd, self.block, self.offset)
        self.offset += 4096
        self.sync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class SQLiteFloor:
    """Reference, not a contender: the least a durable SQLite append can do here: one INSERT of
    the same 500 bytes into a one-table WAL database at synchronous=FULL, one COMMIT."""

    name = "floor: minimal SQLite commit"

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        self.conn.execute("CREATE TABLE events (position INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        self.texts = [json.dumps(data, separators=(",", ":"), sort_keys=True) for data in DATA]

    def start_appends(self) -> None:
        pass

    def append(self, first: int, count: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO events (data) VALUES (?)", (self.texts[first % 1000],))
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


FLOORS = [FsyncFloor, SQLiteFloor]


# ---------------------------------------------------------------- measuring


@dataclass
class Sizes:
    rounds: int
    single_appends: int
    batches: int
    batch_size: int
    replay_events: int
    replay_repeats: int
    log_streams: int
    log_per_stream: int


FULL = Sizes(rounds=5, single_appends=1_000, batches=30, batch_size=100, replay_events=10_000,
             replay_repeats=3, log_streams=100, log_per_stream=1_000)
QUICK = Sizes(rounds=3, single_appends=300, batches=10, batch_size=100, replay_events=10_000,
              replay_repeats=1, log_streams=15, log_per_stream=1_000)


class Workspace:
    """Fresh files for every (round, figure, contender); removed as soon as they are used."""

    def __init__(self, root: str | None) -> None:
        self.root = tempfile.mkdtemp(prefix="chronik-bench-", dir=root)
        self.serial = 0

    def open(self, side_class: type) -> Any:
        self.serial += 1
        folder = os.path.join(self.root, f"{self.serial:04d}")
        os.mkdir(folder)
        side = side_class(os.path.join(folder, "ledger.db"))
        side.folder = folder
        return side

    def discard(self, side: Any) -> None:
        side.close()
        shutil.rmtree(side.folder, ignore_errors=True)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def peak_growth_bytes(fn: Callable[[], Any]) -> int:
    """tracemalloc peak while `fn` runs, minus what was allocated before it (the result is kept
    alive until the peak is read, so it counts too)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak - before


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def rotated(items: list, shift: int) -> list:
    shift %= len(items)
    return items[shift:] + items[:shift]


def run_round(round_no: int, sizes: Sizes, space: Workspace, results: dict, expected: dict) -> None:
    """One round of every figure. The contenders are open side by side on fresh files and take
    turns operation by operation (appends, replays, reads), in a rotating order, so a slow
    moment of the disk or the CPU falls on all of them alike."""
    clock = time.perf_counter

    def interleaved_appends(count: int, size: int, rate_key: str, latency_key: str | None,
                            extra: list[type] = ()) -> None:
        sides = [space.open(side_class) for side_class in [*SIDES, *extra]]
        for side in sides:
            side.start_appends()
        spent = {side.name: 0.0 for side in sides}
        gc.collect()
        for i in range(count):
            for side in rotated(sides, round_no + i):
                started = clock()
                side.append(i * size, size)
                elapsed = clock() - started
                spent[side.name] += elapsed
                if latency_key:
                    results[side.name][latency_key].append(elapsed)
        for side in sides:
            results[side.name][rate_key].append(count * size / spent[side.name])
            space.discard(side)

    interleaved_appends(sizes.single_appends, 1, "single_rate", "single_latencies", FLOORS)
    interleaved_appends(sizes.batches, sizes.batch_size, "batch_rate", None)

    sides = [space.open(side_class) for side_class in SIDES]  # replay a 10,000-event stream
    streams = {side.name: side.fill_stream(sizes.replay_events) for side in sides}
    for side in sides:  # warm-up: imports, topic and statement caches, page cache
        check_state(side.name, side.replay(streams[side.name]), expected)
    for repeat in range(sizes.replay_repeats):
        for side in rotated(sides, round_no + repeat):
            seconds, _ = timed(lambda s=side: s.replay(streams[s.name]))
            results[side.name]["replay_rate"].append(sizes.replay_events / seconds)
    if round_no == 0:  # memory: an untimed replay under tracemalloc; deterministic, so once is enough
        for side in sides:
            results[side.name]["replay_peak"].append(peak_growth_bytes(lambda s=side: s.replay(streams[s.name])))
    for side in sides:
        space.discard(side)

    total = sizes.log_streams * sizes.log_per_stream  # read the whole log in position order
    sides = [space.open(side_class) for side_class in SIDES]
    for side in sides:
        side.fill_log(sizes.log_streams, sizes.log_per_stream)
    for side in rotated(sides, round_no):
        seconds, count = timed(side.read_log)
        results[side.name]["read_rate"].append(total / seconds)
        expected.setdefault("read_count", {})[side.name] = count
    for side in sides:
        space.discard(side)


def check_state(name: str, state: dict[str, Any], expected: dict) -> None:
    """Every contender must fold to the same state (the library's stream has one Created event
    in place of the first payload, so its count is one lower)."""
    summary = sorted((k, v) for k, v in state.items() if k.startswith("SKU-"))
    expected.setdefault("replay_state", {})[name] = (state.get("_count"), len(summary))


# ---------------------------------------------------------------- the machine


def machine_info(directory: str) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "eventsourcing": importlib.metadata.version("eventsourcing"),
        "chronik": chronik.__version__,
        "platform": platform.platform(),
        "filesystem_dir": directory,
        "fsync": measure_fsync(directory),
    }


def measure_fsync(directory: str, count: int = 300) -> dict[str, float]:
    """fdatasync latency of a 4 KiB write: appending (the file grows, as a fresh WAL does) and
    overwriting (as a reused WAL does). SQLite's COMMIT at synchronous=FULL in WAL mode is one
    fdatasync of the WAL file."""
    sync = getattr(os, "fdatasync", os.fsync)
    out: dict[str, float] = {}
    for mode in ("append", "overwrite"):
        path = os.path.join(directory, f"fsync-{mode}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if mode == "overwrite":
                os.pwrite(fd, b"\0" * 4096 * count, 0)
                os.fsync(fd)
            block = os.urandom(4096)
            samples = []
            for i in range(count):
                os.pwrite(fd, block, i * 4096)
                started = time.perf_counter()
                sync(fd)
                samples.append(time.perf_counter() - started)
        finally:
            os.close(fd)
            os.unlink(path)
        out[f"{mode}_p50_us"] = percentile(samples, 0.50) * 1e6
        out[f"{mode}_p99_us"] = percentile(samples, 0.99) * 1e6
    return out


# ---------------------------------------------------------------- reporting


TARGETS = {  # figure: (target, how it is compared)
    "single_rate": (2.5, "ge"),
    "batch_rate": (3.0, "ge"),
    "replay_rate": (8.0, "ge"),
    "read_rate": (3.5, "ge"),
    "replay_peak": (0.25, "le"),
}


def summarise(results: dict) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for name, figures in results.items():
        lat = figures["single_latencies"]
        summary[name] = {
            "single_rate": statistics.median(figures["single_rate"]),
            "single_p50_us": percentile(lat, 0.50) * 1e6,
            "single_p99_us": percentile(lat, 0.99) * 1e6,
        }
        for key in ("batch_rate", "replay_rate", "read_rate", "replay_peak"):
            if figures[key]:
                summary[name][key] = statistics.median(figures[key])
    return summary


ROWS = [  # key, label, unit, higher is better
    ("single_rate", "durable single append", "events/s", True),
    ("single_p50_us", "  latency p50", "us", False),
    ("single_p99_us", "  latency p99", "us", False),
    ("batch_rate", "100-event batch append", "events/s", True),
    ("replay_rate", "replay 10,000-event stream", "events/s", True),
    ("read_rate", "read all in position order", "events/s", True),
    ("replay_peak", "peak memory growth, replay", "KiB", False),
]


def ratio(key: str, ours: float, theirs: float) -> float:
    if key == "replay_peak":
        return ours / theirs if theirs else float("inf")    # fraction of the library's
    if key.endswith("_us"):
        return theirs / ours if ours else float("inf")      # how many times lower
    return ours / theirs if theirs else float("inf")        # how many times higher


def verdict(key: str, value: float) -> str:
    if key not in TARGETS:
        return ""
    target, how = TARGETS[key]
    met = value >= target if how == "ge" else value <= target
    sign = ">=" if how == "ge" else "<="
    return f"{'met' if met else 'MISSED'} ({sign}{target:g})"


def fmt(key: str, value: float) -> str:
    if key == "replay_peak":
        return f"{value / 1024:,.0f}"
    return f"{value:,.0f}"


def print_report(info: dict, sizes: Sizes, summary: dict, durability: dict, quick: bool,
                 checks: dict) -> None:
    fs = info["fsync"]
    print()
    print("chronik vs eventsourcing on SQLite" + (" (--quick: smaller sizes)" if quick else ""))
    if SYNCHRONOUS != "FULL":
        print("*** --relaxed: synchronous=NORMAL on both sides, commits are NOT fsynced: a diagnostic "
              "of CPU cost, not the durable comparison; targets do not apply ***")
    print(f"machine : {info['cpu']}, {info['cores']} cores; {info['platform']}")
    print(f"software: Python {info['python']}, SQLite {info['sqlite']}, eventsourcing "
          f"{info['eventsourcing']}, chronik {info['chronik']}")
    print(f"fsync   : fdatasync of 4 KiB, appending p50 {fs['append_p50_us']:.0f} us / p99 "
          f"{fs['append_p99_us']:.0f} us; overwriting p50 {fs['overwrite_p50_us']:.0f} us / p99 "
          f"{fs['overwrite_p99_us']:.0f} us (in {info['filesystem_dir']})")
    for name, (sync, mode) in durability.items():
        print(f"durable : {name}: journal_mode={mode}, synchronous={sync} "
              f"({ {0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA'}.get(sync, '?') })")
    print(f"library : default synchronous on its own connections = {checks['library_default_sync']} "
          f"(2 = FULL); set explicitly to {SYNCHRONOUS} for the run")
    print(f"workload: {sizes.rounds} interleaved rounds; events of {EVENT_DATA_BYTES} bytes of JSON data; "
          f"{sizes.single_appends} single appends, {sizes.batches} x {sizes.batch_size}-event batches, "
          f"a {sizes.replay_events:,}-event stream (replayed {sizes.replay_repeats}x per round), "
          f"{sizes.log_streams * sizes.log_per_stream:,} events read per round")
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
    print()
    floors = [summary[f.name] for f in FLOORS]
    print("floor, measured in the same interleaved loop as the single appends (one durable write "
          "each, nothing else):")
    for floor_class, floor in zip(FLOORS, floors, strict=True):
        print(f"  {floor_class.name:30s} {floor['single_rate']:>8,.0f} /s   p50 {floor['single_p50_us']:>7,.0f} us"
              f"   p99 {floor['single_p99_us']:>8,.0f} us")
    best = app["single_rate"] and floors[1]["single_rate"] / app["single_rate"]
    print(f"  => even an append costing exactly one minimal SQLite commit would be {best:.2f}x the "
          f"library's single-append rate")
    print()
    print("ratio = chronik / library for rates, library / chronik for latencies (higher is better "
          "for chronik), chronik / library for memory (lower is better). Targets apply to the "
          "recommended library path (Application + Aggregate).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and 3 rounds (under a minute)")
    parser.add_argument("--rounds", type=int, help="override the number of interleaved rounds")
    parser.add_argument("--dir", help="where to put the temporary databases (default: the system temp dir)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    parser.add_argument("--relaxed", action="store_true",
                        help="diagnostic only: synchronous=NORMAL on both sides (no fsync per commit) to "
                             "show the CPU cost the fsync floor hides; NOT the durable comparison")
    args = parser.parse_args(argv)
    global SYNCHRONOUS, CHRONIK_URL_OPTIONS
    if args.relaxed:
        SYNCHRONOUS, CHRONIK_URL_OPTIONS = "NORMAL", "?durability=relaxed"
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(**{**sizes.__dict__, "rounds": args.rounds})

    space = Workspace(args.dir)
    started = time.perf_counter()
    try:
        info = machine_info(space.root)
        durability = {}
        for side_class in SIDES[:2]:
            side = space.open(side_class)
            durability[side.name] = side.durability()
            space.discard(side)
        checks = {"library_default_sync": library_default_synchronous(space.root)}
        wanted = 1 if args.relaxed else 2
        if any(sync != wanted or mode != "wal" for sync, mode in durability.values()):
            print(f"durability differs: {durability}", file=sys.stderr)
            return 1

        results = {side.name: {k: [] for k in ("single_rate", "single_latencies", "batch_rate", "replay_rate",
                                                "read_rate", "replay_peak")} for side in [*SIDES, *FLOORS]}
        expected: dict = {}
        for round_no in range(sizes.rounds):
            round_started = time.perf_counter()
            run_round(round_no, sizes, space, results, expected)
            print(f"round {round_no + 1}/{sizes.rounds} done in {time.perf_counter() - round_started:.1f} s",
                  file=sys.stderr, flush=True)
        counts = expected["read_count"]
        if len(set(counts.values())) != 1:
            print(f"the contenders read different data: {counts}", file=sys.stderr)
            return 1
        summary = summarise(results)
        print_report(info, sizes, summary, durability, args.quick, checks)
        print(f"\ntotal time {time.perf_counter() - started:.0f} s")
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": info, "sizes": sizes.__dict__,
                                                   "quick": args.quick, "summary": summary,
                                                   "durability": durability, "checks": checks,
                                                   "replay_state": expected["replay_state"]}, indent=2))
    finally:
        space.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
