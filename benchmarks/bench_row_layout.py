"""What the SQLite row layout costs a replay: today's 11 columns against layouts that fetch less.

    python benchmarks/bench_row_layout.py [--events 10000] [--rounds 9]

Writes --events events of 500 bytes (the data of bench_sqlite_vs_eventsourcing.py) to one stream
of a chronik SQLite ledger, copies them into scratch tables of other layouts in the same file,
and folds the stream (the benchmark's `apply`) from each, in interleaved rounds (medians):

- `columns`: today's layout and read path (11 columns, stores/sql.py `event_from_row`);
- `columns without stream`: read_stream knows its stream, so one column less;
- `columns, data as BLOB`: `CAST(data AS BLOB)`, no UTF-8 decode into str before msgspec;
- `index columns + body`: position, stream, version, type, id, time as columns (what indexes and
  filters need) and the rest (data, meta, prev, hash, sig) as one JSON body;
- `envelope`: the whole event as one JSON text, decoded by msgspec straight into `Event`
  (the indexed columns would still have to be stored beside it, duplicated).

It also prints each table's bytes per event (dbstat). docs/adr/0014 holds the decision.
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent))
import chronik  # noqa: E402
from bench_sqlite_vs_eventsourcing import DATA, apply  # noqa: E402
from chronik import codec  # noqa: E402
from chronik.model import Event, NewEvent  # noqa: E402
from chronik.stores.sql import event_from_row  # noqa: E402

STREAM = "order:replay"
COLUMNS = "position, stream, version, type, id, time, data, meta, prev, hash, sig"


class Body(msgspec.Struct, gc=False):
    data: dict
    meta: dict
    prev: str
    hash: str
    sig: str | None = None


def build(path: str, events: int) -> None:
    with chronik.open_ledger(f"sqlite:///{path}", keyring=None) as ledger:
        for start in range(0, events, 1_000):
            count = min(1_000, events - start)
            ledger.append(STREAM, [NewEvent("line_added", DATA[(start + i) % 1_000]) for i in range(count)])
        stored = list(ledger.read_stream(STREAM))
    encode = msgspec.json.Encoder().encode
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE envelope (position INTEGER PRIMARY KEY, stream TEXT, version INT, body TEXT)")
        conn.execute("CREATE TABLE split (position INTEGER PRIMARY KEY, stream TEXT, version INT, type TEXT, "
                     "id TEXT, time TEXT, body TEXT)")
        conn.executemany("INSERT INTO envelope VALUES (?, ?, ?, ?)",
                         [(e.position, e.stream, e.version, encode(e).decode()) for e in stored])
        conn.executemany("INSERT INTO split VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(e.position, e.stream, e.version, e.type, e.id, e.time,
                           encode(Body(e.data, e.meta, e.prev, e.hash, e.sig)).decode()) for e in stored])
        conn.execute("CREATE INDEX envelope_stream ON envelope (stream, version)")
        conn.execute("CREATE INDEX split_stream ON split (stream, version)")


def folds(conn: sqlite3.Connection, events: int) -> dict[str, Callable[[], dict]]:
    def pages(table: str, columns: str):
        for version in range(0, events, 1_000):
            yield from conn.execute(f"SELECT {columns} FROM {table} WHERE stream = ? AND version > ? "
                                    f"ORDER BY version LIMIT 1000", (STREAM, version)).fetchall()

    decode = codec.decode_object
    decode_event, decode_body = msgspec.json.Decoder(Event).decode, msgspec.json.Decoder(Body).decode

    def columns() -> dict:
        state: dict = {}
        for row in pages("events", COLUMNS):
            apply(state, event_from_row(row).data)
        return state

    def without_stream() -> dict:
        state: dict = {}
        for r in pages("events", "position, version, type, id, time, data, meta, prev, hash, sig"):
            event = Event(r[0], STREAM, r[1], r[2], r[3], r[4], decode(r[5]), {} if r[6] == "{}" else decode(r[6]),
                          r[7], r[8], r[9])
            apply(state, event.data)
        return state

    def data_as_blob() -> dict:
        state: dict = {}
        for row in pages("events", COLUMNS.replace("data, meta", "CAST(data AS BLOB), meta")):
            apply(state, event_from_row(row).data)
        return state

    def index_columns_and_body() -> dict:
        state: dict = {}
        for r in pages("split", "position, stream, version, type, id, time, body"):
            body = decode_body(r[6])
            apply(state, Event(r[0], r[1], r[2], r[3], r[4], r[5], body.data, body.meta, body.prev, body.hash,
                               body.sig).data)
        return state

    def envelope() -> dict:
        state: dict = {}
        for (body,) in pages("envelope", "body"):
            apply(state, decode_event(body).data)
        return state

    return {"columns (today)": columns, "columns without stream": without_stream,
            "columns, data as BLOB": data_as_blob, "index columns + body": index_columns_and_body,
            "envelope": envelope}


def bytes_per_event(conn: sqlite3.Connection, events: int) -> dict[str, float]:
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.OperationalError:
        return {}  # SQLite built without dbstat
    sizes = dict(rows)
    return {"columns (today)": (sizes.get("events", 0) + sum(v for k, v in sizes.items() if k.startswith(
                "sqlite_autoindex_events") or k.startswith("events_"))) / events,
            "index columns + body": (sizes.get("split", 0) + sizes.get("split_stream", 0)) / events,
            "envelope": (sizes.get("envelope", 0) + sizes.get("envelope_stream", 0)) / events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/layout.db"
        build(path, args.events)
        conn = sqlite3.connect(path)
        candidates = folds(conn, args.events)
        reference = candidates["columns (today)"]()
        assert all(fold() == reference for fold in candidates.values()), "a layout folds to another state"
        times: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(args.rounds):
            for name, fold in candidates.items():
                started = time.perf_counter()
                fold()
                times[name].append(time.perf_counter() - started)
        sizes = bytes_per_event(conn, args.events)
        conn.close()
    base = statistics.median(times["columns (today)"])
    print(f"fold of a {args.events:,}-event stream, medians of {args.rounds} interleaved rounds; "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}")
    print(f"{'layout':<26} {'ms':>7} {'vs today':>9} {'bytes/event':>12}")
    for name, values in times.items():
        median = statistics.median(values)
        size = f"{sizes[name]:,.0f}" if name in sizes else ""
        print(f"{name:<26} {median * 1e3:>7.1f} {base / median:>8.2f}x {size:>12}")


if __name__ == "__main__":
    main()
