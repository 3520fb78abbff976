"""Contract: every limit raises LimitExceeded naming the field, and writes nothing."""

from __future__ import annotations

import pytest

from chronik import Expect, Filter, LimitExceeded, Limits, NewEvent, ValidationError
from chronik.limits import MIB


def ev(type_: str = "happened", **data) -> NewEvent:
    return NewEvent(type_, data)


def nested(depth: int, leaf=1, kind: str = "dict"):
    """A value whose nesting depth is `depth` (a flat {"k": 1} has depth 1)."""
    value = leaf
    for _ in range(depth):
        value = {"k": value} if kind == "dict" else [value]
    return value


def limited(open_ledger, **limits):
    ledger = open_ledger(limits=Limits(**limits))
    ledger.append("seed:1", [ev("t")])
    return ledger


def check_limit(caught, field: str, limit_name: str, prefix: bool = False) -> None:
    error = caught.value
    assert isinstance(error, LimitExceeded) and isinstance(error, ValidationError)
    assert error.limit_name == limit_name
    if prefix:
        assert error.field.startswith(field), error.field
    else:
        assert error.field == field
    assert field.split(".")[0] in str(error)
    assert error.to_dict()["field"] == error.field


# ---------------------------------------------------------------- event size


@pytest.mark.parametrize("where", ["data", "meta"])
def test_max_event_bytes_small(open_ledger, store_state, where):
    ledger = limited(open_ledger, max_event_bytes=100)
    # {"s":"..."} is 8 bytes plus the string; the other object is {} (2 bytes).
    fits = {"s": "x" * 90}
    too_big = {"s": "x" * 91}

    def event(payload):
        return NewEvent("sized", payload) if where == "data" else NewEvent("sized", {}, meta=payload)

    ledger.append("size:1", [event(fits)])
    before = store_state(ledger)
    with pytest.raises(LimitExceeded) as caught:
        ledger.append("size:1", [event(fits), event(too_big)])
    check_limit(caught, "size:1.events[1].data", "max_event_bytes")
    assert caught.value.limit == 100 and caught.value.actual == 101
    assert store_state(ledger) == before


def test_max_event_bytes_counts_utf8_bytes_of_data_and_meta(open_ledger, store_state):
    ledger = limited(open_ledger, max_event_bytes=20)
    # {"s":"é"} and {"t":"é"}: 9 characters but 10 bytes each, 20 in all: fits.
    ledger.append("size:1", [NewEvent("sized", {"s": "é"}, meta={"t": "é"})])
    before = store_state(ledger)
    # 16 characters, 22 bytes: over.
    with pytest.raises(LimitExceeded) as caught:
        ledger.append("size:1", [NewEvent("sized", {"s": "é" * 6})])
    assert caught.value.actual == 22
    assert store_state(ledger) == before


@pytest.mark.slow
def test_max_event_bytes_default_is_one_mib(open_ledger, store_state):
    ledger = open_ledger()
    ledger.append("size:1", [ev(s="x" * (MIB - 10))])  # exactly 1 MiB with meta {}
    before = store_state(ledger)
    with pytest.raises(LimitExceeded) as caught:
        ledger.append("size:1", [ev(s="x" * (MIB - 9))])
    check_limit(caught, "size:1.events[0].data", "max_event_bytes")
    assert caught.value.limit == MIB
    assert store_state(ledger) == before


# ---------------------------------------------------------------- depth


@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("where", ["data", "meta"])
def test_max_depth_64(open_ledger, store_state, kind, where):
    ledger = open_ledger()
    # The event's own object is depth 1, so 63 more levels fit.
    fits, deep = {"v": nested(63, kind=kind)}, {"v": nested(64, kind=kind)}

    def event(payload):
        return NewEvent("deep", payload) if where == "data" else NewEvent("deep", {}, meta=payload)

    ledger.append("deep:1", [event(fits)])
    assert next(ledger.read_stream("deep:1")).to_dict()[where] == fits
    before = store_state(ledger)
    with pytest.raises(LimitExceeded) as caught:
        ledger.append("deep:1", [event(deep)])
    check_limit(caught, f"deep:1.events[0].{where}", "max_depth", prefix=True)
    assert caught.value.limit == 64
    assert store_state(ledger) == before


def test_max_depth_custom(open_ledger, store_state):
    ledger = limited(open_ledger, max_depth=3)
    ledger.append("deep:1", [ev("t", a={"b": {"c": 1}})])
    before = store_state(ledger)
    with pytest.raises(LimitExceeded) as caught:
        ledger.append("deep:1", [ev("t", a={"b": {"c": {"d": 1}}})])
    check_limit(caught, "deep:1.events[0].data.a.b.c", "max_depth")
    assert store_state(ledger) == before


def test_very_deep_data_is_rejected_without_recursion_error(open_ledger, store_state):
    ledger = open_ledger()
    before = store_state(ledger)
    with pytest.raises(LimitExceeded):
        ledger.append("deep:1", [ev(v=nested(100_000))])
    assert store_state(ledger) == before


# ---------------------------------------------------------------- batch size


def test_max_batch_events_small(open_ledger, store_state):
    ledger = limited(open_ledger, max_batch_events=5)
    ledger.append("batch:1", [ev() for _ in range(5)])
    before = store_state(ledger)
    with pytest.raises(LimitExceeded) as caught:
        ledger.append("batch:1", [ev() for _ in range(6)])
    check_limit(caught, "events", "max_batch_events")
    with pytest.raises(LimitExceeded) as caught:
        ledger.append_many({"batch:1": ([ev() for _ in range(3)], Expect.ANY),
                            "batch:2": ([ev() for _ in range(3)], Expect.ANY)})
    check_limit(caught, "events", "max_batch_events")
    assert caught.value.actual == 6
    assert store_state(ledger) == before


@pytest.mark.slow
def test_max_batch_events_default_is_10000(open_ledger, store_state):
    ledger = open_ledger()
    result = ledger.append("batch:1", [ev(i=i) for i in range(10_000)])
    assert (result.first_position, result.last_position, result.version) == (1, 10_000, 10_000)
    before_head = ledger.head()
    with pytest.raises(LimitExceeded) as caught:
        ledger.append_many({"batch:2": ([ev() for _ in range(5_000)], Expect.ANY),
                            "batch:3": ([ev() for _ in range(5_001)], Expect.ANY)})
    check_limit(caught, "events", "max_batch_events")
    assert caught.value.limit == 10_000
    assert ledger.head() == before_head
    assert [info.stream for info in ledger.streams("batch")] == ["batch:1"]
    assert ledger.verify().ok


# ---------------------------------------------------------------- page size and other limits


def test_max_page_size_default_is_1000(open_ledger):
    ledger = open_ledger()
    ledger.append("page:1", [ev(i=i) for i in range(1_001)])
    page = ledger.query(limit=1_000)
    assert len(page.events) == 1_000 and page.has_more and page.total == 1_001
    with pytest.raises(LimitExceeded) as caught:
        ledger.query(limit=1_001)
    check_limit(caught, "limit", "max_page_size")
    rest = ledger.query(limit=1_000, cursor=page.next_cursor)
    assert [e.position for e in rest.events] == [1_001]


def test_max_page_size_custom(open_ledger):
    ledger = limited(open_ledger, max_page_size=3)
    assert len(ledger.query(limit=3).events) == 1
    with pytest.raises(LimitExceeded) as caught:
        ledger.query(limit=4)
    check_limit(caught, "limit", "max_page_size")


def test_name_and_filter_limits(open_ledger, store_state):
    ledger = limited(open_ledger, max_stream_name_chars=12, max_type_chars=5, max_id_chars=4,
                     max_text_filter_chars=3, max_filter_values=2)
    ledger.append("stream:12345", [ev("t")])  # 12 characters fit
    before = store_state(ledger)
    with pytest.raises(LimitExceeded) as caught:
        ledger.append("stream:123456", [ev("t")])
    check_limit(caught, "stream", "max_stream_name_chars")
    with pytest.raises(LimitExceeded) as caught:
        ledger.append("s:1", [ev("sixsix")])
    check_limit(caught, "s:1.events[0].type", "max_type_chars")
    with pytest.raises(LimitExceeded) as caught:
        ledger.append("s:1", [NewEvent("t", {}, id="abcde")])
    check_limit(caught, "s:1.events[0].id", "max_id_chars")
    with pytest.raises(LimitExceeded) as caught:
        list(ledger.read_all(filter=Filter(text="abcd")))
    check_limit(caught, "filter.text", "max_text_filter_chars")
    with pytest.raises(LimitExceeded) as caught:
        ledger.query(Filter(types=["a", "b", "c"]))
    check_limit(caught, "filter.types", "max_filter_values")
    assert store_state(ledger) == before
