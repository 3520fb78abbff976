"""Signing cost (issue 5): append throughput with and without a keyring.

    .venv/bin/python benchmarks/bench_signing.py [--events 5000] [--rounds 5] [--batch 1]
                                                 [--stores memory,sqlite,jsonl] [--pg-url postgresql://...]

Each round appends --events events (in calls of --batch events) to a fresh ledger without a
keyring, then to another with one, alternating which goes first, and the median of the rounds
is reported. Aim: signed appends < 10% slower. File stores run with durability=relaxed as well as
full: with fsync on every append the disk dominates and hides the signing cost, so relaxed is the
honest upper bound of the overhead. PostgreSQL (when --pg-url is given) signs client-side in the
append's transaction (docs/adr/0009), which adds round trips, so it is reported separately.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from chronik.integrity.keys import Keyring, new_key
from chronik.ledger import open_ledger
from chronik.model import NewEvent


def urls(store: str, directory: Path, pg_url: str | None) -> list[tuple[str, callable]]:
    def file_url(scheme: str, suffix: str, durability: str):
        return lambda: f"{scheme}:///" + str(directory / f"{uuid.uuid4().hex}.{suffix}").lstrip("/") + \
            f"?durability={durability}"

    if store == "memory":
        return [("memory", lambda: "memory:")]
    if store == "sqlite":
        return [("sqlite relaxed", file_url("sqlite", "db", "relaxed")),
                ("sqlite full", file_url("sqlite", "db", "full"))]
    if store == "jsonl":
        return [("jsonl relaxed", file_url("jsonl", "jsonl", "relaxed")),
                ("jsonl full", file_url("jsonl", "jsonl", "full"))]
    if store == "postgres" and pg_url:
        sep = "&" if "?" in pg_url else "?"
        return [("postgres", lambda: f"{pg_url}{sep}schema=bench_sign_{uuid.uuid4().hex[:10]}")]
    return []


def append_rate(url: str, keyring: Keyring | None, events: int, batch: int) -> float:
    payloads = [NewEvent("item_added", {"sku": f"SKU-{i}", "qty": i % 7, "price_cents": 1999})
                for i in range(events)]
    with open_ledger(url, keyring=keyring) as ledger:
        started = time.perf_counter()
        for start in range(0, events, batch):
            ledger.append(f"order:{start % 97}", payloads[start:start + batch])
        seconds = time.perf_counter() - started
        if keyring is not None:
            assert ledger.verify().ok
        _drop_schema(ledger)
    return events / seconds


def _drop_schema(ledger) -> None:
    store = ledger.store
    if type(store).__name__ == "PostgresStore":
        with store._pool.connection() as conn:  # the benchmark's own throwaway schema
            conn.execute(f"DROP SCHEMA {store._s} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--stores", default="memory,sqlite,jsonl")
    parser.add_argument("--pg-url")
    args = parser.parse_args()
    stores = args.stores.split(",") + (["postgres"] if args.pg_url and "postgres" not in args.stores else [])
    keyring = Keyring([new_key("bench")], "bench")
    print(f"python {platform.python_version()} on {platform.machine()}; {args.events} events per round, "
          f"batch {args.batch}, median of {args.rounds} rounds")
    hashes = [f"{i:064x}" for i in range(100_000)]
    started = time.perf_counter()
    for digest in hashes:
        keyring.sign(digest)
    sign_us = (time.perf_counter() - started) / len(hashes) * 1e6
    print(f"signing alone: {sign_us:.2f} us per event (HMAC-SHA256 of the hash, kid prefix)")
    print(f"{'store':16} {'plain ev/s':>12} {'signed ev/s':>12} {'slower':>8} {'sign share':>11}")
    with tempfile.TemporaryDirectory() as directory:
        for store in stores:
            for label, make_url in urls(store, Path(directory), args.pg_url):
                plain, signed = [], []
                for round_ in range(args.rounds):
                    order = [(plain, None), (signed, keyring)]
                    for results, ring in (order if round_ % 2 == 0 else order[::-1]):
                        results.append(append_rate(make_url(), ring, args.events, args.batch))
                p, s = statistics.median(plain), statistics.median(signed)
                # The noise-free figure: signing's cost as a share of the plain append's time.
                share = sign_us / (1e6 / p) * 100
                print(f"{label:16} {p:12,.0f} {s:12,.0f} {100 * (p - s) / p:7.1f}% {share:10.1f}%")


if __name__ == "__main__":
    main()
