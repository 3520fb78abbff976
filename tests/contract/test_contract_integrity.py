"""Contract: verify, stats, persistence across reopen, and data round trips."""

from __future__ import annotations

import math

import pytest

from chronik import Expect, Filter, Head, NewEvent, VerifyReport
from chronik.chain import NO_ANCHOR_NOTE
from chronik.codec import GENESIS_HASH, hash_of_event


def ev(type_: str = "happened", **data) -> NewEvent:
    return NewEvent(type_, data)


def fill(ledger) -> None:
    ledger.append("order:1", [ev("created", n=1), ev("paid", amount=2.5)], expect=Expect.NO_STREAM)
    ledger.append_many({"order:2": ([ev("created")], Expect.NO_STREAM),
                        "stock:apple": ([NewEvent("reserved", {"n": 1}, meta={"by": "ü"}, id="fixed-id")],
                                        Expect.ANY)})
    ledger.append("order:1", [ev("shipped")], expect=2)


# ---------------------------------------------------------------- verify and the chain


def test_verify_empty_ledger(ledger):
    report = ledger.verify()
    assert isinstance(report, VerifyReport)
    assert report.ok and report.checked == 0 and report.first_bad_position is None
    assert report.problems == []
    assert report.head == Head(0, GENESIS_HASH)


def test_verify_ok_after_appends(ledger):
    fill(ledger)
    report = ledger.verify()
    assert report.ok, report.problems
    assert report.checked == 5
    assert report.first_bad_position is None and report.problems == []
    assert report.head == ledger.head()
    assert NO_ANCHOR_NOTE in report.notes


def test_events_form_a_hash_chain(ledger):
    fill(ledger)
    events = list(ledger.read_all())
    assert events[0].prev == GENESIS_HASH
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev == before.hash
    for event in events:
        assert hash_of_event(event) == event.hash
    assert len({event.hash for event in events}) == len(events)


def test_identical_content_in_different_places_hashes_differently(ledger):
    ledger.append("a:1", [ev(), ev()])
    first, second = ledger.read_stream("a:1")
    assert first.data == second.data and first.hash != second.hash


# ---------------------------------------------------------------- stats


def test_stats(open_ledger, clock):
    ledger = open_ledger(clock=clock)
    fill(ledger)
    stats = ledger.stats()
    assert stats["events"] == 5
    assert stats["streams"] == 3
    assert stats["types"] == {"created": 2, "paid": 1, "reserved": 1, "shipped": 1}
    assert list(stats["types"]) == sorted(stats["types"])
    assert stats["first_time"] == "2026-11-22T01:15:09.123456Z"
    assert stats["last_time"] == "2026-11-22T01:15:11.123456Z"
    assert stats["size_bytes"] > 0
    assert stats["head_position"] == 5 and stats["head_hash"] == ledger.head().hash
    assert stats["url"] == ledger.url


def test_stats_of_empty_ledger(ledger):
    stats = ledger.stats()
    assert stats["events"] == 0 and stats["streams"] == 0 and stats["types"] == {}
    assert stats["first_time"] is None and stats["last_time"] is None
    assert stats["head_position"] == 0 and stats["head_hash"] == GENESIS_HASH


# ---------------------------------------------------------------- persistence


def everything(ledger) -> tuple:
    return ([e.to_dict() for e in ledger.read_all()], ledger.head(), ledger.streams(),
            {k: v for k, v in ledger.stats().items() if k != "size_bytes"})


def test_reopen_keeps_everything_identical(open_ledger, store_kind):
    first = open_ledger()  # the system clock: real, distinct microsecond times
    fill(first)
    for i in range(30):
        first.append(f"bulk:{i % 4}", [ev("tick", i=i, f=i / 7)])
    before = everything(first)
    if store_kind.persistent:
        first.close()

    again = open_ledger()
    assert everything(again) == before
    assert again.verify().ok
    # Reading a stream gives the very same events as before the reopen.
    assert [e.to_dict() for e in again.read_stream("order:1")] == \
        [e for e in before[0] if e["stream"] == "order:1"]
    # The chain continues from the old head.
    result = again.append("order:1", [ev("delivered")], expect=3)
    assert result.first_position == 36 and result.version == 4
    assert next(again.read_stream("order:1", backwards=True)).prev == before[1].hash
    assert again.verify().ok
    # Idempotency survives a reopen.
    assert again.append("stock:apple", [NewEvent("reserved", {"n": 1}, meta={"by": "ü"}, id="fixed-id")]) \
        .first_position == 4


def test_two_ledgers_on_one_store_see_each_other(open_ledger):
    # For memory, the second ledger shares the first one's store object.
    one, two = open_ledger(), open_ledger()
    one.append("a:1", [ev()])
    two.append("a:1", [ev()], expect=1)
    one.append("a:1", [ev()], expect=2)
    for ledger in (one, two):
        assert [e.version for e in ledger.read_stream("a:1")] == [1, 2, 3]
        assert ledger.head().position == 3
        assert ledger.verify().ok


# ---------------------------------------------------------------- data round trip


ROUND_TRIP = {
    "empty": {},
    "unicode": {"text": "Grüße, 日本語, emoji 🎉, rtl עברית, nul \u0000 and \u2028", "ключ": "значение"},
    "escapes": {"quote": 'a"b', "backslash": "a\\b", "newline": "a\nb", "tab": "\t", "slash": "/"},
    "nested": {"a": {"b": {"c": [1, [2, [3, {"d": None}]]]}}, "empty_list": [], "empty_obj": {}},
    "floats": {"pi": math.pi, "tiny": 5e-324, "big": 1.7976931348623157e308, "neg_zero": -0.0,
               "third": 1 / 3, "exp": 1e-7, "whole": 2.0},
    "ints": {"max64": 2**63 - 1, "min64": -(2**63), "u64": 2**64 - 1, "huge": 2**200, "neg_huge": -(3**90),
             "zero": 0},
    "bools_nulls": {"t": True, "f": False, "n": None},
    "keys": {"": "empty key", " ": "space", "z": 1, "a": 2, "Z": 3, "é": 4, "1": 5},
    "long_string": {"s": "x" * 100_000},
    "many_keys": {f"k{i}": i for i in range(500)},
}


def typed(value):
    """The value with every scalar's type kept visible (1 vs 1.0 vs True, 0.0 vs -0.0)."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(item) for item in value]
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_data_round_trip(open_ledger, name):
    ledger = open_ledger()
    data = ROUND_TRIP[name]
    meta = {"copy": data}
    ledger.append("rt:1", [NewEvent("stored", data, meta=meta)])
    [event] = ledger.read_stream("rt:1")
    assert event.data == data and event.meta == meta
    assert typed(event.data) == typed(data)  # -0.0, ints stay ints, floats stay floats
    assert ledger.verify().ok
    reopened = open_ledger()
    [again] = reopened.read_stream("rt:1")
    assert again.to_dict() == event.to_dict()
    assert typed(again.data) == typed(data)
    assert reopened.verify().ok


def test_tuples_are_stored_as_lists(ledger):
    ledger.append("rt:1", [ev(pair=(1, 2))])
    assert next(ledger.read_stream("rt:1")).data == {"pair": [1, 2]}


def test_text_filter_matches_unicode_case_insensitively(ledger):
    ledger.append("rt:1", [ev(name="STRASSE Ärger")])
    ledger.append("rt:2", [ev(name="other")])
    assert [e.stream for e in ledger.read_all(filter=Filter(text="ärger"))] == ["rt:1"]
    assert [e.stream for e in ledger.read_all(filter=Filter(text="strasse ä"))] == ["rt:1"]
