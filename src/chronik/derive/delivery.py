"""Calling a handler that may fail: retries with exponential backoff and full jitter, and a
circuit breaker that stops calling a failing dependency for a cool-down.

`deliver(event, handler, ...)` calls `handler(event)` until it returns, at most
`RetryPolicy.attempts` times. Between calls it sleeps a full-jitter backoff,
`uniform(0, min(max_delay_s, base_delay_s * 2**(attempt - 1)))` (the AWS "full jitter" scheme:
many subscribers retrying one dependency spread out instead of hammering it in step).

The breaker is shared by every delivery of one subscription:

    closed     calls go through; `failure_threshold` consecutive failures open it
    open       no calls at all for `cooldown_s`; deliver() sleeps until the cool-down ends
    half-open  one trial call: success closes the breaker, failure opens it again

Only real calls count as attempts, so a delivery waits out an open breaker without using its
retry budget. When the budget is spent, `deliver` returns a failed `Delivery` and the caller
parks the event (chronik.derive.parking). Clock, sleep and randomness are injectable so tests
run in virtual time.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from typing import Any

import msgspec

from chronik.errors import ValidationError

Sleep = Callable[[float], Any]
Clock = Callable[[], float]

# Text of a handler's error kept with a parked event.
MAX_ERROR_CHARS = 2_000


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How often and how patiently a failing handler is called for one event."""

    attempts: int = 5
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or not 1 <= self.attempts <= 1_000:
            raise ValidationError("retry.attempts", f"{self.attempts!r} is not from 1 to 1000",
                                  "pass the number of calls per event, e.g. 5")
        if not 0 <= self.base_delay_s <= self.max_delay_s:
            raise ValidationError("retry.base_delay_s", "must be >= 0 and <= max_delay_s",
                                  "e.g. base_delay_s=0.05, max_delay_s=5")

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter backoff before call `attempt + 1`, after `attempt` failed calls."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** min(attempt - 1, 60))
        return (rng or random).uniform(0, ceiling)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """closed -> open after `failure_threshold` consecutive failures -> half-open after
    `cooldown_s` -> closed on one success (or open again on failure)."""

    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 30.0,
                 clock: Clock = time.monotonic) -> None:
        if not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise ValidationError("breaker.failure_threshold", f"{failure_threshold!r} is not >= 1",
                                  "pass how many consecutive failures open the breaker, e.g. 5")
        if cooldown_s < 0:
            raise ValidationError("breaker.cooldown_s", "must be >= 0", "pass seconds, e.g. 30")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self.wait_s() == 0:
            self._state = BreakerState.HALF_OPEN
        return self._state

    def wait_s(self) -> float:
        """Seconds until a call is allowed (0 when closed or half-open)."""
        if self._state is not BreakerState.OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown_s - self._clock())

    def record_success(self) -> None:
        self._state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at = None

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN or self.consecutive_failures >= self.failure_threshold:
            self._state = BreakerState.OPEN
            self.opened_at = self._clock()
            self.times_opened += 1

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "consecutive_failures": self.consecutive_failures,
                "times_opened": self.times_opened, "wait_s": round(self.wait_s(), 3)}


class Delivery(msgspec.Struct, frozen=True):
    """The outcome of delivering one event: ok, or the last error after `attempts` calls."""

    ok: bool
    attempts: int
    error: str | None = None


class Stopped(Exception):
    """Raised inside deliver() when the subscription is stopped while it waits."""


def deliver(event: Any, handler: Callable[[Any], Any], policy: RetryPolicy, breaker: CircuitBreaker,
            sleep: Sleep = time.sleep, rng: random.Random | None = None,
            stopped: Callable[[], bool] = lambda: False) -> Delivery:
    """Call `handler(event)` until it returns, within `policy` and `breaker` (module doc).

    `sleep(seconds)` waits (a stop-aware wait in subscriptions); `stopped()` true makes it raise
    Stopped between calls, so stop() never waits out a long cool-down."""
    error = ""
    for attempt in range(1, policy.attempts + 1):
        while (wait_s := breaker.wait_s()) > 0:
            if stopped():
                raise Stopped
            sleep(wait_s)
        if stopped():
            raise Stopped
        try:
            handler(event)
        except Exception as exc:  # the handler's failure is data here: retried, then parked
            breaker.record_failure()
            error = describe(exc)
            if attempt < policy.attempts:
                sleep(policy.delay_s(attempt, rng))
            continue
        breaker.record_success()
        return Delivery(True, attempt)
    return Delivery(False, policy.attempts, error)


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"
