"""Text search over a large ledger (issue 11, ADR 0013): a page of 100 events with a text filter,
answered by the text index (SQLite FTS5 trigram, PostgreSQL pg_trgm GIN) and by the scan it
replaces, plus what the total count costs and what the index costs an append.

Usage:
  python benchmarks/bench_text_search.py [--events N] [--store sqlite|postgres|both]
      [--dir DIR] [--url URL] [--repeat R] [--keep] [--json PATH] [--seed S]

The ledger is built once per store with `Store.import_events` (10,000 events per call) from
events generated from the printed seed: ~300 bytes of data each (a customer, a city, a note of
words drawn from a 5,000-word vocabulary by a Zipf law, an amount), types from a small set, and
planted words of known frequency, so each needle below has a known share of matches. `--keep`
keeps the ledger (SQLite: `<dir>/text-<N>.db`; PostgreSQL: schema `bench_text_<N>`) and reuses
it on the next run when it holds N events; without it, it is removed at the end.

What is timed, per needle, each the median of R runs taken in turn (indexed, scan, indexed...):
  page       `ledger.query(Filter(text=...), limit=100, include_total=False)`: the first page
  page+total the same with the total count (the default of `query`)
  before     the same page as chronik answered it before ADR 0013: SQLite through the store's
             unindexed queries (still the path of a ledger without the index); PostgreSQL the
             statement of a schema before migration 5 (the ILIKE of each field, in position order,
             LIMIT 101), planned for the needle (the store used to prepare it, which was slower)
The scan of a needle that matches little reads every event; it is run min(R, 3) times.

Append cost: 1,000 durable single appends of one ~300-byte event to a fresh ledger with the
index and to one without it (SQLite: the FTS table dropped; PostgreSQL: the search_text column
and its GIN index dropped), interleaved, median and mean per append.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import string
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import chronik
from chronik import Filter, NewEvent, codec
from chronik.model import Event
from chronik.stores.postgres import EVENT_COLUMNS
from chronik.stores.sql import event_from_row
from chronik.stores.sqlite import QUERIES, SQLiteStore

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 10_000
TYPES = ["order_placed", "order_paid", "order_shipped", "order_cancelled", "item_added",
         "item_removed", "address_changed", "refund_issued"]
CITIES = ["Berlin", "Lisboa", "München", "Zürich", "Kraków", "Malmö", "Göteborg", "Paris",
          "Athína", "İstanbul", "Reykjavík", "Porto", "Sevilla", "Łódź", "Brno", "Oslo"]
# (what it finds, needle): words planted at fixed intervals of position (see generate).
PLANTED = [("5% of events", "sapphire"), ("0.5% of events", "opaline"),
           ("0.1% (non-ASCII, other case)", "ÄRGERNIS"), ("10 events", "zebracorn")]



class ScanningStore(SQLiteStore):
    """A SQLite store that never reads the text index: the scan the index replaces."""

    def _queries_for(self, filter):  # type: ignore[override]
        return QUERIES

def vocabulary(rng: random.Random) -> list[str]:
    words = set()
    while len(words) < 5_000:
        words.add("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))))
    return sorted(words)


def generate(count: int, seed: int) -> Iterator[list[Event]]:
    """The events, CHUNK at a time, hash-chained from the genesis hash."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    cumulative = list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(len(words))))
    prev = codec.GENESIS_HASH
    rare_every = max(count // 10, 1)
    chunk: list[Event] = []
    for position in range(1, count + 1):
        note = rng.choices(words, cum_weights=cumulative, k=rng.randint(8, 16))
        if position % 20 == 3:
            note.insert(rng.randrange(len(note)), "sapphire")
        if position % 200 == 11:
            note.insert(rng.randrange(len(note)), "opaline")
        if position % 1_000 == 7:
            note.insert(rng.randrange(len(note)), "Ärgernis")
        if position % rare_every == rare_every // 2:
            note.insert(rng.randrange(len(note)), "zebracorn")
        data = {"customer": {"name": rng.choice(words).title() + " " + rng.choice(words).title(),
                             "city": rng.choice(CITIES)},
                "note": " ".join(note), "amount": rng.randint(1, 100_000), "currency": "EUR",
                "sku": f"SKU-{rng.randint(0, 99_999):05d}"}
        meta = {"actor": rng.choice(words)} if position % 10 == 0 else {}
        stream, version = f"order:{(position - 1) // 10}", (position - 1) % 10 + 1
        type_, id_, time_ = TYPES[position % len(TYPES)], f"e{position}", "2026-01-01T00:00:00.000000Z"
        data_json, meta_json = codec.encode_json(data), codec.encode_json(meta)
        hash_ = codec.event_hash(position, stream, version, type_, id_, time_, data_json, meta_json, prev)
        chunk.append(Event(position, stream, version, type_, id_, time_, data, meta, prev, hash_))
        prev = hash_
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build(ledger: chronik.Ledger, count: int, seed: int) -> float:
    started = time.perf_counter()
    done = 0
    for chunk in generate(count, seed):
        ledger.store.import_events(chunk)
        done += len(chunk)
        if done % 100_000 == 0:
            print(f"  built {done:,} events, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return time.perf_counter() - started


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def needles(count: int) -> list[tuple[str, str]]:
    return [("frequent word (Zipf rank 1)", ""), *PLANTED,
            ("a customer city, 1/16 of events", "kraków"), ("a JSON key, every event", '"currency":"eur"'),
            ("no match", "qxqxqxq"), ("2 characters (scan fallback)", "zq")]


def measure(indexed: chronik.Ledger, before: Callable[[str], list[int]], repeat: int, count: int,
            frequent: str) -> list[dict]:
    rows = []
    for label, needle in needles(count):
        needle = needle or frequent
        text = Filter(text=needle)

        def page(ledger: chronik.Ledger, text: Filter = text) -> list[int]:
            return [e.position for e in ledger.query(text, limit=100, include_total=False).events]

        def page_with_total(text: Filter = text) -> int:
            return indexed.query(text, limit=100).total

        first = page(indexed)
        assert first == before(needle), f"the index and the scan disagree on {needle!r}"
        index_ms, before_ms = [], []
        for turn in range(repeat):
            index_ms.append(timed(lambda: page(indexed)))
            if turn < 3:
                before_ms.append(timed(lambda needle=needle: before(needle)))
        total_ms = statistics.median(timed(page_with_total) for _ in range(min(repeat, 3)))
        row = {"needle": needle, "label": label, "page_events": len(first),
               "matches": page_with_total(), "page_ms": statistics.median(index_ms),
               "page_p_max_ms": max(index_ms), "before_ms": statistics.median(before_ms),
               "page_with_total_ms": total_ms}
        row["speedup"] = row["before_ms"] / row["page_ms"]
        rows.append(row)
        print(f"  {needle!r:<22} {label:<34} matches {row['matches']:>9,}  page {row['page_ms']:8.2f} ms "
              f"(max {row['page_p_max_ms']:.2f})  before {row['before_ms']:9.2f} ms  x{row['speedup']:8.1f}  "
              f"page+total {total_ms:9.2f} ms", flush=True)
    return rows


def append_cost(with_index: chronik.Ledger, without: chronik.Ledger, appends: int = 1_000) -> dict:
    event = NewEvent("order_placed", {"customer": {"name": "Ada Lovelace", "city": "München"},
                                      "note": "two words " * 25, "amount": 4200})
    times: dict[str, list[float]] = {"with_index": [], "without_index": []}
    for turn in range(appends):
        pair = [("with_index", with_index), ("without_index", without)]
        stream = f"s:{turn % 50}"
        for name, ledger in pair if turn % 2 else reversed(pair):
            times[name].append(timed(lambda ledger=ledger, stream=stream: ledger.append(stream, [event])))
    result = {f"{name}_{stat.__name__}_ms": stat(values) for name, values in times.items()
              for stat in (statistics.median, statistics.mean)}
    print(f"  single durable append, median / mean: with index {result['with_index_median_ms']:.3f} / "
          f"{result['with_index_mean_ms']:.3f} ms, without {result['without_index_median_ms']:.3f} / "
          f"{result['without_index_mean_ms']:.3f} ms", flush=True)
    return result


# ---------------------------------------------------------------- the stores


def sqlite_url(path: Path) -> str:
    return "sqlite:///" + str(path.absolute()).lstrip("/")


def run_sqlite(args: argparse.Namespace) -> dict:
    directory = Path(args.dir or tempfile.mkdtemp(prefix="chronik-text-"))
    path = directory / f"text-{args.events}.db"
    url = sqlite_url(path)
    ledger = chronik.open_ledger(url)
    built = None
    if ledger.head().position != args.events:
        ledger.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        ledger = chronik.open_ledger(url)
        built = build(ledger, args.events, args.seed)
    ledger.store.set_text_index(True)  # opt-in per ledger (ADR 0013); builds it when off
    size = sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}"))
    print(f"sqlite: {args.events:,} events, file {size / 1e6:.0f} MB"
          + (f", built in {built:.0f} s" if built else " (reused)"), flush=True)
    scan = chronik.open_ledger(url)
    scan.store.__class__ = ScanningStore  # the unindexed read path over the same file

    def before(needle: str) -> list[int]:
        return [e.position for e in scan.query(Filter(text=needle), limit=100, include_total=False).events]

    try:
        rows = measure(ledger, before, args.repeat, args.events, frequent_word(args.seed))
        small = directory / f"append-{uuid.uuid4().hex[:8]}"
        with chronik.open_ledger(sqlite_url(Path(f"{small}-a.db"))) as a, \
                chronik.open_ledger(sqlite_url(Path(f"{small}-b.db"))) as b:
            a.store.set_text_index(True)  # b keeps the default: no index
            appends = append_cost(a, b)
        for name in Path(directory).glob(f"{small.name}-*"):
            name.unlink()
    finally:
        ledger.close()
        scan.close()
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {"store": "sqlite", "file_mb": size / 1e6, "build_s": built, "needles": rows, "append": appends}


def run_postgres(args: argparse.Namespace) -> dict:
    import psycopg

    base = args.url or os.environ.get("CHRONIK_BENCH_PG_URL") or DEFAULT_PG_URL
    schema = f"bench_text_{args.events}"
    url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    ledger = chronik.open_ledger(url)
    built = None
    if ledger.head().position != args.events:
        ledger.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        ledger = chronik.open_ledger(url)
        built = build(ledger, args.events, args.seed)
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'VACUUM ANALYZE "{schema}".events')  # what autovacuum does after a load
    with psycopg.connect(base, autocommit=True) as conn:
        size = conn.execute(f"SELECT pg_total_relation_size('\"{schema}\".events')").fetchone()[0]
    print(f"postgresql: {args.events:,} events, events table with indexes {size / 1e6:.0f} MB"
          + (f", built in {built:.0f} s" if built else " (reused)"), flush=True)
    scan = psycopg.connect(base, autocommit=True)
    old_condition = "(type ILIKE %s OR data::text ILIKE %s OR meta::text ILIKE %s)"
    old_page = (f'SELECT {EVENT_COLUMNS} FROM "{schema}".events WHERE position > %s AND position <= %s '
                f"AND {old_condition} ORDER BY position LIMIT %s")

    def before(needle: str) -> list[int]:
        pattern = "%" + needle.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        head = ledger.head().position
        rows = scan.execute(old_page, (0, head, pattern, pattern, pattern, 101), prepare=False).fetchall()
        return [event_from_row(row).position for row in rows[:100]]

    small = [f"bench_text_append_{uuid.uuid4().hex[:8]}_{side}" for side in "ab"]
    try:
        rows = measure(ledger, before, args.repeat, args.events, frequent_word(args.seed))
        with chronik.open_ledger(f"{base}{'&' if '?' in base else '?'}schema={small[0]}") as a, \
                chronik.open_ledger(f"{base}{'&' if '?' in base else '?'}schema={small[1]}") as b:
            with psycopg.connect(base, autocommit=True) as conn:  # the column, and its index with it
                conn.execute(f'ALTER TABLE "{small[1]}".events DROP COLUMN search_text')
            appends = append_cost(a, b)
    finally:
        ledger.close()
        scan.close()
        with psycopg.connect(base, autocommit=True) as conn:
            for name in small + ([] if args.keep else [schema]):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    return {"store": "postgresql", "table_mb": size / 1e6, "build_s": built, "needles": rows, "append": appends}


def frequent_word(seed: int) -> str:
    return vocabulary(random.Random(seed))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--dir", help="where the SQLite ledger goes (default: a temporary folder)")
    parser.add_argument("--url", help=f"PostgreSQL server (default $CHRONIK_BENCH_PG_URL, else {DEFAULT_PG_URL})")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the ledger for the next run")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    print(f"seed {args.seed}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}", flush=True)
    results = []
    if args.store in ("sqlite", "both"):
        results.append(run_sqlite(args))
    if args.store in ("postgres", "both"):
        results.append(run_postgres(args))
    if args.json:
        Path(args.json).write_text(json.dumps({"events": args.events, "seed": args.seed, "results": results},
                                              indent=2))


if __name__ == "__main__":
    main()
