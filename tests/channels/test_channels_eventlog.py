"""EventLog, the plan's store API: offsets, idempotency, reads, subscriptions, and ids that
recompute from what every store gives back."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from channel_events import OBJECTIVE, created_channel, created_objective, event, hexid

from chronik.derive.delivery import RetryPolicy
from chronik.domains.channels import contentid
from chronik.domains.channels.eventlog import EventLog
from chronik.errors import ValidationError
from chronik.ledger import open_ledger
from chronik.model import NewEvent


def test_offsets_start_at_zero_and_stay_contiguous_among_other_events(ledger):
    log = EventLog(ledger)
    ledger.append("order:1", [NewEvent("order_created", {"n": 1})])
    assert log.append(event("message-sent", 0)) == 0
    ledger.append("order:1", [NewEvent("order_paid", {"n": 2})])
    ledger.append("channel:side", [NewEvent("not_ours", {})])  # a foreign type in a channel: stream
    assert log.append(event("message-sent", 1)) == 1
    assert log.append_many([event("message-sent", 2), created_channel()]) == [2, 3]
    assert len(log) == 4
    events = list(log.read_from(0))
    assert [e.offset for e in events] == [0, 1, 2, 3]
    assert [e.position for e in events] == [2, 5, 6, 7]  # the mapping: offset -> ledger position


def test_appending_the_same_event_again_is_idempotent(ledger):
    log = EventLog(ledger)
    first = log.append(created_objective())
    head = ledger.head().position
    assert log.append(created_objective()) == first
    assert log.append_many([event("objective-approved"), created_objective()]) == [1, first]
    assert ledger.head().position == head + 1
    assert log.append_many([event("message-sent"), event("message-sent")]) == [2, 2]  # one id: one event


def test_a_given_id_must_be_the_contents(ledger):
    log = EventLog(ledger)
    right = contentid.event_id("message-sent", event("message-sent")["payload"])
    assert log.append({**event("message-sent"), "id": right}) == 0
    with pytest.raises(ValidationError) as caught:
        log.append({**event("message-sent", 1), "id": right})
    assert caught.value.field == "events[0].id"
    with pytest.raises(ValidationError, match="canonical JSON"):
        log.append({**event("message-sent", 2), "canonical_json": "{}"})


def test_a_batch_is_all_or_nothing(ledger):
    log = EventLog(ledger)
    bad = event("state-signed", 1)
    bad["payload"]["turn_num"] = -1
    with pytest.raises(ValidationError) as caught:
        log.append_many([created_channel(), bad])
    assert caught.value.field == "events[1].payload.turn_num"
    with pytest.raises(ValidationError, match="does not exist"):
        log.append_many([event("message-sent"), event("objective-approved")])
    assert ledger.head().position == 0 and len(log) == 0


def test_read_range_is_end_exclusive_and_clamped(ledger):
    log = EventLog(ledger)
    log.append_many([event("message-received", n) for n in range(5)])
    assert [e.offset for e in log.read_range(1, 3)] == [1, 2]
    assert [e.offset for e in log.read_range(3, 99)] == [3, 4]
    assert log.read_range(5, 9) == [] and list(log.read_from(7)) == []
    assert log.event_at(4).payload == event("message-received", 4)["payload"]
    with pytest.raises(ValidationError):
        log.read_range(-1, 2)
    with pytest.raises(ValidationError):
        list(log.read_from("0"))


def test_there_is_no_update_or_delete():
    public = [name for name in dir(EventLog) if not name.startswith("_")]
    assert not [name for name in public if any(word in name for word in ("update", "delete", "remove", "set", "edit"))]


def test_ids_read_back_from_every_store_recompute(any_ledger):
    log = EventLog(any_ledger)
    events = [created_channel(), event("state-signed", 1), created_objective(), event("message-dropped", 2),
              event("objective-rejected", 3, reason="Überweisung abgelehnt")]
    offsets = log.append_many(events)
    assert sorted(offsets) == list(range(5))
    read = list(log.read_from(0))
    assert len(read) == len(log) == 5
    for item in read:
        assert contentid.event_id(item.event_name, item.payload) == item.id
    assert {item.id for item in read} == {contentid.event_id(e["event_name"], e["payload"]) for e in events}
    assert any_ledger.verify().ok


def collecting():
    seen: list[tuple[int, str]] = []
    arrived = threading.Event()

    def callback(item, offset):
        assert item.offset == offset
        seen.append((offset, item.event_name))
        arrived.set()

    return seen, arrived, callback


def wait_for(condition, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_subscribers_get_new_events_in_offset_order_after_commit(sqlite_url):
    with open_ledger(sqlite_url) as ledger:
        log = EventLog(ledger)
        log.append(event("message-sent", 0))  # before the subscription: not delivered
        seen, _, callback = collecting()
        sid = log.subscribe(callback)
        log.append_many([event("message-sent", n) for n in range(1, 6)])
        wait_for(lambda: len(seen) == 5)
        assert [offset for offset, _ in seen] == [1, 2, 3, 4, 5]
        assert log.unsubscribe(sid) and not log.unsubscribe(sid)
        log.append(event("message-sent", 9))
        time.sleep(0.3)
        assert len(seen) == 5
        assert ledger.store.aux_range("checkpoint") == []  # an unnamed subscription leaves nothing


def test_a_raising_callback_never_fails_an_append(ledger):
    log = EventLog(ledger)
    calls: list[int] = []

    def failing(item, offset):
        calls.append(offset)
        if offset == 1:
            raise RuntimeError("subscriber bug")

    sid = log.subscribe(failing, name="flaky", retry=RetryPolicy(attempts=3, base_delay_s=0, max_delay_s=0))
    assert log.append_many([event("message-acked", n) for n in range(3)]) == [0, 1, 2]
    subscription = log.subscription(sid)
    wait_for(lambda: subscription.position == ledger.head().position)
    assert calls == [0, 1, 1, 1, 2]  # retried, then parked, then the next one
    assert [parked.position for parked in subscription.parked()] == [2]
    log.close()


CHILD_APPENDS = """
import sys
sys.path.insert(0, {tests!r})
from channel_events import event
from chronik.ledger import open_ledger
from chronik.domains.channels.eventlog import EventLog
with open_ledger({url!r}) as ledger:
    print(EventLog(ledger).append_many([event("message-received", n) for n in range(10, 13)]))
"""


def test_subscribers_see_appends_of_other_processes(sqlite_url):
    import os

    with open_ledger(sqlite_url) as ledger:
        log = EventLog(ledger)
        seen, _, callback = collecting()
        log.subscribe(callback)
        code = CHILD_APPENDS.format(tests=os.path.dirname(__file__), url=sqlite_url)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[0, 1, 2]"
        wait_for(lambda: len(seen) == 3)
        assert seen == [(0, "message-received"), (1, "message-received"), (2, "message-received")]
        log.close()


def test_the_offset_index_is_derived_data_and_rebuilds(ledger):
    log = EventLog(ledger)
    log.append_many([event("message-sent", n) for n in range(600)])  # more than two index blocks
    expected = [(e.offset, e.position, e.id) for e in log.read_from(0)]
    from chronik.domains.channels.offsets import INDEX_KIND
    from chronik.stores.base import AuxChange

    ledger.store.aux_write([AuxChange(INDEX_KIND, key, None) for key, _ in ledger.store.aux_range(INDEX_KIND)])
    rebuilt = EventLog(ledger)
    assert [(e.offset, e.position, e.id) for e in rebuilt.read_from(0)] == expected
    assert rebuilt.index.offset_of(expected[300][1]) == 300
    assert rebuilt.index.offset_of(10_000) is None and rebuilt.index.count_through(0) == 0


def test_objective_streams_hold_only_their_objective(ledger):
    log = EventLog(ledger)
    other = hexid("other objective")
    log.append_many([created_objective(), created_objective(1, objective=other)])
    assert [s.stream for s in ledger.streams("objective")] == sorted([f"objective:{OBJECTIVE}", f"objective:{other}"])
