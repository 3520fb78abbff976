"""Import and copy throughput: COPY into PostgreSQL (Store.import_events), `chronik import` of a JSONL
export end to end, and `chronik copy` sqlite -> postgres.

Usage: python benchmarks/bench_import_copy.py [--url URL] [--events N] [--rounds R] [--json PATH]

Without --url it uses $CHRONIK_BENCH_PG_URL, else postgresql://postgres@127.0.0.1:5432/postgres.
Each figure is the median of R rounds, each into a fresh schema (dropped afterwards). The events
are built once in memory (500 streams, small data) so only the import path is timed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

import chronik
from chronik import NewEvent
from chronik.lifecycle import copy_ledger, export_events, import_events

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def build_source(events: int) -> chronik.Ledger:
    ledger = chronik.open_ledger("memory:")
    per_call, streams = 10_000, 500
    for call in range(events // per_call):
        ledger.append_many({f"account:{call}-{s}": (
            [NewEvent("deposited", {"amount": i, "currency": "EUR", "memo": "payday"}, {"actor": "ada"})
             for i in range(per_call // streams)], chronik.Expect.ANY) for s in range(streams)})
    return ledger


def schema_url(url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    return f"{url}{'&' if '?' in url else '?'}schema={schema}", schema


def drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def timed_store_copy(url: str, events: list[chronik.Event], chunk: int) -> float:
    target, schema = schema_url(url)
    try:
        with chronik.open_ledger(target) as ledger:
            started = time.perf_counter()
            for start in range(0, len(events), chunk):
                ledger.store.import_events(events[start:start + chunk])
            return len(events) / (time.perf_counter() - started)
    finally:
        drop(url, schema)


def timed_import(url: str, export: bytes, count: int) -> float:
    target, schema = schema_url(url)
    try:
        with chronik.open_ledger(target) as ledger:
            started = time.perf_counter()
            report = import_events(ledger, io.BytesIO(export))
            assert report.imported == count
            return count / (time.perf_counter() - started)
    finally:
        drop(url, schema)


def timed_copy(url: str, sqlite_url: str, count: int) -> float:
    target, schema = schema_url(url)
    try:
        with chronik.open_ledger(sqlite_url) as source, chronik.open_ledger(target) as destination:
            started = time.perf_counter()
            report = copy_ledger(source, destination)
            assert report.copied == count and report.verify.ok
            return count / (time.perf_counter() - started)
    finally:
        drop(url, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("CHRONIK_BENCH_PG_URL", DEFAULT_URL))
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args()
    source = build_source(args.events)
    events = list(source.read_all())
    out = io.BytesIO()
    export_events(source, out)
    export = out.getvalue()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        sqlite_url = "sqlite:///" + str(Path(directory) / "source.db").lstrip("/")
        with chronik.open_ledger(sqlite_url) as sqlite_ledger:
            for start in range(0, len(events), 10_000):
                sqlite_ledger.store.import_events(events[start:start + 10_000])
        runs: dict[str, list[float]] = {}
        for _ in range(args.rounds):  # interleaved, so a noisy moment hits every figure alike
            for chunk in (5_000, 10_000, 20_000):
                runs.setdefault(f"postgres_copy_import_{chunk}_per_call_events_per_s", []).append(
                    timed_store_copy(args.url, events, chunk))
            runs.setdefault("chronik_import_jsonl_to_postgres_events_per_s", []).append(
                timed_import(args.url, export, len(events)))
            runs.setdefault("chronik_copy_sqlite_to_postgres_events_per_s", []).append(
                timed_copy(args.url, sqlite_url, len(events)))
        figures = {name: round(statistics.median(values)) for name, values in runs.items()}
    print(f"{args.events:,} events, median of {args.rounds} rounds, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, PostgreSQL at {args.url.split('@')[-1]}")
    for name, value in figures.items():
        print(f"  {name:<58} {value:>10,}")
    if args.json:
        Path(args.json).write_text(json.dumps({"events": args.events, "rounds": args.rounds, **figures}, indent=2))


if __name__ == "__main__":
    main()
