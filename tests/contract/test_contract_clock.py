"""Contract: time is a recorded fact, never an order. A fake clock that jumps backwards or
freezes changes no position, version, read order, page or chain (DESIGN 2, 'position')."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chronik import Filter, NewEvent
from chronik.codec import format_time

T0 = datetime(2026, 11, 22, 1, 15, 9, 123456, tzinfo=UTC)


def ev(type_: str = "happened", **data) -> NewEvent:
    return NewEvent(type_, data)


def append_at(ledger, clock, moments, streams=("a:1", "b:1", "a:2")):
    """One append per moment, round-robin over streams; returns the times recorded."""
    recorded = []
    for index, moment in enumerate(moments):
        clock.set(moment)
        result = ledger.append(streams[index % len(streams)], [ev(i=index)])
        assert result.first_position == index + 1
        recorded.append(format_time(moment))
    return recorded


def assert_orders_by_position(ledger, count):
    events = list(ledger.read_all())
    assert [e.position for e in events] == list(range(1, count + 1))
    assert [e.data["i"] for e in events] == list(range(count))
    for stream in {e.stream for e in events}:
        assert [e.version for e in ledger.read_stream(stream)] == \
            list(range(1, sum(1 for e in events if e.stream == stream) + 1))
    report = ledger.verify()
    assert report.ok, report.problems
    assert report.checked == count
    return events


JUMPING = [T0, T0 + timedelta(hours=1), T0 - timedelta(days=3), T0 - timedelta(days=3, microseconds=1),
           T0 + timedelta(seconds=5), datetime(2001, 1, 1, tzinfo=UTC), T0, T0 - timedelta(seconds=1),
           datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), T0]


def test_clock_jumping_backwards_changes_no_order(open_ledger, clock):
    ledger = open_ledger(clock=clock)
    recorded = append_at(ledger, clock, JUMPING)
    events = assert_orders_by_position(ledger, len(JUMPING))
    # Times are recorded exactly as the clock gave them, not "fixed".
    assert [e.time for e in events] == recorded
    # Streams report their last event by position, whatever its time.
    last = {info.stream: info for info in ledger.streams()}
    assert last["a:1"].last_position == 10 and last["a:1"].last_time == recorded[9]
    assert last["b:1"].last_position == 8 and last["b:1"].last_time == recorded[7]
    # Stats first/last are the first and last events in position order.
    stats = ledger.stats()
    assert stats["first_time"] == recorded[0] and stats["last_time"] == recorded[-1]
    assert ledger.head().position == 10


def test_clock_jumping_backwards_keeps_pages_and_follow_in_position_order(open_ledger, clock):
    ledger = open_ledger(clock=clock)
    append_at(ledger, clock, JUMPING)
    seen = []
    page = ledger.query(limit=3)
    seen += [e.position for e in page.events]
    while page.has_more:
        clock.set(clock.now - timedelta(days=1))  # keep going backwards between pages
        ledger.append("c:1", [ev(i=-1)])
        page = ledger.query(limit=3, cursor=page.next_cursor)
        seen += [e.position for e in page.events]
    assert seen == list(range(1, len(seen) + 1))
    followed = []
    for event in ledger.follow(after=0, poll_interval_ms=1, stop=lambda: len(followed) >= len(seen)):
        followed.append(event.position)
    assert followed == seen


def test_time_filters_select_by_recorded_time_in_position_order(open_ledger, clock):
    ledger = open_ledger(clock=clock)
    append_at(ledger, clock, JUMPING)
    since = Filter(since=T0)
    # Positions whose recorded time >= T0, returned by position, not by time.
    expected = [i + 1 for i, m in enumerate(JUMPING) if m >= T0]
    assert [e.position for e in ledger.read_all(filter=since)] == expected
    until = Filter(until=T0 - timedelta(seconds=1))
    expected = [i + 1 for i, m in enumerate(JUMPING) if m <= T0 - timedelta(seconds=1)]
    assert [e.position for e in ledger.read_all(filter=until)] == expected
    assert ledger.query(until).total == len(expected)


def test_frozen_clock(open_ledger, clock):
    clock.freeze()
    ledger = open_ledger(clock=clock)
    for index in range(20):
        ledger.append(f"f:{index % 3}", [ev(i=index)])
    events = assert_orders_by_position(ledger, 20)
    assert {e.time for e in events} == {format_time(T0)}
    assert [e.position for e in ledger.read_all(filter=Filter(since=T0, until=T0))] == list(range(1, 21))
    page1 = ledger.query(limit=7)
    page2 = ledger.query(limit=7, cursor=page1.next_cursor)
    assert [e.position for e in page1.events + page2.events] == list(range(1, 15))


def test_clock_in_another_time_zone_is_recorded_in_utc(open_ledger, clock):
    from datetime import timezone

    ledger = open_ledger(clock=clock)
    clock.set(datetime(2026, 1, 1, 3, 0, 0, 7, tzinfo=timezone(timedelta(hours=2))))
    ledger.append("tz:1", [ev(i=0)])
    assert next(ledger.read_stream("tz:1")).time == "2026-01-01T01:00:00.000007Z"


def test_backwards_clock_survives_reopen(open_ledger, clock, store_kind):
    ledger = open_ledger(clock=clock)
    recorded = append_at(ledger, clock, JUMPING)
    before = [e.to_dict() for e in ledger.read_all()]
    if store_kind.persistent:
        ledger.close()
    again = open_ledger()
    assert [e.to_dict() for e in again.read_all()] == before
    assert [e.time for e in again.read_all()] == recorded
    assert again.verify().ok
