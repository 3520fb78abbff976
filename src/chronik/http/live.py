"""Live events for many clients: one reader of the ledger, a bounded queue per client.

One thread (the `Broadcaster`) follows the ledger with the loop behind `Ledger.follow`
(`stores.catchup.catch_up_then_live`) and hands each batch of new events to the event loop,
which puts the matching ones on every client's queue. A hundred clients cost one reader.

A client resumes from a position (`after`, or SSE's Last-Event-ID) and misses nothing and sees
nothing twice:

1. catch-up, not yet registered: pages of `Ledger.read_all(after=covered, filter)`; after a short
   page, every matching event up to the head read before it has been sent (`covered`);
2. register: from now on the broadcaster queues every event past its own position, which is at
   most the head;
3. catch up once more from `covered` to the head now (what was committed meanwhile), then take
   from the queue, skipping positions already sent. Positions are commit-ordered and gap-free,
   so the store read and the queue overlap and never leave a hole; the overlap is dropped by
   position.

Memory is bounded: a client's queue holds at most `client_buffer_events`; a client that falls
that far behind (a slow reader, a stalled connection) is disconnected with the reason
`slow_consumer`, and resumes by reconnecting with its last position.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from chronik.errors import ChronikError
from chronik.http.metrics import Metrics
from chronik.ledger import Ledger
from chronik.model import Event, ReadFilter
from chronik.stores.base import NO_FILTER
from chronik.stores.catchup import HeadReached, catch_up_then_live

log = logging.getLogger("chronik.http.live")

CATCH_UP_PAGE_EVENTS = 500
MAX_DISPATCH_BATCH = 1_000
FOLLOW_WAIT_S = 0.2
RESTART_DELAY_S = 1.0
MAX_EVENTS_PER_WRITE = 200


class SlowConsumer(Exception):
    """The client's queue overflowed: it was disconnected."""


def matches(event: Event, read_filter: ReadFilter) -> bool:
    """The live filters: streams, categories and types (any value of each list, all lists)."""
    return ((not read_filter.streams or event.stream in read_filter.streams)
            and (not read_filter.categories or event.stream.partition(":")[0] in read_filter.categories)
            and (not read_filter.types or event.type in read_filter.types))


class Subscriber:
    __slots__ = ("queue", "read_filter", "sent_position", "overflowed")

    def __init__(self, read_filter: ReadFilter, buffer_events: int, sent_position: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=buffer_events)
        self.read_filter = read_filter
        self.sent_position = sent_position
        self.overflowed = False


class Broadcaster:
    def __init__(self, ledger: Ledger, metrics: Metrics, buffer_events: int) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.buffer_events = buffer_events
        self.subscribers: set[Subscriber] = set()
        self.position = 0  # every event up to here has been dispatched (read on the loop only)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        metrics.lag_from(self.max_lag)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.position = self.ledger.head().position
        self._thread = threading.Thread(target=self._follow, name="chronik-http-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def max_lag(self) -> float:
        return float(max((self.position - s.sent_position for s in list(self.subscribers)), default=0))

    def _follow(self) -> None:
        after = self.position
        while not self._stop.is_set():
            try:
                batch: list[Event] = []
                for item in catch_up_then_live(self.ledger.store, after, NO_FILTER, stop=self._stop.is_set,
                                               wait_s=FOLLOW_WAIT_S):
                    if isinstance(item, HeadReached) or len(batch) >= MAX_DISPATCH_BATCH:
                        if batch:
                            after = batch[-1].position
                            self._hand_over(batch, after)
                            batch = []
                        if isinstance(item, HeadReached):
                            after = item.position
                    if isinstance(item, Event):
                        batch.append(item)
            except ChronikError as error:  # the store went away for a moment: resume by position
                self.metrics.record_error(error)
                log.warning("following the ledger failed, retrying: %s", error)
                self._stop.wait(RESTART_DELAY_S)

    def _hand_over(self, batch: list[Event], position: int) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._dispatch, batch, position)
        except RuntimeError:  # the loop is closed: the server is stopping
            self._stop.set()

    def _dispatch(self, batch: list[Event], position: int) -> None:
        """On the event loop: queue each event for every client it matches."""
        for subscriber in list(self.subscribers):
            queue, read_filter = subscriber.queue, subscriber.read_filter
            for event in batch:
                if read_filter.is_empty or matches(event, read_filter):
                    try:
                        queue.put_nowait(event)
                    except asyncio.QueueFull:
                        subscriber.overflowed = True
                        self.subscribers.discard(subscriber)
                        break
        self.position = max(self.position, position)

    def register(self, read_filter: ReadFilter, sent_position: int) -> Subscriber:
        subscriber = Subscriber(read_filter, self.buffer_events, sent_position)
        self.subscribers.add(subscriber)
        return subscriber

    def unregister(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)


async def _catch_up(ledger: Ledger, covered: int, read_filter: ReadFilter) -> AsyncIterator[tuple[list[Event], int]]:
    """Pages of matching events after `covered`, each with the position it covers up to."""
    def read_page(after: int) -> list[Event]:
        return list(ledger.store.read_all(after, CATCH_UP_PAGE_EVENTS, read_filter, None))

    while True:
        head = (await run_in_threadpool(ledger.head)).position
        page = await run_in_threadpool(read_page, covered)
        if page:
            covered = page[-1].position
        if len(page) < CATCH_UP_PAGE_EVENTS:
            covered = max(covered, head)
            yield page, covered
            return
        yield page, covered


async def live_events(ledger: Ledger, broadcaster: Broadcaster, after: int, read_filter: ReadFilter,
                      heartbeat_s: float) -> AsyncIterator[list[Event]]:
    """Lists of matching events after `after`, in position order, forever; an empty list when
    nothing came for `heartbeat_s`. Raises SlowConsumer when the client fell too far behind."""
    covered = after
    async for page, reached in _catch_up(ledger, after, read_filter):
        covered = reached
        if page:
            yield page
    subscriber = broadcaster.register(read_filter, covered)
    try:
        async for page, reached in _catch_up(ledger, covered, read_filter):
            if page:
                yield page
            covered = reached
            subscriber.sent_position = covered
        while True:
            if subscriber.overflowed:
                raise SlowConsumer
            try:
                first = await asyncio.wait_for(subscriber.queue.get(), heartbeat_s)
            except TimeoutError:
                yield []
                continue
            events = [first]
            while len(events) < MAX_EVENTS_PER_WRITE and not subscriber.queue.empty():
                events.append(subscriber.queue.get_nowait())
            fresh = [event for event in events if event.position > covered]
            if fresh:
                covered = fresh[-1].position
                subscriber.sent_position = covered
                yield fresh
    finally:
        broadcaster.unregister(subscriber)
