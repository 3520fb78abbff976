"""Contract: appending. Expectations, conflicts, idempotency, atomicity, contiguous positions.

DESIGN 3.2 (atomic), 3.3 (optimistic concurrency), 3.4 (idempotency), 3.5 (gap-free positions).
"""

from __future__ import annotations

import pytest

from chronik import (
    AppendResult,
    ConcurrencyError,
    DuplicateIdError,
    Expect,
    NewEvent,
    ValidationError,
)


def ev(type_: str = "happened", id: str | None = None, **data) -> NewEvent:
    return NewEvent(type_, data, id=id)


def versions(ledger, stream: str) -> list[int]:
    return [event.version for event in ledger.read_stream(stream)]


# ---------------------------------------------------------------- expectations


def test_first_append_gets_position_1_and_version_1(ledger):
    result = ledger.append("order:1", [ev("created", n=1)], expect=Expect.NO_STREAM)
    assert isinstance(result, AppendResult)
    assert (result.first_position, result.last_position, result.version) == (1, 1, 1)
    assert len(result.ids) == 1
    [event] = ledger.read_stream("order:1")
    assert (event.position, event.version, event.type, event.data) == (1, 1, "created", {"n": 1})
    assert event.id == result.ids[0]
    assert event.stream == "order:1" and event.category == "order"


@pytest.mark.parametrize("expect", [Expect.ANY, Expect.NO_STREAM, 0])
def test_expectations_that_hold_on_a_missing_stream(ledger, expect):
    assert ledger.append("order:1", [ev()], expect=expect).version == 1


@pytest.mark.parametrize("expect", [Expect.ANY, Expect.EXISTS, 2])
def test_expectations_that_hold_on_a_stream_at_version_2(ledger, expect):
    ledger.append("order:1", [ev(), ev()])
    assert ledger.append("order:1", [ev()], expect=expect).version == 3


@pytest.mark.parametrize("expect, actual_version", [
    (Expect.EXISTS, None), (1, None), (5, None),
])
def test_conflicts_on_a_missing_stream(ledger, store_state, expect, actual_version):
    ledger.append("other:1", [ev()])
    before = store_state(ledger)
    with pytest.raises(ConcurrencyError) as caught:
        ledger.append("order:1", [ev(), ev()], expect=expect)
    assert caught.value.stream == "order:1"
    assert caught.value.actual == actual_version
    assert caught.value.expected == expect
    assert store_state(ledger) == before
    assert list(ledger.read_stream("order:1")) == []


@pytest.mark.parametrize("expect", [Expect.NO_STREAM, 0, 1, 3, 100])
def test_conflicts_on_a_stream_at_version_2(ledger, store_state, expect):
    ledger.append("order:1", [ev(), ev()])
    before = store_state(ledger)
    with pytest.raises(ConcurrencyError) as caught:
        ledger.append("order:1", [ev()], expect=expect)
    assert caught.value.actual == 2
    assert store_state(ledger) == before
    # The ledger is still usable at the right version.
    assert ledger.append("order:1", [ev()], expect=2).version == 3


@pytest.mark.parametrize("expect", [2**63, 20676776556979411746816, -1])
def test_an_expected_version_beyond_64_bits_is_invalid_input_on_every_store(ledger, store_state, expect):
    # Was a ConcurrencyError on SQLite and a StorageError ("out of range for type bigint") on
    # PostgreSQL: the same call must fail the same way everywhere, naming the field.
    ledger.append("order:1", [ev()])
    before = store_state(ledger)
    with pytest.raises(ValidationError) as caught:
        ledger.append("order:1", [ev()], expect=expect)
    assert caught.value.field == "order:1.expect" and "from 0 to 9223372036854775807" in str(caught.value)
    assert store_state(ledger) == before


def test_concurrency_error_is_a_chronik_error_with_a_readable_message(ledger):
    ledger.append("order:1", [ev()])
    with pytest.raises(ConcurrencyError) as caught:
        ledger.append("order:1", [ev()], expect=Expect.NO_STREAM)
    assert "order:1" in str(caught.value)
    assert caught.value.to_dict()["actual"] == 1
    assert caught.value.exit_code == 4


def test_exact_expectations_chain_without_gaps(ledger):
    for version in range(10):
        assert ledger.append("order:1", [ev(n=version)], expect=version).version == version + 1
    assert versions(ledger, "order:1") == list(range(1, 11))


def test_streams_have_independent_versions(ledger):
    ledger.append("a:1", [ev()])
    ledger.append("b:1", [ev(), ev()])
    ledger.append("a:1", [ev()], expect=1)
    assert versions(ledger, "a:1") == [1, 2]
    assert versions(ledger, "b:1") == [1, 2]
    assert [e.position for e in ledger.read_all()] == [1, 2, 3, 4]


# ---------------------------------------------------------------- batches and positions


def test_batch_gets_contiguous_positions_and_versions(ledger):
    ledger.append("noise:1", [ev()])
    result = ledger.append("order:1", [ev(n=i) for i in range(7)])
    assert (result.first_position, result.last_position, result.version) == (2, 8, 7)
    events = list(ledger.read_stream("order:1"))
    assert [e.position for e in events] == list(range(2, 9))
    assert [e.version for e in events] == list(range(1, 8))
    assert [e.data["n"] for e in events] == list(range(7))
    assert [e.id for e in events] == result.ids
    assert len(set(result.ids)) == 7


def test_events_of_one_call_share_one_time(ledger):
    ledger.append("order:1", [ev(), ev(), ev()])
    assert len({e.time for e in ledger.read_stream("order:1")}) == 1


def test_append_many_is_contiguous_across_streams(ledger):
    ledger.append("a:1", [ev()])
    results = ledger.append_many({
        "a:1": ([ev(n=1), ev(n=2)], 1),
        "b:1": ([ev(n=3)], Expect.NO_STREAM),
        "c:9": ([ev(n=4), ev(n=5)], Expect.ANY),
    })
    assert set(results) == {"a:1", "b:1", "c:9"}
    spans = sorted((r.first_position, r.last_position) for r in results.values())
    assert spans[0][0] == 2 and spans[-1][1] == 6
    covered = [p for first, last in spans for p in range(first, last + 1)]
    assert covered == [2, 3, 4, 5, 6]
    assert results["a:1"].version == 3 and results["b:1"].version == 1 and results["c:9"].version == 2
    assert [e.position for e in ledger.read_all()] == [1, 2, 3, 4, 5, 6]
    assert ledger.verify().ok


def test_append_accepts_a_single_new_event(ledger):
    assert ledger.append_many({"a:1": (ev(), Expect.ANY)})["a:1"].version == 1


# ---------------------------------------------------------------- atomicity


@pytest.mark.parametrize("failing", ["first", "middle", "last"])
def test_append_many_conflict_on_one_stream_writes_nothing_anywhere(ledger, store_state, failing):
    ledger.append("a:1", [ev()])
    ledger.append("b:1", [ev()])
    before = store_state(ledger)
    good_a = ([ev(), ev()], 1)
    good_c = ([ev()], Expect.NO_STREAM)
    bad_b = ([ev()], Expect.NO_STREAM)  # b:1 exists
    order = {"first": [("b:1", bad_b), ("a:1", good_a), ("c:1", good_c)],
             "middle": [("a:1", good_a), ("b:1", bad_b), ("c:1", good_c)],
             "last": [("a:1", good_a), ("c:1", good_c), ("b:1", bad_b)]}[failing]
    with pytest.raises(ConcurrencyError) as caught:
        ledger.append_many(dict(order))
    assert caught.value.stream == "b:1"
    assert store_state(ledger) == before
    assert list(ledger.read_stream("c:1")) == []
    # Positions are not consumed by the failed call.
    assert ledger.append("c:1", [ev()]).first_position == 3


def test_invalid_event_anywhere_in_a_call_writes_nothing(ledger, store_state):
    ledger.append("a:1", [ev()])
    before = store_state(ledger)
    with pytest.raises(ValidationError) as caught:
        ledger.append_many({"a:1": ([ev(), ev()], Expect.ANY),
                            "b:1": ([ev(), NewEvent("bad type!", {})], Expect.ANY)})
    assert caught.value.field == "b:1.events[1].type"
    assert store_state(ledger) == before


# ---------------------------------------------------------------- idempotency


def test_reappend_same_id_same_content_returns_original_and_writes_nothing(ledger, store_state):
    original = ledger.append("order:1", [ev("created", id="e-1", n=1)], expect=Expect.NO_STREAM)
    ledger.append("order:1", [ev("paid", n=2)])
    before = store_state(ledger)
    # Same content, even with an expectation that would now fail: a retry is not a conflict.
    again = ledger.append("order:1", [ev("created", id="e-1", n=1)], expect=Expect.NO_STREAM)
    assert again == original
    assert store_state(ledger) == before


def test_reappend_whole_batch_returns_original(ledger, store_state):
    batch = [ev("created", id="b-1", n=1), ev("paid", id="b-2", n=2), ev("shipped", id="b-3")]
    original = ledger.append("order:1", batch)
    ledger.append("order:2", [ev()])
    before = store_state(ledger)
    assert ledger.append("order:1", batch, expect=0) == original
    assert store_state(ledger) == before


def test_reappend_with_meta_is_idempotent(ledger):
    event = NewEvent("created", {"n": 1}, meta={"by": "me"}, id="m-1")
    assert ledger.append("order:1", [event]) == ledger.append("order:1", [event])


def test_reappend_many_returns_original_results(ledger, store_state):
    call = {"a:1": ([ev(id="x-1")], Expect.NO_STREAM), "b:1": ([ev(id="x-2"), ev(id="x-3")], Expect.NO_STREAM)}
    original = ledger.append_many(call)
    before = store_state(ledger)
    assert ledger.append_many(call) == original
    assert store_state(ledger) == before


@pytest.mark.parametrize("change", ["data", "type", "meta", "stream"])
def test_reappend_same_id_different_content_is_an_error(ledger, store_state, change):
    ledger.append("order:1", [NewEvent("created", {"n": 1}, meta={"m": 1}, id="e-1")])
    before = store_state(ledger)
    stream, event = {
        "data": ("order:1", NewEvent("created", {"n": 2}, meta={"m": 1}, id="e-1")),
        "type": ("order:1", NewEvent("changed", {"n": 1}, meta={"m": 1}, id="e-1")),
        "meta": ("order:1", NewEvent("created", {"n": 1}, meta={"m": 2}, id="e-1")),
        "stream": ("order:2", NewEvent("created", {"n": 1}, meta={"m": 1}, id="e-1")),
    }[change]
    with pytest.raises(DuplicateIdError) as caught:
        ledger.append(stream, [event])
    assert isinstance(caught.value, ValidationError)
    assert caught.value.field == f"{stream}.events[0].id"
    assert store_state(ledger) == before


def test_partial_retry_mixing_recorded_and_new_ids_is_rejected(ledger, store_state):
    ledger.append("order:1", [ev(id="p-1"), ev(id="p-2")])
    before = store_state(ledger)
    with pytest.raises(DuplicateIdError) as caught:
        ledger.append("order:1", [ev(id="p-1"), ev(id="p-2"), ev(id="p-3")])
    assert caught.value.field.startswith("order:1.events[")
    assert caught.value.field.endswith("].id")
    with pytest.raises(DuplicateIdError):
        ledger.append("order:1", [ev(id="p-9"), ev(id="p-1")])
    with pytest.raises(DuplicateIdError):
        ledger.append("order:1", [ev(id="p-2"), ev()])  # a generated id is a new one
    assert store_state(ledger) == before


def test_partial_retry_across_streams_is_rejected(ledger, store_state):
    ledger.append_many({"a:1": ([ev(id="q-1")], Expect.ANY), "b:1": ([ev(id="q-2")], Expect.ANY)})
    before = store_state(ledger)
    with pytest.raises(DuplicateIdError):
        ledger.append_many({"a:1": ([ev(id="q-1")], Expect.ANY), "c:1": ([ev(id="q-3")], Expect.ANY)})
    assert store_state(ledger) == before


def test_retry_of_a_subset_of_an_earlier_batch_returns_its_span(ledger):
    ledger.append("order:1", [ev(id="s-1"), ev(id="s-2"), ev(id="s-3")])
    again = ledger.append("order:1", [ev(id="s-2"), ev(id="s-3")])
    assert (again.first_position, again.last_position, again.version) == (2, 3, 3)


def test_same_id_twice_in_one_call_is_rejected(ledger, store_state):
    before = store_state(ledger)
    with pytest.raises(ValidationError) as caught:
        ledger.append_many({"a:1": ([ev(id="d-1")], Expect.ANY), "b:1": ([ev(id="d-1")], Expect.ANY)})
    assert caught.value.field == "b:1.events[0].id"
    assert store_state(ledger) == before


def test_generated_ids_are_unique_uuid7(ledger):
    result = ledger.append("order:1", [ev() for _ in range(50)])
    assert len(set(result.ids)) == 50
    for event_id in result.ids:
        assert len(event_id) == 36 and event_id[14] == "7"


def test_given_uuid_object_is_stored_as_text(ledger):
    import uuid

    given = uuid.uuid4()
    result = ledger.append("order:1", [NewEvent("created", {}, id=given)])
    assert result.ids == [str(given)]
    assert next(ledger.read_stream("order:1")).id == str(given)
