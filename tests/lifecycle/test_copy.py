"""copy_ledger between every pair of stores, refusals, resuming, and the 100,000-event round trip."""

from __future__ import annotations

import io
import itertools
import time

import pytest
from lifecycle_testing import STORE_KINDS, fill

import chronik
from chronik import NewEvent
from chronik.lifecycle import CopyRefused, copy_ledger, export_events


def _exported(ledger: chronik.Ledger) -> bytes:
    out = io.BytesIO()
    export_events(ledger, out)
    return out.getvalue()


@pytest.mark.parametrize(("source_kind", "destination_kind"),
                         [pair for pair in itertools.product(STORE_KINDS, STORE_KINDS)])
def test_copy_between_every_pair_of_stores(source_kind, destination_kind, make_url, open_ledger):
    source = open_ledger(make_url(source_kind))
    fill(source)
    destination = open_ledger(make_url(destination_kind))
    report = copy_ledger(source, destination, batch_size=7)
    assert report.copied == source.head().position and report.verify.ok
    assert list(destination.read_all()) == list(source.read_all())
    assert destination.streams() == source.streams()
    assert _exported(destination) == _exported(source)


def test_copy_refuses_a_non_empty_destination(open_ledger):
    source, destination = open_ledger("memory:"), open_ledger("memory:")
    fill(source)
    destination.append("other:1", [NewEvent("noted")])
    with pytest.raises(CopyRefused, match="^append_to: ") as refused:  # a field, not an option
        copy_ledger(source, destination)
    assert refused.value.field == "append_to" and "(append_to=True)" not in str(refused.value)
    with pytest.raises(CopyRefused, match="not a prefix"):
        copy_ledger(source, destination, append_to=True)
    assert destination.head().position == 1


def test_an_interrupted_copy_resumes_with_append_to(make_url, open_ledger, monkeypatch):
    source = open_ledger("memory:")
    fill(source)
    destination = open_ledger(make_url("sqlite"))
    calls = []
    real_import = destination.store.import_events

    def crash_on_third_batch(events):
        calls.append(len(events))
        if len(calls) == 3:
            raise chronik.StorageError("simulated crash")
        real_import(events)

    monkeypatch.setattr(destination.store, "import_events", crash_on_third_batch)
    with pytest.raises(chronik.StorageError):
        copy_ledger(source, destination, batch_size=5)
    monkeypatch.undo()
    assert destination.head().position == 10 and destination.verify().ok
    report = copy_ledger(source, destination, append_to=True, batch_size=5)
    assert (report.already_present, report.copied) == (10, source.head().position - 10)
    assert _exported(destination) == _exported(source)
    # Nothing left to copy is fine too.
    assert copy_ledger(source, destination, append_to=True).copied == 0


def test_copy_of_a_broken_source_stops_naming_the_position(open_ledger):
    source = open_ledger("memory:")
    fill(source)
    events = list(source.read_all())
    broken = open_ledger("memory:")
    broken.store._events.extend(events)  # behind the ledger's back: no checks
    broken.store._events[8] = chronik.Event(**{**events[8].to_dict(), "data": {"n": -1}})
    with pytest.raises(chronik.IntegrityError, match="broken at position 9"):
        copy_ledger(broken, open_ledger("memory:"), batch_size=4)


def _big_source(url: str, events: int) -> chronik.Ledger:
    ledger = chronik.open_ledger(url)
    per_call = 10_000
    for call in range(events // per_call):
        ledger.append_many({f"account:{call}-{s}": ([NewEvent("deposited", {"amount": i, "memo": "é\\t"})
                                                     for i in range(per_call // 500)], chronik.Expect.ANY)
                            for s in range(500)})
    return ledger


@pytest.mark.slow
def test_copy_round_trip_sqlite_postgres_jsonl_sqlite_of_100000_events(make_url, capsys):
    count = 100_000
    urls = [make_url("sqlite"), make_url("postgres"), make_url("jsonl"), make_url("sqlite")]
    ledgers = [_big_source(urls[0], count)] + [chronik.open_ledger(url) for url in urls[1:]]
    try:
        lines = []
        for source, destination in itertools.pairwise(ledgers):
            started = time.perf_counter()
            report = copy_ledger(source, destination, batch_size=10_000)
            assert report.copied == count and report.verify.ok and report.head == ledgers[0].head()
            lines.append(f"copy {source.url.split(':')[0]} -> {destination.url.split(':')[0]}: "
                         f"{count / (time.perf_counter() - started):,.0f} events/s including verify")
        for ledger in ledgers:
            assert ledger.verify().ok
        first, last = _exported(ledgers[0]), _exported(ledgers[-1])
        assert first == last and first.count(b"\n") == count
        # The COPY import rate into PostgreSQL, alone (the target is >= 100,000 events/s).
        postgres_store = chronik.open_ledger(make_url("postgres"))
        events = list(ledgers[0].read_all())
        started = time.perf_counter()
        for start in range(0, count, 10_000):
            postgres_store.store.import_events(events[start:start + 10_000])
        rate = count / (time.perf_counter() - started)
        postgres_store.close()
        with capsys.disabled():
            print("\n" + "\n".join(lines))
            print(f"PostgreSQL COPY import (Store.import_events, 10,000 per call): {rate:,.0f} events/s")
    finally:
        for ledger in ledgers:
            ledger.close()
