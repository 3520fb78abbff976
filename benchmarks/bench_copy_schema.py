"""COPY of 500-byte events into PostgreSQL under the schema options issue 11 names: what each costs.

    python benchmarks/bench_copy_schema.py [--url URL] [--events 100000] [--rounds 3]

Builds --events recorded events with 500 bytes of data (bench_sqlite_vs_eventsourcing's order
lines) and their COPY text once (stores/postgres_writes.py `_copy_text`, the rows
`Store.import_events` sends), then times COPY FROM STDIN of that text, 1,000 rows per write, in
one transaction, into a fresh table per variant (interleaved rounds, medians):

- `chronik schema`: a ledger's own events table (json data/meta, the stored `search_text`
  column and its pg_trgm GIN index of ADR 0013, primary key, UNIQUE (id), UNIQUE (stream, version));
- `chronik schema, GIN index off`: the `search_text` column kept, its GIN index dropped
  (`chronik db text-index off` on PostgreSQL);
- `... and GIN built after load`: the same, the GIN index created after the COPY, in its
  transaction (`text-index off`, import, `text-index on`);
- `without the text index`: the same without `search_text` and its GIN index;
- `... and text columns`: data/meta as text (no JSON validation on input);
- `... and COLLATE "C"`: stream and id compared bytewise in their indexes;
- `... and indexes after load`: COPY into the bare table, then the three unique indexes built;
- `no index at all`: the heap alone, the floor of COPY here.

Also prints the client's time to build the COPY text (per event), and chronik's own
`Store.import_events` end to end (10,000 events per call) into a new ledger, with its text index
on (the default) and switched off (`chronik db text-index off`). docs/adr/0018 holds the decision.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
import chronik  # noqa: E402
from bench_sqlite_vs_eventsourcing import DATA  # noqa: E402
from chronik import NewEvent, codec  # noqa: E402
from chronik.stores.postgres_writes import _copy_text  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
COLUMNS = "position, stream, version, type, id, time, data, meta, prev, hash, sig"
ROWS_PER_WRITE = 1_000

BASE = """position bigint {pk}, stream text {collate} NOT NULL, version bigint NOT NULL,
          type text NOT NULL, id text {collate} NOT NULL {unique_id}, time text NOT NULL,
          data {json} NOT NULL, meta {json} NOT NULL, prev text NOT NULL, hash text NOT NULL, sig text
          {unique_sv}"""
INDEXED = {"pk": "PRIMARY KEY", "unique_id": "UNIQUE", "unique_sv": ", UNIQUE (stream, version)"}
BARE = {"pk": "", "unique_id": "", "unique_sv": ""}
AFTER_LOAD = ["ALTER TABLE {t} ADD PRIMARY KEY (position)", "ALTER TABLE {t} ADD UNIQUE (id)",
              "ALTER TABLE {t} ADD UNIQUE (stream, version)"]
SEARCH_TEXT = ["ALTER TABLE {t} ADD COLUMN search_text text GENERATED ALWAYS AS (lower(type) || chr(1) || "
               "lower(data::text) || chr(1) || lower(meta::text)) STORED",
               "CREATE INDEX ON {t} USING gin (search_text gin_trgm_ops)"]

VARIANTS = {
    "chronik schema": (dict(INDEXED, json="json", collate=""), SEARCH_TEXT, []),
    "chronik schema, GIN index off": (dict(INDEXED, json="json", collate=""), SEARCH_TEXT[:1], []),
    "... and GIN built after load": (dict(INDEXED, json="json", collate=""), SEARCH_TEXT[:1], SEARCH_TEXT[1:]),
    "without the text index": (dict(INDEXED, json="json", collate=""), [], []),
    "... and text columns": (dict(INDEXED, json="text", collate=""), [], []),
    '... and COLLATE "C"': (dict(INDEXED, json="text", collate='COLLATE "C"'), [], []),
    "... and indexes after load": (dict(BARE, json="text", collate='COLLATE "C"'), [], AFTER_LOAD),
    "no index at all": (dict(BARE, json="json", collate=""), [], []),
}


def build_events(count: int) -> list[chronik.Event]:
    ledger = chronik.open_ledger("memory:", keyring=None)
    for start in range(0, count, 1_000):
        ledger.append_many({f"order:{start // 1_000}-{s}": (
            [NewEvent("line_added", DATA[(start + s * 10 + i) % 1_000]) for i in range(10)], chronik.Expect.ANY)
            for s in range(min(1_000, count - start) // 10)})
    return list(ledger.read_all())


def timed_copy(url: str, variant: str, chunks: list[bytes]) -> float:
    ddl, before, after = VARIANTS[variant]
    table = f"copy_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} ({BASE.format(**ddl)})")
        for statement in before:
            conn.execute(statement.format(t=table))
        try:
            started = time.perf_counter()
            with conn.transaction():
                with conn.cursor() as cur, cur.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
                    for chunk in chunks:
                        copy.write(chunk)
                for statement in after:
                    conn.execute(statement.format(t=table))
            return time.perf_counter() - started
        finally:
            conn.execute(f"DROP TABLE {table}")


def timed_import(url: str, events: list[chronik.Event], text_index: bool = True) -> float:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    target = f"{url}{'&' if '?' in url else '?'}schema={schema}"
    try:
        with chronik.open_ledger(target, keyring=None) as ledger:
            ledger.store.set_text_index(text_index)
            started = time.perf_counter()
            for start in range(0, len(events), 10_000):
                ledger.store.import_events(events[start:start + 10_000])
            return time.perf_counter() - started
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("CHRONIK_BENCH_PG_URL", DEFAULT_URL))
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        server = conn.execute("SHOW server_version").fetchone()[0]
    events = build_events(args.events)
    started = time.perf_counter()
    chunks = [_copy_text(events[i:i + ROWS_PER_WRITE]) for i in range(0, len(events), ROWS_PER_WRITE)]
    build_s = time.perf_counter() - started
    imports = {"Store.import_events, text index on": True, "Store.import_events, text index off": False}
    times: dict[str, list[float]] = {name: [] for name in [*VARIANTS, *imports]}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            times[variant].append(timed_copy(args.url, variant, chunks))
        for name, text_index in imports.items():
            times[name].append(timed_import(args.url, events, text_index))
    data_bytes = len(codec.encode_json(events[0].data))
    print(f"COPY of {len(events):,} events ({data_bytes} bytes of data, {sum(map(len, chunks)) / len(events):,.0f} "
          f"bytes of COPY text each), medians of {args.rounds} interleaved rounds; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, PostgreSQL {server}, load {os.getloadavg()[0]:.2f}")
    print(f"client: building the COPY text {build_s / len(events) * 1e6:.1f} us per event "
          f"({len(events) / build_s:,.0f} events/s)")
    print(f"{'variant':<34} {'events/s':>10} {'us/event':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<34} {len(events) / median:>10,.0f} {median / len(events) * 1e6:>9.1f}")


if __name__ == "__main__":
    main()
