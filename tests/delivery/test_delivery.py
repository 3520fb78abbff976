"""Handler failures: retries with backoff and jitter, the circuit breaker, parking, and
replaying or discarding parked events. Virtual time: sleeping moves the clock instantly."""

from __future__ import annotations

import random

import pytest

import chronik
from chronik import NewEvent
from chronik.derive import (
    BreakerState,
    CircuitBreaker,
    HandlerFailed,
    RetryPolicy,
    discard_parked,
    list_parked,
    replay_parked,
)
from chronik.derive.checkpoints import load_checkpoint


def test_full_jitter_backoff_is_bounded_and_grows() -> None:
    policy = RetryPolicy(attempts=10, base_delay_s=0.1, max_delay_s=2.0)
    rng = random.Random(7)
    for attempt in range(1, 10):
        ceiling = min(2.0, 0.1 * 2 ** (attempt - 1))
        delays = [policy.delay_s(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter spreads over the whole range
    with pytest.raises(chronik.ValidationError, match="attempts"):
        RetryPolicy(attempts=0)


def test_breaker_state_machine(virtual_time) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=10, clock=virtual_time.clock)
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.wait_s() == 10
    virtual_time.sleep(10)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_failure()  # the trial call failed: open again
    assert breaker.state is BreakerState.OPEN
    virtual_time.sleep(10)
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0


def test_transient_failure_recovers_through_retries(ledger, virtual_time) -> None:
    ledger.append("order:1", [NewEvent("placed", {"n": 1}), NewEvent("paid")])
    calls: list[int] = []

    def flaky(event: chronik.Event) -> None:
        calls.append(event.position)
        if calls.count(event.position) < 3:
            raise ConnectionError("mail server unavailable")

    sub = ledger.subscribe(flaky, name="flaky", retry=RetryPolicy(attempts=5, base_delay_s=0.5),
                           breaker=CircuitBreaker(failure_threshold=10, clock=virtual_time.clock),
                           sleep=virtual_time.sleep, rng=random.Random(1))
    assert sub.run_until(2, timeout_s=10)
    sub.stop()
    assert calls == [1, 1, 1, 2, 2, 2]
    assert len(virtual_time.slept) == 4 and all(0 <= s <= 1.0 for s in virtual_time.slept)
    assert sub.parked() == [] and load_checkpoint(ledger.store, "flaky").position == 2


def test_failing_handler_trips_the_breaker_then_parks(ledger, virtual_time) -> None:
    ledger.append("order:1", [NewEvent("placed"), NewEvent("paid")])
    cooldown_s, threshold, attempts = 30.0, 3, 6
    breaker = CircuitBreaker(failure_threshold=threshold, cooldown_s=cooldown_s, clock=virtual_time.clock)
    call_times: list[float] = []
    open_windows: list[tuple[float, float]] = []

    def broken(event: chronik.Event) -> None:
        call_times.append(virtual_time.now)
        raise RuntimeError("database is down")

    sub = ledger.subscribe(name="billing", retry=RetryPolicy(attempts=attempts, base_delay_s=0.1),
                           breaker=breaker, sleep=virtual_time.sleep, rng=random.Random(3))
    original_failure = breaker.record_failure

    def watched_failure() -> None:
        original_failure()
        if breaker.state is BreakerState.OPEN:
            open_windows.append((breaker.opened_at, breaker.opened_at + cooldown_s))

    breaker.record_failure = watched_failure  # type: ignore[method-assign]

    def handler(event: chronik.Event) -> None:
        if event.position == 1:
            broken(event)

    sub.handler = handler
    assert sub.run_until(2, timeout_s=10)
    sub.stop()
    # Every attempt was a real call; none fell inside a cool-down (the breaker held them back).
    assert len(call_times) == attempts
    assert open_windows, "the breaker opened"
    for start, end in open_windows:
        assert not any(start < t < end for t in call_times), (start, end, call_times)
    assert breaker.times_opened == attempts - threshold + 1
    # Parked with its error, and the subscription moved on to position 2.
    [parked] = list_parked(ledger.store, "billing")
    assert (parked.position, parked.attempts) == (1, attempts)
    assert "RuntimeError: database is down" in parked.error
    assert load_checkpoint(ledger.store, "billing").position == 2


def test_replaying_a_parked_event_applies_it_exactly_once(ledger, virtual_time) -> None:
    ledger.append("order:1", [NewEvent("placed", {"n": 1}), NewEvent("placed", {"n": 2})])
    fixed = False
    applied: list[int] = []

    def handler(event: chronik.Event) -> None:
        if event.data["n"] == 1 and not fixed:
            raise ValueError("bug in handler")
        applied.append(event.position)

    sub = ledger.subscribe(handler, name="orders", retry=RetryPolicy(attempts=2),
                           breaker=CircuitBreaker(clock=virtual_time.clock), sleep=virtual_time.sleep)
    assert sub.run_until(2, timeout_s=10)
    sub.stop()
    assert applied == [2] and [p.position for p in list_parked(ledger.store, "orders")] == [1]
    # Still broken: the replay fails, the event stays parked with one more attempt.
    [outcome] = replay_parked(ledger.store, "orders", handler)
    assert not outcome.ok and list_parked(ledger.store, "orders")[0].attempts == 3
    fixed = True
    [outcome] = replay_parked(ledger.store, "orders", handler)
    assert outcome.ok and applied == [2, 1]
    assert replay_parked(ledger.store, "orders", handler) == []
    assert applied == [2, 1] and list_parked(ledger.store, "orders") == []


def test_discard_parked(ledger, virtual_time) -> None:
    ledger.append("order:1", [NewEvent("placed") for _ in range(3)])

    def always_fails(event: chronik.Event) -> None:
        raise RuntimeError("no")

    sub = ledger.subscribe(always_fails, name="x", retry=RetryPolicy(attempts=1),
                           breaker=CircuitBreaker(failure_threshold=100), sleep=virtual_time.sleep)
    assert sub.run_until(3, timeout_s=10)
    sub.stop()
    assert [p.position for p in list_parked(ledger.store, "x")] == [1, 2, 3]
    assert discard_parked(ledger.store, "x", [2]) == 1
    with pytest.raises(chronik.NotFound):
        discard_parked(ledger.store, "x", [2])
    assert discard_parked(ledger.store, "x") == 2 and list_parked(ledger.store, "x") == []


def test_unnamed_subscription_raises_instead_of_parking(ledger, virtual_time) -> None:
    ledger.append("order:1", [NewEvent("placed")])

    def always_fails(event: chronik.Event) -> None:
        raise RuntimeError("no")

    sub = ledger.subscribe(always_fails, retry=RetryPolicy(attempts=2), sleep=virtual_time.sleep)
    with pytest.raises(HandlerFailed, match="position 1 after 2 attempt"):
        sub.run_until(1, timeout_s=10)
    sub.stop()
