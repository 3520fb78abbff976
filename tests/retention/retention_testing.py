"""Helpers of the retention tests: ledgers on real files (and the shared PostgreSQL server)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

from chronik.ledger import Ledger, open_ledger
from chronik.lifecycle import archive
from chronik.model import NewEvent
from chronik.stores.base import NO_FILTER


def jsonl_url(tmp: Path) -> str:
    return f"jsonl://{tmp / 'ledger.jsonl'}"


def sqlite_url(tmp: Path) -> str:
    return f"sqlite://{tmp / 'ledger.db'}"


def postgres_url(_tmp: Path) -> str:
    from support.postgres_server import shared_server

    return shared_server().schema_url("retention")


URLS = {"jsonl": jsonl_url, "sqlite": sqlite_url, "postgres": postgres_url, "memory": lambda _t: "memory:"}


def fill(ledger: Ledger, rng: random.Random, events: int, categories=("order", "log", "keep")) -> None:
    for i in range(events):
        category = rng.choice(categories)
        ledger.append(f"{category}:{rng.randrange(5)}", [NewEvent(type="happened", data={"i": i})])


def everything(ledger: Ledger) -> list:
    """Every event, archived and live, in position order (each position once)."""
    live = ledger.store.read_all(0, None, NO_FILTER, ledger.head().position)
    return list(archive.with_archive(ledger, live))


def archived_positions(ledger: Ledger, directory: Path | None = None) -> list[int]:
    directory = directory or archive.archive_dir(ledger)
    positions = []
    for manifest in archive.manifests(ledger.store):
        path = directory / (manifest.name + archive.SEGMENT_SUFFIX)
        with gzip.open(path) as handle:  # reading to the end checks the CRC
            lines = handle.read().splitlines()
        assert len(lines) == manifest.count
        positions.extend(manifest.positions())
    return positions


def live_positions(ledger: Ledger) -> list[int]:
    return [e.position for e in ledger.read_all()]


def reopen(url: str) -> Ledger:
    return open_ledger(url)
