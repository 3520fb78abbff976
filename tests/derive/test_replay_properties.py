"""Properties of replay on random ledgers (hypothesis), on memory and SQLite.

A random ledger mixes a few streams, random event types and data, and a clock that jumps
backwards and forwards between appends (ADR 0002), so recorded times are out of order both across
streams and within one. Each property compares replay with a plain fold over read_stream.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chronik
from chronik import NewEvent, Reducer, codec

STREAMS = ["order:1", "order:2", "cart:a", "cart:b-7"]
TYPES = ["created", "item_added", "item-removed", "closed", "note.added"]
START = datetime(2026, 11, 22, 1, 0, 0, tzinfo=UTC)

appends = st.lists(
    st.tuples(
        st.sampled_from(STREAMS),
        st.lists(st.tuples(st.sampled_from(TYPES), st.integers(-1000, 1000)), min_size=1, max_size=4),
        st.integers(-3600, 3600),  # the clock's jump (seconds) before this append
        st.integers(0, 999_999),  # and its microseconds
    ),
    min_size=1, max_size=25,
)

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


class JumpingClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def record(state: dict[str, Any], event: chronik.Event) -> dict[str, Any]:
    """A reducer that keeps everything, so any difference in what was folded shows."""
    return {"seen": [*state["seen"], [event.version, event.type, event.data["v"]]],
            "sum": state["sum"] + event.data["v"], "last_type": event.type}


def make_reducer(snapshot_every: int | None = 3, keep: int = 3, version: int = 1) -> Reducer:
    return Reducer.from_function(record, initial={"seen": [], "sum": 0, "last_type": None}, name="record",
                                 version=version, snapshot_every=snapshot_every, keep_snapshots=keep)


def build(fresh_ledger, plan) -> chronik.Ledger:
    clock = JumpingClock()
    ledger = fresh_ledger(clock)
    for stream, events, jump_s, micros in plan:
        clock.now = (clock.now + timedelta(seconds=jump_s)).replace(microsecond=micros)
        ledger.append(stream, [NewEvent(type_, {"v": value}) for type_, value in events])
    return ledger


def fold(reducer: Reducer, events) -> Any:
    state = reducer.initial()
    for event in events:
        state = reducer.apply(state, event)
    return state


@PROPERTY_SETTINGS
@given(plan=appends, data=st.data())
def test_replay_equals_the_fold_over_read_stream(fresh_ledger, plan, data):
    ledger = build(fresh_ledger, plan)
    reducer = make_reducer()
    for stream in STREAMS:
        events = list(ledger.read_stream(stream))
        expected = fold(reducer, events)
        plain = ledger.replay(stream, reducer, include_snapshots=False)
        assert plain.state == expected
        assert (plain.version, plain.events_applied, plain.from_snapshot) == (len(events), len(events), None)
        assert plain.position == (events[-1].position if events else 0)
        # With snapshots (saved by policy on the way), at random versions and again to the end.
        for to_version in data.draw(st.lists(st.integers(0, len(events) + 2), max_size=4)):
            result = ledger.replay(stream, reducer, to_version=to_version)
            assert result.state == fold(reducer, events[:to_version])
            assert result.version == min(to_version, len(events))
            assert not result.warnings
        assert ledger.replay(stream, reducer).state == expected


@PROPERTY_SETTINGS
@given(plan=appends)
def test_snapshot_plus_tail_equals_full_replay_at_every_version(fresh_ledger, plan):
    ledger = build(fresh_ledger, plan)
    reducer = make_reducer(snapshot_every=None, keep=100)
    for stream in STREAMS:
        events = list(ledger.read_stream(stream))
        for version in range(1, len(events) + 1):
            ledger.snapshot(stream, reducer, to_version=version)
            at_version = ledger.replay(stream, reducer, to_version=version)
            assert at_version.from_snapshot == version and at_version.events_applied == 0
            assert at_version.state == fold(reducer, events[:version])
            latest = ledger.replay(stream, reducer)
            assert latest.from_snapshot == version
            assert latest.events_applied == len(events) - version
            assert latest.state == fold(reducer, events)
            assert latest.state == ledger.replay(stream, reducer, include_snapshots=False).state


@PROPERTY_SETTINGS
@given(plan=appends, data=st.data())
def test_replay_at_a_time_folds_exactly_the_events_recorded_by_then(fresh_ledger, plan, data):
    ledger = build(fresh_ledger, plan)
    reducer = make_reducer(snapshot_every=2, keep=5)
    all_times = sorted({codec.parse_time(event.time) for event in ledger.read_all()})
    for stream in STREAMS:
        events = list(ledger.read_stream(stream))
        ledger.replay(stream, reducer)  # leaves snapshots behind, which `at` may or may not use
        for _ in range(3):
            moment = data.draw(st.sampled_from(all_times)) + timedelta(
                microseconds=data.draw(st.sampled_from([-1, 0, 1])))
            expected_events = [e for e in events if codec.parse_time(e.time) <= moment]
            # The same instant written three ways: an aware datetime, Z text, and +05:30 text.
            shown = data.draw(st.sampled_from(["datetime", "z", "offset"]))
            at: Any = moment
            if shown == "z":
                at = codec.format_time(moment)
            elif shown == "offset":
                at = moment.astimezone(codec._fixed_zone(330)).isoformat()
            result = ledger.replay(stream, reducer, at=at)
            assert result.state == fold(reducer, expected_events)
            assert result.version == (expected_events[-1].version if expected_events else 0)
            assert result.events_applied + (result.from_snapshot or 0) == len(expected_events)
            assert not result.warnings


@PROPERTY_SETTINGS
@given(plan=appends, data=st.data())
def test_replay_to_a_position_folds_the_stream_events_at_or_before_it(fresh_ledger, plan, data):
    ledger = build(fresh_ledger, plan)
    reducer = make_reducer(snapshot_every=2)
    head = ledger.head().position
    for stream in STREAMS:
        events = list(ledger.read_stream(stream))
        ledger.replay(stream, reducer)
        for position in data.draw(st.lists(st.integers(0, head + 1), max_size=3)):
            expected = [e for e in events if e.position <= position]
            result = ledger.replay(stream, reducer, to_position=position)
            assert result.state == fold(reducer, expected)
            assert result.position == (expected[-1].position if expected else 0)
