"""Subscriptions: events after a position, in position order, catch-up then live.

    sub = ledger.subscribe(handler, name="billing", filter=Filter(categories=["order"]))
    sub.run()                      # or sub.start() ... sub.stop(); or: for event in sub: ...

How it works
------------
A reader thread takes the store's head, reads `read_all(after, until=head)` and puts the events
into a bounded queue; then it advances `after` to that head and, when there is nothing new,
blocks in `Store.wait_for_change` (memory: a condition variable; SQLite: `PRAGMA data_version`
polling; JSONL: file growth; PostgreSQL: LISTEN/NOTIFY with a polling fallback). It resumes by
position only, never by time, so nothing is skipped or delivered twice within a run.

Back-pressure: the queue holds at most `queue_size` items (DEFAULT_QUEUE_SIZE); when it is full
the reader waits. A slow handler therefore holds at most `queue_size` events plus one read page
(READ_PAGE_ROWS) in memory, however far behind it is.

Handler failures go through chronik.derive.delivery (retries with full-jitter backoff and a
circuit breaker shared by the subscription's deliveries). After the retry budget the event is
parked (chronik.derive.parking) in the same aux_write as the checkpoint that moves past it.
Parking needs a durable place, so an unnamed subscription raises `HandlerFailed` instead.

Checkpoints
-----------
A named subscription keeps its position as a durable checkpoint (chronik.derive.checkpoints).
It resumes from the checkpoint when there is one; `after` is only the starting point of its
first run (when no checkpoint exists yet). Delivery is at-least-once across crashes: the
checkpoint is written after the handler returns, every `checkpoint_every` events and whenever
the subscription catches up, so a crash may repeat up to `checkpoint_every` events. For
exactly-once effects keep the effects and the checkpoint together: use a projection
(chronik.derive.projections). In iterator mode an event counts as handled when the next one is
asked for (or the subscription is stopped).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from chronik import rules
from chronik.derive.checkpoints import check_name, checkpoint_change, load_checkpoint
from chronik.derive.delivery import CircuitBreaker, Delivery, RetryPolicy, Sleep, Stopped, deliver
from chronik.derive.parking import ParkedEvent, list_parked, park_changes
from chronik.errors import ChronikError, ValidationError
from chronik.model import Event, Filter, ReadFilter
from chronik.stores.base import Store, StoreOwner, limits_of, store_of
from chronik.stores.catchup import HeadReached, catch_up_then_live

# Items (events and position marks) between the reader and the handler.
DEFAULT_QUEUE_SIZE = 1_000
MAX_QUEUE_SIZE = 1_000_000
# A named subscription writes its checkpoint at least every this many handled events.
DEFAULT_CHECKPOINT_EVERY = 100
# How long one wait for a change lasts before the reader re-checks that it should go on.
WAIT_FOR_CHANGE_S = 0.2
# How often a waiting consumer re-checks stop(), deadlines and the reader's health.
CONSUMER_TICK_S = 0.05

Handler = Callable[[Event], Any]


class HandlerFailed(ChronikError):
    """An unnamed subscription's handler failed past its retry budget (nothing to park it in)."""

    def __init__(self, event: Event, delivery: Delivery) -> None:
        self.event = event
        self.delivery = delivery
        super().__init__(f"handler failed on position {event.position} after {delivery.attempts} "
                         f"attempt(s): {delivery.error} (name the subscription to park such events "
                         f"and move on)")


class _ReaderFailed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Subscription:
    """Catch-up then live delivery of a ledger's events (module doc). Make one with
    `Ledger.subscribe` (or from a store: Subscription(store, ...))."""

    def __init__(self, source: Store | StoreOwner, handler: Handler | None = None, *, after: int = 0,
                 filter: Filter | None = None, name: str | None = None,
                 queue_size: int = DEFAULT_QUEUE_SIZE, retry: RetryPolicy | None = None,
                 breaker: CircuitBreaker | None = None, sleep: Sleep | None = None,
                 rng: random.Random | None = None, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
                 wait_for_change_s: float = WAIT_FOR_CHANGE_S) -> None:
        self.store: Store = store_of(source)
        self.handler = handler
        self.name = None if name is None else check_name(name)
        self._filter: ReadFilter = rules.read_filter(filter, limits_of(source))
        after = rules.check_count(after, "after", minimum=0)
        if not isinstance(queue_size, int) or not 1 <= queue_size <= MAX_QUEUE_SIZE:
            raise ValidationError("queue_size", f"{queue_size!r} is not from 1 to {MAX_QUEUE_SIZE}",
                                  f"pass a bound such as {DEFAULT_QUEUE_SIZE}")
        self.queue_size = queue_size
        self.checkpoint_every = rules.check_count(checkpoint_every, "checkpoint_every", minimum=1)
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self._stop = threading.Event()
        self._sleep: Sleep = sleep or self._stop.wait
        self._rng = rng
        self._wait_for_change_s = wait_for_change_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        checkpoint = load_checkpoint(self.store, self.name) if self.name else None
        self.started_after = checkpoint.position if checkpoint else after
        # `position`: every matching event at or below it has been handled (or parked).
        self.position = self.started_after
        self._saved_position = self.started_after
        self._unsaved = 0
        self._reader: threading.Thread | None = None
        self._runner: threading.Thread | None = None
        self._in_hand: Event | None = None  # iterator mode: yielded, not yet acknowledged
        self.error: BaseException | None = None  # what ended a start()ed run, if anything
        self.delivered = 0
        self.parked_count = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Subscription:
        """Run the handler in a background thread (see `run`); `stop()` ends it."""
        self._require_handler()
        if self._runner is None:
            self._runner = threading.Thread(target=self._run_in_background, daemon=True,
                                            name=f"chronik-subscription-{self.name or 'anonymous'}")
            self._runner.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reading and delivering, and write the checkpoint of what was handled."""
        self._stop.set()
        current = threading.current_thread()
        for thread in (self._runner, self._reader):
            if thread is not None and thread is not current:
                thread.join(timeout_s)
        if self._in_hand is not None:
            self._handled(self._in_hand.position)
            self._in_hand = None
        if self._runner is None or not self._runner.is_alive():
            self._save_checkpoint()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def queue_length(self) -> int:
        return self._queue.qsize()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Subscription {self.name or 'anonymous'} at {self.position}>"

    # ------------------------------------------------------------ handler mode

    def run(self) -> None:
        """Deliver events to the handler in this thread until `stop()` (from the handler or
        another thread). Raises what the reader raised, or HandlerFailed (unnamed only)."""
        self.run_until(lambda: False)

    def run_until(self, until: int | Callable[[], bool], timeout_s: float | None = None) -> bool:
        """Deliver until `position >= until` (an int) or `until()` is true: True then; False
        when `timeout_s` passed or the subscription was stopped first."""
        self._require_handler()
        done = (lambda: self.position >= until) if isinstance(until, int) else until
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            while not done():
                item = self._next_item(deadline)
                if item is None:
                    return False
                if isinstance(item, Event):
                    self._deliver(item)
            return True
        except Stopped:
            return False
        finally:
            self._save_checkpoint()

    def _run_in_background(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # kept for whoever stops it
            self.error = exc
        finally:
            self._stop.set()

    def _deliver(self, event: Event) -> None:
        assert self.handler is not None
        outcome = deliver(event, self.handler, self.retry, self.breaker, self._sleep, self._rng,
                          self._stop.is_set)
        if outcome.ok:
            self.delivered += 1
            self._handled(event.position)
            return
        if self.name is None:
            raise HandlerFailed(event, outcome)
        # Park and move past it in one write: never skipped without a record, never both.
        self.store.aux_write([*park_changes(self.name, event, outcome.error or "", outcome.attempts),
                              checkpoint_change(self.name, event.position)])
        self.parked_count += 1
        self.position = self._saved_position = event.position
        self._unsaved = 0

    # ------------------------------------------------------------ iterator mode

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def events(self, until: int | None = None, timeout_s: float | None = None
               ) -> Generator[Event, None, None]:
        """Yield events (position order) until stopped, until `position >= until`, or until
        `timeout_s` passes. An event counts as handled when the next one is asked for."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            while until is None or self.position < until:
                if self._in_hand is not None:
                    self._handled(self._in_hand.position)
                    self._in_hand = None
                    if until is not None and self.position >= until:
                        break
                item = self._next_item(deadline)
                if item is None:
                    return
                if isinstance(item, Event):
                    self._in_hand = item
                    self.delivered += 1
                    yield item
        finally:
            if self._in_hand is not None and not self._stop.is_set():
                # The consumer closed the iterator after finishing with the last event.
                self._handled(self._in_hand.position)
                self._in_hand = None
            self._save_checkpoint()

    # ------------------------------------------------------------ parked events

    def parked(self) -> list[ParkedEvent]:
        if self.name is None:
            return []
        return list_parked(self.store, self.name)

    # ------------------------------------------------------------ internals

    def _require_handler(self) -> None:
        if self.handler is None:
            raise ValidationError("handler", "this subscription has no handler",
                                  "pass subscribe(handler, ...), or iterate: for event in sub")

    def _next_item(self, deadline: float | None) -> Event | HeadReached | None:
        """The next queued event or mark (marks advance `position`); None when stopped or past
        the deadline."""
        self._start_reader()
        while True:
            if self._stop.is_set():
                return None
            wait_s = CONSUMER_TICK_S
            if deadline is not None:
                wait_s = min(wait_s, deadline - time.monotonic())
                if wait_s <= 0:
                    return None
            try:
                item = self._queue.get(timeout=wait_s) if self._queue.empty() else self._queue.get_nowait()
            except queue.Empty:
                self._save_checkpoint()  # idle: caught up, so make the position durable
                continue
            if isinstance(item, _ReaderFailed):
                self._stop.set()
                raise item.error
            if isinstance(item, HeadReached):
                self._handled(item.position, count=False)
                if self._queue.empty():
                    self._save_checkpoint()
            return item

    def _handled(self, position: int, count: bool = True) -> None:
        assert position >= self.position, "delivery must follow position order"
        self.position = position
        if count:
            self._unsaved += 1
        if self._unsaved >= self.checkpoint_every:
            self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        if self.name is not None and self.position != self._saved_position:
            self.store.aux_write([checkpoint_change(self.name, self.position)])
            self._saved_position = self.position
        self._unsaved = 0

    def _start_reader(self) -> None:
        if self._reader is None:
            self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                            name=f"chronik-reader-{self.name or 'anonymous'}")
            self._reader.start()

    def _read_loop(self) -> None:
        try:
            for item in catch_up_then_live(self.store, self.started_after, self._filter,
                                           stop=self._stop.is_set, wait_s=self._wait_for_change_s):
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(_ReaderFailed(exc))

    def _put(self, item: Any) -> bool:
        """Queue `item`, waiting while the queue is full (back-pressure); False if stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=CONSUMER_TICK_S)
                return True
            except queue.Full:
                continue
        return False
