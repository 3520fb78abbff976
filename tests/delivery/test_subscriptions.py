"""Subscriptions on every store: catch-up then live, position order, filters, durable named
checkpoints, iterator mode, and the bounded queue."""

from __future__ import annotations

import threading
import time

import pytest

import chronik
from chronik import Filter, NewEvent
from chronik.derive.checkpoints import load_checkpoint

LIVE_TIMEOUT_S = 10


def append_numbered(ledger: chronik.Ledger, start: int, count: int, category: str = "order") -> None:
    for n in range(start, start + count):
        ledger.append(f"{category}:{n % 3}", [NewEvent("placed", {"n": n})])


def wait_until(condition, timeout_s: float = LIVE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_catch_up_then_live_in_position_order(open_ledger) -> None:
    ledger = open_ledger()
    append_numbered(ledger, 0, 20)
    seen: list[int] = []
    sub = ledger.subscribe(lambda event: seen.append(event.position)).start()
    try:
        wait_until(lambda: len(seen) == 20)
        # Live: appended by another ledger object (another connection / file handle).
        writer = open_ledger()
        for batch in range(5):
            append_numbered(writer, 100 + batch * 3, 3)
            wait_until(lambda expected=23 + batch * 3: len(seen) == expected)
    finally:
        sub.stop()
    assert sub.error is None
    assert seen == list(range(1, 36))


def test_live_delivery_wakes_promptly(open_ledger) -> None:
    ledger = open_ledger()
    received = threading.Event()
    # A long wait per round: only the store's change signal can wake the reader in time.
    sub = ledger.subscribe(lambda event: received.set(), wait_for_change_s=5.0).start()
    try:
        time.sleep(0.2)  # caught up and waiting for a change
        started = time.monotonic()
        open_ledger().append("order:1", [NewEvent("placed")])
        assert received.wait(LIVE_TIMEOUT_S)
        # Below PostgreSQL's 0.5 s polling fallback, and far below the 5 s round.
        assert time.monotonic() - started < 0.3
    finally:
        sub.stop()


def test_filter_and_checkpoint_past_unmatched_events(open_ledger) -> None:
    ledger = open_ledger()
    append_numbered(ledger, 0, 6, "order")
    append_numbered(ledger, 0, 4, "user")
    seen: list[str] = []
    sub = ledger.subscribe(lambda event: seen.append(event.stream), name="orders",
                           filter=Filter(categories=["order"]))
    assert sub.run_until(ledger.head().position, timeout_s=LIVE_TIMEOUT_S)
    sub.stop()
    assert len(seen) == 6 and all(stream.startswith("order:") for stream in seen)
    # The checkpoint is at the head though the last events did not match the filter.
    assert load_checkpoint(ledger.store, "orders").position == 10


def test_named_subscription_resumes_from_its_checkpoint(open_ledger) -> None:
    ledger = open_ledger()
    append_numbered(ledger, 0, 10)
    first: list[int] = []
    sub = ledger.subscribe(lambda event: first.append(event.position), name="mailer")
    assert sub.run_until(10, timeout_s=LIVE_TIMEOUT_S)
    sub.stop()
    append_numbered(ledger, 10, 5)
    reopened = open_ledger()
    second: list[int] = []
    # `after` only applies to the first run: the checkpoint wins.
    sub = reopened.subscribe(lambda event: second.append(event.position), name="mailer", after=0)
    assert sub.started_after == 10
    assert sub.run_until(15, timeout_s=LIVE_TIMEOUT_S)
    sub.stop()
    assert first == list(range(1, 11)) and second == list(range(11, 16))


def test_iterator_mode_acknowledges_on_next(open_ledger) -> None:
    ledger = open_ledger()
    append_numbered(ledger, 0, 5)
    sub = ledger.subscribe(name="reader")
    positions = [event.position for event in sub.events(until=5, timeout_s=LIVE_TIMEOUT_S)]
    sub.stop()
    assert positions == [1, 2, 3, 4, 5]
    assert load_checkpoint(ledger.store, "reader").position == 5
    append_numbered(ledger, 5, 2)
    sub = ledger.subscribe(name="reader")
    assert [event.position for event in sub.events(until=7, timeout_s=LIVE_TIMEOUT_S)] == [6, 7]
    sub.stop()


@pytest.mark.parametrize("open_ledger", ["memory", "sqlite"], indirect=True)
def test_bounded_queue_holds_with_a_slow_handler(open_ledger) -> None:
    ledger = open_ledger()
    append_numbered(ledger, 0, 300)
    queue_size = 8
    longest: list[int] = []
    seen: list[int] = []
    sub = ledger.subscribe(queue_size=queue_size)

    def slow(event: chronik.Event) -> None:
        longest.append(sub.queue_length)
        seen.append(event.position)
        time.sleep(0.001)

    sub.handler = slow
    assert sub.run_until(300, timeout_s=LIVE_TIMEOUT_S * 3)
    sub.stop()
    assert seen == list(range(1, 301))
    assert max(longest) <= queue_size
    assert max(longest) >= queue_size - 1  # the reader really was ahead, and was held back


def test_subscribe_rejects_bad_input(ledger) -> None:
    with pytest.raises(chronik.ValidationError, match="queue_size"):
        ledger.subscribe(queue_size=0)
    with pytest.raises(chronik.ValidationError, match="name"):
        ledger.subscribe(name="no spaces")
    with pytest.raises(chronik.ValidationError, match="after"):
        ledger.subscribe(after=-1)
    with pytest.raises(chronik.ValidationError, match="handler"):
        ledger.subscribe().run()
